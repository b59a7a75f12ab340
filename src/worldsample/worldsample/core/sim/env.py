"""Gymnasium env of the simulated A1X insertion cell (synchronous, no ROS).

A step runs the same controller math as the ``a1x_controller`` node (core.controller), the
simulated driver's IK, ``sim.substeps`` physics steps (one 10 Hz control period), then renders
both cameras. Reward is the sparse ground-truth success (evaluation and demo labels only;
learning on the robot uses the reward model).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

from ..config import CellConfig, load_config
from ..controller import DeltaEEController, sample_reset_pose
from ..driver import A1XAdapter
from ..observation import CAMERAS, PROPRIO_DIM, proprio
from .board import sample_board
from .cell import InsertionCell


STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION   # everything mj_step depends on (incl. ctrl, mocap, warm start)


@dataclass(frozen=True)
class SimSnapshot:
    state: np.ndarray
    hole: np.ndarray
    q_target: np.ndarray
    controller: DeltaEEController
    steps: int
    time: float


class InsertionEnv(gym.Env):
    metadata = {'render_modes': ['rgb_array']}

    def __init__(self, cfg: CellConfig | None = None, render_cameras: bool = True):
        self.cfg = cfg or load_config('insertion')
        self.cell = InsertionCell(self.cfg, render=render_cameras)
        self.render_cameras = render_cameras
        self.controller = DeltaEEController(self.cfg.task, self.cfg.controller)
        self.adapter = A1XAdapter(self.cfg.robot)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(7,), dtype=np.float32)
        spaces = {'proprio': gym.spaces.Box(-np.inf, np.inf, shape=(PROPRIO_DIM,), dtype=np.float32)}
        if render_cameras:
            for name in CAMERAS:
                cam = self.cfg.camera(name)
                spaces[name] = gym.spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._steps = 0
        self._time = 0.0

    def _obs(self) -> dict:
        obs = {'proprio': proprio(self.cell.tcp_pose(), self.cell.gripper_opening(), self.cfg.task)}
        if self.render_cameras:
            for name in CAMERAS:
                obs[name] = self.cell.render(name)
        return obs

    @property
    def hole(self) -> np.ndarray:
        """Ground truth of this episode's hole: centre x, y (m) and yaw (rad); for the scripted
        expert and the simulated human, never an input of the policy."""
        return self.cell.hole.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        start = sample_reset_pose(self.cfg.task, self.np_random)
        self.cell.place_board(*sample_board(self.cfg.task.scene, self.np_random))   # after the start: seeds keep their boards
        self.cell.teleport_to_pose(start)
        self.cell.step(self.cfg.sim.substeps)   # settle
        self.controller = DeltaEEController(self.cfg.task, self.cfg.controller)
        self.controller.sync(self.cell.tcp_pose())
        self._steps, self._time = 0, 0.0
        return self._obs(), {'success': self.cell.success(), 'hole': self.hole}

    def snapshot(self) -> SimSnapshot:
        """The complete state of this episode now (physics, board, controller, step count): what the
        oracle world model replays counterfactual actions from."""
        m, d = self.cell.model, self.cell.data
        state = np.empty(mujoco.mj_stateSize(m, STATE_SPEC))
        mujoco.mj_getState(m, d, state, STATE_SPEC)
        return SimSnapshot(state, self.cell.hole.copy(), self.cell.q_target.copy(), copy.deepcopy(self.controller),
                           self._steps, self._time)

    def restore(self, snap: SimSnapshot) -> dict:
        """Continue from a :meth:`snapshot` (of an env of the same task); returns the observation."""
        self.cell.place_board(*snap.hole)
        mujoco.mj_setState(self.cell.model, self.cell.data, snap.state, STATE_SPEC)
        mujoco.mj_forward(self.cell.model, self.cell.data)
        self.cell.q_target = snap.q_target.copy()
        self.controller = copy.deepcopy(snap.controller)
        self._steps, self._time = snap.steps, snap.time
        return self._obs()

    def step(self, action):
        self._time += 1.0 / self.cfg.task.control_hz
        target = self.controller.apply(action, now=self._time, measured=self.cell.tcp_pose())
        # the simulated driver is commanded as the controller node commands the real one
        ik_error = self.cell.set_pose_target(self.adapter.target(target))
        self.cell.set_gripper(self.adapter.gripper_command(self.controller.gripper_target()))
        self.cell.step(self.cfg.sim.substeps)
        self._steps += 1
        success = self.cell.success()
        truncated = self._steps >= self.cfg.task.max_episode_steps and not success
        info = {'success': success, 'ik_error': ik_error, 'target_pos': target.pos.copy()}
        return self._obs(), float(success), success, truncated, info

    def render(self):
        return np.concatenate([self.cell.render(n) for n in CAMERAS], axis=1)

    def close(self):
        self.cell.close()
