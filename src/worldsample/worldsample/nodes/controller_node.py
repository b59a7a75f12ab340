"""a1x_controller node: the only node that commands the arm.

Delta commands in (``/worldsample/command``), clipped pose and gripper targets out to the arm
driver's topics (robot YAML) in the driver's own semantics (``core.driver``: gripper_link pose,
gripper stroke, feedback by name or index). Invalid commands and driver messages are dropped
with a logged reason; no command for ``watchdog_timeout_s`` -> hold the measured pose; an error
on the driver's status topic -> e-stop (hold) until the operator releases it with the driver
healthy. Services ``~/reset`` (seeded start pose, reached by a lift-then-move motion; returns at
once, ``~/state`` mode shows progress) and ``~/estop`` (std_srvs/SetBool). It cannot tell a
simulated arm from a real one: it only sees the driver topics. ``command_scale`` (0..1, the
launch's ``dry_run:=true`` sets 0) scales every command; at 0 the reset motion is skipped too
(the reset "arrives" where the arm is), so a dry run never moves the arm. Arm feedback older than
``liveness.feedback_max_age_s`` (from its arrival) -> hold the last measured pose, abort a reset,
refuse commands and resets until it returns; ``ArmState.feedback_age_s`` reports the age.
"""
from __future__ import annotations

import importlib
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool
from worldsample_msgs.msg import ArmState, DeltaCommand
from worldsample_msgs.srv import Reset

from ..core.controller import CommandError, DeltaEEController, Mode, Pose, reset_waypoints, seeded_reset_pose
from ..core.driver import A1XAdapter, FeedbackError, status_errors
from ..core.observation import proprio
from .common import COMMAND_QOS, STATE_QOS, declare_config, pose_to_msg, spin_node

COMMAND_TOPIC = '/worldsample/command'


