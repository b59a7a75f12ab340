"""The whole simulated cell as separate processes: the expert inserts through the controller
over DDS, the recorder writes a bag that reads back with rosbags."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from worldsample.core.recording.bag import read_messages, topic_summary
from worldsample.core.images import decode_rgb

from .conftest import run_launch

pytestmark = pytest.mark.integration

EXPECTED_TYPES = {
    '/wrist_camera/color/image_raw': 'sensor_msgs/msg/Image',
    '/side_camera/color/image_raw': 'sensor_msgs/msg/Image',
    '/wrist_camera/color/camera_info': 'sensor_msgs/msg/CameraInfo',
    '/side_camera/color/camera_info': 'sensor_msgs/msg/CameraInfo',
    '/hdas/feedback_arm': 'sensor_msgs/msg/JointState',
    '/hdas/feedback_gripper': 'sensor_msgs/msg/JointState',
    '/motion_target/target_pose_arm': 'geometry_msgs/msg/PoseStamped',
    '/worldsample/command': 'worldsample_msgs/msg/DeltaCommand',
    '/worldsample/transitions': 'worldsample_msgs/msg/Transition',
    '/a1x_controller/state': 'worldsample_msgs/msg/ArmState',
}


def test_expert_inserts_through_the_graph_and_bag_reads_back(tmp_path):
    bag = tmp_path / 'bag'
    code, out = run_launch(['episodes:=2', f'bag:={bag}', 'seed:=11', 'human:=false'], timeout=150)
    assert code == 0, out[-3000:]
    episodes = re.findall(r'episode (\d+): (SUCCESS|failure) after (\d+) steps', out)
    assert [e[:2] for e in episodes] == [('0', 'SUCCESS'), ('1', 'SUCCESS')], out[-3000:]
    steps = sum(int(e[2]) for e in episodes)

    summary = topic_summary(bag)
    for topic, msgtype in EXPECTED_TYPES.items():
        assert summary[topic][0] == msgtype, topic
    assert summary['/worldsample/transitions'][1] == steps
    assert summary['/worldsample/command'][1] == steps
    assert summary['/wrist_camera/color/image_raw'][1] > steps          # 15 fps vs 10 Hz steps
    assert summary['/hdas/feedback_arm'][1] > summary['/wrist_camera/color/image_raw'][1]

    transitions = [m for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    assert [t.step for t in transitions if t.episode == 0] == list(range(int(episodes[0][2])))
    last = [t for t in transitions if t.terminated]
    assert len(last) == 2 and all(t.success and t.reward == 1.0 for t in last)
    assert decode_rgb(transitions[0].wrist).shape == (128, 128, 3)
    assert len(transitions[0].action) == 7 and len(transitions[0].proprio) == 7
    # the arm really moved down into the hole during an episode
    z = [t.proprio[2] for t in transitions if t.episode == 0]
    assert z[0] - z[-1] > 0.05


def test_the_benchmark_task_moves_the_board_every_episode_in_the_graph(tmp_path):
    """insertion_vision in the ROS graph: the sim moves the board at each reset, the scripted expert
    inserts into the hole ``/sim/board`` reports (1.25 mm clearance: the nominal hole would miss)."""
    from worldsample.nodes.common import BOARD_TOPIC, board_from_msg
    bag = tmp_path / 'bag'
    code, out = run_launch(['task:=insertion_vision', 'episodes:=2', f'bag:={bag}', 'seed:=11', 'human:=false'],
                           timeout=150)
    assert code == 0, out[-3000:]
    episodes = re.findall(r'episode (\d+): (SUCCESS|failure) after (\d+) steps', out)
    assert [e[:2] for e in episodes] == [('0', 'SUCCESS'), ('1', 'SUCCESS')], out[-3000:]
    assert out.count('board moved') == 2, out[-3000:]
    boards = [board_from_msg(m) for _, _, _, m in read_messages(bag, [BOARD_TOPIC])]
    assert len(boards) >= 2
    assert np.abs(boards[-1] - boards[-2]).max() > 1e-3          # a new board for the second episode
    from worldsample.core.config import load_config
    from worldsample.core.sim.board import seeded_start
    task = load_config('insertion_vision').task                  # episode k is reset with seed 11 + k
    np.testing.assert_allclose(boards[-2:], [seeded_start(task, 11)[1], seeded_start(task, 12)[1]], atol=1e-9)
    transitions = [m for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    for episode, board in zip((0, 1), boards[-2:]):               # each episode ended in its own hole
        tip_xy = [t.next_proprio[:2] for t in transitions if t.episode == episode][-1]
        assert np.linalg.norm(np.asarray(tip_xy) - board[:2]) < 0.01


def test_the_simulated_human_steers_to_the_moved_hole():
    """With an actor that never moves, every insertion is the simulated human's, into ``/sim/board``'s hole."""
    code, out = run_launch(['task:=insertion_vision', 'episodes:=2', 'actor:=zero', 'record:=false', 'seed:=5'],
                           timeout=150)
    assert code == 0, out[-3000:]
    episodes = re.findall(r'episode (\d+): (SUCCESS|failure) after \d+ steps \((\d+) intervened\)', out)
    assert [e[:2] for e in episodes] == [('0', 'SUCCESS'), ('1', 'SUCCESS')], out[-3000:]
    assert all(int(e[2]) > 0 for e in episodes)


def test_runner_reports_a_dead_node_and_stops_the_rest(tmp_path):
    proc = subprocess.Popen([sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py',
                             'record:=false', 'human:=false'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pids = {}
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            m = re.match(r'\[launch_runner\] started (\S+) \(pid (\d+)\)', line)
            if m:
                pids[m.group(1)] = int(m.group(2))
            if 'cell (insertion) up' in line or time.monotonic() > deadline:
                break
        os.kill(pids['sim'], signal.SIGKILL)
        rest = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
    assert "node 'sim' died with signal SIGKILL" in rest
    assert proc.returncode == 1
    for name, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_ctrl_c_stops_the_graph_cleanly_and_finishes_the_bag(tmp_path):
    bag = tmp_path / 'bag'
    proc = subprocess.Popen([sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py',
                             f'bag:={bag}', 'human:=false'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if 'SUCCESS' in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert 'died' not in rest
    assert not (tmp_path / 'bag.partial').exists()
    assert topic_summary(bag)['/worldsample/transitions'][1] > 0


def test_unknown_launch_file_and_argument_are_reported():
    code, out = run_launch(['speed:=3'], timeout=30)
    assert code == 2 and 'unknown launch argument' in out
    proc = subprocess.run([sys.executable, '-m', 'worldsample.launch_runner', 'pushing.launch.py'],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and 'no launch file' in proc.stderr


def test_episode_success_from_the_reward_model_service(tmp_path):
    from worldsample.commands.train_reward import build
    model, _ = build('insertion', episodes=15, seed=2, threshold=0.7, steps=150)
    folder = model.save(tmp_path / 'rm')
    code, out = run_launch(['episodes:=2', 'record:=false', 'human:=false', f'reward_model:={folder}',
                            'seed:=21'], timeout=150)
    assert code == 0, out[-3000:]
    assert 'reward model from' in out
    assert re.findall(r'episode (\d+): (SUCCESS|failure)', out) == [('0', 'SUCCESS'), ('1', 'SUCCESS')], out[-3000:]


def test_killing_the_runner_leaves_no_orphan_nodes():
    proc = subprocess.Popen([sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py',
                             'record:=false'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = []
    for line in proc.stdout:
        m = re.match(r'\[launch_runner\] started (\S+) \(pid (\d+)\)', line)
        if m:
            pids.append(int(m.group(2)))
        if len(pids) == 4:
            break
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 15
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f'/proc/{p}') and 'Z' not in open(f'/proc/{p}/stat').read().split()[2]]
        time.sleep(0.2)
    assert not alive, f'orphaned nodes: {alive}'


def test_a_killed_reward_model_is_respawned_with_a_back_off_and_counted(tmp_path, model_dir):
    proc = subprocess.Popen([sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py',
                             'record:=false', 'human:=false', f'reward_model:={model_dir}'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        def read_until(pattern, timeout):
            deadline = time.monotonic() + timeout
            for line in proc.stdout:
                lines.append(line)
                m = re.search(pattern, line)
                if m or time.monotonic() > deadline:
                    return m
        pid = int(read_until(r'started reward_model \(pid (\d+)\)', 30).group(1))
        assert read_until(r'episode 0: SUCCESS', 90), ''.join(lines[-30:])
        for restart in (1, 2):
            os.kill(pid, signal.SIGKILL)
            died = read_until(r"node 'reward_model' died with signal SIGKILL; respawning it in (\S+) s", 30)
            assert died and float(died.group(1)) == restart, ''.join(lines[-30:])   # 1 s, then 2 s
            pid = int(read_until(r'started reward_model \(pid (\d+)\)', 30).group(1))
        assert read_until(r'episode \d+: SUCCESS', 90), 'the cell did not go on with the respawned reward model'
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
    assert 'restarts: reward_model 2' in rest and proc.returncode == 0, rest[-2000:]


def test_the_sim_runs_off_the_control_loops_cpu_on_every_thread(procs, ros_node):
    from worldsample.nodes.common import background_cpus
    proc = procs.start('sim_node', 'sim', nice=3)
    assert ros_node.spin_until(lambda: 'off the control loop' in procs.log('sim'), 30), procs.log('sim')
    want = background_cpus('auto', os.sched_getaffinity(0))
    tids = os.listdir(f'/proc/{proc.pid}/task')
    assert len(tids) > 3                                   # DDS and rendering threads included
    for tid in tids:
        assert os.sched_getaffinity(int(tid)) == want, tid
        assert os.getpriority(os.PRIO_PROCESS, int(tid)) == 3, tid


def _scheduler(tid: int) -> tuple[int, int]:
    """(policy without the reset-on-fork flag, real-time priority) of a thread."""
    return os.sched_getscheduler(tid) & ~os.SCHED_RESET_ON_FORK, os.sched_getparam(tid).sched_priority


def test_the_policy_step_runs_at_real_time_priority_and_only_that_thread(procs, ros_node):
    proc = procs.start('policy_node', 'policy', actor='sac')
    assert ros_node.spin_until(lambda: 'priority 10' in procs.log('policy'), 30), procs.log('policy')
    if 'not permitted' in procs.log('policy'):       # an unprivileged user: it says so and runs on
        assert _scheduler(proc.pid) == (os.SCHED_OTHER, 0)
        return
    assert 'control step at real-time priority 10 (SCHED_FIFO)' in procs.log('policy')
    # the executor's thread (the process's first) steps and calls back; the parameter loader, the
    # middleware's and XLA's threads stay ordinary, also those started after it
    assert _scheduler(proc.pid) == (os.SCHED_FIFO, 10)
    assert os.sched_getscheduler(proc.pid) & os.SCHED_RESET_ON_FORK
    others = {int(t) for t in os.listdir(f'/proc/{proc.pid}/task')} - {proc.pid}
    assert len(others) > 3 and all(_scheduler(t) == (os.SCHED_OTHER, 0) for t in others)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, procs.log('policy')

    off = procs.start('policy_node', 'policy_off', rt_priority=0)
    assert ros_node.spin_until(lambda: 'policy up' in procs.log('policy_off'), 30), procs.log('policy_off')
    assert _scheduler(off.pid) == (os.SCHED_OTHER, 0) and 'real-time' not in procs.log('policy_off')
    bad = procs.start('policy_node', 'policy_bad', rt_priority=500)
    assert bad.wait(timeout=30) == 1
    assert 'rt_priority must be 0 (off) or within 1..99, got 500' in procs.log('policy_bad')


def test_no_episode_starts_before_the_recorder_subscribed(procs, ros_node, tmp_path):
    from worldsample_msgs.msg import Transition
    seen = []      # another subscriber (this probe) does not stand in for the recorder
    ros_node.create_subscription(Transition, '/worldsample/transitions', seen.append, 100)
    procs.start('sim_node', 'sim')
    procs.start('a1x_controller', 'a1x_controller')
    policy = procs.start('policy_node', 'policy', episodes=1, recorder='recorder', seed=3)
    # logged where the first episode would start: observations in, nothing else missing
    assert ros_node.spin_until(lambda: 'waiting for the recorder node' in procs.log('policy'), 90), procs.log('policy')
    ros_node.spin_for(2.0)
    assert seen == [], 'an episode started before the recorder subscribed'
    bag = tmp_path / 'bag'
    procs.start('recorder', 'recorder', output=str(bag))
    assert ros_node.spin_until(lambda: policy.poll() is not None, 120), procs.log('policy')
    assert policy.returncode == 0 and 'finished 1 episodes' in procs.log('policy'), procs.log('policy')
    assert procs.interrupt('recorder') == 0, procs.log('recorder')
    recorded = [m for _, _, _, m in read_messages(bag, ['/worldsample/transitions'])]
    assert [m.step for m in recorded] == list(range(len(recorded))) and recorded[-1].terminated
    assert [m.step for m in seen] == [m.step for m in recorded]


def test_a_released_takeover_stops_overriding_the_policy_at_once(procs, ros_node):
    from worldsample.nodes.common import COMMAND_QOS
    from worldsample_msgs.msg import DeltaCommand
    commands = []
    ros_node.create_subscription(DeltaCommand, '/worldsample/command', commands.append, COMMAND_QOS)
    human = ros_node.create_publisher(DeltaCommand, '/worldsample/intervention', COMMAND_QOS)
    procs.start('sim_node', 'sim')
    procs.start('a1x_controller', 'a1x_controller')
    procs.start('policy_node', 'policy', actor='zero')
    assert ros_node.spin_until(lambda: len(commands) > 5, 90), procs.log('policy')
    push = [0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]

    def send(source, action):
        human.publish(DeltaCommand(source=source, action=action))
        return ros_node.get_clock().now().nanoseconds

    for _ in range(10):                                  # the operator pushes for 0.5 s ...
        ros_node.spin_for(0.05)
        send(DeltaCommand.SOURCE_INTERVENTION, push)
    released = send(DeltaCommand.SOURCE_RELEASE, [0.0] * 7)   # ... and lets go right after the last push
    ros_node.spin_for(0.6)
    stamp_ns = [c.header.stamp.sec * 10**9 + c.header.stamp.nanosec for c in commands]
    taken = [t for c, t in zip(commands, stamp_ns) if c.source == DeltaCommand.SOURCE_INTERVENTION]
    assert len(taken) >= 4 and all(list(c.action) == push for c in commands if c.source == DeltaCommand.SOURCE_INTERVENTION)
    # without the release the last push overrides the 10 Hz policy for 0.25 s more, so a tick
    # between 0.12 and 0.25 s after it would still be intervened
    late = [(t - released) * 1e-9 for t in taken if t > released + 0.12e9]
    assert late == [], f'the policy went on applying a released takeover {late} s after the release'
    assert any(c.source == DeltaCommand.SOURCE_POLICY for c, t in zip(commands, stamp_ns) if t > released)
