"""Galaxea A1X kinematics, from the vendor's public URDF (joint axes, exact offsets, limits).

One implementation shared by the driver adapter (forward kinematics from joint feedback), the
simulated driver (inverse kinematics for pose targets), the MuJoCo model generator and the
world model's proprioception integration. Everything here is about the vendor's frames:
``forward``/``inverse`` work on ``gripper_link`` (x along the approach axis, y along the jaw),
the frame the vendor's driver takes pose targets for. Our tool centre point (TCP, z along the
tool) is a configured offset from it: ``core.driver``.

Zero configuration is the folded rest pose: joint2 in [0, pi] raises the upper arm from
pointing backwards through vertical to forwards, joint3 in [-3.32, 0] unfolds the forearm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

_AXES = {'x': np.array([1.0, 0, 0]), 'y': np.array([0, 1.0, 0]), 'z': np.array([0, 0, 1.0])}

# The firmware stops each joint 2 degrees inside the URDF range (vendor hardware guide); our
# limits stay inside by that margin so that no target asks for an angle the arm refuses.
FIRMWARE_MARGIN = np.deg2rad(2.0)


@dataclass(frozen=True)
class Joint:
    name: str
    origin: tuple[float, float, float]   # offset from the parent joint frame (m), URDF exact
    axis: str
    urdf_lower: float                    # URDF limits (rad)
    urdf_upper: float
    effort: float                        # Nm
    velocity: float                      # rad/s

    @property
    def lower(self) -> float:
        return self.urdf_lower + FIRMWARE_MARGIN

    @property
    def upper(self) -> float:
        return self.urdf_upper - FIRMWARE_MARGIN


A1X_JOINTS: tuple[Joint, ...] = (
    Joint('arm_joint1', (0.0, 0.0, 0.08605), 'z', -2.8798, 2.8798, 27.0, 10.5),
    Joint('arm_joint2', (0.0, 0.03075, 0.04925), 'y', 0.0, 3.1416, 50.0, 12.6),
    Joint('arm_joint3', (-0.3, 0.00025004, 0.0), 'y', -3.3161, 0.0, 27.0, 10.5),
    Joint('arm_joint4', (0.1747, 0.00049739, 0.075485), 'y', -1.5708, 1.5708, 14.0, 33.0),
    Joint('arm_joint5', (0.08, -0.031498, 0.0405), 'z', -1.5708, 1.5708, 14.0, 33.0),
    Joint('arm_joint6', (0.022503, 0.0, -0.0405), 'x', -2.8798, 2.8798, 14.0, 33.0),
)
GRIPPER_LINK = 0.08165            # arm_link6 -> gripper_link along x (URDF fixed joint, no rotation)
FINGER_TRAVEL = (0.0, 0.05)       # per finger, metres (URDF prismatic limits)
# TCP frame relative to the gripper_link frame: z_tcp = x_gripper_link (the approach axis).
TCP_ROTATION = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # R_y(pi/2)

LOWER = np.array([j.lower for j in A1X_JOINTS])
UPPER = np.array([j.upper for j in A1X_JOINTS])


def _axis_rotation(axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    if axis == 'x':
        return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 'y':
        return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def rotation_log(rot: np.ndarray) -> np.ndarray:
    """Rotation vector of a rotation matrix (the SO(3) log map), robust near 0 and pi."""
    cos = np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    vee = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    if angle < 1e-6:
        return 0.5 * vee
    if np.pi - angle < 1e-4:
        return Rotation.from_matrix(rot).as_rotvec()
    return angle / (2.0 * np.sin(angle)) * vee


_ORIGINS = np.array([j.origin for j in A1X_JOINTS])


def joint_frames(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (6, 3) and rotations (6, 3, 3) of each joint frame after its rotation."""
    pos, rot = np.zeros(3), np.eye(3)
    positions, rotations = np.zeros((6, 3)), np.zeros((6, 3, 3))
    for i, joint in enumerate(A1X_JOINTS):
        pos = pos + rot @ _ORIGINS[i]
        rot = rot @ _axis_rotation(joint.axis, q[i])
        positions[i], rotations[i] = pos, rot
    return positions, rotations


def forward(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gripper_link position (3,) and rotation matrix (3, 3) for joint angles ``q`` (6,)."""
    q = np.asarray(q, dtype=float)
    if q.shape != (6,):
        raise ValueError(f'expected 6 joint angles, got shape {q.shape}')
    positions, rotations = joint_frames(q)
    return positions[-1] + rotations[-1] @ _GRIPPER_IN_J6, rotations[-1]


_AXIS_INDEX = np.array(['xyz'.index(j.axis) for j in A1X_JOINTS])
_GRIPPER_IN_J6 = np.array([GRIPPER_LINK, 0.0, 0.0])


def pose_and_jacobian(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gripper_link position, rotation and geometric Jacobian (6, 6; rows [linear; angular], base frame)."""
    positions, rotations = joint_frames(q)
    point = positions[-1] + rotations[-1] @ _GRIPPER_IN_J6
    axes = rotations[np.arange(6), :, _AXIS_INDEX]          # world axis of each joint
    r = point - positions
    linear = np.stack([axes[:, 1] * r[:, 2] - axes[:, 2] * r[:, 1],
                       axes[:, 2] * r[:, 0] - axes[:, 0] * r[:, 2],
                       axes[:, 0] * r[:, 1] - axes[:, 1] * r[:, 0]])   # axis x (point - joint)
    return point, rotations[-1], np.vstack([linear, axes.T])


def jacobian(q: np.ndarray) -> np.ndarray:
    """Geometric Jacobian (6, 6) of gripper_link: rows [linear; angular] in the base frame."""
    return pose_and_jacobian(q)[2]


def pose_error(pos: np.ndarray, rot: np.ndarray, target_pos: np.ndarray, target_rot: np.ndarray) -> np.ndarray:
    """6-D error [dp; dtheta] taking the current pose to the target (rotation as a base-frame rotvec)."""
    drot = rotation_log(target_rot @ rot.T)
    return np.concatenate([target_pos - pos, drot])


def inverse(target_pos: np.ndarray, target_rot: np.ndarray, seed: np.ndarray, iterations: int = 30,
            damping: float = 1e-3, tol: float = 1e-5) -> tuple[np.ndarray, float]:
    """Damped-least-squares IK of a gripper_link pose within joint limits, from ``seed``.

    Returns the joint angles and the remaining position error (m); callers decide whether an
    unreachable target (error above their tolerance) is acceptable.
    """
    q = np.clip(np.asarray(seed, dtype=float), LOWER, UPPER)
    for _ in range(iterations):
        pos, rot, jac = pose_and_jacobian(q)
        err = pose_error(pos, rot, target_pos, target_rot)
        if np.linalg.norm(err[:3]) < tol and np.linalg.norm(err[3:]) < 10 * tol:
            break
        dq = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(6), err)
        q = np.clip(q + np.clip(dq, -0.3, 0.3), LOWER, UPPER)
    pos, _ = forward(q)
    return q, float(np.linalg.norm(target_pos - pos))


# A folded-forward configuration from which the insertion workspace is reached without flips.
READY_SEED = np.array([0.0, 1.9, -1.5, 1.1, 0.0, 0.0])
