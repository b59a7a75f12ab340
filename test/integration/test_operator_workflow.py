"""The operator's workflow in the sim cell, driven through the SpaceMouse's Joy topic by a
scripted operator: record demonstrations, collect reward labels, and the commands that take
their bags (demos_from_bag, train_reward --bags)."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from test.scripted_operator import ScriptedOperator
from worldsample.commands import demos_from_bag, train_reward
from worldsample.core.recording.dataset import episode_problem, episode_rows, load_dataset, transitions_from_bag
from worldsample.core.rl.learner import Learner

pytestmark = pytest.mark.integration


def _session(ros_node, cfg, tmp_path, args, timeout):
    """Run the launch runner while the scripted operator drives; returns (exit code, output, operator)."""
    operator = ScriptedOperator(ros_node, cfg)
    log = tmp_path / 'launch.log'
    with open(log, 'w') as f:
        proc = subprocess.Popen([sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py', *args],
                                stdout=f, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        operator.tick()
        ros_node.spin_for(0.04)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        pytest.fail(f'session did not finish within {timeout} s:\n{log.read_text()[-3000:]}')
    return proc.returncode, log.read_text(), operator


def test_demonstrations_by_teleoperation_become_a_demo_dataset(ros_node, cfg, tmp_path):
    bag = tmp_path / 'demos_bag'
    code, out, operator = _session(ros_node, cfg, tmp_path, ['collect:=demos', 'episodes:=4', f'bag:={bag}', 'seed:=5'],
                                   240)
    assert code == 0, out[-3000:]
    assert 'success from operator' in out and '4 of 4 demonstrations recorded' in out, out[-3000:]
    assert operator.marks > 0
    raw = transitions_from_bag(bag)
    assert raw['intervened'].mean() > 0.8, 'the operator, not the idle policy, drove'
    result = demos_from_bag.convert([bag], tmp_path / 'demos')
    data = load_dataset(result['dataset'])
    assert result['episodes'] >= 4 and data['terminated'].sum() == result['episodes']
    assert np.all(data['success'] == data['terminated'])         # the mark ended each demonstration
    z = data['proprio'][data['episode'] == data['episode'][-1], 2]
    assert z[0] - z[-1] > 0.05, 'the peg went down into the hole'
    learner = Learner.from_dataset(cfg, data)      # what a learner run starts from (its encoder needs >= 32 frames)
    assert len(learner.demo) == len(data['action'])


def test_reward_labels_marked_live_train_the_reward_model(ros_node, cfg, tmp_path):
    bag = tmp_path / 'labels_bag'
    code, out, _ = _session(ros_node, cfg, tmp_path, ['collect:=labels', 'episodes:=5', f'bag:={bag}', 'seed:=7'], 240)
    assert code == 0, out[-3000:]
    raw = transitions_from_bag(bag)
    rows = episode_rows(raw)        # each episode whole, ended by its last step (truncated, never terminal)
    assert [int(raw['episode'][r[0]]) for r in rows] == list(range(5))
    assert [episode_problem(raw, r) for r in rows] == [None] * 5 and raw['truncated'].sum() == 5
    per_episode = [raw['success'][r] for r in rows]
    seen = [(len(m), int(m.sum())) for m in per_episode]      # (steps, marked steps) per episode
    # a marked episode: unmarked frames, then one run of marked ones (the peg in), ended at the first
    # step after the mark was let go; an episode the operator never marked runs to the step limit
    for marks in per_episode:
        if marks.any():
            assert marks[0] == 0 and not marks[-1] and np.all(np.diff(np.flatnonzero(marks)) == 1), (seen, out[-3000:])
        else:
            assert len(marks) == cfg.task.max_episode_steps, (seen, out[-3000:])
    assert sum(marks.any() for marks in per_episode) >= 4, (seen, out[-3000:])    # the expert inserts
    assert not raw['terminated'].any()
    model, report = train_reward.build_from_bags('insertion', [bag], seed=0, threshold=0.7, steps=150)
    assert report['episodes'] == 5 and report['positives'] >= 2 and 0.0 <= report['precision'] <= 1.0
    scores = model.score({'wrist_camera': raw['next_wrist'], 'side_camera': raw['next_side']})
    assert scores[raw['success']].mean() > scores[~raw['success']].mean() + 0.3
