"""The extra-real control: a second simulated cell whose transitions fill the synthetic buffers."""
from dataclasses import replace

import numpy as np
import pytest

from worldsample.core.config import load_config
from worldsample.core.episode import StepRecord
from worldsample.core.rl.extra_real import ExtraReal
from worldsample.core.rl.learner import Learner
from worldsample.core.rl.trainer import train
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
from worldsample.core.worldmodel.model import sized

CAMS = ('wrist_camera', 'side_camera')


@pytest.fixture(scope='module')
def vision():
    cfg = load_config('insertion_vision')
    return replace(cfg, agent=replace(cfg.agent, hidden=(32, 32), batch_size=32),
                   world_model=replace(sized(cfg.world_model, 'tiny'), segment_length=4),
                   train=replace(cfg.train, learning_starts=10, demo_episodes=2, eval_every=30, eval_episodes=1),
                   # the simulated human takes over at once and drives the expert: episodes end in success
                   human=replace(cfg.human, aggressiveness=1.0, stall_steps=0, takeover_steps=100),
                   ppl=replace(cfg.ppl, synthetic_capacity=500, select_samples=16))


def test_extra_steps_fill_the_synthetic_buffers_cut_like_synthetic_trajectories(vision):
    rng = np.random.default_rng(0)
    encoder = PCAEncoder.fit({c: rng.integers(0, 255, (20, 32, 32, 3), np.uint8) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    extra = ExtraReal(vision, learner, seed=0, per_step=3)
    rec = StepRecord(0, 0, np.zeros(7, np.float32), False, 0.0, False, False, False)
    for step in range(1, 41):                       # the trainer's cell's steps: only their count matters
        extra.observe(rec, {}, {}, step)
    c = extra.counts
    assert c['synthetic_transitions'] + len(extra.run) == 40 * 3
    assert c['episodes'] >= 1 and c['positive'] == c['episodes'] and c['intervened_steps'] == 120
    assert len(learner.online) == 0 and len(learner.demo) == 0 and learner.received == 0
    pos, neg = (b.data for b in (learner.syn_positive, learner.syn_negative))
    n_pos, n_neg = len(learner.syn_positive), len(learner.syn_negative)
    assert n_pos + n_neg == c['synthetic_transitions']
    # a positive trajectory ends at the episode's success (reward 1, terminal), its earlier steps 0;
    # a negative one (4 steps, or to the step limit) is truncated and bootstraps
    assert pos['reward'][:n_pos].sum() == c['positive'] and np.array_equal(pos['done'][:n_pos], pos['reward'][:n_pos])
    assert n_neg % 4 == 0 and not neg['reward'][:n_neg].any() and not neg['done'][:n_neg].any()
    # consecutive steps of one trajectory: o_t+1 of a step is o_t of the next
    np.testing.assert_array_equal(neg['next_obs'][0], neg['obs'][1])
    assert extra.wall['generation'] > 0
    extra.close()
    assert extra.cell.env.cell._renderer is None
    with pytest.raises(ValueError, match='>= 1'):
        ExtraReal(vision, learner, seed=0, per_step=0)


def test_without_the_human_the_actor_alone_acts_in_the_extra_cell(vision):
    rng = np.random.default_rng(1)
    encoder = PCAEncoder.fit({c: rng.integers(0, 255, (20, 32, 32, 3), np.uint8) for c in CAMS}, EncoderConfig(8, 4))
    learner = Learner(vision, encoder)
    extra = ExtraReal(vision, learner, seed=0, per_step=2, human=False)
    rec = StepRecord(0, 0, np.zeros(7, np.float32), False, 0.0, False, False, False)
    for step in range(1, 11):
        extra.observe(rec, {}, {}, step)
    assert extra.counts['intervened_steps'] == 0 and extra.counts['synthetic_transitions'] + len(extra.run) == 20
    extra.close()


def test_a_short_training_run_puts_extra_real_samples_into_critic_updates(vision):
    extras = []

    def extra_cell(learner, demos):
        extras.append(ExtraReal(vision, learner, seed=0, per_step=2))
        return extras[-1]
    _, _, hist = train(vision, seed=0, log=lambda m: None, env_steps=30, synthetic=extra_cell)
    assert hist.env_steps == [30]
    counts = hist.synthetic[-1]
    assert counts['synthetic_transitions'] + len(extras[0].run) == 60
    assert hist.ppl[-1]['synthetic_used'] > 0
    assert hist.wall_split[-1]['generation'] > 0
    assert extras[0].cell.env.cell._renderer is None              # closed with the run
