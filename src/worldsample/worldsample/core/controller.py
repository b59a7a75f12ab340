"""Delta end-effector controller math: the only path from a 7-D action to an arm target.

Used by the ``a1x_controller`` node (real and simulated arm alike), by the gymnasium sim env
and by the world model's proprioception integration, so all three clip and integrate
actions identically.

Action convention: ``a = [dx, dy, dz, drx, dry, drz, d_gripper]`` in [-1, 1], deltas in the
arm base frame. A step moves the target by ``a[:3] * scale_pos`` and rotates it by the
rotation vector ``a[3:6] * scale_rot`` (base frame); ``a[6] > 0.5`` closes the gripper,
``< -0.5`` opens it (HIL-SERL's binary gripper thresholds), anything between keeps it.
"""
from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .config import ActionConfig, ControllerConfig, TaskConfig, WorkspaceConfig
from .kinematics import rotation_log

ACTION_DIM = 7


class CommandError(ValueError):
    """A command that must not reach the arm (wrong length, NaN/inf, wrong type)."""


class Mode(enum.IntEnum):
    """Matches worldsample_msgs/ArmState MODE_* constants."""
    IDLE = 0
    TRACKING = 1
    HOLDING = 2
    RESETTING = 3
    ESTOP = 4


def validate_action(action) -> np.ndarray:
    """Return ``action`` as a float64 (7,) array or raise CommandError saying what is wrong."""
    try:
        arr = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise CommandError(f'action is not numeric: {e}') from None
    if arr.ndim != 1 or arr.shape[0] != ACTION_DIM:
        raise CommandError(f'action must have {ACTION_DIM} values [dx dy dz drx dry drz d_gripper], '
                           f'got shape {arr.shape}')
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise CommandError(f'action has non-finite value(s) at index {bad.tolist()}: {arr[bad].tolist()}')
    return arr


def project_action(action: np.ndarray, cfg: ActionConfig) -> np.ndarray:
    """Pi_A: clip into the valid action box [-1, 1]^7 and zero the inactive dimensions exactly."""
    return np.where(np.asarray(cfg.active), np.clip(action, -1.0, 1.0), 0.0)


@dataclass
class Pose:
    pos: np.ndarray    # (3,)
    rot: np.ndarray    # (3, 3)

    def quat_xyzw(self) -> np.ndarray:
        return Rotation.from_matrix(self.rot).as_quat()

    @staticmethod
    def from_pos_quat(pos, quat_xyzw) -> 'Pose':
        return Pose(np.asarray(pos, dtype=float), Rotation.from_quat(quat_xyzw).as_matrix())

    def copy(self) -> 'Pose':
        return Pose(self.pos.copy(), self.rot.copy())


def reset_orientation(task: TaskConfig) -> np.ndarray:
    return _euler_matrix(task.reset_rpy).copy()


@functools.lru_cache(maxsize=16)
def _euler_matrix(rpy: tuple[float, float, float]) -> np.ndarray:
    return Rotation.from_euler('xyz', rpy).as_matrix()


def sample_reset_pose(task: TaskConfig, rng: np.random.Generator) -> Pose:
    """Reset pose plus uniform noise of +-reset_noise per axis, kept inside the workspace."""
    noise = rng.uniform(-1.0, 1.0, size=3) * np.asarray(task.reset_noise)
    pos = np.clip(np.asarray(task.reset_pos) + noise, task.workspace.low, task.workspace.high)
    return Pose(pos, reset_orientation(task))


def seeded_reset_pose(task: TaskConfig, seed: int) -> tuple[Pose, np.random.Generator]:
    """The reset pose of a reset with ``seed`` (Reset.srv's; negative: a fresh draw), as the
    controller drives to it and the env's ``reset(seed)`` starts from it, and the generator after
    that draw, from which the simulation draws the episode's board next."""
    rng = np.random.default_rng(seed if seed >= 0 else None)
    return sample_reset_pose(task, rng), rng


