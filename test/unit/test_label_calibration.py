"""Label calibration of predicted frames: the threshold rule, ambiguous counterfactuals dropped,
the calibration set, and a replay through a predictor."""
from dataclasses import replace

import numpy as np
import pytest

from worldsample.core.worldmodel.calibration import (CalibrationSet, LabelCalibrator, calibrate, calibrated_threshold,
                                                     held_out)
from worldsample.core.worldmodel.generator import Generator, RealSegment
from worldsample.core.worldmodel.model import sized

CAMS = ('wrist_camera', 'side_camera')


def test_a_faithful_model_keeps_the_reward_models_threshold():
    real = np.zeros(200, bool)
    real[[10, 50, 90, 130]] = True
    pred = np.where(real, 0.95, 0.1)
    c = calibrated_threshold(pred, real, base=0.7, precision_min=0.8, min_positives=3)
    assert c.threshold == 0.7 and c.precision == 1.0 and c.recall == 1.0 and c.real_positive_frames == 4


def test_false_positives_below_the_true_ones_raise_the_threshold():
    real = np.zeros(200, bool)
    real[:5] = True
    pred = np.full(200, 0.1)
    pred[:5] = [0.95, 0.96, 0.97, 0.98, 0.99]
    pred[5:25] = 0.8                          # 20 frames the model draws as success that were not
    c = calibrated_threshold(pred, real, base=0.7, precision_min=0.8, min_positives=3)
    assert c.threshold == pytest.approx(0.95) and c.precision == 1.0
    assert c.recall == 1.0


def test_a_model_that_cannot_be_trusted_gets_no_threshold():
    real = np.zeros(300, bool)
    real[:5] = True
    pred = np.full(300, 0.1)
    pred[:5] = 0.99
    pred[5:100] = 1.0                         # the model's own "insertions", scored above the real ones
    c = calibrated_threshold(pred, real, base=0.7, precision_min=0.8, min_positives=3)
    assert c.threshold is None and c.precision == pytest.approx(5 / 100)
    few = np.zeros(300, bool)
    few[:2] = True                            # too few real successes to judge: nothing trusted yet
    assert calibrated_threshold(np.where(few, 0.99, 0.1), few, 0.7, 0.8, 3).threshold is None
    with pytest.raises(ValueError, match='3 predicted scores but 2'):
        calibrated_threshold(np.zeros(3), np.zeros(2, bool), 0.7, 0.8, 3)


class _Echo:
    """A predictor that draws, for counterfactual i, frames whose pixel value is the score it gets."""
    needs_state = False

    def __init__(self, values):
        self.values = np.asarray(values, np.uint8)     # (n, T)

    def __call__(self, segments, actions, k):
        n, T = actions.shape[:2]
        frames = {c: np.broadcast_to(self.values[:n, :T, None, None, None], (n, T, 4, 4, 3)).copy() for c in CAMS}
        return frames, np.zeros((n, T + 1, 7), np.float32)


def _scorer(frames):
    r = frames['wrist_camera'].reshape(len(frames['wrist_camera']), -1).mean(1) / 100.0
    return r, r >= 0.7


def test_generation_drops_counterfactuals_with_ambiguous_frames(cfg):
    small = replace(cfg, world_model=replace(sized(cfg.world_model, 'tiny'), counterfactuals=4, segment_length=3))
    seg = RealSegment(0, 0, {c: np.zeros((4, 4, 4, 3), np.uint8) for c in CAMS}, np.zeros((3, 7), np.float32),
                      np.zeros((4, 7), np.float32))
    # scores/100 per counterfactual: clear success at 0.95, ambiguous 0.8, clean negative, success after ambiguity
    gen = Generator(small, _Echo([[10, 95, 10], [10, 80, 10], [10, 10, 10], [80, 95, 10]]), _scorer,
                    np.random.default_rng(0))
    assert [t.positive for t in gen.generate([seg])] == [True, True, False, True]       # uncalibrated: delta_R 0.7
    gen.calibration = calibrated_threshold(np.array([0.95, 0.96, 0.97, 0.8]), np.array([1, 1, 1, 0], bool),
                                           0.7, 0.8, 3)
    assert gen.calibration.threshold == pytest.approx(0.95)         # precision 3/4 < 0.8 at 0.7 and 0.8
    gen.calibration = replace(gen.calibration, threshold=0.9)
    out = gen.generate([seg])
    assert [(t.positive, len(t.actions)) for t in out] == [(True, 2), (False, 3)]
    assert gen.dropped_ambiguous == 2
    gen.calibration = replace(gen.calibration, threshold=None)    # nothing trusted: only clean negatives remain
    assert [t.positive for t in gen.generate([seg])] == [False]


