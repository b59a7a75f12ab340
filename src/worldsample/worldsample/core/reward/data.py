"""Labelled frames for the reward model: from the operator's label bags, or in simulation from
ground truth at collection.

On the robot (``collect:=labels``) every transition's ``success`` is the operator's live mark on
the frame o_{t+1} it leads to, so the frames are the (next_wrist, next_side) pairs and the labels
their ``success`` flags. In simulation episodes are driven by the scripted expert with per-episode Gaussian action noise (sigma cycles
through 0, 1/3, 2/3 and 1 x noise_max), so they contain clean successes, near misses and failures; after a
success a few extra frames are recorded while the peg sits in the hole. On the real robot the
operator labels frames instead.

The frames are also episodes the arm executed, so the simulated collection keeps each frame's
proprio and the action that led to it: the world model can train on them (near misses and
successes from every approach, which a model trained on the demos alone never sees), as it can on
the operator's label bags (``episodes_from_dataset``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..controller import project_action
from ..expert import InsertionExpert
from ..observation import CAMERAS
from ..sim.env import InsertionEnv

EXTRA_SUCCESS_FRAMES = 5


def labelled_frames_from_dataset(data: dict[str, np.ndarray]):
    """({camera: (N, H, W, 3)}, labels (N,), episode ids (N,)) of a dataset's o_{t+1} frames."""
    frames = {'wrist_camera': data['next_wrist'], 'side_camera': data['next_side']}
    return frames, np.asarray(data['success'], bool), np.asarray(data['episode'])


@dataclass(frozen=True)
class LabelledFrames:
    """Every frame of the labelled episodes in order: frame i of an episode followed action i - 1."""
    frames: dict[str, np.ndarray]    # {camera: (N, H, W, 3) uint8}
    labels: np.ndarray               # (N,) bool, success at the frame
    ids: np.ndarray                  # (N,) episode ids
    proprio: np.ndarray              # (N, 7) float32 at the frame
    actions: np.ndarray              # (N, 7) float32, the executed action that led to the frame (0 at an episode's first)


def collect_labelled_frames(env: InsertionEnv, episodes: int, seed: int, noise_max: float = 1.5) -> LabelledFrames:
    expert = InsertionExpert(env.cfg)
    rng = np.random.default_rng(seed)
    frames = {c: [] for c in CAMERAS}
    labels, ids, proprio, actions = [], [], [], []

    def keep(obs, success, ep, action):
        for c in CAMERAS:
            frames[c].append(obs[c])
        labels.append(success)
        ids.append(ep)
        proprio.append(obs['proprio'])
        actions.append(project_action(action, env.cfg.task.action))   # what the controller executes

    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        sigma = noise_max * (ep % 4) / 3.0
        keep(obs, info['success'], ep, np.zeros(7))
        for _ in range(env.cfg.task.max_episode_steps):
            action = expert.act(obs['proprio'], env.hole) + rng.normal(0.0, sigma, 7)
            obs, _, term, trunc, info = env.step(action)
            keep(obs, info['success'], ep, action)
            if term or trunc:
                break
        if info['success']:
            for _ in range(EXTRA_SUCCESS_FRAMES):   # hold still in the hole
                obs, *_, info = env.step(np.zeros(7))
                keep(obs, env.cell.success(), ep, np.zeros(7))
    return LabelledFrames({c: np.stack(v) for c, v in frames.items()}, np.asarray(labels, bool), np.asarray(ids),
                          np.asarray(proprio, np.float32), np.asarray(actions, np.float32))
