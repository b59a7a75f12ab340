from dataclasses import replace

import cv2
import numpy as np
import pytest

from worldsample.core.worldmodel.counterfactual import synthetic_proprio
from worldsample.core.worldmodel.data import SegmentError
from worldsample.core.worldmodel.generator import (Generator, ModelPolicyPredictor, ModelPredictor, RealSegment,
                                                   SegmentCutter, kinematic_proprio, to_camera)
from worldsample.core.worldmodel.model import WorldModel, sized

CAMS = ('wrist_camera', 'side_camera')


def _frame(v):
    return {c: np.full((128, 128, 3), v, np.uint8) for c in CAMS}


def test_cutter_makes_contiguous_non_overlapping_segments():
    cut = SegmentCutter(3)
    out = []
    stream = [(0, t, t == 6) for t in range(7)] + [(1, 0, False), (1, 1, False), (1, 3, False), (1, 4, False),
                                                   (1, 5, False)]                       # episode 1 misses step 2
    for ep, t, done in stream:
        seg = cut.add(ep, t, _frame(10 * ep + t), np.full(7, t, np.float32), np.full(7, t + 0.5),
                      _frame(10 * ep + t + 1), np.full(7, t + 1, np.float32), done)
        if seg is not None:
            out.append(seg)
    assert [(s.episode, s.start) for s in out] == [(0, 0), (0, 3), (1, 3)]
    s = out[1]
    assert [int(f[0, 0, 0]) for f in s.images['wrist_camera']] == [3, 4, 5, 6]     # o_0 .. o_T
    np.testing.assert_array_equal(s.actions[:, 0], [3.5, 4.5, 5.5])
    np.testing.assert_array_equal(s.proprio[:, 0], [3, 4, 5, 6])


def test_end_segments_add_each_episodes_last_steps_where_its_end_leaves_a_tail():
    def cut(stream, end_segments):
        c, out = SegmentCutter(3, end_segments), []
        for ep, t, done in stream:
            seg = c.add(ep, t, _frame(10 * ep + t), np.full(7, t, np.float32), np.full(7, t + 0.5),
                        _frame(10 * ep + t + 1), np.full(7, t + 1, np.float32), done)
            if seg is not None:
                out.append(seg)
        return out
    # episode 0: 8 steps (segments at 0 and 3, tail 6-7); episode 1: 6 steps (no tail); episode 2: 2 steps
    # (shorter than T: nothing); episode 3: a gap after step 2, then 4 steps 4-7 (segment 4-6, tail 7);
    # episode 4: ends one step after a gap (no segment of the new run to extend)
    stream = ([(0, t, t == 7) for t in range(8)] + [(1, t, t == 5) for t in range(6)] + [(2, 0, False), (2, 1, True)]
              + [(3, t, t == 7) for t in (0, 1, 2, 4, 5, 6, 7)] + [(4, t, t == 4) for t in (0, 1, 2, 4)])
    plain, ends = cut(stream, False), cut(stream, True)
    assert [(s.episode, s.start) for s in plain] == [(0, 0), (0, 3), (1, 0), (1, 3), (3, 0), (3, 4), (4, 0)]
    assert [(s.episode, s.start) for s in ends] == [(0, 0), (0, 3), (0, 5), (1, 0), (1, 3), (3, 0), (3, 4), (3, 5),
                                                    (4, 0)]
    for s in (ends[2], ends[7]):                        # the last T steps, contiguous up to the episode's end
        assert [int(f[0, 0, 0]) for f in s.images['side_camera']] == [10 * s.episode + s.start + i for i in range(4)]
        np.testing.assert_array_equal(s.actions[:, 0], s.start + np.arange(3) + 0.5)
        np.testing.assert_array_equal(s.proprio[:, 0], s.start + np.arange(4))
    assert ends[2].start + 3 == 8 and ends[7].start + 3 == 8


@pytest.fixture(scope='module')
def small_cfg(cfg):
    return replace(cfg, world_model=replace(sized(cfg.world_model, 'tiny'), counterfactuals=3, segment_length=4))


