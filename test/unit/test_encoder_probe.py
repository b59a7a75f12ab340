"""On the benchmark task the frozen encoder, fitted on demo frames alone, must carry where the hole is."""
import numpy as np

from worldsample.core.config import load_config
from worldsample.core.rl.trainer import collect_demos
from worldsample.core.sim.env import InsertionEnv
from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder

CAMS = ('wrist_camera', 'side_camera')


def test_a_linear_probe_reads_the_hole_position_from_the_frozen_embeddings():
    cfg = load_config('insertion_vision')
    env = InsertionEnv(cfg)
    demos = collect_demos(env, 20, seed=10_000)
    frames = {c: np.stack([s[0][c] for ep in demos for s in ep]) for c in CAMS}
    encoder = PCAEncoder.fit(frames, EncoderConfig(cfg.train.encoder_size, cfg.train.encoder_dim))
    feats, holes = [], []
    for seed in range(120):                       # start frames of unseen episodes (new boards, new starts)
        obs, info = env.reset(seed=500_000 + seed)
        feats.append(encoder.encode({c: obs[c][None] for c in CAMS})[0])
        holes.append(info['hole'])
    env.close()
    x = np.concatenate([np.asarray(feats), np.ones((len(feats), 1))], axis=1)
    y = np.asarray(holes)
    train, test = slice(0, 80), slice(80, None)
    w = np.linalg.solve(x[train].T @ x[train] + 1e-3 * np.eye(x.shape[1]), x[train].T @ y[train])   # ridge
    resid = y[test] - x[test] @ w
    r2 = 1 - (resid ** 2).sum(0) / ((y[test] - y[test].mean(0)) ** 2).sum(0)
    err_mm = 1e3 * np.abs(resid[:, :2]).mean()
    print(f'held-out R^2 x {r2[0]:.3f}, y {r2[1]:.3f}, yaw {r2[2]:.3f}; mean |xy error| {err_mm:.1f} mm')
    assert r2[0] > 0.8 and r2[1] > 0.8 and r2[2] > 0.5, r2      # the hole's position and turn are in them
