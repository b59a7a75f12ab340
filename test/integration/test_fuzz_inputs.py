"""Property-based fuzzing of the running cell's inputs (hypothesis): malformed messages on every
topic the nodes subscribe to and malformed requests to their services. Every node stays up, and no
target the controller sends the arm leaves the workspace box."""
import math
import time

import numpy as np
import pytest
from geometry_msgs.msg import Point, Pose as Pose_, PoseStamped, Quaternion
from hypothesis import HealthCheck, given, settings, strategies as st
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import Bool
from std_srvs.srv import SetBool
from worldsample_msgs.msg import ArmState, DeltaCommand, Transition
from worldsample_msgs.srv import ReplayTransitions, Reset, ScoreFrames

from worldsample.core.controller import Pose
from worldsample.core.driver import tcp_from_gripper_link
from worldsample.nodes.common import BOARD_TOPIC, COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, STATE_QOS, TRANSITION_QOS

pytestmark = pytest.mark.integration
EXAMPLES = 60      # per topic or service

floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
float_lists = st.lists(floats, max_size=40) | st.lists(st.just(0.1), min_size=1000, max_size=5000)
names = st.lists(st.text(max_size=12), max_size=10)
encodings = st.sampled_from(['rgb8', 'bgr8', 'mono8', '16UC1', 'yuv422', '', 'rgba8', '\x00junk'])


@st.composite
def images(draw):
    h, w = draw(st.integers(0, 300)), draw(st.integers(0, 300))
    step = draw(st.sampled_from([w * 3, w, w * 3 + draw(st.integers(-5, 5)), 0]))
    n = draw(st.sampled_from([max(step, 0) * h, draw(st.integers(0, 5000)), 0]))
    return Image(height=h, width=w, encoding=draw(encodings), step=max(step, 0), data=bytes(min(n, 300_000)))


def proprio_msgs():
    return st.builds(ArmState, mode=st.integers(0, 255), proprio=float_lists, feedback_age_s=floats)


def joints():
    return st.builds(JointState, name=names, position=float_lists, velocity=float_lists, effort=float_lists)


def board_poses():
    point = st.builds(Point, x=st.floats(width=64), y=st.floats(width=64), z=st.floats(width=64))
    quat = st.builds(Quaternion, x=st.floats(width=64), y=st.floats(width=64), z=st.floats(width=64),
                     w=st.floats(width=64))
    return st.builds(PoseStamped, pose=st.builds(Pose_, position=point, orientation=quat))


def commands():
    return st.builds(DeltaCommand, source=st.integers(0, 255), action=float_lists)


def joys():
    return st.builds(Joy, axes=float_lists, buttons=st.lists(st.integers(-2**31, 2**31 - 1), max_size=20))


@st.composite
def transitions(draw):
    return Transition(origin=draw(st.integers(0, 255)), episode=draw(st.integers(0, 2**32 - 1)),
                      step=draw(st.integers(0, 2**32 - 1)), wrist=draw(images()), side=draw(images()),
                      next_wrist=draw(images()), next_side=draw(images()), proprio=draw(float_lists),
                      next_proprio=draw(float_lists), action=draw(float_lists), reward=draw(floats),
                      terminated=draw(st.booleans()), truncated=draw(st.booleans()))


