"""sim node: the MuJoCo A1X cell in real time, behind the same topics as the real hardware.

Arm side (names from the robot YAML, Galaxea HDAS defaults), with the vendor driver's
semantics: a gripper_link pose target (the first ``target_pose`` spelling, the ROS 2 driver's)
and a gripper stroke (0 closed .. 100 open) in; joint feedback (J1..J6, then the gripper stroke)
and gripper feedback (stroke) out. No status topic: the vendor's message type is not public. Cameras exactly like realsense-ros:
``/<camera>/color/image_raw`` + ``camera_info``. Also ``/sim/success`` (ground truth, for
evaluation), ``/sim/board`` (latched: where the board and its hole are, for the simulated human,
the scripted expert and rviz) and the ``/sim/reset`` service (teleport to a seeded start pose,
with the board that seed gives in the gymnasium env). ``cameras:=false`` serves the arm alone, as
the vendor's driver does.

Where the task moves the board every episode, the node draws a new board whenever the
controller starts a reset (``/a1x_controller/state``), from that reset's seed as the env's
``reset(seed)`` does, and places it once the peg is clear of the board: on the real cell a person
moves it between episodes, if anyone does.
"""
from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Header
from worldsample_msgs.msg import ArmState
from worldsample_msgs.srv import Reset

from ..core.intrinsics import Intrinsics
from ..core.observation import CAMERAS
from ..core.sim.board import BoardMover, seeded_start
from ..core.sim.cell import InsertionCell
from .common import (BOARD_TOPIC, COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, STATE_QOS, array_to_image, board_to_msg,
                     camera_info, declare_config, msg_to_pose, spin_node, yield_to_control_loop)

PHYSICS_TICK_S = 0.01   # advance physics in 10 ms slices, paced to the wall clock


