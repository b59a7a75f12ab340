"""The real-synthetic loop of the single-process trainer: the oracle world model, segments to
synthetic buffers, post-training bursts, and a short training run through all of it."""
import json
from dataclasses import replace

import numpy as np
import pytest

from worldsample.core.config import load_config
from worldsample.core.episode import EpisodeLoop, StepRecord
from worldsample.core.expert import InsertionExpert
from worldsample.core.rl.learner import Learner
from worldsample.core.rl.synthetic_loop import PostTrainer, SyntheticLoop, build_loop, stochastic_actor
from worldsample.core.rl.trainer import demos_to_dataset, train
from worldsample.core.sim.env import InsertionEnv
from worldsample.core.sim.label_audit import LabelAudit
from worldsample.core.sim.oracle import OraclePolicyPredictor, OraclePredictor, truth_scorer
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
from worldsample.core.worldmodel.data import EpisodeAssembler, episodes_from_dataset
from worldsample.core.worldmodel.generator import (Generator, ModelPolicyPredictor, ModelPredictor, RealSegment,
                                                   SyntheticTrajectory, kinematic_proprio)
from worldsample.core.worldmodel.model import WorldModel, sized

CAMS = ('wrist_camera', 'side_camera')


@pytest.fixture(scope='module')
def vision():
    cfg = load_config('insertion_vision')
    return replace(cfg, agent=replace(cfg.agent, hidden=(32, 32), batch_size=32),
                   world_model=replace(sized(cfg.world_model, 'tiny'), segment_length=4, counterfactuals=2),
                   train=replace(cfg.train, learning_starts=10, demo_episodes=2, eval_every=40, eval_episodes=1,
                                 post_train_every=20, post_train_steps=2),
                   ppl=replace(cfg.ppl, synthetic_capacity=500, select_samples=16))


def _expert_run(cfg, steps, seed=3):
    """Expert steps with the sim state saved before each one: (observations, actions, snapshots)."""
    env, expert = InsertionEnv(cfg), InsertionExpert(cfg)
    obs, _ = env.reset(seed=seed)
    observations, actions, snaps = [obs], [], []
    for _ in range(steps):
        snaps.append(env.snapshot())
        a = expert.act(obs['proprio'], env.hole) * np.asarray(cfg.task.action.active)
        obs = env.step(a)[0]
        observations.append(obs)
        actions.append(a)
    env.close()
    return observations, np.array(actions, np.float32), snaps


def test_oracle_replaying_a_segments_own_actions_reproduces_its_recorded_frames(vision):
    obs, actions, snaps = _expert_run(vision, 7)
    seg = RealSegment(0, 2, {c: np.stack([o[c] for o in obs[2:7]]) for c in CAMS}, actions[2:6],
                      np.stack([o['proprio'] for o in obs[2:7]]), state=snaps[2])
    oracle = OraclePredictor(vision)
    frames, proprio = oracle([seg], seg.actions[None], 1)
    for c in CAMS:
        np.testing.assert_array_equal(frames[c][0], seg.images[c][1:])          # o_1..o_T, pixel for pixel
    np.testing.assert_allclose(proprio[0], seg.proprio, atol=1e-6)
    other, _ = oracle([seg], (seg.actions * 0.0)[None], 1)                       # other actions, other frames
    assert np.abs(other['wrist_camera'][0, -1].astype(int) - seg.images['wrist_camera'][-1]).mean() > 1.0
    with pytest.raises(ValueError, match='no saved sim state'):
        oracle([replace(seg, state=None)], seg.actions[None], 1)
    oracle.close()
    # the control with a learned model's proprio: the same frames, the controller-integrated proprio
    kinematic = OraclePredictor(vision, proprio='kinematic')
    cf = np.stack([seg.actions, seg.actions * 0.5])
    k_frames, k_proprio = kinematic([seg], cf, 2)
    np.testing.assert_array_equal(k_frames['side_camera'][0], seg.images['side_camera'][1:])
    np.testing.assert_array_equal(k_proprio, kinematic_proprio(vision, [seg], cf, 2))
    np.testing.assert_array_equal(k_proprio[0], seg.proprio)           # its own actions: exactly the real proprio
    assert not np.allclose(k_proprio[1], seg.proprio)
    kinematic.close()
    with pytest.raises(ValueError, match="'simulated' or 'kinematic'"):
        OraclePredictor(vision, proprio='true')


