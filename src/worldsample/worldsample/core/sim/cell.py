"""The simulated A1X cell: MuJoCo physics, joint servos, the two cameras, ground-truth success.

Shared by the gymnasium env (synchronous) and the ROS sim node (real time). The cell plays the
part of the arm's vendor driver, with the vendor's semantics: it takes a pose target for
``gripper_link`` (x = approach axis), solves IK with the shared kinematics and servos the
joints; the gripper takes and reports the driver's 0 (closed) .. 100 (open) stroke.
"""
from __future__ import annotations

import mujoco
import numpy as np

from .. import kinematics
from ..config import CellConfig
from ..controller import Pose
from ..driver import gripper_link_from_tcp, opening_from_stroke, stroke_from_opening
from .model import build_mjcf

CAMERAS = ('wrist_camera', 'side_camera')


class InsertionCell:
    def __init__(self, cfg: CellConfig, render: bool = True):
        self.cfg = cfg
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(cfg))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._qadr = np.array([m.jnt_qposadr[m.joint(j.name).id] for j in kinematics.A1X_JOINTS])
        self._vadr = np.array([m.jnt_dofadr[m.joint(j.name).id] for j in kinematics.A1X_JOINTS])
        self._finger_qadr = np.array([m.jnt_qposadr[m.joint(f'finger_{s}').id] for s in ('left', 'right')])
        self._tcp = m.site('tcp').id
        self._peg_tip = m.site('peg_tip').id
        self.q_target = kinematics.READY_SEED.copy()
        self._board = m.body('board').mocapid[0]
        self.hole = np.array([*cfg.task.scene.hole_xy, 0.0])    # hole centre x, y (m) and yaw (rad)
        self._renderer = None
        if render:
            cams = [cfg.camera(n) for n in CAMERAS]
            if len({(c.width, c.height) for c in cams}) != 1:
                raise ValueError('both cameras must share one resolution')
            self._renderer = mujoco.Renderer(m, height=cams[0].height, width=cams[0].width)
            flags = self._renderer.scene.flags
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                         mujoco.mjtRndFlag.mjRND_SKYBOX, mujoco.mjtRndFlag.mjRND_FOG):
                flags[flag] = False
        self.teleport(kinematics.READY_SEED)

    # -- driver side: targets in, feedback out -------------------------------------------
    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._vadr].copy()

    def gripper_opening(self) -> float:
        """Per-finger opening (m), ground truth."""
        return float(np.mean(self.data.qpos[self._finger_qadr]))

    def gripper_stroke(self) -> float:
        """Gripper feedback as the driver reports it (stroke)."""
        return stroke_from_opening(self.gripper_opening(), self.cfg.robot.gripper)

    def set_joint_targets(self, q: np.ndarray) -> None:
        self.q_target = np.clip(q, kinematics.LOWER, kinematics.UPPER)
        self.data.ctrl[:6] = self.q_target

    def set_gripper(self, stroke: float) -> None:
        """Gripper command as the driver takes it (stroke)."""
        self._set_opening(opening_from_stroke(stroke, self.cfg.robot.gripper))

    def _set_opening(self, opening: float) -> None:
        self.data.ctrl[6:8] = np.clip(opening, *kinematics.FINGER_TRAVEL)

    def set_pose_target(self, pose: Pose) -> float:
        """gripper_link pose target: IK from the current joint target; returns the residual
        position error (m)."""
        q, err = kinematics.inverse(pose.pos, pose.rot, seed=self.q_target)
        self.set_joint_targets(q)
        return err

    def step(self, n: int | None = None) -> None:
        mujoco.mj_step(self.model, self.data, nstep=n or 1)

    def place_board(self, x: float, y: float, yaw: float) -> None:
        """Move the board so that the hole centre is at (x, y), turned by yaw about z (reset only)."""
        self.hole = np.array([x, y, yaw], np.float64)
        self._apply_board()
        mujoco.mj_forward(self.model, self.data)

    def _apply_board(self) -> None:
        self.data.mocap_pos[self._board] = [self.hole[0], self.hole[1], 0.0]
        self.data.mocap_quat[self._board] = [np.cos(self.hole[2] / 2), 0.0, 0.0, np.sin(self.hole[2] / 2)]

    def teleport(self, q: np.ndarray, gripper: float = 0.0) -> None:
        """Place the arm at joint angles q at rest, fingers ``gripper`` (m) open (simulation reset
        only; the board stays)."""
        mujoco.mj_resetData(self.model, self.data)
        self._apply_board()
        self.data.qpos[self._qadr] = q
        self.data.qpos[self._finger_qadr] = gripper
        self.set_joint_targets(q)
        self._set_opening(gripper)
        mujoco.mj_forward(self.model, self.data)

    def teleport_to_pose(self, tcp: Pose) -> float:
        """Place the arm at rest with its TCP at ``tcp``, gripper closed (simulation reset only)."""
        pose = gripper_link_from_tcp(tcp, self.cfg.robot.tool)
        q, err = kinematics.inverse(pose.pos, pose.rot, seed=kinematics.READY_SEED, iterations=100)
        self.teleport(q, gripper=self.cfg.controller.gripper_closed_m)
        return err

    # -- ground truth (evaluation only) ---------------------------------------------------
    def tcp_pose(self) -> Pose:
        return Pose(self.data.site_xpos[self._tcp].copy(), self.data.site_xmat[self._tcp].reshape(3, 3).copy())

    def peg_tip(self) -> np.ndarray:
        return self.data.site_xpos[self._peg_tip].copy()

    def success(self) -> bool:
        s = self.cfg.task.scene
        tip = self.peg_tip()
        c, sn = np.cos(self.hole[2]), np.sin(self.hole[2])
        dx, dy = tip[0] - self.hole[0], tip[1] - self.hole[1]
        local = (c * dx + sn * dy, -sn * dx + c * dy)            # tip in the hole's frame
        inside = np.all(np.abs(local) < s.hole_size / 2)
        return bool(inside and tip[2] < s.board_size[2] - s.insert_depth)

    # -- cameras --------------------------------------------------------------------------
    def render(self, camera: str) -> np.ndarray:
        if self._renderer is None:
            raise RuntimeError('cell created with render=False')
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
