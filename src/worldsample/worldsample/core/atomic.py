"""Atomic file writes (temporary file next to the target, then rename) and safe npz reads.

A crash mid-write leaves the previous file intact (DESIGN: nothing lost, writes are atomic).
"""
from __future__ import annotations

import io
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


def npz_bytes(**arrays) -> bytes:
    """An uncompressed npz in memory (e.g. to send over the network); read with :func:`read_npz`."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@contextmanager
def read_npz(source: str | os.PathLike | bytes, what: str, error: type[Exception]):
    """Open an npz (a file written by :func:`savez`, or bytes from :func:`npz_bytes`) without
    pickle; any failure while reading it is re-raised as ``error`` naming the source
    ("not a readable <what> file")."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, handle = f'{what} ({len(source)} bytes)', io.BytesIO(bytes(source))
    else:
        name = handle = Path(source)
        if not handle.is_file():
            raise FileNotFoundError(f'{what} file not found: {handle}')
    try:
        with np.load(handle, allow_pickle=False) as f:
            yield f
    except Exception as e:   # zip, key and shape errors of a damaged file
        raise error(f'{name}: not a readable {what} file ({type(e).__name__}: {e})') from None