class ControllerNode(Node):
    def __init__(self):
        super().__init__('a1x_controller')
        self.cfg = declare_config(self)
        scale = float(self.declare_parameter('command_scale', 1.0).value)
        self.ctl = DeltaEEController(self.cfg.task, self.cfg.controller, scale)
        self.adapter = A1XAdapter(self.cfg.robot)
        self.measured: Pose | None = None
        self.gripper = 0.0
        self.waypoints: list[Pose] = []
        self.reset_goal: Pose | None = None
        self.reset_seed = -1
        self.reset_deadline = 0.0
        self.driver_errors: list[str] = []
        self.feedback_t = -np.inf         # arrival (monotonic) of the newest valid arm feedback
        self.feedback_stale = False
        self._by_name: bool | None = None
        topics = self.cfg.robot.topics
        self.pub_targets = [self.create_publisher(PoseStamped, t, COMMAND_QOS) for t in topics.target_pose]
        self.pub_gripper = self.create_publisher(JointState, topics.target_gripper, COMMAND_QOS)
        self.pub_state = self.create_publisher(ArmState, '~/state', STATE_QOS)
        self.create_subscription(JointState, topics.feedback_arm, self.on_joints, STATE_QOS)
        self.create_subscription(JointState, topics.feedback_gripper, self.on_gripper, STATE_QOS)
        self.create_subscription(DeltaCommand, COMMAND_TOPIC, self.on_command, COMMAND_QOS)
        self._subscribe_status(topics.status, topics.status_type)
        self.create_timer(1.0 / self.cfg.controller.rate_hz, self.on_tick)
        self.create_service(Reset, '~/reset', self.on_reset)
        self.create_service(SetBool, '~/estop', self.on_estop)
        self.get_logger().info(f'a1x_controller up: commands on {COMMAND_TOPIC}, gripper_link targets to '
                               f'{", ".join(topics.target_pose)}')
        if scale < 1.0:
            self.get_logger().warning(f'DRY RUN: commands scaled to zero, resets skipped; the arm holds still'
                                      if scale == 0.0 else f'commands scaled by {scale:g}')

    def _subscribe_status(self, topic: str, type_name: str) -> None:
        """The driver's error report, if its message package is installed here."""
        if not topic:
            return
        try:
            package, _, name = type_name.split('/')
            msg_type = getattr(importlib.import_module(f'{package}.msg'), name)
        except (ValueError, ImportError, AttributeError):
            self.get_logger().warning(
                f'arm status type {type_name!r} is not installed here: driver errors on {topic} will not '
                'hold the arm (build the vendor SDK\'s message package into this workspace)')
            return
        self.create_subscription(msg_type, topic, self.on_status, STATE_QOS)

    # -- feedback --------------------------------------------------------------------------
    def on_joints(self, msg: JointState) -> None:
        try:
            q = self.adapter.joints(msg.name, msg.position)
        except (FeedbackError, TypeError, ValueError) as e:
            self.get_logger().error(f'arm feedback dropped: {e}', throttle_duration_sec=5.0)
            return
        if self.adapter.layout.by_name != self._by_name:
            self._by_name = self.adapter.layout.by_name
            how = 'by name' if self._by_name else (f'by the documented index order (J1..J6 first): its names '
                                                    f'{list(msg.name)[:7]} are not {list(self.cfg.robot.joint_names)}')
            self.get_logger().info(f'reading arm feedback {how}')
        self.measured = self.adapter.tcp(q)
        self.feedback_t = time.monotonic()

    def on_gripper(self, msg: JointState) -> None:
        try:
            self.gripper = self.adapter.gripper_opening(msg.position)
        except (FeedbackError, TypeError, ValueError) as e:
            self.get_logger().error(f'gripper feedback dropped: {e}', throttle_duration_sec=5.0)

    def on_status(self, msg) -> None:
        try:
            errors = status_errors(msg)
        except (TypeError, ValueError) as e:
            self.get_logger().error(f'arm status dropped: {e}', throttle_duration_sec=5.0)
            return
        if errors and errors != self.driver_errors:
            self.waypoints = []
            self.ctl.estop(True, self.measured)
            self.get_logger().error(f'the arm driver reports {errors}: holding (e-stop); release with '
                                    '~/estop false once the driver is healthy again')
        elif not errors and self.driver_errors:
            self.get_logger().info('the arm driver reports no error any more')
        self.driver_errors = errors

    # -- commands --------------------------------------------------------------------------
    def on_command(self, msg: DeltaCommand) -> None:
        if self.feedback_stale:
            self.ctl.rejected += 1
            self.get_logger().warning('rejected command: the arm feedback is stale (holding)', throttle_duration_sec=1.0)
            return
        try:
            self.ctl.apply(np.asarray(msg.action), now=time.monotonic(), measured=self.measured)
        except CommandError as e:
            self.get_logger().warning(f'rejected command: {e}', throttle_duration_sec=1.0)
            return
        self.publish_targets()

    def _check_feedback(self) -> None:
        """Hold, abort a reset and refuse commands while the arm feedback is older than its limit."""
        age = time.monotonic() - self.feedback_t
        stale = self.measured is not None and age > self.cfg.liveness.feedback_max_age_s
        if stale and not self.feedback_stale:
            self.waypoints = []
            self.ctl.sync(self.measured)
            if self.ctl.mode != Mode.ESTOP:
                self.ctl.mode = Mode.HOLDING
            self.get_logger().error(f'arm feedback is {age:.2f} s old (limit {self.cfg.liveness.feedback_max_age_s:g} s):'
                                    ' holding the last measured pose and refusing commands until it returns')
        elif self.feedback_stale and not stale:
            self.get_logger().info('arm feedback is fresh again: accepting commands')
        self.feedback_stale = stale

    def on_tick(self) -> None:
        self._check_feedback()
        if self.ctl.mode == Mode.RESETTING:
            self._advance_reset()
        elif self.ctl.tick(time.monotonic(), self.measured):
            self.get_logger().info('no command for %.2f s: holding the measured pose'
                                   % self.cfg.controller.watchdog_timeout_s)
        if self.ctl.target is None and self.measured is not None:
            self.ctl.sync(self.measured)
        self.publish_targets()
        self.publish_state()

    def publish_targets(self) -> None:
        target, grip = self.ctl.target, self.ctl.gripper_target()
        if target is None:
            return
        stamp = self.get_clock().now().to_msg()
        msg = PoseStamped(pose=pose_to_msg(self.adapter.target(target)))
        msg.header.stamp, msg.header.frame_id = stamp, self.cfg.robot.base_frame
        for pub in self.pub_targets:
            pub.publish(msg)
        g = JointState(name=[self.cfg.robot.gripper_joint], position=[self.adapter.gripper_command(grip)])
        g.header.stamp = stamp
        self.pub_gripper.publish(g)

    def publish_state(self) -> None:
        measured, target = self.measured, self.ctl.target
        msg = ArmState(mode=int(self.ctl.mode), gripper_opening=self.gripper,
                       commands_accepted=self.ctl.accepted, commands_rejected=self.ctl.rejected,
                       feedback_age_s=float(min(time.monotonic() - self.feedback_t, 1e9)), reset_seed=self.reset_seed)
        if measured is None:
            return
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.cfg.robot.base_frame
        msg.measured_pose = pose_to_msg(measured)
        msg.target_pose = pose_to_msg(target or measured)
        msg.proprio = proprio(measured, self.gripper, self.cfg.task).tolist()
        self.pub_state.publish(msg)

    # -- reset and e-stop ------------------------------------------------------------------
    def _advance_reset(self) -> None:
        """One tick of the reset motion: IDLE once the arm has arrived, HOLDING on timeout."""
        if self.waypoints:
            self.ctl.target = self.waypoints.pop(0)
            return
        err = np.linalg.norm(self.measured.pos - self.reset_goal.pos)
        if err < self.cfg.controller.reset_tolerance_m:
            self.ctl.mode = Mode.IDLE
            self.get_logger().info(f'reset done: {np.round(self.reset_goal.pos, 4).tolist()} '
                                   f'(error {err * 1000:.1f} mm)')
        elif time.monotonic() > self.reset_deadline:   # give up: hold where the arm is
            self.ctl.sync(self.measured)
            self.ctl.mode = Mode.HOLDING
            self.get_logger().error(f'reset timed out {err * 1000:.1f} mm from the goal; holding')

    def on_reset(self, request: Reset.Request, response: Reset.Response) -> Reset.Response:
        """Start the reset motion and return at once; ArmState.mode reports its progress."""
        if self.measured is None or self.feedback_stale or self.ctl.mode in (Mode.ESTOP, Mode.RESETTING):
            why = {Mode.ESTOP: 'e-stop engaged', Mode.RESETTING: 'a reset is already running'}
            response.success = False
            response.message = why.get(self.ctl.mode, 'no arm feedback yet' if self.measured is None else
                                       'the arm feedback is stale')
            return response
        self.reset_seed = max(int(request.seed), -1)
        dt = 1.0 / self.cfg.controller.rate_hz
        if self.ctl.command_scale == 0.0:     # dry run: the reset "arrives" where the arm is
            # one waypoint, so that ArmState reports RESETTING for a tick before IDLE, as after a motion
            self.reset_goal, self.waypoints = self.measured.copy(), [self.measured.copy()]
        else:
            self.reset_goal = seeded_reset_pose(self.cfg.task, request.seed)[0]
            start = self.ctl.target or self.measured
            self.waypoints = reset_waypoints(start, self.reset_goal, self.cfg.controller, self.cfg.task.workspace,
                                             dt)
        self.reset_deadline = time.monotonic() + len(self.waypoints) * dt + self.cfg.controller.reset_timeout_s
        self.ctl.gripper_closed = True
        self.ctl.mode = Mode.RESETTING
        response.success = True
        response.message = f'resetting to {np.round(self.reset_goal.pos, 4).tolist()}'
        return response

    def on_estop(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if not request.data and self.driver_errors:
            response.success = False
            response.message = f'e-stop kept: the arm driver still reports {self.driver_errors}'
            self.get_logger().warning(response.message)
            return response
        self.waypoints = []
        self.ctl.estop(request.data, self.measured)
        response.success = True
        response.message = 'e-stop engaged: holding, commands ignored' if request.data else 'e-stop released'
        self.get_logger().warning(response.message)
        return response


def main(args=None):
    spin_node(ControllerNode, args)


if __name__ == '__main__':
    main()
