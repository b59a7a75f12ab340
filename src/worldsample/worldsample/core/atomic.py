"""Atomic file writes: write a temporary file next to the target, then rename over it.

A crash mid-write leaves the previous file intact (DESIGN: nothing lost, writes are atomic).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def savez(path: str | os.PathLike, compressed: bool = False, **arrays) -> Path:
    """``np.savez`` (or ``savez_compressed``) to ``path``, atomically; read back with allow_pickle=False."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp.npz')
    (np.savez_compressed if compressed else np.savez)(tmp, **arrays)
    os.replace(tmp, path)
    return path
