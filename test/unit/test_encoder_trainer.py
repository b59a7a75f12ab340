from dataclasses import replace

import numpy as np
import pytest

from worldsample.core.rl.features import Featurizer
from worldsample.core.rl.trainer import collect_demos, fit_encoder, train
from worldsample.core.sim.env import InsertionEnv
from worldsample.core.vision.encoder import EncoderConfig, EncoderError, PCAEncoder


@pytest.fixture(scope='module')
def demos(cfg):
    env = InsertionEnv(cfg)
    yield collect_demos(env, 3, seed=0)
    env.close()


def test_encoder_scaled_deterministic_and_roundtrips(demos, tmp_path, cfg):
    enc = fit_encoder(demos, EncoderConfig(size=16, dim=8))
    frames = {c: np.stack([s[0][c] for ep in demos for s in ep]) for c in enc.cameras}
    emb = enc.encode(frames)
    assert emb.shape == (len(frames['wrist_camera']), 16) and emb.dtype == np.float32
    std = emb.reshape(len(emb), 2, 8).std(0)                    # per camera, per component
    np.testing.assert_allclose(std[:, 0], 1.0, rtol=0.15)        # first component: ~unit variance (fit set + last frames)
    assert np.all(std <= 1.0 + 1e-3) and np.all(np.diff(std, axis=1) <= 1e-3)   # not whitened: decreasing
    back = PCAEncoder.load(enc.save(tmp_path / 'enc.npz'))
    np.testing.assert_array_equal(back.encode(frames), emb)
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