def test_malformed_inputs_on_every_topic_and_service_leave_every_node_running(procs, ros_node, cfg, model_dir,
                                                                              demos, fast_task, tmp_path):
    nodes = {'sim': procs.start('sim_node', 'sim'), 'a1x_controller': procs.start('a1x_controller', 'a1x_controller'),
             'sim_human': procs.start('sim_human', 'sim_human'), 'teleop': procs.start('teleop', 'teleop'),
             'reward_model': procs.start('reward_model', 'reward_model', model_dir=str(model_dir)),
             'policy': procs.start('policy_node', 'policy', actor='expert', success_source='reward_model',
                                   spool_dir=str(tmp_path / 'spool')),
             'learner': procs.start('learner', 'learner', task=fast_task, demos=demos, run_dir=str(tmp_path / 'run'))}
    targets = []
    ros_node.create_subscription(PoseStamped, cfg.robot.topics.target_pose[0], targets.append, COMMAND_QOS)
    topics = [('/worldsample/command', DeltaCommand, COMMAND_QOS, commands()),
              ('/worldsample/intervention', DeltaCommand, COMMAND_QOS, commands()),
              ('/a1x_controller/state', ArmState, STATE_QOS, proprio_msgs()),
              (cfg.robot.topics.feedback_arm, JointState, STATE_QOS, joints()),
              (cfg.robot.topics.feedback_gripper, JointState, STATE_QOS, joints()),
              ('/wrist_camera/color/image_raw', Image, SENSOR_QOS, images()),
              ('/side_camera/color/image_raw', Image, SENSOR_QOS, images()),
              ('/spacenav/joy', Joy, SENSOR_QOS, joys()),
              ('/worldsample/success_mark', Bool, COMMAND_QOS, st.builds(Bool, data=st.booleans())),
              (BOARD_TOPIC, PoseStamped, LATCHED_QOS, board_poses()),
              ('/worldsample/transitions', Transition, TRANSITION_QOS, transitions()),
              ('/worldsample/synthetic_transitions', Transition, TRANSITION_QOS, transitions()),
              ('/worldsample/transitions_replay', Transition, TRANSITION_QOS, transitions())]
    pubs = {t: ros_node.create_publisher(m, t, q) for t, m, q, _ in topics}
    assert ros_node.spin_until(lambda: targets and all(p.get_subscription_count() > 0 for p in pubs.values()),
                               120), {t: p.get_subscription_count() for t, p in pubs.items()}
    tried = {}
    fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
    def sender(topic, strategy):
        @fuzz
        @given(strategy)
        def send(msg):
            pubs[topic].publish(msg)
            tried[topic] = tried.get(topic, 0) + 1
            ros_node.spin_for(0.005)
        return send

    for topic, _, _, strategy in topics:
        sender(topic, strategy)()
        ros_node.spin_for(0.5)
        dead = {n: p.returncode for n, p in nodes.items() if p.poll() is not None}
        assert not dead, f'after fuzzing {topic}: {dead}\n' + '\n'.join(procs.log(n)[-1500:] for n in dead)

    services = [('/reward_model/score', ScoreFrames, st.builds(ScoreFrames.Request, wrist=st.lists(images(), max_size=4),
                                                                side=st.lists(images(), max_size=4))),
                ('/a1x_controller/reset', Reset, st.builds(Reset.Request, seed=st.integers(-2**31, 2**31 - 1))),
                ('/a1x_controller/estop', SetBool, st.builds(SetBool.Request, data=st.booleans())),
                ('/policy/replay', ReplayTransitions, st.builds(ReplayTransitions.Request,
                                                                episode=st.integers(-2**63, 2**63 - 1),
                                                                step=st.integers(-2**63, 2**63 - 1),
                                                                max_count=st.integers(0, 2**32 - 1)))]
    answered = {}
    def caller(name, client, strategy):
        @fuzz
        @given(strategy)
        def call(request):
            future = client.call_async(request)
            ros_node.spin_until(future.done, 10)
            tried[name] = tried.get(name, 0) + 1
            answered[name] = answered.get(name, 0) + int(future.done() and future.result() is not None)
        return call

    for name, srv, strategy in services:
        client = ros_node.create_client(srv, name)
        assert ros_node.spin_until(client.service_is_ready, 60), name
        caller(name, client, strategy)()
        dead = {n: p.returncode for n, p in nodes.items() if p.poll() is not None}
        assert not dead, f'after fuzzing {name}: {dead}\n' + '\n'.join(procs.log(n)[-1500:] for n in dead)
        assert answered[name] == tried[name], f'{name} left {tried[name] - answered[name]} requests unanswered'
    release = ros_node.create_client(SetBool, '/a1x_controller/estop')
    release.call_async(SetBool.Request(data=False))
    ros_node.spin_for(1.0)

    ws = cfg.task.workspace
    outside = 0
    for t in targets:
        q = t.pose.orientation
        tcp = tcp_from_gripper_link(Pose.from_pos_quat([t.pose.position.x, t.pose.position.y, t.pose.position.z],
                                                       [q.x, q.y, q.z, q.w]), cfg.robot.tool)
        outside += not (np.all(tcp.pos >= np.asarray(ws.low) - 1e-6) and np.all(tcp.pos <= np.asarray(ws.high) + 1e-6)
                        and all(math.isfinite(v) for v in tcp.pos))
    print(f'\nfuzzed inputs tried: {sum(tried.values())} ({tried}); controller targets checked: {len(targets)}, '
          f'outside the box: {outside}')
    assert len(targets) > 100 and outside == 0
    assert all(p.poll() is None for p in nodes.values())