class DeltaEEController:
    """Integrates validated delta commands into a clipped target pose; watchdog and e-stop state.

    ``command_scale`` (0..1) multiplies every accepted command: 0 is a dry run (the whole graph
    runs, the target never moves), a fraction slows a new cell's first motions.
    """

    def __init__(self, task: TaskConfig, cfg: ControllerConfig, command_scale: float = 1.0):
        if not (np.isfinite(command_scale) and 0.0 <= command_scale <= 1.0):
            raise ValueError(f'command_scale must be in [0, 1], got {command_scale}')
        self.task, self.cfg, self.command_scale = task, cfg, float(command_scale)
        self.action_cfg: ActionConfig = task.action
        self.ws: WorkspaceConfig = task.workspace
        self.ref_rot = reset_orientation(task)
        self.target: Pose | None = None
        self.gripper_closed = True
        self.mode = Mode.IDLE
        self.last_command_time = -np.inf
        self.accepted = 0
        self.rejected = 0

    # -- state ---------------------------------------------------------------------------
    def sync(self, measured: Pose) -> None:
        """Make the target the measured pose (projected into the safety limits)."""
        self.target = Pose(self._clip_pos(measured.pos), self._clip_rot(measured.rot))

    def gripper_target(self) -> float:
        return self.cfg.gripper_closed_m if self.gripper_closed else self.cfg.gripper_open_m

    def estop(self, engaged: bool, measured: Pose | None) -> None:
        if engaged:
            self.mode = Mode.ESTOP
            if measured is not None:
                self.sync(measured)
        elif self.mode == Mode.ESTOP:
            self.mode = Mode.IDLE

    # -- commands ------------------------------------------------------------------------
    def apply(self, action, now: float, measured: Pose | None = None) -> Pose:
        """Apply one delta command. Raises CommandError (and counts it) for invalid input."""
        try:
            arr = validate_action(action)
        except CommandError:
            self.rejected += 1
            raise
        if self.mode == Mode.ESTOP:
            self.rejected += 1
            raise CommandError('e-stop engaged: command ignored (release the e-stop first)')
        if self.mode == Mode.RESETTING:
            self.rejected += 1
            raise CommandError('reset in progress: command ignored')
        if self.target is None:
            if measured is None:
                self.rejected += 1
                raise CommandError('no arm feedback yet: cannot place a target')
            self.sync(measured)
        a = project_action(arr, self.action_cfg) * self.command_scale
        pos = self.target.pos + a[:3] * self.action_cfg.scale_pos
        if measured is not None:   # anti-windup: never lead the real arm by more than max_lead
            lead = np.clip(pos - measured.pos, -self.cfg.max_lead_m, self.cfg.max_lead_m)
            pos = measured.pos + lead
        if np.any(a[3:6]):
            rot = self._clip_rot(Rotation.from_rotvec(a[3:6] * self.action_cfg.scale_rot).as_matrix() @ self.target.rot)
        else:
            rot = self.target.rot   # already within limits
        self.target = Pose(self._clip_pos(pos), rot)
        if a[6] > 0.5:
            self.gripper_closed = True
        elif a[6] < -0.5:
            self.gripper_closed = False
        self.mode = Mode.TRACKING
        self.last_command_time = now
        self.accepted += 1
        return self.target

    def tick(self, now: float, measured: Pose | None) -> bool:
        """Watchdog: no command within the timeout while tracking -> hold the measured pose.

        Returns True when it just switched to holding.
        """
        if self.mode == Mode.TRACKING and now - self.last_command_time > self.cfg.watchdog_timeout_s:
            if measured is not None:
                self.sync(measured)
            self.mode = Mode.HOLDING
            return True
        return False

    # -- limits --------------------------------------------------------------------------
    def _clip_pos(self, pos: np.ndarray) -> np.ndarray:
        return np.clip(pos, self.ws.low, self.ws.high)

    def _clip_rot(self, rot: np.ndarray) -> np.ndarray:
        """Keep the orientation within max_rot (rotation vector, per axis) of the reset orientation."""
        rel = rotation_log(rot @ self.ref_rot.T)
        clipped = np.clip(rel, -np.asarray(self.ws.max_rot), self.ws.max_rot)
        if np.allclose(clipped, rel):
            return rot
        return Rotation.from_rotvec(clipped).as_matrix() @ self.ref_rot

    def in_limits(self, pose: Pose, tol: float = 1e-9) -> bool:
        rel = rotation_log(pose.rot @ self.ref_rot.T)
        return bool(np.all(pose.pos >= np.asarray(self.ws.low) - tol)
                    and np.all(pose.pos <= np.asarray(self.ws.high) + tol)
                    and np.all(np.abs(rel) <= np.asarray(self.ws.max_rot) + 1e-6))


def reset_waypoints(start: Pose, goal: Pose, cfg: ControllerConfig, ws: WorkspaceConfig,
                    dt: float) -> list[Pose]:
    """Reset motion at reset_speed: lift by reset_lift (clipped to the box), then go to the goal.

    Lifting first pulls a peg straight out of a hole instead of dragging it sideways.
    """
    lift = start.pos.copy()
    lift[2] = min(max(start.pos[2], goal.pos[2]) + cfg.reset_lift_m, ws.high[2])
    out: list[Pose] = []
    step = cfg.reset_speed_mps * dt
    for a, b, rot in ((start.pos, lift, start.rot), (lift, goal.pos, goal.rot)):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out.extend(Pose(a + (b - a) * (i / n), rot) for i in range(1, n + 1))
    return out
