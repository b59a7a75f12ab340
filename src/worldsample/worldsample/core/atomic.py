"""Atomic file writes (temporary file next to the target, then rename) and safe npz reads.

A crash mid-write leaves the previous file intact (DESIGN: nothing lost, writes are atomic).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
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


@contextmanager
def read_npz(path: str | os.PathLike, what: str, error: type[Exception]):
    """Open an npz written by :func:`savez` without pickle; any failure while reading it is
    re-raised as ``error`` naming the file ("not a readable <what> file")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} file not found: {path}')
    try:
        with np.load(path, allow_pickle=False) as f:
            yield f
    except Exception as e:   # zip, key and shape errors of a damaged file
        raise error(f'{path}: not a readable {what} file ({type(e).__name__}: {e})') from None
