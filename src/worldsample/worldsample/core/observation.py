"""Observation layout shared by the sim env, the policy node and the recorder.

proprio = [x, y, z, rx, ry, rz, gripper]: TCP position in the arm base frame (m), TCP
orientation as a rotation vector relative to the task's reset orientation (rad), and the
gripper opening per finger (m). Images are uint8 RGB, H x W x 3, one per camera, at the
camera config's width x height: the simulator renders that size, and a real camera's frames
(a D435i's 640 x 480) go through :func:`policy_image` once, where they enter the cell.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from .config import CameraConfig, TaskConfig
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


def policy_image(image: np.ndarray, cam: CameraConfig) -> np.ndarray:
    """A camera frame at the policy's resolution: the centre crop of the configured aspect
    (a 640 x 480 D435i frame -> its central 480 x 480, 42 degrees both ways), area-resized to
    ``cam.width`` x ``cam.height``; a frame already that size passes unchanged."""
    h, w = image.shape[:2]
    if (h, w) == (cam.height, cam.width):
        return image
    if h < cam.height or w < cam.width:
        raise ValueError(f'a {w}x{h} frame is smaller than the policy\'s {cam.width}x{cam.height}')
    crop_w = min(w, round(h * cam.width / cam.height))
    crop_h = min(h, round(crop_w * cam.height / cam.width))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return cv2.resize(image[top:top + crop_h, left:left + crop_w], (cam.width, cam.height),
                      interpolation=cv2.INTER_AREA)
