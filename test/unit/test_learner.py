import json
from dataclasses import replace

import jax
import numpy as np
import pytest

from worldsample.core.rl.deployed_actor import export_actor
from worldsample.core.rl.features import Featurizer
from worldsample.core.rl.learner import CheckpointError, Learner
from worldsample.core.rl.replay import BufferError
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder

CAMS = ('wrist_camera', 'side_camera')


@pytest.fixture(scope='module')
def small(cfg):
    return replace(cfg, agent=replace(cfg.agent, hidden=(32, 32), batch_size=16),
                   train=replace(cfg.train, learning_starts=10, online_capacity=100, demo_capacity=100))


@pytest.fixture(scope='module')
def encoder():
    rng = np.random.default_rng(0)
    return PCAEncoder.fit({c: rng.integers(0, 255, (20, 128, 128, 3), np.uint8) for c in CAMS}, EncoderConfig(8, 4))


def _feed(learner, n, rng, intervened_every=0):
    for i in range(n):
        imgs = {c: rng.integers(0, 255, (128, 128, 3), np.uint8) for c in CAMS}
        nxt = {c: rng.integers(0, 255, (128, 128, 3), np.uint8) for c in CAMS}
        a = np.zeros(7, np.float32)
        a[:3] = rng.uniform(-1, 1, 3)
        learner.add_transition(imgs, rng.normal(size=7), a, float(i % 7 == 0), i % 7 == 0, nxt,
                               rng.normal(size=7), intervened=bool(intervened_every and i % intervened_every == 0))


def test_interventions_are_copied_to_the_demo_buffer(small, encoder):
    learner = Learner(small, encoder)
    _feed(learner, 12, np.random.default_rng(0), intervened_every=3)
    assert len(learner.online) == 12 and len(learner.demo) == 4
    assert learner.ready()
    with pytest.raises(BufferError, match='7 values'):
        learner.add_transition({c: np.zeros((128, 128, 3), np.uint8) for c in CAMS}, np.zeros(7), np.zeros(6),
                               0.0, False, {c: np.zeros((128, 128, 3), np.uint8) for c in CAMS}, np.zeros(7))


def test_resume_continues_exactly_like_an_uninterrupted_run(small, encoder, tmp_path):
    a = Learner(small, encoder, seed=3)
    _feed(a, 15, np.random.default_rng(1), intervened_every=2)
    for _ in range(3):
        a.step()
    a.save(tmp_path / 'ckpt')
    b = Learner.resume(small, tmp_path / 'ckpt')
    assert b.version == a.version == 3
    assert (len(b.online), len(b.demo), b.online.cursor) == (len(a.online), len(a.demo), a.online.cursor)
    info_a = [a.step() for _ in range(2)]
    info_b = [b.step() for _ in range(2)]
    assert json.dumps(info_a) == json.dumps(info_b)           # same keys, same batches, same numbers (NaN-safe)
    for x, y in zip(jax.tree_util.tree_leaves(a.state.critic), jax.tree_util.tree_leaves(b.state.critic)):
        np.testing.assert_array_equal(x, y)
    assert export_actor(a.state) == export_actor(b.state)
    assert a.feat.encoder.to_bytes() == b.feat.encoder.to_bytes()


def test_save_replaces_atomically_and_bad_checkpoints_are_named(small, encoder, tmp_path):
    learner = Learner(small, encoder)
    _feed(learner, 11, np.random.default_rng(2), intervened_every=2)
    folder = learner.save(tmp_path / 'ckpt')
    learner.step()
    learner.save(folder)                                      # overwrite: no .tmp/.old left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ckpt']
    assert Learner.resume(small, folder).version == 1
    data = (folder / 'agent.msgpack').read_bytes()
    (folder / 'agent.msgpack').write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='cannot resume'):
        Learner.resume(small, folder)
    with pytest.raises(CheckpointError, match='meta.json missing'):
        Learner.resume(small, tmp_path / 'nothing')


def test_broadcast_parameters_act_like_the_learner_and_bad_ones_are_named(small, encoder):
    from worldsample.core.rl import sac
    from worldsample.core.rl.deployed_actor import ActorLoader, ParamsError
    learner = Learner(small, encoder, seed=4)
    _feed(learner, 12, np.random.default_rng(5), intervened_every=3)
    learner.step()
    version, actor = export_actor(learner.state)
    enc = learner.feat.encoder.to_bytes()
    loaded = ActorLoader(small).load(version, learner.feat.dim, actor, enc)
    assert loaded.version == 1
    rng = np.random.default_rng(6)
    obs = {c: rng.integers(0, 255, (128, 128, 3), np.uint8) for c in CAMS} | {'proprio': rng.normal(size=7)}
    key = jax.random.PRNGKey(9)
    want = np.asarray(sac.sample_actions(learner.state, learner.feat(obs)[None], key, deterministic=True))[0]
    got = loaded.act(obs, key, step=5, deterministic=True)
    np.testing.assert_array_equal(got, want)
    assert np.all(got[3:] == 0.0) and np.any(got[:3] != 0.0)      # inactive dims exactly zero
    sampled = np.asarray(sac.sample_actions(learner.state, learner.feat(obs)[None], jax.random.fold_in(key, 5)))[0]
    np.testing.assert_allclose(loaded.act(obs, key, step=5), sampled, rtol=1e-6)
    assert not np.allclose(loaded.act(obs, key, step=6), sampled)   # a new step draws a new sample

    # the encoder bytes are read once and again only when they change
    loader = ActorLoader(small)
    first = loader.load(2, learner.feat.dim, actor, enc)
    assert loader.load(3, learner.feat.dim, actor, bytes(enc)).feat is first.feat
    other = PCAEncoder.fit({c: rng.integers(0, 255, (40, 128, 128, 3), np.uint8) for c in CAMS},
                           learner.feat.encoder.cfg)
    swapped = loader.load(4, learner.feat.dim, actor, other.to_bytes())
    np.testing.assert_array_equal(swapped.feat(obs), Featurizer(other, small.task)(obs))
    assert not np.allclose(swapped.feat(obs), first.feat(obs))
    with pytest.raises(ParamsError, match='not a readable encoder'):
        loader.load(5, learner.feat.dim, actor, enc[:100])
    np.testing.assert_array_equal(loader.load(6, learner.feat.dim, actor, enc).feat(obs), first.feat(obs))

    loader = ActorLoader(small)
    with pytest.raises(ParamsError, match='not readable actor parameters'):
        loader.load(2, learner.feat.dim, actor[: len(actor) // 2], enc)
    with pytest.raises(ParamsError, match='not a readable encoder'):
        loader.load(2, learner.feat.dim, actor, enc[:100])
    with pytest.raises(ParamsError, match='encoder makes 15-d features but the actor takes 20-d'):
        loader.load(2, 20, actor, enc)
    wide = replace(small, agent=replace(small.agent, hidden=(64, 64)))
    with pytest.raises(ParamsError, match='network shapes'):
        ActorLoader(wide).load(2, learner.feat.dim, actor, enc)
