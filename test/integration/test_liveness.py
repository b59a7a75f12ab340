"""Stale inputs: a frozen or backwards camera stops the policy's commands (the controller then holds),
stale arm feedback makes the controller hold and refuse commands, and malformed arm states are
dropped by the nodes that read them."""
import time

import numpy as np
import pytest
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState
from worldsample_msgs.msg import ArmState, DeltaCommand
from worldsample_msgs.srv import Reset

from worldsample.core import kinematics
from worldsample.core.controller import Mode
from worldsample.core.observation import CAMERAS
from worldsample.nodes.common import COMMAND_QOS, SENSOR_QOS, STATE_QOS, array_to_image

pytestmark = pytest.mark.integration


def test_a_frozen_or_backwards_camera_stops_the_commands_until_it_is_fresh_again(procs, ros_node, cfg):
    procs.start('sim_node', 'sim', cameras=False)
    procs.start('a1x_controller', 'a1x_controller')
    policy = procs.start('policy_node', 'policy', actor='zero')
    human = procs.start('sim_human', 'sim_human')
    cams = {c: ros_node.create_publisher(Image, f'/{c}/color/image_raw', SENSOR_QOS) for c in CAMERAS}
    commands, states = [], []
    ros_node.create_subscription(DeltaCommand, '/worldsample/command', lambda m: commands.append(time.monotonic()),
                                 COMMAND_QOS)
    ros_node.create_subscription(ArmState, '/a1x_controller/state', states.append, STATE_QOS)
    frame = np.full((cfg.camera('wrist_camera').height, cfg.camera('wrist_camera').width, 3), 90, np.uint8)

    def run(seconds, live=CAMERAS, wrist_stamp=None):
        end, t_next = time.monotonic() + seconds, 0.0
        while time.monotonic() < end:
            if time.monotonic() >= t_next:
                now = ros_node.get_clock().now()
                for c in live:
                    stamp = wrist_stamp if (c == 'wrist_camera' and wrist_stamp is not None) else now
                    cams[c].publish(array_to_image(frame, stamp.to_msg(), c))
                t_next = time.monotonic() + 1 / 15
            ros_node.spin_for(0.01)

    deadline = time.monotonic() + 60
    while not commands and time.monotonic() < deadline:
        run(0.5)
    assert commands, procs.log('policy')
    run(1.0, live=['side_camera'])                      # the wrist camera freezes
    quiet_since = time.monotonic() - 0.5
    assert not [t for t in commands if t > quiet_since], 'commands went on with a frozen camera'
    assert states[-1].mode == Mode.HOLDING               # the controller's watchdog holds
    assert 'not commanding: stale input (wrist_camera: its newest message is' in procs.log('policy')
    n = len(commands)
    run(1.0)                                              # fresh again: commands resume
    assert len(commands) > n + 3 and 'inputs fresh again' in procs.log('policy')
    old = Time(nanoseconds=ros_node.get_clock().now().nanoseconds - 10**10)
    run(0.2, wrist_stamp=ros_node.get_clock().now())
    run(1.0, wrist_stamp=old)                             # a wrist image from 10 s ago: backwards
    assert 'wrist_camera: its timestamps went backwards' in procs.log('policy')
    quiet_since = time.monotonic() - 0.5
    assert not [t for t in commands if t > quiet_since]

    bad = ros_node.create_publisher(ArmState, '/a1x_controller/state', STATE_QOS)
    for proprio in ([], [float('nan')] * 7, [0.0] * 100):
        bad.publish(ArmState(proprio=proprio))
    run(1.0)
    assert policy.poll() is None and human.poll() is None
    assert 'arm state dropped: ArmState proprio must have 7 values' in procs.log('policy')
    assert 'arm state dropped' in procs.log('sim_human')


def test_stale_arm_feedback_holds_the_arm_and_refuses_commands_and_resets(procs, ros_node, cfg):
    procs.start('a1x_controller', 'a1x_controller')
    feedback = ros_node.create_publisher(JointState, cfg.robot.topics.feedback_arm, STATE_QOS)
    cmd = ros_node.create_publisher(DeltaCommand, '/worldsample/command', COMMAND_QOS)
    states = []
    ros_node.create_subscription(ArmState, '/a1x_controller/state', states.append, STATE_QOS)
    reset = ros_node.create_client(Reset, '/a1x_controller/reset')
    q = kinematics.READY_SEED

    def run(seconds, feed=True, push=False, until=lambda: False):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            if feed:
                feedback.publish(JointState(name=list(cfg.robot.joint_names), position=list(q)))
            if push:
                cmd.publish(DeltaCommand(source=0, action=[0.5, 0, 0, 0, 0, 0, 0]))
            ros_node.spin_for(0.02)

    def tracking_on_fresh_feedback():
        return states and states[-1].mode == Mode.TRACKING and states[-1].feedback_age_s < 0.1

    assert ros_node.spin_until(lambda: feedback.get_subscription_count() > 0, 30)
    run(1.0, push=True)
    # a node just started, on a loaded machine, can miss a beat: its state settles within seconds
    run(10.0, push=True, until=tracking_on_fresh_feedback)
    assert tracking_on_fresh_feedback(), states[-1:]
    accepted = states[-1].commands_accepted
    run(0.8, feed=False, push=True)                        # the driver stops reporting
    last = states[-1]
    assert last.mode == Mode.HOLDING and last.feedback_age_s > cfg.liveness.feedback_max_age_s
    assert last.commands_accepted - accepted <= 12, 'commands kept being accepted on stale feedback'
    assert last.commands_rejected > 0
    future = reset.call_async(Reset.Request(seed=1))
    ros_node.spin_until(future.done, 5)
    assert not future.result().success and 'stale' in future.result().message
    log = procs.log('a1x_controller')
    assert 'arm feedback is' in log and 'holding the last measured pose and refusing commands' in log
    # feedback back: commands accepted again (within seconds on a loaded machine, as at the start)
    run(10.0, push=True,
        until=lambda: tracking_on_fresh_feedback() and states[-1].commands_accepted > last.commands_accepted)
    assert states[-1].mode == Mode.TRACKING and states[-1].commands_accepted > last.commands_accepted
    assert 'arm feedback is fresh again' in procs.log('a1x_controller')
