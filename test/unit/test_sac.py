from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from worldsample.core.rl import sac
from worldsample.core.rl.networks import sample_tanh_gaussian
from worldsample.core.rl.replay import BufferError, ReplayBuffer, mixed_batch

ACTIVE = (True, True, True, False, False, False, False)


@pytest.fixture(scope='module')
def small(cfg):
    """The task YAML's agent config with small networks, for speed."""
    return replace(cfg.agent, hidden=(32, 32), batch_size=32)
OBS_DIM = 10


def _batches(rng, n, obs_dim=OBS_DIM, reward=0.0, done=0.0, cta=2):
    def one():
        a = np.zeros((n, 7), np.float32)
        a[:, :3] = rng.uniform(-1, 1, (n, 3))   # only the active dims carry values
        return sac.Batch(obs=rng.normal(size=(n, obs_dim)).astype(np.float32), action=a,
                         reward=np.full(n, reward, np.float32),
                         next_obs=rng.normal(size=(n, obs_dim)).astype(np.float32),
                         done=np.full(n, done, np.float32))
    bs = [one() for _ in range(cta)]
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *bs)


@pytest.fixture(scope='module')
def state(small):
    return sac.create(small, OBS_DIM, ACTIVE, jax.random.PRNGKey(0))


def test_defaults_are_hil_serl(cfg):
    c = cfg.agent
    assert (c.hidden, c.n_critics, c.batch_size, c.discount, c.lr, c.tau, c.init_temperature, c.cta_ratio) == \
        ((256, 256), 2, 256, 0.97, 3e-4, 0.005, 0.01, 2)


def test_actions_shape_range_and_inactive_dims_exactly_zero(state):
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(64, OBS_DIM)), jnp.float32)
    for det in (False, True):
        a = np.asarray(sac.sample_actions(state, obs, jax.random.PRNGKey(1), deterministic=det))
        assert a.shape == (64, 7)
        assert np.all(np.abs(a) <= 1.0)
        assert np.all(a[:, 3:] == 0.0)
    assert state.target_entropy == -1.5


def test_update_shapes_finite_and_target_moves_slowly(state):
    rng = np.random.default_rng(0)
    new, info = sac.update(state, _batches(rng, 32), jax.random.PRNGKey(2))
    assert int(new.step) == 1
    for k in ('critic_loss', 'actor_loss', 'q_mean', 'entropy', 'temperature'):
        assert np.isfinite(float(info[k])), k
    leaves = lambda t: np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(t)])
    moved_online = np.abs(leaves(new.critic) - leaves(state.critic)).max()
    moved_target = np.abs(leaves(new.target_critic) - leaves(state.target_critic)).max()
    assert 0 < moved_target < moved_online   # polyak averaging with tau = 0.005
    assert jax.tree_util.tree_structure(new.actor) == jax.tree_util.tree_structure(state.actor)


def test_temperature_moves_toward_target_entropy(state, small):
    """A fresh actor's entropy is far above -|A|/2: the temperature must fall."""
    rng = np.random.default_rng(1)
    s, info = state, None
    for i in range(5):
        s, info = sac.update(s, _batches(rng, 32), jax.random.PRNGKey(i))
    assert float(info['entropy']) > state.target_entropy
    assert float(info['temperature']) < small.init_temperature


def test_temperature_rises_when_entropy_is_below_target(small):
    """Same update with a target entropy above the policy's entropy (all 7 dims active,
    log_std pushed to its minimum): the temperature must rise."""
    s = sac.create(small, OBS_DIM, [True] * 7, jax.random.PRNGKey(5))
    head = s.actor['Dense_1']
    s = s.replace(actor={**s.actor, 'Dense_1': {'kernel': jnp.zeros_like(head['kernel']),
                                                  'bias': jnp.full_like(head['bias'], -10.0)}})
    _, info = sac.update(s, _batches(np.random.default_rng(3), 32), jax.random.PRNGKey(0))
    assert float(info['entropy']) < s.target_entropy
    assert float(info['temperature']) > small.init_temperature


