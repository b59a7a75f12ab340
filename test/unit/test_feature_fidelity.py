"""The labels benchmark's feature-space measure (test/benchmark/world_model_labels._feature_stats)
on constructed frames: perfect predictions, predictions that ignore the actions, and noise."""
import numpy as np

from test.benchmark.world_model_labels import _at_resolution, _feature_stats
from worldsample.core.observation import CAMERAS
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
from worldsample.core.worldmodel.generator import residual_corrected

S, K, T, H = 6, 4, 3, 32


def _world():
    """Simulator frames where each of a segment's K action sequences moves a bright square its own way."""
    frames = np.zeros((S, K, T, H, H, 3), np.uint8)
    for s in range(S):
        for k in range(K):
            for t in range(T):
                y, x = 4 + 3 * s % 12, 4 + (t + 1) * (k + 1) * 2
                frames[s, k, t, y:y + 6, x:x + 6] = 200
    first = np.zeros((S * K, H, H, 3), np.uint8)
    sim = {c: frames.reshape(S * K, T, H, H, 3) for c in CAMERAS}
    return sim, {c: first for c in CAMERAS}


def _encoder(sim):
    return PCAEncoder.fit({c: v.reshape(-1, H, H, 3) for c, v in sim.items()}, EncoderConfig(16, 8))


def test_perfect_predictions_have_no_error_and_tell_every_action_apart():
    sim, first = _world()
    f = _feature_stats(_encoder(sim), sim, sim, first, K)
    assert f['error'] == 0.0 and f['own_counterfactual_nearest'] == 1.0
    assert f['action_spread'] > 0 and f['predicted_action_spread'] == f['action_spread']
    assert f['copy_first_error'] > 0 and f['chance'] == 1 / K


def test_predictions_that_ignore_the_actions_are_no_better_than_chance():
    sim, first = _world()
    # every counterfactual predicted as the segment's first action sequence
    same = {c: np.repeat(v.reshape(S, K, T, H, H, 3)[:, :1], K, axis=1).reshape(v.shape) for c, v in sim.items()}
    f = _feature_stats(_encoder(sim), same, sim, first, K)
    assert f['predicted_action_spread'] == 0.0
    assert f['own_counterfactual_nearest'] == 1 / K             # only the first one finds itself
    assert f['error_over_action_spread'] > 0.5


def test_resolution_control_keeps_the_shape_and_loses_detail_only():
    sim, _ = _world()
    low = _at_resolution(sim, 8)
    assert all(low[c].shape == sim[c].shape and low[c].dtype == np.uint8 for c in CAMERAS)
    assert np.array_equal(_at_resolution(sim, H)[CAMERAS[0]], sim[CAMERAS[0]])
    assert not np.array_equal(low[CAMERAS[0]], sim[CAMERAS[0]])


def test_an_offset_common_to_a_segment_is_told_apart_from_wrong_action_effects():
    sim, first = _world()
    encoder = _encoder(sim)
    # predictions exact up to a brightness offset that every counterfactual shares
    shifted = {c: (v.astype(np.int16) + 40).clip(0, 255).astype(np.uint8) for c, v in sim.items()}
    f = _feature_stats(encoder, shifted, sim, first, K)
    assert f['common_offset'] > 0 and f['error'] > 0
    assert f['action_effect_error'] < 1e-3 * f['common_offset']
    assert f['own_counterfactual_nearest_offset_removed'] == 1.0
    same = {c: np.repeat(v.reshape(S, K, T, H, H, 3)[:, :1], K, axis=1).reshape(v.shape) for c, v in sim.items()}
    g = _feature_stats(encoder, same, sim, first, K)
    assert g['action_effect_error'] > 0.3 * g['action_spread']
    assert g['own_counterfactual_nearest_offset_removed'] == 1 / K


def test_residual_correction_keeps_the_real_frames_where_the_model_predicts_no_change():
    rng = np.random.default_rng(1)
    real = {c: rng.integers(0, 256, (S, T, H, H, 3), np.uint8) for c in CAMERAS}
    replay = {c: rng.integers(0, 256, (S, T, H, H, 3), np.uint8) for c in CAMERAS}     # the model's error
    same = {c: np.repeat(v, K, axis=0) for c, v in replay.items()}
    out = residual_corrected(same, replay, real, K)
    assert all(np.array_equal(out[c], np.repeat(real[c], K, axis=0)) for c in CAMERAS)
    moved = {c: (v.astype(np.int16) + 1).clip(0, 255).astype(np.uint8) for c, v in same.items()}
    diff = residual_corrected(moved, replay, real, K)[CAMERAS[0]].astype(int) - np.repeat(real[CAMERAS[0]], K, axis=0)
    assert set(np.unique(diff)) <= {0, 1} and (diff == 1).mean() > 0.9     # the predicted change, clipped at 255
