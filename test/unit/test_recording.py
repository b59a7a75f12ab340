import numpy as np
import pytest

from worldsample.commands.record_demos import record
from worldsample.core.recording.bag import BagError, BagWriter, read_messages, topic_summary
from worldsample.core.recording.dataset import load_dataset


def test_record_demos_writes_bag_and_dataset(tmp_path, cfg):
    result = record('insertion', episodes=2, out=tmp_path, seed=0, keep_failures=False)
    summary = topic_summary(tmp_path / 'bag')
    assert summary == {'/worldsample/transitions': ('worldsample_msgs/msg/Transition', result['transitions'])}
    data = load_dataset(tmp_path / 'demos.npz')
    n = result['transitions']
    assert data['wrist'].shape == (n, 128, 128, 3) and data['action'].shape == (n, 7)
    assert data['success'].sum() == 2 and set(data['episode']) == {0, 1}
    np.testing.assert_array_equal(data['action'][:, 3:], 0.0)
    # o_{t+1} of one step is o_t of the next within an episode
    same = data['episode'][1:] == data['episode'][:-1]
    np.testing.assert_array_equal(data['next_proprio'][:-1][same], data['proprio'][1:][same])


def test_bag_refuses_to_overwrite_and_rejects_unknown_types(tmp_path):
    with BagWriter(tmp_path / 'b') as w:
        with pytest.raises(BagError, match='unknown message type'):
            w.add_topic('/x', 'nope_msgs/msg/Nothing')
    with pytest.raises(BagError, match='already exists'):
        BagWriter(tmp_path / 'b')


def test_missing_and_corrupt_bags_give_clear_errors(tmp_path):
    with pytest.raises(BagError, match='not a rosbag2 bag'):
        list(read_messages(tmp_path / 'nothing'))
    bag = tmp_path / 'broken'
    with BagWriter(bag) as w:
        w.add_topic('/chatter', 'std_msgs/msg/String')
        w.write('/chatter', 1, w.typestore.types['std_msgs/msg/String'](data='hi'))
    mcap = next(bag.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:40])
    with pytest.raises(BagError, match='cannot read bag'):
        list(read_messages(bag))


def test_dataset_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='dataset not found'):
        load_dataset(tmp_path / 'none.npz')
