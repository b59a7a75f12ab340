import numpy as np
import pytest

from worldsample.commands.train_reward import build
from worldsample.core.reward.classifier import RewardModel, RewardModelError, precision_recall, train_classifier


@pytest.fixture(scope='module')
def trained():
    return build('insertion', episodes=20, seed=0, threshold=0.7, steps=150)


def test_reward_model_beats_chance_on_held_out_frames(trained):
    model, report = trained
    assert report['positives'] > 0 and report['n'] > report['positives']
    assert report['balanced_accuracy'] > 0.8          # chance is 0.5 whatever the class balance
    assert report['recall'] > 0.5 and report['precision'] > 0.5


def test_save_load_roundtrip_and_damaged_files(trained, tmp_path):
    model, _ = trained
    folder = model.save(tmp_path / 'rm')
    back = RewardModel.load(folder)
    frames = {c: np.zeros((2, 128, 128, 3), np.uint8) for c in model.encoder.cameras}
    np.testing.assert_allclose(back.score(frames), model.score(frames), rtol=1e-6)
    assert back.threshold == 0.7
    (folder / 'classifier.msgpack').write_bytes(b'\x81\xa3bad')
    with pytest.raises(RewardModelError, match='damaged reward model'):
        RewardModel.load(folder)
    with pytest.raises(RewardModelError, match='lacks encoder.npz'):
        RewardModel.load(tmp_path / 'nothing')


def test_training_needs_both_classes():
    import jax
    with pytest.raises(RewardModelError, match='both successful and failed'):
        train_classifier(np.zeros((10, 4), np.float32), np.zeros(10, bool), jax.random.PRNGKey(0))


def test_precision_recall_counts():
    r = precision_recall(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert (r['precision'], r['recall'], r['accuracy'], r['balanced_accuracy']) == (0.5, 0.5, 0.5, 0.5)
    always_no = precision_recall(np.zeros(100, bool), np.arange(100) < 2)
    assert always_no['accuracy'] == 0.98 and always_no['balanced_accuracy'] == 0.5


def test_labelled_episodes_record_what_the_arm_executed(cfg):
    """The world model trains on these episodes: the recorded actions, replayed from each episode's
    reset, must reach the recorded proprio and frames, and sit inside the action box."""
    from worldsample.core.reward.data import EXTRA_SUCCESS_FRAMES, collect_labelled_frames
    from worldsample.core.sim.env import InsertionEnv
    env = InsertionEnv(cfg)
    data = collect_labelled_frames(env, episodes=4, seed=3)
    n = len(data.labels)
    assert data.proprio.shape == (n, 7) and data.actions.shape == (n, 7) and data.ids.shape == (n,)
    active = np.asarray(cfg.task.action.active)
    assert np.all(np.abs(data.actions) <= 1.0) and np.all(data.actions[:, ~active] == 0.0)
    assert np.abs(data.actions).max() == 1.0          # sigma up to 1.5: the noisy episodes were clipped
    for ep in (0, 3):
        idx = np.flatnonzero(data.ids == ep)
        assert np.all(data.actions[idx[0]] == 0.0)
        obs, _ = env.reset(seed=3 + ep)
        np.testing.assert_array_equal(obs['side_camera'], data.frames['side_camera'][idx[0]])
        for i in idx[1:]:
            obs, *_ = env.step(data.actions[i])
            np.testing.assert_allclose(obs['proprio'], data.proprio[i], atol=1e-6)
        np.testing.assert_array_equal(obs['wrist_camera'], data.frames['wrist_camera'][idx[-1]])
    held = [e for e in range(4) if data.labels[data.ids == e].any()]
    assert held, 'the noise-free episode inserts'
    assert all(np.all(data.actions[data.ids == e][-EXTRA_SUCCESS_FRAMES:] == 0.0) for e in held)
    env.close()


def test_labelled_frames_become_world_model_episodes(cfg):
    from worldsample.core.worldmodel.data import SegmentError, episodes_from_frames, model_frames
    from worldsample.core.worldmodel.model import sized
    wm = sized(cfg.world_model, 'tiny')
    rng = np.random.default_rng(0)
    ids = np.array([5, 5, 5, 7, 2, 2])                   # episode 7 has a single frame: no step
    frames = {c: rng.integers(0, 255, (6, 128, 128, 3), np.uint8) for c in ('wrist_camera', 'side_camera')}
    proprio, actions = rng.normal(size=(6, 7)).astype(np.float32), rng.uniform(-1, 1, (6, 7)).astype(np.float32)
    eps = episodes_from_frames(frames, proprio, actions, ids, wm)
    assert [len(e.actions) for e in eps] == [2, 1]
    np.testing.assert_array_equal(eps[0].actions, actions[1:3])
    np.testing.assert_array_equal(eps[1].proprio, proprio[4:6])
    np.testing.assert_array_equal(eps[1].frames, model_frames({c: f[4:6] for c, f in frames.items()}, wm))
    with pytest.raises(SegmentError, match='episode 5: its frames are not contiguous'):
        episodes_from_frames(frames, proprio, actions, np.array([5, 5, 2, 5, 2, 2]), wm)
