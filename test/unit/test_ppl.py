"""Policy-Paced Learning: the schedule, the admission rule, and the learner's mixed batches."""
import json
import math
from dataclasses import replace

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from worldsample.core.rl import ppl, sac
from worldsample.core.rl.learner import CheckpointError, Learner, MixedBatches
from worldsample.core.rl.replay import BufferError, mixed_batch
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder

CAMS = ('wrist_camera', 'side_camera')


@pytest.fixture(scope='module')
def small(cfg):
    return replace(cfg, agent=replace(cfg.agent, hidden=(32, 32), batch_size=64),
                   train=replace(cfg.train, learning_starts=10, online_capacity=200, demo_capacity=200),
                   ppl=replace(cfg.ppl, synthetic_capacity=200, select_every=3, select_samples=32))


@pytest.fixture(scope='module')
def encoder():
    rng = np.random.default_rng(0)
    return PCAEncoder.fit({c: rng.integers(0, 255, (20, 32, 32, 3), np.uint8) for c in CAMS}, EncoderConfig(8, 4))


def _with_mode(cfg, mode, **kw):
    return replace(cfg, ppl=replace(cfg.ppl, mode=mode, **kw))


def _real(learner, n, rng):
    dim = learner.feat.dim
    for i in range(n):
        a = np.zeros(7, np.float32)
        a[:3] = rng.uniform(-1, 1, 3)
        learner.store(rng.normal(size=dim), a, float(i % 5 == 0), rng.normal(size=dim), i % 5 == 0,
                      intervened=i % 3 == 0)


def _synthetic(learner, n_traj, rng, length=4):
    dim = learner.feat.dim
    for i in range(n_traj):
        success = np.zeros(length, bool)
        success[-1] = i % 2 == 0
        a = np.zeros((length, 7), np.float32)
        a[:, :3] = rng.uniform(-1, 1, (length, 3))
        learner.store_synthetic(rng.normal(size=(length, dim)), a, rng.normal(size=(length, dim)), success)


# -- schedule (Eq. 8) ------------------------------------------------------------------------
def test_rho_follows_the_formula_and_rises_as_entropy_falls(cfg):
    p = cfg.ppl
    lo, hi = ppl.entropy_bounds(3)
    assert (lo, hi) == (-1.5, 3 * math.log(2))
    entropies = np.linspace(hi + 0.5, lo - 0.5, 40)            # the policy concentrating
    rhos = [ppl.schedule(ppl.normalised_entropy(h, 3), p) for h in entropies]
    assert all(b >= a for a, b in zip(rhos, rhos[1:])) and rhos[-1] > rhos[0]
    for h, r in zip(entropies, rhos):
        hn = min(max((h - lo) / (hi - lo), 0.0), 1.0)
        assert r == pytest.approx(p.rho_max / (1 + p.kappa * hn ** p.power), rel=1e-12)
    assert rhos[0] == pytest.approx(p.rho_max / (1 + p.kappa)) and rhos[-1] == pytest.approx(p.rho_max)
    assert ppl.normalised_entropy(None, 3) == 1.0               # before any measurement: most uncertain
    assert ppl.schedule(0.7, replace(p, mode='no_scheduling')) == p.rho_max
    assert ppl.schedule(0.7, replace(p, mode='no_ppl')) == p.rho_max
    assert ppl.schedule(0.0, replace(p, mode='baseline')) == 0.0
    assert ppl.schedule(0.7, replace(p, mode='no_q_selection')) == ppl.schedule(0.7, p)


