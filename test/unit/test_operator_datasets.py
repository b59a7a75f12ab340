"""The operator's bags -> the datasets the training commands take: demos_from_bag, train_reward --bags."""
import json

import numpy as np
import pytest
import yaml

from worldsample.commands import demos_from_bag, train_reward
from worldsample.commands.record_demos import TRANSITION_TYPE, record
from worldsample.core.config import config_dir
from worldsample.core.recording.bag import BagWriter, read_messages
from worldsample.core.recording.dataset import TRANSITION_TOPIC, load_dataset
from worldsample.core.reward.classifier import RewardModel, RewardModelError


N = 8   # recorded episodes


@pytest.fixture(scope='module')
def demo_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp('demos')
    record('insertion', episodes=N, out=out, seed=3, keep_failures=False)
    return out / 'bag'


def _rewrite(src, dst, edit):
    """A copy of a bag's transitions with ``edit(msg)`` -> msg or None (dropped) applied to each."""
    with BagWriter(dst) as bag:
        bag.add_topic(TRANSITION_TOPIC, TRANSITION_TYPE)
        for _, _, stamp, msg in read_messages(src, [TRANSITION_TOPIC]):
            msg = edit(msg)
            if msg is not None:
                bag.write(TRANSITION_TOPIC, stamp, msg)
    return dst


def test_demos_from_bags_keep_whole_successful_episodes_and_name_the_rest(demo_bag, tmp_path):
    lengths = {}
    for _, _, _, m in read_messages(demo_bag, [TRANSITION_TOPIC]):
        lengths[m.episode] = m.step + 1

    def damage(m):
        if m.episode == 1 and m.step == 2:          # a lost message
            return None
        if m.episode == 2 and m.step == lengths[2] - 1:   # the recording stopped mid-episode
            return None
        if m.episode == 3 and m.terminated:          # ran into the step limit instead
            m.terminated, m.truncated, m.success, m.reward = False, True, False, np.float32(0.0)
        return m

    damaged = _rewrite(demo_bag, tmp_path / 'damaged', damage)
    logged = []
    result = demos_from_bag.convert([demo_bag, damaged], tmp_path / 'out', log=logged.append)
    assert result['episodes'] == N + N - 3 and len(result['dropped']) == 3
    assert any('episode 1: steps 0..' in d and 'gaps' in d for d in logged)
    assert any('episode 2: no last step' in d for d in logged) and any('episode 3: no success' in d for d in logged)
    data = load_dataset(result['dataset'])
    assert np.unique(data['episode']).tolist() == list(range(2 * N - 3))   # renumbered across bags, in order
    assert data['success'].sum() == 2 * N - 3 and data['terminated'].sum() == 2 * N - 3
    kept = [lengths[e] for e in range(N)] + [lengths[e] for e in range(N) if e not in (1, 2, 3)]
    assert len(data['action']) == sum(kept) == result['transitions']
    assert demos_from_bag.main([str(tmp_path / 'missing'), '--out', str(tmp_path / 'x')]) == 1
    empty = _rewrite(demo_bag, tmp_path / 'cut', lambda m: None if m.terminated else m)
    assert demos_from_bag.main([str(empty), '--out', str(tmp_path / 'y')]) == 1


def test_train_reward_from_labelled_bags_reports_held_out_precision_recall(demo_bag, tmp_path, capsys):
    out = tmp_path / 'rm'
    assert train_reward.main(['--bags', str(demo_bag), '--out', str(out), '--steps', '100']) == 0
    report = json.loads((out / 'held_out.json').read_text())
    assert report['episodes'] == N and report['bags'] == [str(demo_bag)]
    assert report['positives'] == 1 and report['train_positives'] == N - 1      # episode 4 is held out
    assert 'precision' in capsys.readouterr().out
    model = RewardModel.load(out)
    data = load_dataset(demo_bag.parent / 'demos.npz')
    last = data['terminated']
    scores = model.score({'wrist_camera': data['next_wrist'], 'side_camera': data['next_side']})
    assert scores[last].mean() > scores[~last].mean()                # it learnt the success frames
    assert report['encoder'] == {'size': 32, 'dim': 32}               # the task's, the policy's encoder
    assert train_reward.main(['--bags', str(demo_bag), '--out', str(tmp_path / 'fine'), '--steps', '10',
                              '--encoder-size', '16', '--encoder-dim', '8']) == 0
    fine = RewardModel.load(tmp_path / 'fine')
    assert (fine.encoder.cfg.size, fine.encoder.cfg.dim, fine.encoder.out_dim) == (16, 8, 16)
    assert json.loads((tmp_path / 'fine' / 'held_out.json').read_text())['encoder'] == {'size': 16, 'dim': 8}
    with pytest.raises(SystemExit):
        train_reward.main(['--bags', str(demo_bag), '--out', str(tmp_path / 'bad'), '--encoder-dim', '0'])
    assert '--encoder-dim must be positive' in capsys.readouterr().err and not (tmp_path / 'bad').exists()

    few = _rewrite(demo_bag, tmp_path / 'few', lambda m: m if m.episode < 3 else None)
    assert train_reward.main(['--bags', str(few), '--out', str(tmp_path / 'rm2')]) == 1
    assert 'need at least 5' in capsys.readouterr().err

    def unmark(m):
        if m.episode == 4:
            m.success = False
        return m
    unmarked = _rewrite(demo_bag, tmp_path / 'unmarked', unmark)
    assert train_reward.main(['--bags', str(unmarked), '--out', str(tmp_path / 'rm3')]) == 1
    assert 'hold no success frame' in capsys.readouterr().err
    with pytest.raises(RewardModelError, match=r'wrist_camera frames in the bags are \(128, 128, 3\)'):
        train_reward.build_from_bags(_small_camera_task(tmp_path), [demo_bag], 0, 0.7, 10)


def _small_camera_task(tmp_path):
    """The insertion task with 64 x 64 cameras."""
    task = yaml.safe_load((config_dir() / 'insertion.yaml').read_text())
    cams = yaml.safe_load((config_dir() / task['cameras']).read_text())
    for c in cams['cameras']:
        c['width'] = c['height'] = 64
    (tmp_path / 'cams.yaml').write_text(yaml.safe_dump(cams))
    task.update(robot=str(config_dir() / task['robot']), cameras=str(tmp_path / 'cams.yaml'))
    (tmp_path / 'small.yaml').write_text(yaml.safe_dump(task))
    return str(tmp_path / 'small.yaml')
