"""backend:=real brought up without hardware: the sim node serving only the vendor's arm topics
stands in for Galaxea's driver, and the camera nodes play RealSense recordings the test makes
through software devices, at a resolution other than the policy's."""
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from test.software_camera import SoftwareCamera
from worldsample.core import kinematics
from worldsample.core.config import load_config
from worldsample.core.controller import Pose, reset_orientation
from worldsample.core.driver import gripper_link_from_tcp
from worldsample.core.images import decode_rgb
from worldsample.core.observation import CAMERAS
from worldsample.core.recording.bag import read_messages, topic_summary
from worldsample.nodes.common import STATE_QOS

from .conftest import run_launch

pytestmark = pytest.mark.integration


def test_the_real_graph_runs_an_episode_against_a_stand_in_driver_and_recorded_cameras(procs, tmp_path, model_dir):
    recordings = tmp_path / 'cameras'
    recordings.mkdir()
    rng = np.random.default_rng(0)
    for cam in CAMERAS:          # 192 x 144 colour at 10 fps: cropped to 144 x 144, resized to 128 x 128
        sc = SoftwareCamera(192, 144, fps=10, record_to=recordings / f'{cam}.db3')
        for i in range(10):
            sc.inject(rng.integers(0, 256, (144, 192, 3), np.uint8), 1000.0 + 100.0 * i, i)
            sc.queue.wait_for_frame(1000)
            time.sleep(0.1)
        sc.close()
    procs.start('sim_node', 'sim', cameras=False)        # the arm driver's topics, no cameras
    bag = tmp_path / 'bag'
    code, out = run_launch(['backend:=real', f'reward_model:={model_dir}', f'camera_recordings:={recordings}',
                            'teleop:=false', 'episodes:=1', f'bag:={bag}', 'actor:=expert'], timeout=240)
    assert code == 0, out[-3000:]
    assert 'wrist_camera: streaming 192x144 from recording' in out and 'side_camera: streaming 192x144' in out
    episode = re.search(r'episode 0: (SUCCESS|failure) after (\d+) steps', out)
    assert episode, out[-3000:]
    steps = int(episode.group(2))

    summary = topic_summary(bag)
    # every step's transition reached the bag (the last may be cut off: the graph stops once the
    # policy has published it)
    assert steps - 1 <= summary['/worldsample/transitions'][1] <= steps
    transitions = [m for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    # the policy saw (and the transitions carry) the camera frames cropped and resized once
    assert decode_rgb(transitions[0].wrist).shape == (128, 128, 3)
    raw = next(m for _, _, _, m in read_messages(bag, ['/wrist_camera/color/image_raw']))
    assert (raw.width, raw.height) == (192, 144)
    # the controller drove the stand-in driver: the expert moved the arm down towards the hole
    z = [t.proprio[2] for t in transitions]
    assert z[0] - min(z) > 0.03, z


def test_calibrate_workspace_reads_the_driver_feedback_and_writes_a_task(ros_node, cfg, tmp_path):
    """The arm moved through the cell (feedback by index, the vendor's unnamed order) -> a task YAML."""
    path = [[0.28, -0.05, 0.06], [0.37, 0.05, 0.14], [0.33, 0.0, 0.12]]
    qs = []
    for p in path:
        gl = gripper_link_from_tcp(Pose(np.asarray(p), reset_orientation(cfg.task)), cfg.robot.tool)
        q, err = kinematics.inverse(gl.pos, gl.rot, kinematics.READY_SEED, iterations=100)
        assert err < 1e-4
        qs.append(q)
    out = tmp_path / 'cell.yaml'
    log = open(tmp_path / 'calibrate.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'worldsample.commands.calibrate_workspace', '--seconds', '12',
                             '--out', str(out)], stdout=log, stderr=subprocess.STDOUT)
    pub = ros_node.create_publisher(JointState, cfg.robot.topics.feedback_arm, STATE_QOS)
    assert ros_node.spin_until(lambda: pub.get_subscription_count() > 0, 30)
    pub.publish(JointState(name=['a'] * 3, position=[0.0] * 7))           # malformed: dropped, named
    for q in qs:
        for _ in range(10):
            pub.publish(JointState(position=[*q, 50.0]))                  # J1..J6 then the gripper stroke
            ros_node.spin_for(0.05)
    assert proc.wait(timeout=40) == 0, (tmp_path / 'calibrate.log').read_text()
    task = load_config(out).task
    np.testing.assert_allclose(task.workspace.low, [0.285, -0.045, 0.065], atol=2e-4)
    np.testing.assert_allclose(task.workspace.high, [0.365, 0.045, 0.135], atol=2e-4)
    np.testing.assert_allclose(task.reset_pos, path[-1], atol=2e-4)
    assert 'arm feedback dropped: 3 joint names but 7 positions' in (tmp_path / 'calibrate.log').read_text()


def test_a_dry_run_runs_the_graph_and_never_moves_the_arm(tmp_path):
    bag = tmp_path / 'bag'
    code, out = run_launch(['dry_run:=true', 'episodes:=1', 'human:=false', f'bag:={bag}'], timeout=150)
    assert code == 0, out[-3000:]
    assert 'DRY RUN' in out and 'episode 0: failure after 100 steps' in out, out[-3000:]
    z = [m.proprio[:3] for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    assert len(z) >= 90          # the recorder may join the stream a step late
    drift = max(abs(a - b) for p in z for a, b in zip(p, z[0]))
    assert drift < 1e-3, f'the arm moved {drift * 1e3:.2f} mm in a dry run'