def test_the_policy_oracle_lets_the_current_actor_choose_the_counterfactual_actions(vision):
    obs, actions, snaps = _expert_run(vision, 6)
    seg = RealSegment(0, 1, {c: np.stack([o[c] for o in obs[1:6]]) for c in CAMS}, actions[1:5],
                      np.stack([o['proprio'] for o in obs[1:6]]), state=snaps[1])
    rng = np.random.default_rng(0)
    encoder = PCAEncoder.fit({c: rng.integers(0, 255, (20, 32, 32, 3), np.uint8) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    policy = OraclePolicyPredictor(vision, stochastic_actor(vision, lambda: (learner.state, learner.feat), seed=0))
    frames, proprio, acts, learner_frames = policy.rollout([seg], 2)
    assert learner_frames is frames
    assert acts.shape == (2, 4, 7) and frames['wrist_camera'].shape[:2] == (2, 4) and proprio.shape == (2, 5, 7)
    active = np.asarray(vision.task.action.active)
    assert np.all(acts[..., ~active] == 0.0) and np.all(np.abs(acts) <= 1.0)
    assert not np.allclose(acts[0], acts[1])                      # the stochastic actor, sampled anew
    assert not np.allclose(acts, actions[1:5][None])              # not the logged actions
    replay = OraclePredictor(vision)                               # the frames are those actions' frames
    r_frames, r_proprio = replay([seg], acts, 2)
    for c in CAMS:
        np.testing.assert_array_equal(r_frames[c], frames[c])
    np.testing.assert_allclose(r_proprio, proprio, atol=1e-6)
    scorer = lambda f: (np.zeros(len(f['wrist_camera'])), np.zeros(len(f['wrist_camera']), bool))
    trajs = Generator(vision, policy, scorer, np.random.default_rng(1)).generate([seg])
    assert len(trajs) == 2 and all(np.all(t.actions[..., ~active] == 0.0) for t in trajs)
    assert not np.allclose(trajs[0].actions, acts[0])             # a new rollout per call
    replay.close()
    policy.close()


def test_policy_counterfactual_actions_choose_the_policy_predictors(vision):
    rng = np.random.default_rng(0)
    encoder = PCAEncoder.fit({c: rng.integers(0, 255, (20, 32, 32, 3), np.uint8) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    scorer = lambda f: (np.zeros(len(f['wrist_camera'])), np.zeros(len(f['wrist_camera']), bool))
    policy = replace(vision, world_model=replace(vision.world_model, counterfactual_actions='policy'))
    loops = [build_loop(c, learner, 'oracle', scorer, 0) for c in (vision, policy)]
    assert [type(l.generator.predictor) for l in loops] == [OraclePredictor, OraclePolicyPredictor]
    model = WorldModel(vision.world_model, seed=0, device='cpu')
    loops += [build_loop(c, learner, 'model', scorer, 0, model) for c in (vision, policy)]
    assert [type(l.generator.predictor) for l in loops[2:]] == [ModelPredictor, ModelPolicyPredictor]
    with pytest.raises(ValueError, match='simulated proprio only'):
        build_loop(policy, learner, 'oracle', scorer, 0, oracle_proprio='kinematic')
    # label_frames: corrected -- the reward model labels the corrected frames, and nothing calibrates
    corrected = replace(vision, world_model=replace(vision.world_model, label_frames='corrected'))
    loops.append(build_loop(corrected, learner, 'model', scorer, 0, model))
    assert loops[-1].generator.label_corrected and loops[-1].calibrator is None
    assert all(not l.generator.label_corrected and l.calibrator is not None for l in loops[2:4])
    for loop in loops:
        loop.close()


def test_segments_become_labelled_synthetic_buffers_and_the_model_post_trains(vision):
    obs, actions, snaps = _expert_run(vision, 9)
    rng = np.random.default_rng(0)
    encoder = PCAEncoder.fit({c: np.stack([o[c] for o in obs]) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    calls = []

    def scorer(frames):          # stands in for the reward model: accepts the 2nd frame of odd trajectories
        n = len(frames['wrist_camera'])
        calls.append(n)
        scores = np.zeros((n // 4, 4))
        scores[1::2, 1] = 1.0
        return scores.ravel(), scores.ravel() >= 0.5
    model = WorldModel(vision.world_model, seed=0, device='cpu')
    demo = EpisodeAssembler(vision.world_model)
    demos = [e for t in range(9) for e in demo.add(7, t, obs[t], obs[t]['proprio'], actions[t], obs[t + 1],
                                                    obs[t + 1]['proprio'], t == 8)]
    post = PostTrainer(model, demos, every=4, steps=1, rng=rng)
    loop = SyntheticLoop(vision, Generator(vision, OraclePredictor(vision), scorer, rng), learner, post, batch_segments=1)
    assert loop.generator.needs_state and not Generator(vision, ModelPredictor(vision, model), scorer, rng).needs_state
    episodes = EpisodeLoop(vision.task)
    for t in range(9):
        rec = episodes.record(actions[t], False, success=False)
        loop.observe(rec, obs[t], obs[t + 1], env_step=t + 1, snapshot=snaps[t])
    assert loop.counts['segments'] == 2 and calls == [8, 8]                 # steps 0-3 and 4-7, K = 2 each
    assert loop.counts['trajectories'] == 4 and loop.counts['positive'] == 2
    assert len(learner.syn_positive) == 2 * 2 and len(learner.syn_negative) == 2 * 4
    assert loop.counts['post_train_bursts'] == 2 and model.steps == 2      # at env steps 4 and 8
    assert loop.wall['generation'] > 0 and loop.wall['post_training'] > 0
    assert set(loop.snapshots) <= {(0, 8)}                                  # old states are let go
    assert post.rollouts == []                                              # no real episode has ended yet
    loop.observe(episodes.record(actions[0], False, success=True), obs[9], obs[1], env_step=10)
    assert len(post.rollouts) == 1 and len(post.rollouts[0].actions) == 10
    # rollout episodes held out for label calibration (every 5th: 4, 9, ...) are never trained on
    assert vision.world_model.label_holdout_every == 5
    for episode in (3, 4):
        for t in range(2):
            post.observe(StepRecord(episode, t, actions[t], False, float(t == 1), t == 1, False, t == 1), obs[t],
                         obs[t + 1])
    assert len(post.rollouts) == 2 and len(post.rollouts[1].actions) == 2      # episode 3's, not 4's


def test_the_learned_model_generates_only_after_its_warm_up_burst_on_rollouts(vision):
    obs, actions, _ = _expert_run(vision, 12)
    rng = np.random.default_rng(0)
    encoder = PCAEncoder.fit({c: np.stack([o[c] for o in obs]) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    model = WorldModel(vision.world_model, seed=0, device='cpu')
    post = PostTrainer(model, [], every=4, steps=1, rng=rng, warmup=3)
    scorer = lambda frames: (np.zeros(len(frames['wrist_camera'])), np.zeros(len(frames['wrist_camera']), bool))
    loop = SyntheticLoop(vision, Generator(vision, ModelPredictor(vision, model), scorer, rng), learner, post,
                         batch_segments=1)
    episodes = EpisodeLoop(vision.task)
    for t in range(12):           # episode 0 ends at step 5 (the first rollout); bursts are due at env steps 4, 8, 12
        rec = episodes.record(actions[t], False, success=t == 5)
        loop.observe(rec, obs[t], obs[t + 1], env_step=t + 1)
        if t == 3:                # due, but no rollout yet: no burst, and segment 0-3 is skipped
            assert model.steps == 0 and loop.counts['skipped_before_warmup'] == 1
        if t == 7:                # the warm-up burst ran, and nothing has reached the learner before it
            assert model.steps == 3 and post.warmed_up
            assert loop.counts['trajectories'] == 0 and len(learner.syn_negative) == 0
    assert loop.counts['post_train_bursts'] == 2 and model.steps == 3 + 1 and post.trained == 4
    assert model.rollout_steps == 4          # every update had the rollout in its data
    # the segment completed after the warm-up (episode 1, steps 0-3) was generated, K = 2
    assert loop.counts['skipped_before_warmup'] == 1 and loop.counts['trajectories'] == 2
    assert len(learner.syn_negative) == 2 * 4


def test_a_short_run_with_policy_counterfactuals_of_the_learned_model_reaches_the_learner(vision):
    cfg = replace(vision, world_model=replace(vision.world_model, counterfactual_actions='policy'),
                  train=replace(vision.train, post_train_warmup=2),
                  task=replace(vision.task, max_episode_steps=15))    # a rollout episode ends before the burst
    loops = []

    def scorer(frames):
        return np.zeros(len(frames['wrist_camera'])), np.zeros(len(frames['wrist_camera']), bool)
    scorer.threshold = 0.7

    def model_loop(learner, demos):
        eps = episodes_from_dataset(demos_to_dataset(demos), cfg.world_model)
        loops.append(build_loop(cfg, learner, 'model', scorer, 0, WorldModel(cfg.world_model, seed=0, device='cpu'),
                                eps))
        return loops[-1]
    _, _, hist = train(cfg, seed=0, log=lambda m: None, env_steps=40, synthetic=model_loop)
    assert isinstance(loops[0].generator.predictor, ModelPolicyPredictor)
    counts = hist.synthetic[-1]
    assert counts['post_train_bursts'] >= 1 and counts['trajectories'] > 0
    assert hist.ppl[-1]['synthetic_used'] > 0


def test_a_short_training_run_puts_oracle_synthetic_samples_into_critic_updates(vision):
    loops = []

    def oracle_loop(learner, demos):
        scorer = lambda frames: (np.zeros(len(frames['wrist_camera'])), np.zeros(len(frames['wrist_camera']), bool))
        loops.append(SyntheticLoop(vision, Generator(vision, OraclePredictor(vision), scorer, np.random.default_rng(1)),
                                   learner, batch_segments=2))
        return loops[-1]
    _, _, hist = train(vision, seed=0, log=lambda m: None, env_steps=40, synthetic=oracle_loop)
    assert loops[0].generator.predictor.env.cell._renderer is None        # the oracle's replay env released
    assert hist.env_steps == [40]
    counts = hist.synthetic[-1]
    assert counts['segments'] >= 5 and counts['trajectories'] == 2 * 2 * (counts['segments'] // 2)   # K=2, pairs
    assert hist.ppl[-1]['synthetic_used'] > 0 and hist.ppl[-1]['syn_negative_size'] > 0
    assert set(hist.wall_split[-1]) == {'env', 'learner', 'generation', 'post_training'}
    assert hist.wall_split[-1]['generation'] > 0 and hist.wall_split[-1]['env'] > 0


def _inserting_segment(cfg):
    """The expert's last 4 steps before it inserts, with the sim state at their start: (segment, its
    episode's length in steps)."""
    env, expert = InsertionEnv(cfg), InsertionExpert(cfg)
    obs, _ = env.reset(seed=3)
    observations, actions, snaps = [obs], [], []
    for _ in range(40):                        # the expert until it inserts
        snaps.append(env.snapshot())
        a = expert.act(obs['proprio'], env.hole) * np.asarray(cfg.task.action.active)
        obs, _, success, _, _ = env.step(a)
        observations.append(obs)
        actions.append(a)
        if success:
            break
    env.close()
    assert success
    n = len(actions)
    return RealSegment(0, n - 4, {c: np.stack([o[c] for o in observations[n - 4:]]) for c in CAMS},
                       np.array(actions[n - 4:], np.float32),
                       np.stack([o['proprio'] for o in observations[n - 4:]]), state=snaps[n - 4]), n


def test_the_label_audit_checks_each_label_against_the_simulator(vision):
    seg, n = _inserting_segment(vision)
    up = np.zeros((4, 7), np.float32)
    up[:, 2] = 1.0                             # straight up: never in

    def traj(acts, positive):
        success = np.zeros(len(acts), bool)
        success[-1] = positive
        return SyntheticTrajectory((0, n - 4), {}, acts, np.zeros((len(acts) + 1, 7)), success * 1.0, success)
    audit = LabelAudit(vision)
    audit([seg], [traj(seg.actions, True), traj(up, True), traj(seg.actions[:2], True),
                  traj(seg.actions, False), traj(up, False)])
    s = audit.summary()
    # its own actions insert at the last step; up never does; its first two steps are not yet in
    assert (s['positive'], s['positive_true'], s['negative'], s['negative_truly_successful']) == (3, 1, 2, 1)
    # the real segment inserted, so all 3 positives come from a successful one; so does its 1 true positive
    assert (s['positive_of_successful_segment'], s['positive_true_of_successful_segment']) == (3, 1)
    early = replace(seg, actions=seg.actions[:2].copy(), images={c: v[:3] for c, v in seg.images.items()},
                    proprio=seg.proprio[:3], start=n - 40)        # a real segment that did not get in
    audit([early], [SyntheticTrajectory((0, n - 40), {}, seg.actions, np.zeros((5, 7)), np.ones(4), np.eye(4)[3] > 0)])
    s = audit.summary()
    assert (s['positive'], s['positive_true'], s['positive_of_successful_segment']) == (4, 2, 3)
    assert s['precision'] == pytest.approx(2 / 4) and s['negatives_truly_successful_share'] == 0.5
    assert np.isnan(LabelAudit(vision).summary()['precision'])
    with pytest.raises(ValueError, match='simulated segments only'):
        audit([replace(seg, state=None)], [traj(up, True)])
    audit.close()


def test_a_run_with_the_label_audit_trains_exactly_as_one_without(vision):
    import jax

    def oracle_loop(audit):
        def build(learner, demos):
            return SyntheticLoop(vision, Generator(vision, OraclePredictor(vision), reward, np.random.default_rng(1)),
                                 learner, batch_segments=2, audit=LabelAudit(vision) if audit else None)
        return build

    def reward(frames):          # accepts every 3rd frame, so that both labels occur
        n = len(frames['wrist_camera'])
        y = np.arange(n) % 3 == 0
        return y * 1.0, y
    runs = [train(vision, seed=0, log=lambda m: None, env_steps=40, synthetic=oracle_loop(a)) for a in (False, True)]
    (s0, _, h0), (s1, _, h1) = runs
    assert h0.synthetic[-1]['label_audit'] is None
    audit = h1.synthetic[-1].pop('label_audit')
    h0.synthetic[-1].pop('label_audit')
    assert json.dumps([h0.synthetic, h0.ppl, h0.success_rate]) == json.dumps([h1.synthetic, h1.ppl, h1.success_rate])
    assert audit['positive'] + audit['negative'] == h1.synthetic[-1]['trajectories'] > 0 and audit['positive'] > 0
    assert audit['positive'] == h1.synthetic[-1]['positive'] and audit['wall_s'] > 0
    for a, b in zip(jax.tree_util.tree_leaves(s0), jax.tree_util.tree_leaves(s1)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_without_positives_the_loop_stores_only_the_negatives_and_counts_the_rest(vision):
    obs, actions, snaps = _expert_run(vision, 8)
    encoder = PCAEncoder.fit({c: np.stack([o[c] for o in obs]) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)

    def scorer(frames):          # accepts the 2nd frame of odd trajectories
        scores = np.zeros((len(frames['wrist_camera']) // 4, 4))
        scores[1::2, 1] = 1.0
        return scores.ravel(), scores.ravel() >= 0.5
    loop = SyntheticLoop(vision, Generator(vision, OraclePredictor(vision), scorer, np.random.default_rng(0)), learner,
                         batch_segments=1, audit=LabelAudit(vision), positives=False)
    episodes = EpisodeLoop(vision.task)
    for t in range(8):
        loop.observe(episodes.record(actions[t], False, success=False), obs[t], obs[t + 1], env_step=t + 1,
                     snapshot=snaps[t])
    assert loop.counts['segments'] == 2 and loop.counts['dropped_positive'] == 2
    assert loop.counts['trajectories'] == 2 and loop.counts['positive'] == 0
    assert len(learner.syn_positive) == 0 and len(learner.syn_negative) == 2 * 4
    assert loop.label_audit['negative'] == 2 and loop.label_audit['positive'] == 0    # what the critic saw


def test_truth_labels_come_from_the_simulator_not_the_reward_model(vision):
    seg, _ = _inserting_segment(vision)
    up = np.zeros((4, 7), np.float32)
    up[:, 2] = 1.0                             # straight up: never in
    oracle = OraclePredictor(vision)
    scorer = truth_scorer(oracle)
    oracle([seg], np.stack([seg.actions, up]), 2)
    scores, labels = scorer({c: np.zeros((8, 2, 2, 3), np.uint8) for c in CAMS})
    # its own actions insert at the last step only; straight up never does
    np.testing.assert_array_equal(labels, [False, False, False, True, False, False, False, False])
    np.testing.assert_array_equal(scores, labels.astype(np.float32))
    with pytest.raises(ValueError, match='truth labels of 8 steps for 4 frames'):
        scorer({c: np.zeros((4, 2, 2, 3), np.uint8) for c in CAMS})
    oracle.close()
    # through the loop: the reward model (here one that accepts everything) is not asked, and the
    # stored labels are what the label audit finds true
    encoder = PCAEncoder.fit({c: seg.images[c] for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    asked = []
    accept_all = lambda f: (asked.append(1), (np.ones(len(f['wrist_camera'])), np.ones(len(f['wrist_camera']), bool)))[1]
    policy = replace(vision, world_model=replace(vision.world_model, counterfactual_actions='policy', counterfactuals=6))
    loop = build_loop(policy, learner, 'oracle', accept_all, 0, audit_labels=True, labels='truth')
    loop.pending = [seg]
    trajectories = loop.generator.generate([seg])
    loop.audit([seg], trajectories)
    audit = loop.label_audit
    assert not asked and audit['positive_true'] == audit['positive'] and audit['negative_truly_successful'] == 0
    assert audit['negative'] > 0 or audit['positive'] > 0
    loop.close()
    with pytest.raises(ValueError, match='only the oracle knows'):
        build_loop(vision, learner, 'model', accept_all, 0, WorldModel(vision.world_model, seed=0, device='cpu'),
                   labels='truth')
    with pytest.raises(ValueError, match="'reward_model' or 'truth'"):
        build_loop(vision, learner, 'oracle', accept_all, 0, labels='sim')


def test_an_episode_end_segment_starts_from_its_own_saved_state(vision):
    ends = replace(vision, world_model=replace(vision.world_model, end_segments=True))
    obs, actions, snaps = _expert_run(ends, 10)
    encoder = PCAEncoder.fit({c: np.stack([o[c] for o in obs]) for c in CAMS}, EncoderConfig(8, 4))
    scorer = lambda f: (np.zeros(len(f['wrist_camera'])), np.zeros(len(f['wrist_camera']), bool))
    oracle = OraclePredictor(ends)
    loop = SyntheticLoop(ends, Generator(ends, oracle, scorer, np.random.default_rng(0)), Learner(ends, encoder),
                         batch_segments=100)
    episodes = EpisodeLoop(ends.task)
    for t in range(10):          # the episode ends at its 10th step (success): segments 0-3, 4-7 and 6-9
        loop.observe(episodes.record(actions[t], False, success=t == 9), obs[t], obs[t + 1], env_step=t + 1,
                     snapshot=snaps[t])
    assert [s.start for s in loop.pending] == [0, 4, 6] and not loop.snapshots
    for seg in loop.pending:     # each replays to its recorded frames from the state saved at its start
        frames, _ = oracle([seg], seg.actions[None], 1)
        np.testing.assert_array_equal(frames['side_camera'][0], seg.images['side_camera'][1:])
        np.testing.assert_array_equal(seg.images['side_camera'][0], obs[seg.start]['side_camera'])
    oracle.close()


def test_with_the_pose_gate_segments_wait_for_their_episodes_end_and_its_success_pose(vision):
    obs, actions, snaps = _expert_run(vision, 13)
    encoder = PCAEncoder.fit({c: np.stack([o[c] for o in obs]) for c in CAMS}, EncoderConfig(8, 4))
    scorer = lambda f: (np.zeros(len(f['wrist_camera'])), np.zeros(len(f['wrist_camera']), bool))
    gen = Generator(vision, OraclePredictor(vision), scorer, np.random.default_rng(0), pose_gate=True)
    loop = SyntheticLoop(vision, gen, Learner(vision, encoder), batch_segments=100)
    episodes = EpisodeLoop(vision.task)
    for t in range(12):          # episode 0: steps 0-5, a success; episode 1: steps 6-11, cut off (no end yet)
        rec = episodes.record(actions[t], False, success=t == 5)
        loop.observe(rec, obs[t], obs[t + 1], env_step=t + 1, snapshot=snaps[t])
        if t == 3:               # a segment (steps 0-3) is cut, but waits for the episode's outcome
            assert loop.pending == [] and [s.start for s in loop.waiting] == [0]
    assert [(s.episode, s.start) for s in loop.pending] == [(0, 0)]
    np.testing.assert_array_equal(loop.pending[0].goal, obs[6]['proprio'])      # where episode 0 succeeded
    assert [(s.episode, s.goal) for s in loop.waiting] == [(1, None)] and len(loop.pending) == 1
    # episode 1 ends at the step limit: its segment goes on without a goal
    loop.observe(StepRecord(1, 6, actions[12], False, 0.0, False, True, False), obs[12], obs[13], env_step=13,
                 snapshot=snaps[12])
    assert [s.episode for s in loop.pending] == [0, 1] and loop.pending[1].goal is None and not loop.waiting
    loop.close()
    plain = SyntheticLoop(vision, Generator(vision, OraclePredictor(vision), scorer, np.random.default_rng(0)),
                          Learner(vision, encoder), batch_segments=100)
    assert plain.waiting is None
    plain.close()
