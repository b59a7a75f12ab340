"""teleop node over DDS: Joy in (as the spacenav node sends it), interventions out."""
import os
import subprocess
import time

import numpy as np
import pytest
from sensor_msgs.msg import Joy
from worldsample_msgs.msg import ArmState, DeltaCommand

from test.integration.conftest import EXE_DIR
from worldsample.nodes.common import COMMAND_QOS, SENSOR_QOS, STATE_QOS

pytestmark = pytest.mark.integration


def test_joy_drives_interventions_and_bad_messages_are_dropped(procs, ros_node, cfg):
    proc = procs.start('teleop', 'teleop')
    got = []
    ros_node.create_subscription(DeltaCommand, '/worldsample/intervention', got.append, COMMAND_QOS)
    joy = ros_node.create_publisher(Joy, '/spacenav/joy', SENSOR_QOS)
    assert ros_node.spin_until(lambda: joy.get_subscription_count() > 0, 30), procs.log('teleop')

    def send(axes, buttons=(0, 0), seconds=0.3):
        end = ros_node.get_clock().now().nanoseconds + seconds * 1e9
        while ros_node.get_clock().now().nanoseconds < end:
            joy.publish(Joy(axes=[float(a) for a in axes], buttons=list(buttons)))
            ros_node.spin_for(0.02)

    send([0.05, -0.05, 0.0, 0.0, 0.0, 0.05])             # inside the deadzone: hands off
    ros_node.spin_for(0.7)
    assert got == [], 'a push inside the deadzone took over'

    send([1.0, 0.0, -0.55, 0.0, 0.0, 0.0])                # push: takeover, scaled past the deadzone
    pushes = [np.asarray(m.action) for m in got]
    assert len(pushes) >= 2 and all(m.source == DeltaCommand.SOURCE_INTERVENTION for m in got)
    np.testing.assert_allclose(pushes[-1], [1.0, 0, -0.5, 0, 0, 0, 0], atol=1e-6)

    # malformed and non-finite readings are dropped; the node lives on
    for bad in ([1.0] * 3, [0.0, float('nan'), 0, 0, 0, 0]):
        joy.publish(Joy(axes=bad, buttons=[0, 0]))
    joy.publish(Joy(axes=[0.0] * 6, buttons=[]))
    state = ros_node.create_publisher(ArmState, '/a1x_controller/state', STATE_QOS)
    assert ros_node.spin_until(lambda: state.get_subscription_count() > 0, 10)
    zero = ArmState()
    zero.measured_pose.orientation.w = 0.0                  # all-zero quaternion: no rotation at all
    state.publish(zero)
    ros_node.spin_for(0.3)
    assert proc.poll() is None, procs.log('teleop')

    got.clear()
    send([0.0] * 6, (1, 0), seconds=0.1)                 # left button: close, once per press
    send([0.0] * 6, (0, 0), seconds=0.1)
    send([0.0] * 6, (0, 1), seconds=0.1)                 # right button: open
    send([0.0] * 6, (0, 0), seconds=0.1)                 # buttons let go: the device at rest
    grips = [m.action[6] for m in got if m.action[6] != 0.0]
    assert grips == [1.0, -1.0], grips

    got.clear()
    ros_node.spin_for(cfg.teleop.hold_s + 0.5)            # device at rest past hold_s: handed back ...
    sources = [m.source for m in got]
    assert sources.count(DeltaCommand.SOURCE_RELEASE) == 1 and sources[-1] == DeltaCommand.SOURCE_RELEASE, sources
    got.clear()
    ros_node.spin_for(0.5)
    assert got == []                                      # ... once: then nothing
    log = procs.log('teleop')
    assert 'teleop up' in log and 'Joy message dropped' in log and 'arm state dropped' in log


