"""Scripted insertion expert: it stands in for the 20 human demonstrations in simulation.

Like a human operator it knows where the hole is (task config) and sees the TCP position
(proprio). Align above the hole, then descend while holding the alignment. Actions are in
task units ([-1, 1] per step, scaled by the controller).
"""
from __future__ import annotations

import numpy as np

from .config import CellConfig
from .observation import tcp_position


class InsertionExpert:
    def __init__(self, cfg: CellConfig):
        self.cfg = cfg
        s = cfg.task.scene
        self.hole_xy = np.asarray(s.hole_xy)
        # TCP height at which the peg tip hovers just above the board surface.
        self.hover_z = s.board_size[2] + s.peg_protrusion + cfg.expert.hover_m
        self.scale = cfg.task.action.scale_pos

    def act(self, proprio_vec: np.ndarray) -> np.ndarray:
        e = self.cfg.expert
        pos = tcp_position(proprio_vec)
        err_xy = self.hole_xy - pos[:2]
        action = np.zeros(7)
        # correct a fraction `gain` of the remaining error per step, at most one action unit
        action[:2] = np.clip(e.gain * err_xy / self.scale, -1.0, 1.0)
        if np.linalg.norm(err_xy) > e.align_tolerance_m:
            action[2] = np.clip(e.gain * (self.hover_z - pos[2]) / self.scale, -1.0, 1.0)
        else:
            action[2] = -1.0   # aligned: push straight down
        return action