def test_critic_learns_terminal_reward(small):
    """Q on terminal transitions with reward 1 converges towards 1 (target = r, no bootstrap)."""
    s = sac.create(small, OBS_DIM, ACTIVE, jax.random.PRNGKey(3))
    rng = np.random.default_rng(2)
    for i in range(150):
        s, info = sac.update(s, _batches(rng, 32, reward=1.0, done=1.0), jax.random.PRNGKey(i))
    assert abs(float(info['q_mean']) - 1.0) < 0.1
    assert float(info['target_mean']) == pytest.approx(1.0)


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    mean, log_std = jnp.array([[0.3, -0.2]]), jnp.array([[-0.5, 0.1]])
    a, logp = sample_tanh_gaussian(mean, log_std, jax.random.PRNGKey(0))
    u = jnp.arctanh(a)
    std = jnp.exp(log_std)
    ref = (jax.scipy.stats.norm.logpdf(u, mean, std) - jnp.log(1 - a ** 2)).sum(-1)
    np.testing.assert_allclose(logp, ref, rtol=1e-4)


def test_no_active_dims_is_an_error(small):
    with pytest.raises(ValueError, match='no active action'):
        sac.create(small, OBS_DIM, [False] * 7, jax.random.PRNGKey(0))


def _fill(buf, n, rng, reward=0.0):
    for _ in range(n):
        buf.add(rng.normal(size=buf.obs_dim), np.zeros(7), reward, rng.normal(size=buf.obs_dim), False)


def test_buffer_ring_capacity_and_sampling():
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(5, 3)
    _fill(buf, 12, rng)
    assert len(buf) == 5 and buf.total_added == 12 and buf.cursor == 2
    s = buf.sample(rng, 8)
    assert s['obs'].shape == (8, 3) and s['action'].shape == (8, 7)


@pytest.mark.parametrize('bad, why', [
    (dict(obs=np.zeros(4)), 'observation must have shape'), (dict(action=np.zeros(6)), 'action must have 7'),
    (dict(reward=np.nan), 'NaN'), (dict(next_obs=np.full(3, np.inf)), 'NaN')])
def test_buffer_rejects_bad_transitions(bad, why):
    buf = ReplayBuffer(5, 3)
    t = dict(obs=np.zeros(3), action=np.zeros(7), reward=0.0, next_obs=np.zeros(3), done=False)
    with pytest.raises(BufferError, match=why):
        buf.add(**{**t, **bad})
    assert len(buf) == 0


def test_buffer_save_resume_loses_nothing(tmp_path):
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(50, 4)
    _fill(buf, 70, rng)                      # wrapped around
    path = buf.save(tmp_path / 'online.npz')
    back = ReplayBuffer.load(path)
    assert (back.size, back.cursor, back.total_added) == (buf.size, buf.cursor, buf.total_added)
    for k in buf.data:
        np.testing.assert_array_equal(back.data[k], buf.data[k])
    _fill(back, 1, rng)
    assert back.cursor == (buf.cursor + 1) % 50
    partial = ReplayBuffer(50, 4)
    _fill(partial, 7, rng)
    again = ReplayBuffer.load(partial.save(tmp_path / 'p.npz'))
    np.testing.assert_array_equal(again.data['obs'][:7], partial.data['obs'][:7])
    assert not list(tmp_path.glob('*.tmp.npz'))


def test_buffer_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='buffer file not found'):
        ReplayBuffer.load(tmp_path / 'none.npz')
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(BufferError, match='not a readable replay buffer'):
        ReplayBuffer.load(bad)


def test_rlpd_mixed_batch_is_half_online():
    rng = np.random.default_rng(0)
    online, demo = ReplayBuffer(100, 2), ReplayBuffer(100, 2)
    _fill(demo, 30, rng, reward=1.0)
    b = mixed_batch(online, demo, 16, rng)
    assert b.obs.shape == (16, 2) and np.all(b.reward == 1.0)      # no online data yet: all demo
    _fill(online, 30, rng, reward=0.0)
    b = mixed_batch(online, demo, 16, rng)
    assert b.reward.sum() == 8
