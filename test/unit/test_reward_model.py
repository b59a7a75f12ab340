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