def test_generator_makes_k_labelled_counterfactuals_per_segment(small_cfg):
    cfg = small_cfg
    rng = np.random.default_rng(0)
    segs = []
    for e in range(2):
        actions = np.zeros((4, 7), np.float32)
        actions[:, :3] = rng.uniform(-0.5, 0.5, (4, 3))
        proprio = np.tile(np.array([0.33, 0.0, 0.15, 0, 0, 0, 0.01], np.float32), (5, 1))
        segs.append(RealSegment(e, 4 * e, {c: rng.integers(0, 255, (5, 128, 128, 3), np.uint8) for c in CAMS},
                                actions, proprio))
    calls = []

    def scorer(frames):   # stands in for the reward model: trajectory 1 succeeds at its 2nd predicted frame
        calls.append({c: f.shape for c, f in frames.items()})
        scores = np.zeros((6, 4))
        scores[1, 1] = scores[1, 3] = 0.9
        return scores.ravel(), scores.ravel() >= 0.7

    model = WorldModel(cfg.world_model, seed=0, device='cpu')
    out = Generator(cfg, ModelPredictor(cfg, model), scorer, np.random.default_rng(1)).generate(segs)
    assert calls == [{c: (24, 128, 128, 3) for c in CAMS}]          # one batched scoring call, camera resolution
    assert len(out) == 6 and [t.source for t in out] == [(0, 0)] * 3 + [(1, 4)] * 3
    assert [t.positive for t in out] == [False, True, False, False, False, False]
    pos = out[1]
    assert len(pos.actions) == 2 and pos.images['wrist_camera'].shape == (3, 128, 128, 3)
    np.testing.assert_array_equal(pos.success, [False, True])
    neg = out[0]
    assert len(neg.actions) == 4 and neg.proprio.shape == (5, 7)
    for t in out:
        np.testing.assert_array_equal(t.images['side_camera'][0], segs[t.source[0]].images['side_camera'][0])
        np.testing.assert_array_equal(t.proprio[0], segs[t.source[0]].proprio[0])
        assert np.all(t.actions[:, 3:] == 0.0) and np.abs(t.actions).max() <= 1.0
        assert not np.allclose(t.actions, segs[t.source[0]].actions[:len(t.actions)])   # really perturbed
    # the synthetic proprio moved with the perturbed actions
    assert not np.allclose(out[0].proprio[1:, :3], out[2].proprio[1:, :3])

    bad = RealSegment(9, 0, {c: np.zeros((4, 128, 128, 3), np.uint8) for c in CAMS}, np.zeros((4, 7)),
                      np.zeros((5, 7)))
    with pytest.raises(SegmentError, match='episode 9, step 0'):
        Generator(cfg, ModelPredictor(cfg, model), scorer, np.random.default_rng(1)).generate([bad])
    with pytest.raises(ValueError, match='all cameras'):
        Generator(replace(cfg, world_model=replace(cfg.world_model, views=('wrist_camera',))), ModelPredictor(cfg, model),
                  scorer,
                  np.random.default_rng(1))


@pytest.mark.parametrize('view_size, encoder_size', [(32, 32), (64, 32), (32, 16)])
def test_encoders_see_exactly_the_predicted_view_at_camera_resolution(view_size, encoder_size):
    from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (40, view_size, view_size, 3), np.uint8)
    camera = np.stack([to_camera(v, 128, 128) for v in views])
    assert camera.shape == (40, 128, 128, 3)
    enc = PCAEncoder.fit({'wrist_camera': views}, EncoderConfig(encoder_size, 8))
    # exact at the view's own size; to the rounding of uint8 area averages below it
    atol = 1e-5 if encoder_size == view_size else 0.01
    np.testing.assert_allclose(enc.encode({'wrist_camera': camera}), enc.encode({'wrist_camera': views}), atol=atol)


class _OffsetModel:
    """A world model whose frames are what the first action dimension makes them (100 + 50 a_t,0)
    plus an error of 30 that is the same for every action sequence from one anchor."""

    def __init__(self):
        self.calls = []

    def __call__(self, segments, actions, k):
        self.calls.append((actions.copy(), k))
        value = np.clip(np.rint(130 + 50 * actions[:, :, 0]), 0, 255).astype(np.uint8)      # (N, T)
        frames = {c: np.broadcast_to(value[:, :, None, None, None], (*value.shape, 128, 128, 3)).copy() for c in CAMS}
        proprio = np.stack([np.full((actions.shape[1] + 1, 7), i, np.float32) for i in range(len(actions))])
        return frames, proprio


