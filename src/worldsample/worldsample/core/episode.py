"""The episode loop's rules, shared by the single-process trainer and the policy node.

Both drivers run the same sequence per control step: the actor proposes an action, a fresh
intervention overrides it (the human always wins; the step is marked intervened), the action
is projected into the task's action box, the step is executed, and its outcome is recorded.
An episode ends on success (terminated, reward 1) or at ``max_episode_steps`` (truncated);
episode k starts from reset seed ``seed + k``. The trainer steps the sim env synchronously;
the policy node steps the real (or simulated) cell through ROS, asynchronously. Only the
clocks differ: these rules are this one class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import TaskConfig
from .controller import project_action


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
    episode: int = 0
    step: int = 0
    interventions: int = 0
    finished: list[EpisodeSummary] = field(default_factory=list)

    @property
    def reset_seed(self) -> int:
        return self.seed + self.episode

    def begin(self) -> None:
        """A new episode starts (after its reset)."""
        self.step, self.interventions = 0, 0

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
        """The executed step's outcome; ends the episode on success or at the step limit."""
        rec = StepRecord(self.episode, self.step, np.asarray(action, np.float32), intervened, float(success),
                         bool(success), self.step + 1 >= self.task.max_episode_steps and not success, bool(success))
        self.step += 1
        if rec.done:
            self.finished.append(EpisodeSummary(self.episode, rec.success, self.step, self.interventions))
            self.episode += 1
        return rec
