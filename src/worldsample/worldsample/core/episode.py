"""The episode loop's rules, shared by the single-process trainer and the policy node.

Both drivers run the same sequence per control step: the actor proposes an action, a fresh
intervention overrides it (the human always wins; the step is marked intervened), the action
is projected into the task's action box, the step is executed, and its outcome is recorded.
An episode ends on success (terminated, reward 1) or at ``max_episode_steps`` (truncated);
episode k starts from reset seed ``seed + k``. The trainer steps the sim env synchronously;
the policy node steps the real (or simulated) cell through ROS, asynchronously. Only the
clocks differ: these rules are this one class.

The operator's recording sessions (``collect:=demos|labels`` in the graph) use the same loop
with the operator's live success mark as the success signal (``SuccessMark``). Demonstrations
end on the first marked step like any episode. A label session is for the reward classifier,
as HIL-SERL collects it: every step's ``success`` is the mark (the frame o_{t+1} shows success
or not), a marked step does not end the episode, and the episode ends when the operator lets
go of the mark after having marked (or at the step limit); no step is terminal there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import TaskConfig
from .controller import project_action

SESSIONS = ('', 'demos', 'labels')   # learning / evaluation, and the operator's two recording sessions


@dataclass(frozen=True)
class StepRecord:
    """The outcome of one control step: the fields of a Transition besides the observations."""
    episode: int
    step: int                 # index of o_t in its episode
    action: np.ndarray        # (7,) executed, projected
    intervened: bool
    reward: float             # sparse: 1 on success
    terminated: bool          # success
    truncated: bool           # step limit without success
    success: bool

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclass
class EpisodeSummary:
    episode: int
    success: bool
    steps: int
    interventions: int


@dataclass
class EpisodeLoop:
    task: TaskConfig
    seed: int = 0                         # episode k resets with seed + k
    session: str = ''                     # one of SESSIONS
    episode: int = 0
    step: int = 0
    interventions: int = 0
    marked: bool = False                  # a label session's episode has a success frame
    finished: list[EpisodeSummary] = field(default_factory=list)

    def __post_init__(self):
        if self.session not in SESSIONS:
            raise ValueError(f'episode session must be one of {SESSIONS}, got {self.session!r}')

    @property
    def reset_seed(self) -> int:
        return self.seed + self.episode

    def begin(self) -> None:
        """A new episode starts (after its reset)."""
        self.step, self.interventions, self.marked = 0, 0, False

    def decide(self, policy_action: np.ndarray | None, intervention: np.ndarray | None) -> tuple[np.ndarray, bool]:
        """The action to execute: the intervention when there is one, else the actor's, projected
        into the task's action box (inactive dimensions exactly zero)."""
        if intervention is not None:
            self.interventions += 1
            return project_action(np.asarray(intervention, np.float64), self.task.action), True
        if policy_action is None:
            raise ValueError('no action: neither the actor nor an intervention gave one')
        return project_action(np.asarray(policy_action, np.float64), self.task.action), False

    def record(self, action: np.ndarray, intervened: bool, success: bool) -> StepRecord:
        """The executed step's outcome; ends the episode on success or at the step limit (a label
        session: when the mark is let go after a marked step, or at the step limit)."""
        success, limit = bool(success), self.step + 1 >= self.task.max_episode_steps
        action = np.asarray(action, np.float32)
        if self.session == 'labels':
            ended = limit or (self.marked and not success)
            rec = StepRecord(self.episode, self.step, action, intervened, float(success), False, ended, success)
            self.marked = self.marked or success
        else:
            rec = StepRecord(self.episode, self.step, action, intervened, float(success), success,
                             limit and not success, success)
        self.step += 1
        if rec.done:
            outcome = self.marked if self.session == 'labels' else rec.success
            self.finished.append(EpisodeSummary(self.episode, outcome, self.step, self.interventions))
            self.episode += 1
        return rec


class Takeover:
    """The operator's latest intervention (the teleop node or the simulated human).

    A command overrides the actor while it is under ``fresh_s`` old, so a device that stops
    reporting hands control back. The operator's release (letting go) ends it at once: without
    it, the arm would go on with the last command for up to ``fresh_s``, one or two more steps
    marked intervened that the operator never made.
    """

    def __init__(self, fresh_s: float = 0.25):
        self.fresh_s, self.last, self.action = fresh_s, -math.inf, None

    def command(self, now: float, action: np.ndarray) -> None:
        self.last, self.action = now, np.asarray(action, dtype=np.float64)

    def release(self) -> None:
        self.action = None

    def current(self, now: float) -> np.ndarray | None:
        """The action that overrides the actor at ``now``, or None."""
        return self.action if self.action is not None and now - self.last < self.fresh_s else None


class SuccessMark:
    """The operator's live success mark (the teleop node's ``/worldsample/success_mark``).

    On while marks keep arriving, each counting for ``fresh_s``. Once an episode has ended it is
    ignored until the operator lets go, so a mark still held across a reset cannot end the next
    episode at its first step.
    """

    def __init__(self, fresh_s: float = 0.25):
        self.fresh_s, self.last, self.latched = fresh_s, -math.inf, False

    def mark(self, now: float) -> None:
        self.last = now

    def on(self, now: float) -> bool:
        fresh = now - self.last < self.fresh_s
        if not fresh:
            self.latched = False
        return fresh and not self.latched

    def episode_ended(self) -> None:
        self.latched = True