def test_reading_the_spacemouse_over_usb_without_one_is_logged_and_retried(procs, ros_node):
    proc = procs.start('teleop', 'teleop_hid', device='hid', retry_s=0.3)
    assert ros_node.spin_until(lambda: 'attempt 3' in procs.log('teleop_hid'), 30), procs.log('teleop_hid')
    log = procs.log('teleop_hid')
    assert 'teleop up: SpaceMouse over USB HID' in log and 'no SpaceMouse found on USB' in log
    assert 'retrying every 0.3 s' in log and proc.poll() is None


def test_keyboard_fallback_drives_the_teleop_node(procs, ros_node, tmp_path):
    procs.start('teleop', 'teleop_kb')
    got = []
    ros_node.create_subscription(DeltaCommand, '/worldsample/intervention', got.append, COMMAND_QOS)
    log = open(tmp_path / 'keyboard.log', 'w')
    kb = subprocess.Popen([os.path.join(EXE_DIR, 'keyboard_teleop')], stdin=subprocess.PIPE, stdout=log,
                          stderr=subprocess.STDOUT)
    procs.procs['keyboard'] = kb           # stopped with the others
    try:
        def typed(keys, seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                kb.stdin.write(keys.encode())
                kb.stdin.flush()
                ros_node.spin_for(0.03)
        assert ros_node.spin_until(lambda: 'teleop up' in procs.log('teleop_kb'), 30)
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:     # until both ends have matched
            typed('w', 0.5)
        typed('w', 0.5)
        moves = [np.asarray(m.action) for m in got]
        assert moves and moves[-1][0] > 0.9 and np.allclose(moves[-1][1:], 0), moves[-3:]
        got.clear()
        typed('c', 0.05)
        ros_node.spin_for(0.5)
        assert [m.action[6] for m in got if m.action[6] != 0.0] == [1.0]
    finally:
        kb.stdin.close()


def test_the_success_button_publishes_the_operators_mark(procs, ros_node, cfg):
    from std_msgs.msg import Bool
    procs.start('teleop', 'teleop_mark')
    marks = []
    ros_node.create_subscription(Bool, '/worldsample/success_mark', marks.append, COMMAND_QOS)
    joy = ros_node.create_publisher(Joy, '/spacenav/joy', SENSOR_QOS)
    assert ros_node.spin_until(lambda: joy.get_subscription_count() > 0, 30), procs.log('teleop_mark')
    press = [0, 0, 0]
    press[cfg.teleop.success_button] = 1
    for buttons, seconds in (([0, 0], 0.5), (press, 0.5), ([0, 0, 0], 0.5)):
        n = len(marks)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            joy.publish(Joy(axes=[0.0] * 6, buttons=buttons))
            ros_node.spin_for(0.02)
        ros_node.spin_for(0.15)
        got = len(marks) - n
        assert got >= 3 if buttons is press else got == 0, (buttons, got, procs.log('teleop_mark'))
    assert all(m.data for m in marks)


def test_a_push_from_rest_goes_out_as_it_arrives_not_at_the_next_tick(procs, ros_node, cfg):
    procs.start('teleop', 'teleop_fast')
    arrivals = []
    ros_node.create_subscription(DeltaCommand, '/worldsample/intervention',
                                 lambda m: arrivals.append(time.monotonic()), COMMAND_QOS)
    joy = ros_node.create_publisher(Joy, '/spacenav/joy', SENSOR_QOS)
    assert ros_node.spin_until(lambda: joy.get_subscription_count() > 0, 30), procs.log('teleop_fast')
    delays = []
    for _ in range(8):
        end = time.monotonic() + cfg.teleop.hold_s + 0.4             # at rest: control handed back
        while time.monotonic() < end:
            joy.publish(Joy(axes=[0.0] * 6, buttons=[0, 0]))
            ros_node.spin_for(0.02)
        arrivals.clear()
        t0 = time.monotonic()
        joy.publish(Joy(axes=[0.9, 0, 0, 0, 0, 0], buttons=[0, 0]))
        assert ros_node.spin_until(lambda: arrivals, 1.0)
        delays.append(arrivals[0] - t0)
    # at the 10 Hz tick the median wait would be about 50 ms
    assert np.median(delays) < 0.025, [round(d * 1e3, 1) for d in delays]