def _offset_segments(T: int) -> list[RealSegment]:
    """Two segments whose real frames follow 100 + 50 a_t,0 (o_0 at 90), the TCP at rest above the hole."""
    rng = np.random.default_rng(0)
    segs = []
    for e in range(2):
        actions = np.zeros((T, 7), np.float32)
        actions[:, 0] = rng.uniform(-0.5, 0.5, T)
        real = np.rint(100 + 50 * actions[:, 0]).astype(np.uint8)                  # the real frames' law
        frames = np.concatenate([[np.uint8(90)], real])[:, None, None, None]
        proprio = np.tile(np.array([0.33, 0.0, 0.15, 0.0, 0.0, 0.0, 0.03], np.float32), (T + 1, 1))
        segs.append(RealSegment(e, T * e, {c: np.broadcast_to(frames, (T + 1, 128, 128, 3)).copy() for c in CAMS},
                                actions, proprio))
    return segs


def test_residual_correction_takes_the_models_error_on_the_real_actions_out_of_the_learners_frames(small_cfg):
    cfg, k, T = small_cfg, small_cfg.world_model.counterfactuals, small_cfg.world_model.segment_length
    segs = _offset_segments(T)
    scored = []

    def scorer(frames):
        scored.append(frames['wrist_camera'][:, 0, 0, 0].copy())
        return np.zeros(len(scored[-1])), np.zeros(len(scored[-1]), bool)

    model = _OffsetModel()
    out = Generator(cfg, model, scorer, np.random.default_rng(1), correct_residual=True).generate(segs)
    (batch, per), = model.calls
    assert per == k + 1 and len(batch) == 2 * (k + 1)                 # one rollout: K counterfactuals + a replay each
    for i, s in enumerate(segs):
        np.testing.assert_array_equal(batch[i * (k + 1) + k], s.actions)
    assert len(out) == 2 * k
    for j, t in enumerate(out):
        cf = t.actions[:, 0]
        # the learner sees the action's effect without the model's error (to uint8 rounding)
        np.testing.assert_allclose(t.images['side_camera'][1:, 5, 7, 1], 100 + 50 * cf, atol=1.5)
        np.testing.assert_array_equal(t.images['wrist_camera'][0], segs[t.source[0]].images['wrist_camera'][0])
        np.testing.assert_array_equal(t.proprio[:, 0], j + j // k)       # the counterfactuals' proprio, not a replay's
    # the reward model judged the predicted frames themselves (what the calibration can check)
    np.testing.assert_allclose(scored[0], np.rint(130 + 50 * np.concatenate([t.actions[:, 0] for t in out])),
                               atol=1)

    plain = Generator(cfg, _OffsetModel(), scorer, np.random.default_rng(1)).generate(segs)
    np.testing.assert_allclose(plain[0].images['side_camera'][1:, 0, 0, 0], 130 + 50 * plain[0].actions[:, 0], atol=1)


class _InsertingModel:
    """A world model that draws the peg going in from every anchor (frames at 200, "success" to the
    scorer below), whatever the actions, give or take 10 a_t,0."""

    def __call__(self, segments, actions, k):
        value = np.clip(np.rint(200 + 10 * actions[:, :, 0]), 0, 255).astype(np.uint8)
        frames = {c: np.broadcast_to(value[:, :, None, None, None], (*value.shape, 128, 128, 3)).copy() for c in CAMS}
        return frames, np.zeros((len(actions), actions.shape[1] + 1, 7), np.float32)


def test_labelling_the_corrected_frames_keeps_the_real_label_where_the_model_draws_the_same_for_any_action(small_cfg):
    cfg, k, T = small_cfg, small_cfg.world_model.counterfactuals, small_cfg.world_model.segment_length
    segs = []
    for e, last in enumerate((40, 220)):        # the real peg: missed (dark) / went in at the last step (bright)
        frames = np.full((T + 1, 128, 128, 3), 40, np.uint8)
        frames[-1] = last
        actions = np.zeros((T, 7), np.float32)
        actions[:, 0] = 0.3
        segs.append(RealSegment(e, 0, {c: frames.copy() for c in CAMS}, actions, np.zeros((T + 1, 7), np.float32)))

    def scorer(frames):
        r = frames['wrist_camera'][:, 0, 0, 0] / 255.0
        return r, r >= 0.7
    scorer.threshold = 0.7

    predicted = Generator(cfg, _InsertingModel(), scorer, np.random.default_rng(1), correct_residual=True)
    out = predicted.generate(segs)
    assert len(out) == 2 * k and all(t.positive and len(t.actions) == 1 for t in out)     # every one "inserts"
    corrected = Generator(cfg, _InsertingModel(), scorer, np.random.default_rng(1), correct_residual=True,
                          label_corrected=True)
    out = corrected.generate(segs)
    assert len(out) == 2 * k
    assert [t.positive for t in out] == [False] * k + [True] * k         # the real segment's outcome
    assert all(len(t.actions) == T for t in out)                          # the success at the last step
    for t in out:                                                        # labelled = the learner's frames
        np.testing.assert_allclose(t.scores, t.images['wrist_camera'][1:, 0, 0, 0] / 255.0)
    with pytest.raises(ValueError, match='needs residual correction'):
        Generator(cfg, _InsertingModel(), scorer, np.random.default_rng(1), label_corrected=True)


class _OffsetVideoModel:
    """A video world model with _OffsetModel's law (100 + 50 a_t,0, plus an error of 30), closed
    loop when given ``act``: it asks for step t's actions on the views it has reached."""

    def __init__(self, size):
        self.size, self.actions = size, None

    def predict(self, anchor, actions, act=None):
        s, out = self.size, []
        views = {c: np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in anchor[c]]) for c in CAMS}
        for t in range(actions.shape[1]):
            a = actions[:, t] if act is None else act(t, views)
            value = np.clip(np.rint(130 + 50 * a[:, 0]), 0, 255).astype(np.uint8)
            views = {c: np.broadcast_to(value[:, None, None, None], (len(a), s, s, 3)).copy() for c in CAMS}
            out.append(views)
        self.actions = np.array(actions)
        return {c: np.stack([v[c] for v in out], 1) for c in CAMS}


