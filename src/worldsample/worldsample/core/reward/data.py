"""Labelled frames for the reward model: from the operator's label bags, or in simulation from
ground truth at collection.

On the robot (``collect:=labels``) every transition's ``success`` is the operator's live mark on
the frame o_{t+1} it leads to, so the frames are the (next_wrist, next_side) pairs and the labels
their ``success`` flags. In simulation episodes are driven by the scripted expert with per-episode Gaussian action noise (sigma cycles
through 0, 1/3, 2/3 and 1 x noise_max), so they contain clean successes, near misses and failures; after a
success a few extra frames are recorded while the peg sits in the hole. On the real robot the
operator labels frames instead.
"""
from __future__ import annotations

import numpy as np

from ..expert import InsertionExpert
from ..observation import CAMERAS
from ..sim.env import InsertionEnv

EXTRA_SUCCESS_FRAMES = 5


def labelled_frames_from_dataset(data: dict[str, np.ndarray]):
    """({camera: (N, H, W, 3)}, labels (N,), episode ids (N,)) of a dataset's o_{t+1} frames."""
    frames = {'wrist_camera': data['next_wrist'], 'side_camera': data['next_side']}
    return frames, np.asarray(data['success'], bool), np.asarray(data['episode'])


def collect_labelled_frames(env: InsertionEnv, episodes: int, seed: int, noise_max: float = 1.5):
    """Returns ({camera: (N, H, W, 3) uint8}, labels (N,) bool, episode ids (N,))."""
    expert = InsertionExpert(env.cfg)
    rng = np.random.default_rng(seed)
    frames = {c: [] for c in CAMERAS}
    labels, ids = [], []

    def keep(obs, success, ep):
        for c in CAMERAS:
            frames[c].append(obs[c])
        labels.append(success)
        ids.append(ep)

    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        sigma = noise_max * (ep % 4) / 3.0
        keep(obs, info['success'], ep)
        for _ in range(env.cfg.task.max_episode_steps):
            action = expert.act(obs['proprio'], env.hole) + rng.normal(0.0, sigma, 7)
            obs, _, term, trunc, info = env.step(action)
            keep(obs, info['success'], ep)
            if term or trunc:
                break
        if info['success']:
            for _ in range(EXTRA_SUCCESS_FRAMES):   # hold still in the hole
                obs, *_, info = env.step(np.zeros(7))
                keep(obs, env.cell.success(), ep)
    return {c: np.stack(v) for c, v in frames.items()}, np.asarray(labels, bool), np.asarray(ids)
