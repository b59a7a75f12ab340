"""Scripted insertion expert: it stands in for the 20 human demonstrations in simulation.

Like a human operator it knows where the hole is (the episode's hole pose, or the task's fixed
board) and sees the TCP pose (proprio). Align above the hole (position, and yaw where the task
turns the hole), then descend while holding the alignment. Actions are in task units ([-1, 1]
per step, scaled by the controller).
"""
from __future__ import annotations

import numpy as np

from .config import CellConfig
from .observation import pose_from_proprio, tcp_position

QUARTER = np.pi / 2   # a square peg fits the square hole every quarter turn


def yaw_error(hole_yaw: float, tool_yaw: float) -> float:
    """Rotation about z that aligns the square peg with the square hole, in (-pi/4, pi/4]."""
    e = (hole_yaw - tool_yaw) % QUARTER
    return float(e - QUARTER if e > QUARTER / 2 else e)


class InsertionExpert:
    def __init__(self, cfg: CellConfig):
        self.cfg = cfg
        s = cfg.task.scene
        self.nominal = np.array([*s.hole_xy, 0.0])
        # TCP height at which the peg tip hovers just above the board surface.
        self.hover_z = s.board_size[2] + s.peg_protrusion + cfg.expert.hover_m
        self.scale = cfg.task.action.scale_pos
        self.turns = bool(cfg.task.action.active[5])

    def act(self, proprio_vec: np.ndarray, hole: np.ndarray | None = None) -> np.ndarray:
        """``hole`` = (x, y, yaw) of this episode's hole; None: the task's fixed board."""
        e = self.cfg.expert
        hole = self.nominal if hole is None else np.asarray(hole, np.float64)
        pos = tcp_position(proprio_vec)
        # align the peg tip, not the TCP: contact can tilt the tool by a few degrees, which moves
        # the tip (peg_protrusion along the tool's approach axis z) by millimetres
        tip = pose_from_proprio(proprio_vec, self.cfg.task)
        tip_xy = (tip.pos + tip.rot[:, 2] * self.cfg.task.scene.peg_protrusion)[:2]
        err_xy = hole[:2] - tip_xy
        action = np.zeros(7)
        # correct a fraction `gain` of the remaining error per step, at most one action unit
        action[:2] = np.clip(e.gain * err_xy / self.scale, -1.0, 1.0)
        aligned = np.linalg.norm(err_xy) <= e.align_tolerance_m
        if self.turns:   # proprio[5]: tool yaw about the base z axis, relative to the reset orientation
            err_yaw = yaw_error(hole[2], float(proprio_vec[5]))
            action[5] = np.clip(e.gain * err_yaw / self.cfg.task.action.scale_rot, -1.0, 1.0)
            aligned = aligned and abs(err_yaw) <= e.align_tolerance_rad
        if aligned:
            action[2] = -1.0   # aligned: push straight down
        else:
            action[2] = np.clip(e.gain * (self.hover_z - pos[2]) / self.scale, -1.0, 1.0)
        return action