def test_policy_counterfactuals_let_the_actor_act_on_the_corrected_frames_it_reaches(small_cfg):
    cfg, k, T = small_cfg, small_cfg.world_model.counterfactuals, small_cfg.world_model.segment_length
    segs = _offset_segments(T)
    seen = []

    def actor(images, proprio):
        seen.append((images['side_camera'][:, 5, 7, 1].astype(float), proprio.copy()))
        a = np.zeros((len(proprio), 7), np.float32)
        a[:, 0] = 0.1 * len(seen) + 0.05 * np.arange(len(proprio))
        return a

    model = _OffsetVideoModel(cfg.world_model.view_size)
    predictor = ModelPolicyPredictor(cfg, model, actor, correct_residual=True)
    labelled, proprio, cf, learner = predictor.rollout(segs, k)
    assert len(seen) == T and cf.shape == (2 * k, T, 7)
    np.testing.assert_array_equal(seen[0][0], 90)                       # step 0: the real o_0 of every row
    for t in range(1, T):
        # the actor saw the action's effect without the model's error: o_t + pred(A')_t - pred(A)_t
        np.testing.assert_allclose(seen[t][0], 100 + 50 * cf[:, t - 1, 0], atol=1.5)
    for row in range(2 * k):
        seg = segs[row // k]
        for t in range(T):
            np.testing.assert_allclose(seen[t][1][row], synthetic_proprio(
                seg.proprio[:t + 1], seg.actions[:t], cf[row, :t], cfg.task, cfg.controller)[t], atol=1e-6)
    np.testing.assert_allclose(cf[:, :, 0], [[0.1 * (t + 1) + 0.05 * r for t in range(T)] for r in range(2 * k)],
                               atol=1e-6)
    replays = model.actions[np.arange(2 * (k + 1)) % (k + 1) == k]
    np.testing.assert_array_equal(replays, np.stack([s.actions for s in segs]))   # the replays ran the real actions
    np.testing.assert_allclose(labelled['side_camera'][:, :, 0, 0, 0], np.rint(130 + 50 * cf[:, :, 0]), atol=1)
    np.testing.assert_allclose(learner['side_camera'][:, :, 0, 0, 0], 100 + 50 * cf[:, :, 0], atol=1.5)
    np.testing.assert_array_equal(proprio, kinematic_proprio(cfg, segs, cf, k))
    # through the generator: the trajectories carry the actor's actions and the corrected frames
    out = Generator(cfg, ModelPolicyPredictor(cfg, _OffsetVideoModel(cfg.world_model.view_size), actor, True),
                    lambda f: (np.zeros(len(f['wrist_camera'])), np.zeros(len(f['wrist_camera']), bool)),
                    np.random.default_rng(1), correct_residual=True).generate(segs)
    assert len(out) == 2 * k and np.allclose(out[1].actions[:, 0], [0.1 * (T + t + 1) + 0.05 for t in range(T)])
    # without residual correction: no replays, and the actor and the learner see the predicted frames
    seen.clear()
    model = _OffsetVideoModel(cfg.world_model.view_size)
    labelled, _, cf, learner = ModelPolicyPredictor(cfg, model, actor, correct_residual=False).rollout(segs, k)
    assert len(model.actions) == 2 * k and learner is labelled
    for t in range(1, T):
        np.testing.assert_allclose(seen[t][0], np.rint(130 + 50 * cf[:, t - 1, 0]), atol=1)


def test_a_closed_loop_rollout_equals_the_open_loop_one_with_the_same_actions(small_cfg):
    model = WorldModel(small_cfg.world_model, seed=0, device='cpu')
    rng = np.random.default_rng(2)
    anchor = {c: rng.integers(0, 255, (3, 128, 128, 3), np.uint8) for c in CAMS}
    actions = rng.uniform(-1, 1, (3, 4, 7)).astype(np.float32)
    asked = []

    def act(t, views):
        asked.append((t, {c: v.shape for c, v in views.items()}))
        return actions[:, t]
    model.gen.manual_seed(5)
    closed = model.predict(anchor, np.zeros_like(actions), act)
    model.gen.manual_seed(5)
    opened = model.predict(anchor, actions)
    s = small_cfg.world_model.view_size
    assert asked == [(t, {c: (3, s, s, 3) for c in CAMS}) for t in range(4)]
    for c in CAMS:
        np.testing.assert_array_equal(closed[c], opened[c])


def _path(*points):
    """Proprio rows (x, y, z, yaw) -> (N, 7) with zero roll/pitch and gripper."""
    out = np.zeros((len(points), 7))
    for i, (x, y, z, yaw) in enumerate(points):
        out[i, [0, 1, 2, 5]] = x, y, z, yaw
    return out


def test_a_success_needs_the_pose_where_the_real_episode_succeeded():
    from worldsample.core.config import load_config
    from worldsample.core.worldmodel.generator import at_success_pose
    scene = load_config('insertion_vision').task.scene      # clearance c 1.25 mm, peg 20 mm, insert depth 15 mm
    goal = _path((0.40, 0.05, 0.10, 0.2))[0]
    above = 0.10 + 0.03                                       # the peg tip above the board's top
    # straight down onto the goal, 1 and 2 mm off it (within 2c): at it once no higher than the goal
    down = _path((0.40, 0.05, above, 0.2), (0.401, 0.05, 0.11, 0.2), (0.40, 0.052, 0.1001, 0.2),
                 (0.40, 0.05, 0.098, 0.2))
    np.testing.assert_array_equal(at_success_pose(down, goal, scene), [False, False, True])
    # misaligned above the board, aligned before it goes down: fine
    swing = _path((0.45, 0.0, above, 0.0), (0.40, 0.05, above, 0.2), (0.40, 0.05, 0.10, 0.2))
    np.testing.assert_array_equal(at_success_pose(swing, goal, scene), [False, True])
    # into the board's plane 3 mm beside the goal (> 2c), then slid onto it: the board was in the way
    beside = _path((0.40, 0.05, above, 0.2), (0.403, 0.05, 0.11, 0.2), (0.40, 0.05, 0.10, 0.2))
    np.testing.assert_array_equal(at_success_pose(beside, goal, scene), [False, False])
    # in aligned, then sent 5 mm sideways inside the hole: its walls hold the peg, still there
    wall = _path((0.40, 0.05, above, 0.2), (0.40, 0.05, 0.11, 0.2), (0.405, 0.05, 0.10, 0.2))
    np.testing.assert_array_equal(at_success_pose(wall, goal, scene), [False, True])
    # ... but out above the board and back in 5 mm off: a new entry, judged again
    again = _path((0.40, 0.05, 0.11, 0.2), (0.40, 0.05, above, 0.2), (0.405, 0.05, 0.10, 0.2))
    np.testing.assert_array_equal(at_success_pose(again, goal, scene), [False, False])
    # already in the board's plane at the anchor, aligned: judged there
    inside = _path((0.401, 0.05, 0.105, 0.2), (0.40, 0.05, 0.099, 0.2))
    np.testing.assert_array_equal(at_success_pose(inside, goal, scene), [True])
    # turned by 0.2 rad (a corner moves 2.8 mm > 2c), or 3 mm off in y: never
    turned = _path((0.40, 0.05, above, 0.2), (0.40, 0.05, 0.10, 0.4))
    off = _path((0.40, 0.05, above, 0.2), (0.40, 0.053, 0.10, 0.2))
    assert not at_success_pose(turned, goal, scene).any() and not at_success_pose(off, goal, scene).any()
    # yaw compared on the circle: 2 pi + 0.2 is the goal's yaw
    wrapped = _path((0.40, 0.05, above, 0.2), (0.40, 0.05, 0.10, 0.2 + 2 * np.pi))
    np.testing.assert_array_equal(at_success_pose(wrapped, goal, scene), [True])
    assert not at_success_pose(down, None, scene).any()      # its episode did not succeed


class _PosePredictor:
    """Frames of one grey level, and the proprio each counterfactual was given (K per segment)."""

    def __init__(self, proprio):
        self.proprio = proprio

    def __call__(self, segments, actions, k):
        n, T = actions.shape[:2]
        frames = {c: np.full((n, T, 128, 128, 3), 90, np.uint8) for c in CAMS}
        return frames, self.proprio[:n]


def test_the_pose_gate_keeps_only_the_successes_at_the_real_success_pose(small_cfg):
    from worldsample.core.config import load_config
    from worldsample.core.worldmodel.calibration import LabelCalibration
    cfg = replace(small_cfg, task=load_config('insertion_vision').task,
                  world_model=replace(small_cfg.world_model, counterfactuals=2))
    goal = _path((0.40, 0.05, 0.10, 0.2))[0]
    at_goal = _path(*[(0.40, 0.05, 0.10 + 0.03 - 0.01 * t, 0.2) for t in range(5)])      # there at o'_3
    elsewhere = _path(*[(0.43, 0.05, 0.10 + 0.03 - 0.01 * t, 0.2) for t in range(5)])
    seg = RealSegment(0, 0, {c: np.zeros((5, 128, 128, 3), np.uint8) for c in CAMS}, np.zeros((4, 7), np.float32),
                      at_goal.astype(np.float32), goal=goal)

    def accept_from(t0):         # the reward model accepts every frame from step t0 on (both counterfactuals)
        def score(frames):
            y = np.tile(np.arange(4) >= t0, 2)
            return y * 0.9, y
        return score
    gen = Generator(cfg, _PosePredictor(np.stack([at_goal, elsewhere])), accept_from(1), np.random.default_rng(0),
                    pose_gate=True)
    gen.calibration = LabelCalibration(None, float('nan'), 0.0, 0, 0)      # trusting nothing: not used by the gate
    out = gen.generate([seg])
    # o'_1..o'_4 are at z 0.12, 0.11, 0.10, 0.09: the goal's pose from o'_3 on. Accepted from o'_2 on:
    # a success at o'_3 (the accepted o'_2 before the arm got there is a step of it); the other
    # counterfactual never reaches the pose but has accepted frames: dropped
    assert [t.positive for t in out] == [True] and len(out[0].actions) == 3 and gen.dropped_ambiguous == 1
    np.testing.assert_array_equal(out[0].success, [False, False, True])
    gen.scorer = accept_from(3)                   # accepted from o'_4 only: a success there
    out = gen.generate([seg])
    assert [t.positive for t in out] == [True] and len(out[0].actions) == 4 and gen.dropped_ambiguous == 2
    gen.scorer = accept_from(4)                   # never accepted: two negatives, whatever the pose
    assert [t.positive for t in gen.generate([seg])] == [False, False] and gen.dropped_ambiguous == 2
    gen.scorer = accept_from(1)                   # its episode did not succeed: no goal, nothing positive
    assert gen.generate([replace(seg, goal=None)]) == [] and gen.dropped_ambiguous == 4
