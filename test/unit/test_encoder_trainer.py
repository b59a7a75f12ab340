from dataclasses import replace

import numpy as np
import pytest

from worldsample.core.rl.features import Featurizer
from worldsample.core.rl.learner import Learner
from worldsample.core.rl.trainer import collect_demos, demos_to_dataset, train
from worldsample.core.sim.env import InsertionEnv
from worldsample.core.vision.encoder import EncoderConfig, EncoderError, PCAEncoder


@pytest.fixture(scope='module')
def demos(cfg):
    env = InsertionEnv(cfg)
    yield collect_demos(env, 3, seed=0)
    env.close()


def test_encoder_scaled_deterministic_and_roundtrips(demos, tmp_path, cfg):
    frames = {c: np.stack([s[0][c] for ep in demos for s in ep]) for c in ('wrist_camera', 'side_camera')}
    enc = PCAEncoder.fit(frames, EncoderConfig(size=16, dim=8))
    emb = enc.encode(frames)
    assert emb.shape == (len(frames['wrist_camera']), 16) and emb.dtype == np.float32
    std = emb.reshape(len(emb), 2, 8).std(0, ddof=1)            # per camera, per component
    np.testing.assert_allclose(std[:, 0], 1.0, rtol=0.01)         # first component: unit variance on the fit set
    assert np.all(std <= 1.0 + 1e-3) and np.all(np.diff(std, axis=1) <= 1e-3)   # not whitened: decreasing
    back = PCAEncoder.load(enc.save(tmp_path / 'enc.npz'))
    np.testing.assert_array_equal(back.encode(frames), emb)
    np.testing.assert_array_equal(PCAEncoder.load(enc.to_bytes()).encode(frames), emb)
    feat = Featurizer(enc, cfg.task)
    obs = demos[0][0][0]
    assert feat(obs).shape == (feat.dim,) == (16 + 7,)


def test_encoder_errors(tmp_path):
    with pytest.raises(EncoderError, match='at least 8 frames'):
        PCAEncoder.fit({'wrist_camera': np.zeros((3, 8, 8, 3), np.uint8)}, EncoderConfig(4, 8))
    enc = PCAEncoder.fit({'wrist_camera': np.random.default_rng(0).integers(0, 255, (10, 8, 8, 3), np.uint8)},
                         EncoderConfig(4, 2))
    with pytest.raises(EncoderError, match='uint8 frames'):
        enc.encode({'wrist_camera': np.zeros((2, 8, 8), np.float32)})
    with pytest.raises(EncoderError, match='missing camera'):
        enc.encode({'side_camera': np.zeros((2, 8, 8, 3), np.uint8)})
    with pytest.raises(FileNotFoundError, match='encoder file not found'):
        PCAEncoder.load(tmp_path / 'none.npz')
    (tmp_path / 'bad.npz').write_bytes(b'garbage')
    with pytest.raises(EncoderError, match='not a readable encoder'):
        PCAEncoder.load(tmp_path / 'bad.npz')
    with pytest.raises(EncoderError, match=r'encoder \(7 bytes\): not a readable'):
        PCAEncoder.load(b'garbage')
    other = PCAEncoder.fit({'wrist_camera': np.random.default_rng(1).integers(0, 255, (10, 8, 8, 3), np.uint8)},
                           EncoderConfig(2, 2))   # 2x2 basis saved under a 4x4 size: inconsistent arrays
    arrays = enc._arrays() | {'basis/wrist_camera': other.basis['wrist_camera']}
    from worldsample.core.atomic import npz_bytes
    with pytest.raises(EncoderError, match='do not match size 4'):
        PCAEncoder.load(npz_bytes(**arrays))


def test_learner_from_a_demo_dataset(demos, cfg):
    small = replace(cfg, agent=replace(cfg.agent, hidden=(32, 32)),
                    train=replace(cfg.train, encoder_size=16, encoder_dim=8))
    data = demos_to_dataset(demos)
    n = sum(len(ep) for ep in demos)
    assert data['wrist'].shape == (n, 128, 128, 3) and data['next_proprio'].shape == (n, 7)
    learner = Learner.from_dataset(small, data)
    assert len(learner.demo) == n and len(learner.online) == 0 and learner.received == 0
    assert learner.feat.dim == 2 * 8 + 7
    assert learner.demo.data['done'][:n].sum() == len(demos)          # each demo ends in one success
    i = 5
    f = learner.embed({'wrist_camera': data['wrist'][i], 'side_camera': data['side'][i]}, data['proprio'][i])
    np.testing.assert_allclose(learner.demo.data['obs'][i], f, rtol=1e-5, atol=1e-5)


def test_trainer_smoke_runs_learner_and_human(cfg):
    small = replace(cfg, agent=replace(cfg.agent, hidden=(32, 32), batch_size=32),
                    train=replace(cfg.train, demo_episodes=2, learning_starts=20, eval_every=120,
                                  eval_episodes=1, encoder_size=16, encoder_dim=8))
    logs = []
    state, feat, hist = train(small, seed=0, log=logs.append, env_steps=120)
    assert int(state.step) == 120 - 20 + 1
    assert hist.env_steps == [120] and 0.0 <= hist.success_rate[0] <= 1.0
    assert hist.intervention_rate[0] > 0       # an untrained actor strays: the simulated human steps in
    assert any('demos' in m for m in logs)


def test_train_sim_output_evaluates_and_bad_folders_are_named(cfg, tmp_path, capsys, monkeypatch):
    import json

    from worldsample.commands import evaluate_sim, train_sim
    small = replace(cfg, agent=replace(cfg.agent, hidden=(32, 32), batch_size=32),
                    train=replace(cfg.train, demo_episodes=2, learning_starts=20, eval_every=60,
                                  eval_episodes=1, encoder_size=16, encoder_dim=8))
    for module in (train_sim, evaluate_sim):   # small networks for speed
        monkeypatch.setattr(module, 'load_config', lambda task: small)
    assert train_sim.main(['--env-steps', '60', '--out', str(tmp_path / 'run')]) == 0
    capsys.readouterr()
    assert evaluate_sim.main([str(tmp_path / 'run'), '--episodes', '2', '--human']) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['episodes'] == 2 and 0.0 <= result['success_rate'] <= 1.0
    assert result['intervention_rate'] > 0          # barely trained actor: the human steps in
    assert evaluate_sim.main([str(tmp_path / 'nothing')]) == 2
    assert 'lacks encoder.npz' in capsys.readouterr().err
