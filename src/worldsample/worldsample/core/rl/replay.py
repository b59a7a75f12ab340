"""Replay buffers with capacity limits, RLPD 50/50 mixing and atomic persistence.

A buffer stores flat float32 observations (frozen image embeddings + proprio: embeddings are
computed once when a frame enters, so sampling never touches pixels). ``save`` writes an
``.npz`` to a temp file and renames it, so a crash leaves the previous snapshot intact;
``load`` restores exactly what was saved (ring position included). Files are read with
``allow_pickle=False``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import atomic
from .sac import Batch

FIELDS = ('obs', 'action', 'reward', 'next_obs', 'done')


class BufferError(ValueError):
    """A transition or buffer file that does not fit this buffer."""


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, action_dim: int = 7):
        if capacity < 1:
            raise BufferError(f'capacity must be positive, got {capacity}')
        self.capacity, self.obs_dim, self.action_dim = capacity, obs_dim, action_dim
        self.data = {
            'obs': np.zeros((capacity, obs_dim), np.float32),
            'action': np.zeros((capacity, action_dim), np.float32),
            'reward': np.zeros((capacity,), np.float32),
            'next_obs': np.zeros((capacity, obs_dim), np.float32),
            'done': np.zeros((capacity,), np.float32),
        }
        self.size = 0
        self.cursor = 0
        self.total_added = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward: float, next_obs, done: bool) -> None:
        self.add_many(np.asarray(obs)[None], np.asarray(action)[None], np.asarray([reward]),
                      np.asarray(next_obs)[None], np.asarray([done]))

    def add_many(self, obs, action, reward, next_obs, done) -> None:
        """Store n transitions (leading axis n) in order; all are checked first, so a bad one
        stores none of them (BufferError naming the problem)."""
        obs, action, reward, next_obs, done = self.check(obs, action, reward, next_obs, done)
        n = len(obs)
        idx = (self.cursor + np.arange(n)) % self.capacity
        for k, v in (('obs', obs), ('action', action), ('reward', reward), ('next_obs', next_obs), ('done', done)):
            self.data[k][idx] = v
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        self.total_added += n

    def check(self, obs, action, reward, next_obs, done):
        """n transitions as the buffer's float32 arrays, or BufferError naming what is wrong."""
        obs, next_obs = np.asarray(obs, np.float32), np.asarray(next_obs, np.float32)
        action, reward = np.asarray(action, np.float32), np.asarray(reward, np.float32)
        done = np.asarray(done, np.float32)
        n = len(obs)
        if obs.shape[1:] != (self.obs_dim,) or next_obs.shape != obs.shape:
            raise BufferError(f'observation must have shape ({self.obs_dim},), got {obs.shape[1:]} / {next_obs.shape[1:]}')
        if action.shape != (n, self.action_dim):
            raise BufferError(f'action must have {self.action_dim} values, got shape {action.shape[1:]}')
        if reward.shape != (n,) or done.shape != (n,):
            raise BufferError(f'need one reward and one done flag per transition, got {reward.shape} / {done.shape}')
        if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(next_obs)) and np.all(np.isfinite(action))
                and np.all(np.isfinite(reward))):
            raise BufferError('transition contains NaN or inf; dropped')
        return obs, action, reward, next_obs, done

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        if self.size == 0:
            raise BufferError('cannot sample from an empty buffer')
        idx = rng.integers(0, self.size, n)
        return {k: v[idx] for k, v in self.data.items()}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic.savez(path, **{k: v[:self.size] for k, v in self.data.items()},
                            meta=np.array([self.capacity, self.obs_dim, self.action_dim, self.size, self.cursor,
                                           self.total_added], np.int64))

    @classmethod
    def load(cls, path: str | os.PathLike) -> 'ReplayBuffer':
        with atomic.read_npz(path, 'replay buffer', BufferError) as f:
            capacity, obs_dim, action_dim, size, cursor, total = (int(x) for x in f['meta'])
            buf = cls(capacity, obs_dim, action_dim)
            for k in FIELDS:
                buf.data[k][:size] = f[k][:size]
        buf.size, buf.cursor, buf.total_added = size, cursor, total
        return buf


def mixed_batch(online: ReplayBuffer, demo: ReplayBuffer, batch_size: int,
                rng: np.random.Generator) -> Batch:
    """RLPD sampling: half the batch from the online buffer, half from demos (+ interventions).

    While the online buffer is empty the whole batch comes from the demo buffer.
    """
    n_online = batch_size // 2 if len(online) else 0
    parts = [demo.sample(rng, batch_size - n_online)]
    if n_online:
        parts.append(online.sample(rng, n_online))
    return Batch(**{k: np.concatenate([p[k] for p in parts]) for k in FIELDS})