def _frames(v):
    return {c: np.full((4, 4, 3), v, np.uint8) for c in CAMS}


def test_calibration_set_keeps_each_episodes_last_steps():
    cs = CalibrationSet(length=3, capacity=10)
    for ep, steps in ((0, range(5)), (1, range(2)), (2, [0, 1, 3, 4, 5])):
        for t in steps:
            done = t == steps[-1]
            cs.observe(ep, t, _frames(10 * ep + t), np.full(7, t), np.full(7, t + 0.5), _frames(10 * ep + t + 1),
                       np.full(7, t + 1), done)
    got = [(s.episode, s.start, [int(f[0, 0, 0]) for f in s.images['wrist_camera']]) for s in cs.segments]
    # episode 0 ends at step 4: its window o_2..o_5 holds the final frame; episode 1 is too short;
    # episode 2 skips step 2, so its window starts after the gap
    assert got == [(0, 2, [2, 3, 4, 5]), (2, 3, [23, 24, 25, 26])]
    np.testing.assert_array_equal(cs.segments[0].actions[:, 0], [2.5, 3.5, 4.5])
    np.testing.assert_array_equal(cs.segments[0].proprio[:, 0], [2, 3, 4, 5])


def test_replaying_real_segments_through_a_faithful_predictor_keeps_delta_r():
    segs = []
    for e, success_value in enumerate([95, 96, 97, 10]):
        vals = [10, 10, success_value]
        segs.append(RealSegment(e, 0, {c: np.stack([np.full((4, 4, 3), v, np.uint8) for v in [10, *vals]])
                                       for c in CAMS}, np.zeros((3, 7), np.float32), np.zeros((4, 7), np.float32)))

    class Faithful:     # draws exactly the real frames, as the oracle does
        def __call__(self, segments, actions, k):
            return {c: np.stack([s.images[c][1:] for s in segments]) for c in CAMS}, None

    _scorer.threshold = 0.7
    c = calibrate(Faithful(), _scorer, segs, 0.8, 3)
    assert c.threshold == 0.7 and c.real_positive_frames == 3 and c.frames == 12
    assert calibrate(Faithful(), _scorer, [], 0.8, 3).threshold is None


def test_the_calibrator_calibrates_before_the_first_batch_and_after_each_model_change(cfg):
    wm = replace(cfg.world_model, segment_length=3, label_calibration_segments=8, label_min_positives=1)
    now = [0.0]
    calibrator = LabelCalibrator(wm, min_interval_s=60.0, clock=lambda: now[0])
    replays = []

    class Faithful:
        def __call__(self, segments, actions, k):
            replays.append(len(segments))
            return {c: np.stack([s.images[c][1:] for s in segments]) for c in CAMS}, None

    def frames(v):
        return {c: np.full((4, 4, 3), v, np.uint8) for c in CAMS}
    assert wm.label_holdout_every == 5 and held_out(4, 5) and not any(held_out(e, 5) for e in (0, 1, 2, 3, 5))
    for episode in (3, 4):           # two episodes, success in their last frame; only 4 is held out of training
        for t in range(4):
            calibrator.observe(episode, t, frames(10), np.zeros(7), np.zeros(7), frames(97 if t == 3 else 10),
                               np.zeros(7), t == 3)
    assert [s.episode for s in calibrator.recent.segments] == [4]
    _scorer.threshold = 0.7
    generator = Generator(replace(cfg, world_model=wm), Faithful(), _scorer, np.random.default_rng(0))
    first = calibrator.apply(generator)
    assert first.threshold == 0.7 and generator.calibration is first and replays == [1]
    assert calibrator.apply(generator) is None and replays == [1]       # not due again until the model changes
    calibrator.model_changed()
    now[0] = 59.0
    assert calibrator.apply(generator) is None                           # at most once a minute
    now[0] = 60.0
    assert calibrator.apply(generator) is not None and replays == [1, 1] and calibrator.calibrations == 2
