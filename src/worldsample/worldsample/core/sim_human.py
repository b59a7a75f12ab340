"""Simulated human operator: the scripted expert taking over when the arm strays or stalls.

Stands in for a person with a SpaceMouse in simulation. It watches the TCP (proprio) each
control step; when the TCP is farther than ``stray_m / aggressiveness`` (xy) from the hole, or
has made no progress towards it for ``stall_steps / aggressiveness`` steps, it takes over for
``takeover_steps`` steps with the expert's actions. ``aggressiveness`` 0 never intervenes.

In the ROS graph the policy applies the latest intervention at its own tick, and one that is
still fresh at the next tick again: an action computed once per step from a state up to a step
old makes the expert overshoot at the hole, or apply one correction twice. So between steps the
sim_human node refreshes the current takeover step's action from every newer arm state
(``refresh``), which counts nothing.
"""
from __future__ import annotations

import numpy as np

from .config import CellConfig
from .expert import InsertionExpert
from .observation import tcp_position

PROGRESS_M = 0.002   # an improvement smaller than this does not count as progress


class SimulatedHuman:
    def __init__(self, cfg: CellConfig):
        self.cfg = cfg.human
        self.expert = InsertionExpert(cfg)
        self.scene = cfg.task.scene
        self.reset()

    def reset(self, hole: np.ndarray | None = None) -> None:
        """A new episode; ``hole`` = (x, y, yaw) where the task moves the board (None: fixed board)."""
        s = self.scene
        self.hole = None if hole is None else np.asarray(hole, np.float64)
        xy = s.hole_xy if hole is None else self.hole[:2]
        # TCP position at which the peg tip reaches the success depth in the hole
        self.goal = np.array([*xy, s.board_size[2] - s.insert_depth + s.peg_protrusion])
        self.best = np.inf
        self.since_progress = 0
        self.remaining = 0
        self.active = False          # the last step was a takeover step

    def step(self, proprio_vec: np.ndarray) -> np.ndarray | None:
        """The intervention action for this step, or None to let the policy act."""
        agg = self.cfg.aggressiveness
        if agg <= 0.0:
            return None
        pos = tcp_position(proprio_vec)
        dist = float(np.linalg.norm(pos - self.goal))
        if dist < self.best - PROGRESS_M:
            self.best, self.since_progress = dist, 0
        else:
            self.since_progress += 1
        if self.remaining == 0:
            stray = np.linalg.norm(pos[:2] - self.goal[:2]) > self.cfg.stray_m / agg
            stall = self.since_progress >= self.cfg.stall_steps / agg
            if stray or stall:
                self.remaining = self.cfg.takeover_steps
                self.since_progress = 0
        self.active = self.remaining > 0
        if self.active:
            self.remaining -= 1
            return self.expert.act(proprio_vec, self.hole)
        return None

    def refresh(self, proprio_vec: np.ndarray) -> np.ndarray | None:
        """The current takeover step's action for a newer ``proprio_vec``; None when the last step
        was not a takeover step. Counts no step and no progress."""
        return self.expert.act(proprio_vec, self.hole) if self.active else None
