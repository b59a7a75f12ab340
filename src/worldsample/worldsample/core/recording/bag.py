"""rosbag2 (mcap) bags written and read with the ``rosbags`` library.

Bags written here open with ``ros2 bag info/play`` on a ROS 2 install, and bags recorded by
``ros2 bag record -s mcap`` read back with :func:`read_messages`. The ``worldsample_msgs``
definitions are registered from their ``.msg`` files, so type hashes match rosidl's.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

INTERFACE_PACKAGE = 'worldsample_msgs'


class BagError(RuntimeError):
    """A bag that cannot be written or read (missing, corrupt, unknown message type)."""


def _interface_dirs() -> list[Path]:
    """Folders holding worldsample_msgs/{msg,srv}: the source tree, then each ament prefix."""
    dirs = [Path(__file__).resolve().parents[5] / 'msg' / INTERFACE_PACKAGE]
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / 'share' / INTERFACE_PACKAGE)
    return [d for d in dirs if (d / 'msg').is_dir()]


def make_typestore() -> Typestore:
    """ROS 2 Kilted standard types plus the worldsample_msgs messages."""
    store = get_typestore(Stores.ROS2_KILTED)
    dirs = _interface_dirs()
    if not dirs:
        raise BagError(f'cannot find the {INTERFACE_PACKAGE} .msg files (source tree or AMENT_PREFIX_PATH)')
    types = {}
    for path in sorted((dirs[0] / 'msg').glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(), f'{INTERFACE_PACKAGE}/msg/{path.stem}'))
    store.register(types)
    return store


class BagWriter:
    """Append-only mcap bag; written to ``<path>.partial`` and renamed on close (atomic)."""

    def __init__(self, path: str | os.PathLike, typestore: Typestore | None = None):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f'bag {self.path} already exists; choose a new output path')
        self.partial = self.path.with_name(self.path.name + '.partial')
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.typestore = typestore or make_typestore()
        self._writer = Writer(self.partial, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic in self._connections:
            return
        if msgtype not in self.typestore.types:
            raise BagError(f'unknown message type {msgtype!r} for topic {topic}')
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
        self.counts[topic] = 0

    def write_raw(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """Write an already CDR-serialised message (e.g. from an rclpy raw subscription)."""
        self._writer.write(self._connections[topic], int(stamp_ns), data)
        self.counts[topic] += 1

    def write(self, topic: str, stamp_ns: int, msg) -> None:
        """Serialise a rosbags message object and write it."""
        conn = self._connections[topic]
        self.write_raw(topic, stamp_ns, self.typestore.serialize_cdr(msg, conn.msgtype))

    def close(self) -> Path:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.partial.rename(self.path)
        return self.path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_messages(path: str | os.PathLike, topics: list[str] | None = None,
                  typestore: Typestore | None = None) -> Iterator[tuple[str, str, int, object]]:
    """Yield (topic, msgtype, timestamp_ns, deserialised message) in time order."""
    path = Path(path)
    if not (path / 'metadata.yaml').is_file():
        raise BagError(f'{path} is not a rosbag2 bag (no metadata.yaml)')
    store = typestore or make_typestore()
    try:
        with Reader(path) as reader:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            for conn, stamp, raw in reader.messages(connections=conns):
                yield conn.topic, conn.msgtype, stamp, store.deserialize_cdr(raw, conn.msgtype)
    except BagError:
        raise
    except Exception as e:  # rosbags raises several types for damaged files
        raise BagError(f'cannot read bag {path}: {type(e).__name__}: {e}') from e


def topic_summary(path: str | os.PathLike) -> dict[str, tuple[str, int]]:
    """{topic: (msgtype, message count)} from the bag's metadata."""
    path = Path(path)
    try:
        with Reader(path) as reader:
            return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    except Exception as e:
        raise BagError(f'cannot open bag {path}: {type(e).__name__}: {e}') from e
