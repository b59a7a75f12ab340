"""teleop node: the operator's SpaceMouse -> interventions, on the same topic as the simulated human.

Reads ``sensor_msgs/Joy`` from the ``spacenav`` node (``joy_topic``, default ``/spacenav/joy``:
axes [x y z roll pitch yaw], buttons [left right]), or with ``device:=hid`` the SpaceMouse itself
over USB HID (core.spacemouse, the same axes; a missing or unplugged device is logged and
retried every ``retry_s``), and maps it with ``core.teleop`` (deadzone,
gains, base or tool frame, the teleop section of the task YAML). While the operator has taken
over it publishes ``/worldsample/intervention`` at the control rate (the first push or button press
after hands-off goes out as it arrives, not at the next tick); the policy node lets a fresh
intervention override the actor and marks the step intervened. While the operator holds the
task's ``teleop.success_button`` it publishes ``/worldsample/success_mark`` (std_msgs/Bool, true)
at the control rate: the operator's success label in the recording sessions (``collect:=``).
Readings older than ``stale_s`` are not acted on (a device that stops reporting hands control back).
When the operator hands control back (the device at rest for ``teleop.hold_s``, or stale) it
publishes one release (DeltaCommand ``SOURCE_RELEASE``), so the policy stops applying the last
command at once.
"""
from __future__ import annotations

import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool
from worldsample_msgs.msg import ArmState, DeltaCommand

from ..core.spacemouse import SpaceMouseError, SpaceMouseReader
from ..core.teleop import SpaceMouseTeleop, TeleopInputError, success_marked
from .common import (COMMAND_QOS, INTERVENTION_TOPIC, SENSOR_QOS, STATE_QOS, SUCCESS_MARK_TOPIC, declare_config,
                     msg_to_pose, spin_node)



class TeleopNode(Node):
    def __init__(self):
        super().__init__('teleop')
        self.cfg = declare_config(self)
        joy_topic = self.declare_parameter('joy_topic', '/spacenav/joy').value
        device = self.declare_parameter('device', 'joy').value
        self.stale_s = float(self.declare_parameter('stale_s', 0.5).value)
        self.retry_s = float(self.declare_parameter('retry_s', 2.0).value)
        if device not in ('joy', 'hid'):
            raise ValueError(f"teleop device must be 'joy' (the spacenav node's Joy) or 'hid' (USB), got {device!r}")
        self.teleop = SpaceMouseTeleop(self.cfg.teleop)
        self.reading: tuple[float, np.ndarray, list[int]] | None = None
        self.pressed = [False, False]     # a press shorter than a control period still counts
        self.mark_pressed = False         # the same for the success button
        self.tool_rot: np.ndarray | None = None
        self.published = 0
        self.engaged = False              # the operator has control (the last tick published)
        self.reader: SpaceMouseReader | None = None
        self.next_open = 0.0
        self.device_errors = 0
        if device == 'joy':
            self.create_subscription(Joy, joy_topic, self.on_joy, SENSOR_QOS)
            source = joy_topic
        else:
            self.create_timer(0.01, self.on_hid)
            source = 'SpaceMouse over USB HID'
        self.create_subscription(ArmState, '/a1x_controller/state', self.on_state, STATE_QOS)
        self.pub = self.create_publisher(DeltaCommand, INTERVENTION_TOPIC, COMMAND_QOS)
        self.pub_mark = self.create_publisher(Bool, SUCCESS_MARK_TOPIC, COMMAND_QOS)
        self.create_timer(1.0 / self.cfg.task.control_hz, self.on_tick)
        self.get_logger().info(f'teleop up: {source} -> {INTERVENTION_TOPIC} ({self.cfg.teleop.frame} frame)')

    def on_joy(self, msg: Joy) -> None:
        axes, buttons = np.asarray(msg.axes, dtype=np.float64), list(msg.buttons)
        if axes.shape != (6,) or len(buttons) < 2 or not np.all(np.isfinite(axes)):
            self.get_logger().error(f'Joy message dropped: need 6 finite axes and 2 buttons, got '
                                    f'{axes.tolist()} / {buttons}', throttle_duration_sec=2.0)
            return
        self._read(time.monotonic(), axes, buttons)

    def _read(self, now: float, axes: np.ndarray, buttons: list[int]) -> None:
        self.reading = (now, axes, buttons)
        self.pressed = [p or bool(b) for p, b in zip(self.pressed, buttons[:2])]
        self.mark_pressed = self.mark_pressed or success_marked(buttons, self.cfg.teleop)
        if not self.engaged:     # hands-off until now: a push or press goes out at once, not at the next tick
            self.on_tick()

    def on_hid(self) -> None:
        now = time.monotonic()
        if self.reader is None:
            if now < self.next_open:
                return
            try:
                self.reader = SpaceMouseReader()
            except SpaceMouseError as e:
                self.device_errors += 1
                self.next_open = now + self.retry_s
                self.get_logger().error(f'{e}; retrying every {self.retry_s:g} s (attempt {self.device_errors})')
                return
            self.get_logger().info(f'reading {self.reader.device}')
        try:
            self.reader.poll()
        except SpaceMouseError as e:
            self.get_logger().error(f'{e}; retrying every {self.retry_s:g} s')
            self.reader.close()
            self.reader, self.reading, self.next_open = None, None, now + self.retry_s
            return
        axes, buttons = self.reader.state.joy()
        # the device reports on change only, so its state is current while it is open
        self._read(now, axes, buttons)

    def on_state(self, msg: ArmState) -> None:
        try:
            self.tool_rot = msg_to_pose(msg.measured_pose).rot
        except ValueError as e:
            self.get_logger().error(f'arm state dropped: {e}', throttle_duration_sec=2.0)

    def on_tick(self) -> None:
        now = time.monotonic()
        if self.reading is None or now - self.reading[0] > self.stale_s:
            axes, buttons = np.zeros(6), [0, 0]
        else:
            _, axes, buttons = self.reading
        marking = success_marked(buttons, self.cfg.teleop) or self.mark_pressed
        buttons = [int(bool(b) or p) for b, p in zip(buttons[:2], self.pressed)]
        self.pressed, self.mark_pressed = [False, False], False
        if marking:
            self.pub_mark.publish(Bool(data=True))
        try:
            out = self.teleop.update(axes, buttons, now, self.tool_rot)
        except TeleopInputError as e:     # checked on arrival; kept so that nothing escapes a timer
            self.get_logger().error(f'teleop reading dropped: {e}', throttle_duration_sec=2.0)
            return
        released = self.engaged and out is None
        self.engaged = out is not None
        if released:         # handed back: the policy stops applying the last command now, not 0.25 s later
            self._publish(DeltaCommand.SOURCE_RELEASE, np.zeros(7))
        elif out is not None:
            self._publish(DeltaCommand.SOURCE_INTERVENTION, out.action)

    def _publish(self, source: int, action: np.ndarray) -> None:
        msg = DeltaCommand(source=source, action=[float(a) for a in action])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(msg)
        self.published += 1

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def main(args=None):
    spin_node(TeleopNode, args)


if __name__ == '__main__':
    main()