# -- Q-aware selection (Eq. 5) ---------------------------------------------------------------
q = st.floats(-5, 5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(q_real=q, q_pos=q, q_neg=q)
def test_admitted_mix_stays_within_delta_q_or_is_down_weighted(cfg, q_real, q_pos, q_neg):
    p = cfg.ppl
    sel = ppl.select(q_real, q_pos, q_neg, p)
    assert p.positive_share_min <= sel.positive_share <= p.positive_share_max
    mixed = sel.positive_share * q_pos + (1 - sel.positive_share) * q_neg
    assert sel.gap == pytest.approx(abs(mixed - q_real))
    feasible = q_pos != q_neg and p.positive_share_min <= (q_real - q_neg) / (q_pos - q_neg) <= p.positive_share_max
    if feasible:
        assert abs(mixed - q_real) <= 1e-9 and sel.weight == 1.0     # the exact mix is admitted
    if sel.gap <= p.delta_q:
        assert sel.weight == 1.0
    else:                                                           # cannot be met: the nearest mix, down-weighted
        assert sel.weight == pytest.approx(p.delta_q / sel.gap)
        assert sel.positive_share in (p.positive_share_min, p.positive_share_max) or q_pos == q_neg


def test_selection_with_empty_queues(cfg):
    p = cfg.ppl
    assert ppl.select(0.3, None, None, p) is None
    only_pos = ppl.select(0.3, 0.35, None, p)
    assert (only_pos.positive_share, only_pos.weight) == (1.0, 1.0)
    only_neg = ppl.select(0.3, None, -0.7, p)
    assert only_neg.positive_share == 0.0 and only_neg.weight == pytest.approx(p.delta_q / 1.0)
    pick = ppl.select(0.5, 0.9, 0.1, p)
    assert pick.positive_share == pytest.approx(0.5) and pick.gap == pytest.approx(0.0)
    st_ = ppl.PPLState(positive_share=0.25)
    assert ppl.split_counts(40, (10, 30), p, st_) == (10, 30)
    assert ppl.split_counts(40, (0, 30), p, st_) == (0, 40)
    assert ppl.split_counts(40, (5, 0), p, st_) == (40, 0)
    assert ppl.split_counts(40, (0, 0), p, st_) == (0, 0)
    uniform = replace(p, mode='no_q_selection')
    assert ppl.split_counts(40, (10, 30), uniform, st_) == (10, 30) and ppl.split_counts(40, (30, 10), uniform, st_) == (30, 10)


# -- the learner ------------------------------------------------------------------------------
def test_baseline_updates_are_exactly_the_hil_serl_learner(small, encoder):
    """ppl.mode baseline with synthetic data stored trains exactly as the learner without PPL did:
    RLPD batches from the numpy generator, then sac.update with the split key."""
    base = Learner(_with_mode(small, 'baseline'), encoder, seed=5)
    _real(base, 30, np.random.default_rng(1))
    _synthetic(base, 6, np.random.default_rng(2))
    assert base.rho() == 0.0 and len(base.syn_positive) and len(base.syn_negative)
    state, key, rng = base.state, jax.random.PRNGKey(5), np.random.default_rng(5)
    key, _ = jax.random.split(key)                     # Learner.__init__ splits once for the networks
    for _ in range(4):
        info = base.step()
        a = small.agent
        batches = [mixed_batch(base.online, base.demo, a.batch_size, rng) for _ in range(a.cta_ratio)]
        key, k = jax.random.split(key)
        state, ref = sac.update(state, jax.tree_util.tree_map(lambda *x: np.stack(x), *batches), k)
        assert info['synthetic_rows'] == 0.0 and info['critic_loss'] == float(ref['critic_loss'])
    for x, y in zip(jax.tree_util.tree_leaves((state.actor, state.critic)),
                    jax.tree_util.tree_leaves((base.state.actor, base.state.critic))):
        np.testing.assert_array_equal(x, y)
    assert base.ppl.synthetic_used == 0


def test_full_mode_mixes_synthetic_rows_as_scheduled_and_selected(small, encoder):
    learner = Learner(small, encoder, seed=1)
    _real(learner, 30, np.random.default_rng(3))
    assert isinstance(learner.sample(), sac.Batch)       # no synthetic data yet: the plain RLPD batches
    _synthetic(learner, 8, np.random.default_rng(4))
    info = learner.step()
    B = small.agent.batch_size
    n_syn = round(learner.cfg.ppl.rho_max / (1 + learner.cfg.ppl.kappa) * B)      # H~ = 1 before any update
    assert info['synthetic_rows'] == n_syn * small.agent.cta_ratio
    assert np.isfinite(info['q_real']) and np.isfinite(info['q_positive']) and np.isfinite(info['q_negative'])
    assert np.isfinite(info['q_synthetic']) and np.isfinite(info['entropy_ema'])
    mb = learner.sample()
    assert isinstance(mb, MixedBatches)
    n_syn = round(learner.rho() * B)
    assert mb.positive + mb.negative == n_syn
    assert mb.positive == round(learner.ppl.positive_share * n_syn)
    assert mb.real[0].sum() == B - n_syn and np.all(mb.weights[0][B - n_syn:] == np.float32(learner.ppl.weight))
    # the synthetic rows are the positive then the negative buffer's transitions
    pos_rows = mb.batches.obs[0][B - n_syn:B - n_syn + mb.positive]
    assert all(np.any(np.all(learner.syn_positive.data['obs'][:len(learner.syn_positive)] == r, axis=1))
               for r in pos_rows)
    used = learner.ppl.synthetic_used
    learner.update(mb)
    assert learner.ppl.synthetic_used == used + n_syn * small.agent.cta_ratio


@pytest.mark.parametrize('mode', ['no_q_selection', 'no_ppl'])
def test_q_bar_is_measured_for_the_stats_where_nothing_is_selected(small, encoder, mode):
    learner = Learner(_with_mode(small, mode), encoder, seed=2)
    _real(learner, 30, np.random.default_rng(3))
    _synthetic(learner, 8, np.random.default_rng(4))
    info = learner.step()
    assert all(np.isfinite(info[k]) for k in ('q_real', 'q_positive', 'q_negative'))   # Fig. 9 without PPL
    assert info['w_q'] == 1.0 and math.isnan(info['positive_share'])                   # and nothing selected
    at = learner.ppl.selected_at
    for _ in range(small.ppl.select_every):
        learner.step()
    assert learner.ppl.selected_at == at + small.ppl.select_every                        # on the selection's schedule
    rng_state = learner.rng.bit_generator.state
    learner._measure_q(np.random.default_rng(learner.version))
    assert learner.rng.bit_generator.state == rng_state          # the training draws are the unmeasured run's


def test_weighted_update_with_only_real_rows_matches_the_plain_update(small, encoder):
    learner = Learner(small, encoder, seed=2)
    _real(learner, 30, np.random.default_rng(6))
    batches = learner.sample()
    ones = np.ones((small.agent.cta_ratio, small.agent.batch_size), np.float32)
    key = jax.random.PRNGKey(0)
    s1, i1 = sac.update(learner.state, batches, key)
    s2, i2 = sac.update_ppl(learner.state, batches, ones, ones, ones, key)
    for x, y in zip(jax.tree_util.tree_leaves(s1.critic), jax.tree_util.tree_leaves(s2.critic)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert float(i1['critic_loss']) == pytest.approx(float(i2['critic_loss']), rel=1e-5)
    zero_syn = ones.copy()
    zero_syn[:, -8:] = 0.0                              # synthetic rows with w_Q = 0 do not move the critic
    s3, _ = sac.update_ppl(learner.state, batches, zero_syn, zero_syn, zero_syn, key)
    reward = np.array(batches.reward)
    reward[:, -8:] = 100.0
    poisoned = batches._replace(reward=reward)
    s4, _ = sac.update_ppl(learner.state, poisoned, zero_syn, zero_syn, zero_syn, key)
    for x, y in zip(jax.tree_util.tree_leaves(s3.critic), jax.tree_util.tree_leaves(s4.critic)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('actor_synthetic', [False, True])
def test_the_actor_sees_synthetic_states_only_when_configured(small, encoder, actor_synthetic):
    """The critic always trains on the synthetic rows; the actor loss averages over them only with
    ``ppl.actor_synthetic``. The entropy (H_t, the temperature) stays the real rows' either way."""
    learner = Learner(_with_mode(small, 'full', actor_synthetic=actor_synthetic), encoder, seed=5)
    _real(learner, 30, np.random.default_rng(10))
    _synthetic(learner, 8, np.random.default_rng(11))
    mb = learner.sample()
    n_real = int(mb.real[0].sum())
    assert n_real < small.agent.batch_size
    mb = mb._replace(weights=np.array(mb.real))         # w_Q = 0: the critic's step ignores synthetic rows
    obs = np.array(mb.batches.obs)
    obs[:, n_real:] += 5.0                              # other synthetic states, same real rows
    moved = mb._replace(batches=mb.batches._replace(obs=obs))
    twin = Learner(learner.cfg, encoder, seed=5)
    twin.state = learner.state
    learner.update(mb)
    info = twin.update(moved)
    same_actor = all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(learner.state.actor),
                                                           jax.tree_util.tree_leaves(twin.state.actor)))
    assert same_actor is not actor_synthetic
    for x, y in zip(jax.tree_util.tree_leaves(learner.state.critic), jax.tree_util.tree_leaves(twin.state.critic)):
        np.testing.assert_array_equal(x, y)
    assert float(learner.state.log_alpha) == float(twin.state.log_alpha)   # temperature: real-row entropy
    assert info['synthetic_rows'] == (small.agent.batch_size - n_real) * small.agent.cta_ratio


@pytest.mark.parametrize('mode', ['full', 'baseline'])
def test_warm_up_compiles_every_update_of_a_run_and_changes_nothing(small, encoder, mode):
    # shapes no other test uses, so the compile caches start without them (each learner's state has
    # its own network definitions, which the caches key on)
    cfg = replace(_with_mode(small, mode), agent=replace(small.agent, hidden=(24, 24), batch_size=48))
    fns = (sac.update, sac.update_ppl, sac.q_values)
    warm, cold = Learner(cfg, encoder, seed=4), Learner(cfg, encoder, seed=4)
    before = [f._cache_size() for f in fns]
    warm.warm_up()
    compiled = [f._cache_size() for f in fns]
    assert compiled[0] == before[0] + 1
    assert compiled[1:] == ([before[1] + 1, before[2] + 1] if mode == 'full' else before[1:])
    for learner in (warm, cold):
        _real(learner, 30, np.random.default_rng(8))
        _synthetic(learner, 6, np.random.default_rng(9))
    infos = [warm.step() for _ in range(4)]
    assert [f._cache_size() for f in fns] == compiled      # the run's updates compiled nothing more
    assert infos[-1] == pytest.approx([cold.step() for _ in range(4)][-1], nan_ok=True)
    for x, y in zip(jax.tree_util.tree_leaves(warm.state.critic), jax.tree_util.tree_leaves(cold.state.critic)):
        np.testing.assert_array_equal(x, y)
    assert np.array_equal(warm.key, cold.key) and warm.rng.random() == cold.rng.random()


def test_malformed_synthetic_trajectories_are_refused_by_name(small, encoder):
    learner = Learner(small, encoder)
    dim, a = learner.feat.dim, np.zeros((3, 7), np.float32)
    f = np.zeros((3, dim), np.float32)
    with pytest.raises(BufferError, match='first success'):
        learner.store_synthetic(f, a, f, [False, True, True])
    with pytest.raises(BufferError, match='at least one'):
        learner.store_synthetic(f[:0], a[:0], f[:0], [])
    with pytest.raises(BufferError, match='NaN'):
        learner.store_synthetic(np.full((3, dim), np.nan), a, f, [False] * 3)
    with pytest.raises(BufferError, match='7 values'):
        learner.store_synthetic(f, np.zeros((3, 6)), f, [False] * 3)
    with pytest.raises(BufferError, match='shape'):
        learner.store_synthetic(np.zeros((3, dim + 1)), a, np.zeros((3, dim + 1)), [False] * 3)
    assert len(learner.syn_positive) == len(learner.syn_negative) == 0      # nothing half-stored
    assert learner.store_synthetic(f, a, f, [False, False, True]) is True
    assert learner.syn_positive.data['done'][:3].tolist() == [0.0, 0.0, 1.0]
    assert learner.store_synthetic(f, a, f, [False] * 3) is False and len(learner.syn_negative) == 3


def test_images_in_synthetic_trajectories_are_embedded_like_real_ones(small, encoder):
    learner = Learner(small, encoder)
    rng = np.random.default_rng(7)
    images = {c: rng.integers(0, 255, (4, 32, 32, 3), np.uint8) for c in CAMS}
    proprio = rng.normal(size=(4, 7)).astype(np.float32)
    learner.add_synthetic(images, proprio, np.zeros((3, 7), np.float32), [False, False, False])
    want = learner.embed({c: images[c][1] for c in CAMS}, proprio[1])
    np.testing.assert_allclose(learner.syn_negative.data['obs'][1], want, rtol=1e-6)
    np.testing.assert_allclose(learner.syn_negative.data['next_obs'][0], want, rtol=1e-6)


def test_checkpoint_with_synthetic_buffers_resumes_exactly(small, encoder, tmp_path):
    a = Learner(small, encoder, seed=3)
    _real(a, 30, np.random.default_rng(8))
    _synthetic(a, 10, np.random.default_rng(9))
    for _ in range(4):
        a.step()
    a.save(tmp_path / 'ckpt')
    b = Learner.resume(small, tmp_path / 'ckpt')
    assert b.ppl == a.ppl and len(b.syn_positive) == len(a.syn_positive) > 0
    assert b.syn_negative.cursor == a.syn_negative.cursor
    info_a = [a.step() for _ in range(5)]                   # crosses a re-selection (select_every 3)
    info_b = [b.step() for _ in range(5)]
    assert json.dumps(info_a) == json.dumps(info_b)          # NaN-safe equality of every number
    assert info_a[-1]['synthetic_rows'] > 0
    for x, y in zip(jax.tree_util.tree_leaves(a.state.critic), jax.tree_util.tree_leaves(b.state.critic)):
        np.testing.assert_array_equal(x, y)


def test_a_checkpoint_from_before_ppl_resumes_with_empty_synthetic_buffers(small, encoder, tmp_path):
    a = Learner(small, encoder, seed=3)
    _real(a, 20, np.random.default_rng(10))
    _synthetic(a, 2, np.random.default_rng(11))
    folder = a.save(tmp_path / 'ckpt')
    meta = json.loads((folder / 'meta.json').read_text())
    del meta['ppl']
    (folder / 'syn_positive.npz').unlink()
    with pytest.raises(CheckpointError, match='syn_positive'):                  # PPL checkpoint missing a buffer
        Learner.resume(small, folder)
    (folder / 'meta.json').write_text(json.dumps(meta))
    (folder / 'syn_negative.npz').unlink()
    b = Learner.resume(small, folder)
    assert len(b.online) == 20 and len(b.syn_positive) == len(b.syn_negative) == 0
    assert b.ppl == ppl.PPLState()
