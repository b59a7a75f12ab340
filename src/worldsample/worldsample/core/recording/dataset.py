"""Training datasets from rosbag2 bags: the transition stream becomes flat numpy arrays.

Layout of a dataset ``.npz`` (one row per transition, images uint8 H x W x 3):
``wrist, side, proprio, action, reward, terminated, truncated, success, intervened,
next_wrist, next_side, next_proprio, episode, step``. Written atomically (temp + rename);
loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import atomic
from ..images import decode_rgb
from .bag import BagError, read_messages

TRANSITION_TOPIC = '/worldsample/transitions'
IMAGE_FIELDS = {'wrist_camera': 'wrist', 'side_camera': 'side'}   # camera -> Transition / dataset field
FIELDS = ('wrist', 'side', 'proprio', 'action', 'reward', 'terminated', 'truncated', 'success',
          'intervened', 'next_wrist', 'next_side', 'next_proprio', 'episode', 'step')


def transitions_from_bag(path: str | os.PathLike) -> dict[str, np.ndarray]:
    rows = {k: [] for k in FIELDS}
    for _, _, _, m in read_messages(path, [TRANSITION_TOPIC]):
        for key in ('wrist', 'side', 'next_wrist', 'next_side'):
            rows[key].append(decode_rgb(getattr(m, key)))
        for key in ('proprio', 'action', 'next_proprio'):
            rows[key].append(np.asarray(getattr(m, key), dtype=np.float32))
        for key in ('reward', 'terminated', 'truncated', 'success', 'intervened', 'episode', 'step'):
            rows[key].append(getattr(m, key))
    if not rows['action']:
        raise BagError(f'bag {path} has no messages on {TRANSITION_TOPIC}')
    out = {k: np.stack(v) if k in ('wrist', 'side', 'next_wrist', 'next_side', 'proprio', 'action', 'next_proprio')
           else np.asarray(v) for k, v in rows.items()}
    out['reward'] = out['reward'].astype(np.float32)
    return out


def episode_rows(data: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Row indices of each episode in stream order (a bag holds one episode id per episode)."""
    ids = data['episode']
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return [np.arange(a, b) for a, b in zip(starts, np.r_[starts[1:], len(ids)])]


def episode_problem(data: dict[str, np.ndarray], rows: np.ndarray) -> str | None:
    """Why these rows are not one whole recorded episode (steps 0.. without a gap, ended), or None."""
    steps = data['step'][rows]
    if steps[0] != 0 or np.any(np.diff(steps) != 1):
        return f'steps {steps[0]}..{steps[-1]} with gaps (a message lost or a recording cut)'
    if not (data['terminated'][rows[-1]] or data['truncated'][rows[-1]]):
        return 'no last step (the recording stopped mid-episode)'
    return None


def concat_episodes(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Datasets joined row-wise, episodes renumbered 0, 1, ... in order."""
    out = {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}
    episode, offset = [], 0
    for p in parts:
        order = np.r_[True, p['episode'][1:] != p['episode'][:-1]].cumsum() - 1   # stream order
        episode.append(order + offset)
        offset += int(order[-1]) + 1 if len(order) else 0
    out['episode'] = np.concatenate(episode).astype(np.int64)
    return out


def save_dataset(data: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    return atomic.savez(path, compressed=True, **data)


def load_dataset(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'dataset not found: {path}')
    with atomic.read_npz(path, 'dataset', ValueError) as f:     # a damaged file: ValueError naming it
        missing = [k for k in FIELDS if k not in f.files]
        if missing:
            raise ValueError(f'not a WorldSample dataset, missing arrays {missing}')
        return {k: f[k] for k in FIELDS}
