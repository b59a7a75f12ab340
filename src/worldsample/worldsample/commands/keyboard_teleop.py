"""keyboard_teleop: drive interventions from the keyboard where there is no SpaceMouse.

    ./ws run keyboard_teleop [--topic /spacenav/joy] [--rate 50]

Publishes ``sensor_msgs/Joy`` like the ``spacenav`` node, from the keys of this terminal
(core.keyboard: w/s a/d r/f q/e move, c/o close/open the gripper, space stops), so the
``teleop`` node (``teleop:=true``, its default Joy input) turns it into interventions exactly as
it does a SpaceMouse. Run it in its own terminal beside the launched cell. Standard input that
is not a terminal (a pipe) is read the same way, one character per key press.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import time
import tty

import rclpy
from rclpy.executors import ExternalShutdownException
from sensor_msgs.msg import Joy

from ..core.keyboard import HELP, KeyboardJoy
from ..nodes.common import SENSOR_QOS


def run(topic: str, rate: float, stream=sys.stdin) -> None:
    rclpy.init()
    node = rclpy.create_node('keyboard_teleop')
    pub = node.create_publisher(Joy, topic, SENSOR_QOS)
    keys = KeyboardJoy()
    fd = stream.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved is not None:
        tty.setcbreak(fd)            # keys arrive one by one, unechoed
    print(f'keyboard -> {topic}; {HELP}', file=sys.stderr, flush=True)
    open_input, period = True, 1.0 / rate
    try:
        while rclpy.ok():
            if open_input and select.select([fd], [], [], period)[0]:
                data = os.read(fd, 64)
                open_input = bool(data)          # end of a piped input: keep publishing until Ctrl-C
                for ch in data.decode(errors='ignore'):
                    keys.press(ch, time.monotonic())
            elif not open_input:
                time.sleep(period)
            axes, buttons = keys.joy(time.monotonic())
            msg = Joy(axes=[float(a) for a in axes], buttons=buttons)
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        node.destroy_node()
        rclpy.try_shutdown()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--topic', default='/spacenav/joy', help='the Joy topic the teleop node reads')
    p.add_argument('--rate', type=float, default=50.0, help='Joy messages per second')
    args = p.parse_args(argv)
    if args.rate <= 0:
        p.error('--rate must be positive')
    run(args.topic, args.rate)
    return 0


if __name__ == '__main__':
    sys.exit(main())