class SimNode(Node):
    def __init__(self):
        super().__init__('sim')
        # the arm and the cameras compute on their own hardware: here they stay off the control loop's CPU
        yield_to_control_loop(self, nice=0)
        self.cfg = declare_config(self)
        # cameras:=false serves the arm alone: a stand-in for the vendor's driver beside real or
        # recorded cameras (the backend:=real graph's bring-up test)
        self.cameras = bool(self.declare_parameter('cameras', True).value)
        self.cell = InsertionCell(self.cfg, render=self.cameras)
        start, board = seeded_start(self.cfg.task, 0)       # as the env's reset(seed=0)
        self.cell.place_board(*board)
        self.cell.teleport_to_pose(start)
        topics = self.cfg.robot.topics
        self.pub_arm = self.create_publisher(JointState, topics.feedback_arm, STATE_QOS)
        self.pub_gripper = self.create_publisher(JointState, topics.feedback_gripper, STATE_QOS)
        self.pub_success = self.create_publisher(Bool, '/sim/success', STATE_QOS)
        self.pub_img, self.pub_info = {}, {}
        # the published cameras' intrinsics, fixed: an ideal pinhole of the configured field of view
        cams = {name: self.cfg.camera(name) for name in CAMERAS} if self.cameras else {}
        self.intrinsics = {name: Intrinsics.pinhole(c.width, c.height, c.fovy_deg) for name, c in cams.items()}
        for name in self.intrinsics:
            self.pub_img[name] = self.create_publisher(Image, f'/{name}/color/image_raw', SENSOR_QOS)
            self.pub_info[name] = self.create_publisher(CameraInfo, f'/{name}/color/camera_info', SENSOR_QOS)
        self.create_subscription(PoseStamped, topics.target_pose[0], self.on_target, COMMAND_QOS)
        self.create_subscription(JointState, topics.target_gripper, self.on_gripper, COMMAND_QOS)
        self.create_service(Reset, '/sim/reset', self.on_reset)
        self.pub_board = self.create_publisher(PoseStamped, BOARD_TOPIC, LATCHED_QOS)
        self.board: BoardMover | None = None
        if self.cfg.task.scene.moves_board:
            self.board = BoardMover(self.cfg.task)
            self.create_subscription(ArmState, '/a1x_controller/state', self.on_arm_state, STATE_QOS)
        self._publish_board()
        self.sim_time = 0.0
        self.wall_start = time.monotonic()
        self.next_frame = 0.0
        self.frame_period = 1.0 / self.cfg.camera('wrist_camera').fps
        self.substeps = max(1, round(PHYSICS_TICK_S / self.cfg.sim.timestep))
        self.create_timer(PHYSICS_TICK_S, self.on_tick)
        self.get_logger().info(f'simulated A1X cell ({self.cfg.task.name}) up; arm feedback on {topics.feedback_arm}')

    def on_target(self, msg: PoseStamped) -> None:
        try:
            pose = msg_to_pose(msg.pose)
        except ValueError as e:
            self.get_logger().warning(f'pose target dropped: {e}', throttle_duration_sec=2.0)
            return
        err = self.cell.set_pose_target(pose)
        if err > 0.005:
            self.get_logger().warning(f'pose target unreachable: IK residual {err * 1000:.1f} mm',
                                      throttle_duration_sec=2.0)

    def on_gripper(self, msg: JointState) -> None:
        if len(msg.position) >= 1 and np.isfinite(msg.position[0]):
            self.cell.set_gripper(float(msg.position[0]))   # a stroke; the driver clips it to its range

    def on_arm_state(self, msg: ArmState) -> None:
        self.board.on_mode(msg.mode, msg.reset_seed)

    def _publish_board(self) -> None:
        self.pub_board.publish(board_to_msg(self.cell.hole, self.cfg.task.scene.board_size[2],
                                            self.get_clock().now().to_msg(), self.cfg.robot.base_frame))

    def on_reset(self, request: Reset.Request, response: Reset.Response) -> Reset.Response:
        start, board = seeded_start(self.cfg.task, request.seed)   # as the env's reset(seed)
        self.cell.place_board(*board)
        err = self.cell.teleport_to_pose(start)
        self._publish_board()
        response.success = err < 1e-3
        response.message = f'teleported to seeded start pose (IK residual {err * 1000:.2f} mm)'
        return response

    def on_tick(self) -> None:
        # Real-time pacing: catch up with the wall clock, at most 5 slices per tick.
        wall = time.monotonic() - self.wall_start
        for _ in range(5):
            if self.sim_time > wall:
                break
            self.cell.step(self.substeps)
            self.sim_time += self.substeps * self.cfg.sim.timestep
        board = self.board.due(float(self.cell.peg_tip()[2])) if self.board is not None else None
        if board is not None:
            self.cell.place_board(*board)
            self._publish_board()
            self.get_logger().info(f'board moved: hole at ({board[0]:.4f}, {board[1]:.4f}) m, '
                                   f'yaw {np.degrees(board[2]):.1f} deg')
        stamp = self.get_clock().now().to_msg()
        names = [*self.cfg.robot.joint_names, self.cfg.robot.gripper_joint]
        stroke = self.cell.gripper_stroke()
        self.pub_arm.publish(JointState(header=_hdr(stamp, self.cfg.robot.base_frame), name=names,
                                        position=[*self.cell.joint_positions().tolist(), stroke],
                                        velocity=[*self.cell.joint_velocities().tolist(), 0.0]))
        self.pub_gripper.publish(JointState(header=_hdr(stamp, self.cfg.robot.base_frame),
                                            name=[self.cfg.robot.gripper_joint], position=[stroke]))
        if self.sim_time >= self.next_frame:
            self.next_frame = self.sim_time + self.frame_period
            for name, intrinsics in self.intrinsics.items():
                frame_id = f'{name}_color_optical_frame'
                self.pub_img[name].publish(array_to_image(self.cell.render(name), stamp, frame_id))
                self.pub_info[name].publish(camera_info(intrinsics, stamp, frame_id))
            self.pub_success.publish(Bool(data=self.cell.success()))


def _hdr(stamp, frame: str) -> Header:
    return Header(stamp=stamp, frame_id=frame)


def main(args=None):
    spin_node(SimNode, args)


if __name__ == '__main__':
    main()
