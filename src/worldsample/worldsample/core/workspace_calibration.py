"""Workspace box and reset pose of a new cell, from the arm moved through it (ROS-free).

The operator moves the arm (by hand with the driver's brakes released, or with the SpaceMouse)
to the corners of the space the task may use and finally to the pose each episode should start
from. Every TCP pose read from the driver's feedback on the way is added here; the box is the
range the TCP visited, shrunk by ``margin_m`` on every side (the controller never targets the
edge of where a person has been), and the reset pose is the last one. The result is a task YAML
that ``extends:`` the task and overrides exactly those keys.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .controller import Pose

MIN_EXTENT_M = 0.01     # the box must be at least this large along every axis after the margin


class CalibrationError(ValueError):
    """The arm's path does not define a usable workspace."""


class WorkspaceCalibration:
    def __init__(self, margin_m: float = 0.005):
        if not (np.isfinite(margin_m) and margin_m >= 0):
            raise ValueError(f'margin must be a non-negative distance, got {margin_m}')
        self.margin_m = margin_m
        self.low, self.high = np.full(3, np.inf), np.full(3, -np.inf)
        self.last: Pose | None = None
        self.readings = 0

    def add(self, tcp: Pose) -> None:
        self.low, self.high = np.minimum(self.low, tcp.pos), np.maximum(self.high, tcp.pos)
        self.last = tcp
        self.readings += 1

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(low, high, reset_pos, reset_rpy); CalibrationError says what the operator must do."""
        if self.last is None:
            raise CalibrationError('no arm feedback was read: is the driver running (check its topics)?')
        low, high = self.low + self.margin_m, self.high - self.margin_m
        small = [f'{"xyz"[i]} {1e3 * (self.high[i] - self.low[i]):.1f} mm' for i in range(3)
                 if high[i] - low[i] < MIN_EXTENT_M]
        if small:
            raise CalibrationError(f'the arm moved only {", ".join(small)} (with a {1e3 * self.margin_m:g} mm margin '
                                   f'per side, at least {1e3 * MIN_EXTENT_M:g} mm must remain): move it to the '
                                   'corners of the workspace')
        reset = self.last.pos
        if np.any(reset < low) or np.any(reset > high):
            raise CalibrationError(f'the last pose {np.round(reset, 4).tolist()} (the reset pose) is not inside '
                                   f'the box {np.round(low, 4).tolist()} .. {np.round(high, 4).tolist()}: end the '
                                   'recording with the arm where episodes should start, away from the edges')
        rpy = Rotation.from_matrix(self.last.rot).as_euler('xyz')
        return low, high, reset.copy(), rpy

    def task_yaml(self, base_task: Path, out: Path, note: str) -> str:
        """A task YAML extending ``base_task`` with the calibrated box and reset pose."""
        low, high, reset, rpy = self.result()
        r = lambda v: '[' + ', '.join(f'{x:.4f}' for x in v) + ']'   # noqa: E731 (four decimals: 0.1 mm)
        rel = os.path.relpath(base_task.resolve(), out.parent.resolve())
        return (f'# {note}\n'
                f'extends: {rel}\n'
                'task:\n'
                f'  reset_pos: {r(reset)}\n'
                f'  reset_rpy: {r(rpy)}\n'
                '  workspace:\n'
                f'    low: {r(low)}\n'
                f'    high: {r(high)}\n')
