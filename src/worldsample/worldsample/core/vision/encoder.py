"""Frozen per-camera image encoder fitted offline on the task's own demonstration frames.

Each camera's frames are area-downsampled to ``size`` x ``size`` RGB and projected onto the
top ``dim`` principal components of that camera's demo frames, scaled so that the first
component has unit variance.
This is the whole "pretraining": closed form, seconds on a CPU, nothing downloaded, and the
same frames always give the same embedding, so embeddings can be cached when a frame enters
a buffer (a trainable pixel encoder is ~250x too slow on CPU). What it captures is the
variation present in the demos (arm and peg pose relative to the board); appearance changes
never seen in demos are projected away. Saved as ``.npz`` (no pickle).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import atomic


class EncoderError(ValueError):
    """Frames or encoder files that do not fit."""


@dataclass(frozen=True)
class EncoderConfig:
    size: int = 32      # downsampled side length
    dim: int = 64       # embedding size per camera


class PCAEncoder:
    def __init__(self, cameras: tuple[str, ...], cfg: EncoderConfig, mean: dict, basis: dict):
        self.cameras, self.cfg, self.mean, self.basis = cameras, cfg, mean, basis

    @property
    def out_dim(self) -> int:
        return self.cfg.dim * len(self.cameras)

    @staticmethod
    def _flatten(frames: np.ndarray, size: int) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise EncoderError(f'expected uint8 frames of shape (N, H, W, 3), got {frames.dtype} {frames.shape}')
        small = [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]
        return np.stack(small).reshape(len(frames), -1).astype(np.float32) / 255.0

    @classmethod
    def fit(cls, frames: dict[str, np.ndarray], cfg: EncoderConfig = EncoderConfig()) -> 'PCAEncoder':
        mean, basis = {}, {}
        for cam, f in frames.items():
            x = cls._flatten(f, cfg.size)
            if len(x) < cfg.dim:
                raise EncoderError(f'{cam}: need at least {cfg.dim} frames to fit {cfg.dim} components, got {len(x)}')
            mu = x.mean(0)
            _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
            # One scale for all components (the largest one's std): in-distribution embeddings stay
            # within ~unit range while weak components are not blown up, as full whitening would do
            # for frames unlike the demos.
            scale = max(s[0] / np.sqrt(max(len(x) - 1, 1)), 1e-6)
            mean[cam] = mu
            basis[cam] = (vt[:cfg.dim] / scale).astype(np.float32)
        return cls(tuple(frames), cfg, mean, basis)

    def encode(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """(N, out_dim) float32 embeddings of N frames per camera, cameras concatenated."""
        missing = [c for c in self.cameras if c not in frames]
        if missing:
            raise EncoderError(f'missing camera(s) {missing}')
        parts = [(self._flatten(frames[c], self.cfg.size) - self.mean[c]) @ self.basis[c].T for c in self.cameras]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f'mean/{c}': self.mean[c] for c in self.cameras}
        arrays |= {f'basis/{c}': self.basis[c] for c in self.cameras}
        return {'cameras': np.array(self.cameras), 'size': self.cfg.size, 'dim': self.cfg.dim, **arrays}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic.savez(path, **self._arrays())

    def to_bytes(self) -> bytes:
        """The same npz as :meth:`save`, in memory (the learner broadcasts it with the actor)."""
        return atomic.npz_bytes(**self._arrays())

    @classmethod
    def load(cls, source: str | os.PathLike | bytes) -> 'PCAEncoder':
        """From a file written by :meth:`save` or bytes from :meth:`to_bytes`."""
        with atomic.read_npz(source, 'encoder', EncoderError) as f:
            cameras = tuple(str(c) for c in f['cameras'])
            cfg = EncoderConfig(int(f['size']), int(f['dim']))
            mean, basis = {c: f[f'mean/{c}'] for c in cameras}, {c: f[f'basis/{c}'] for c in cameras}
        n = cfg.size * cfg.size * 3
        for c in cameras:
            if mean[c].shape != (n,) or basis[c].shape != (cfg.dim, n):
                raise EncoderError(f'encoder {c}: arrays of shape {mean[c].shape} / {basis[c].shape} do not match '
                                   f'size {cfg.size} and dim {cfg.dim}')
        return cls(cameras, cfg, mean, basis)
