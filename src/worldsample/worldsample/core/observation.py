"""Observation layout shared by the sim env, the policy node and the recorder.

proprio = [x, y, z, rx, ry, rz, gripper]: TCP position in the arm base frame (m), TCP
orientation as a rotation vector relative to the task's reset orientation (rad), and the
gripper opening per finger (m). Images are uint8 RGB, H x W x 3, one per camera.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .config import TaskConfig
from .controller import Pose, reset_orientation
from .kinematics import rotation_log

PROPRIO_DIM = 7
CAMERAS = ('wrist_camera', 'side_camera')


def proprio(pose: Pose, gripper_opening: float, task: TaskConfig) -> np.ndarray:
    rel = rotation_log(pose.rot @ reset_orientation(task).T)
    return np.concatenate([pose.pos, rel, [gripper_opening]]).astype(np.float32)


def pose_from_proprio(proprio_vec: np.ndarray, task: TaskConfig) -> Pose:
    """Inverse of :func:`proprio` for the TCP pose (position and orientation)."""
    rot = Rotation.from_rotvec(np.asarray(proprio_vec[3:6], np.float64)).as_matrix() @ reset_orientation(task)
    return Pose(np.asarray(proprio_vec[:3], np.float64), rot)


def tcp_position(proprio_vec: np.ndarray) -> np.ndarray:
    return np.asarray(proprio_vec[:3], dtype=np.float64)
