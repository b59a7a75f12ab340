"""An append-only, checksummed log of serialised transitions: what a learner has received survives
a SIGKILL (DESIGN: nothing lost).

Each record is ``[u32 length][u32 crc32][payload]``, written and fsync'd before the learner
counts the transition as received; the learner's checkpoint stores how many records it already
holds, so after a restart the records past that position are replayed. A crash can leave at most
the record being written incomplete: opening the log finds the last whole record, reports the
broken tail and cuts it off, so appends continue on a clean boundary. Nothing in a record is
executed: payloads are CDR messages, read back by the message type's own deserialiser.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

MAGIC = b'WSTLOG1\n'
HEADER = struct.Struct('<II')
MAX_RECORD = 64 << 20        # a transition is ~200 KB; a larger length field is damage, not data


class TransitionLogError(ValueError):
    """A file that is not a transition log, or damage before its tail."""


def scan(path: str | os.PathLike) -> tuple[list[tuple[int, int]], str | None]:
    """[(offset, length)] of the whole records, and why the file ends early (None: it does not)."""
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise TransitionLogError(f'{path} is not a transition log (bad magic)')
    pos, records = len(MAGIC), []
    while pos < len(data):
        if pos + HEADER.size > len(data):
            return records, f'a cut record header at byte {pos}'
        length, crc = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        if length > MAX_RECORD or start + length > len(data):
            return records, f'a record cut at byte {pos} ({len(data) - start} of {length} bytes)'
        if zlib.crc32(data[start:start + length]) != crc:
            return records, f'a record with a bad checksum at byte {pos}'
        records.append((start, length))
        pos = start + length
    return records, None


class TransitionLog:
    def __init__(self, path: str | os.PathLike):
        """Open (or create) the log; a broken tail from a crash is cut off (``self.cut`` says what)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cut = None
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.write_bytes(MAGIC)
            self.records = 0
        else:
            records, self.cut = scan(self.path)
            self.records = len(records)
            end = records[-1][0] + records[-1][1] if records else len(MAGIC)
            if self.cut is not None:
                os.truncate(self.path, end)
        self._f = open(self.path, 'ab')

    def append(self, payload: bytes) -> int:
        """Write one record and fsync it; returns the number of records now durable."""
        self._f.write(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self._f.flush()
        os.fsync(self._f.fileno())
        self.records += 1
        return self.records

    def read(self, start: int = 0):
        """Payloads of records ``start``, ``start + 1``, ... (those already durable)."""
        records, _ = scan(self.path)
        with open(self.path, 'rb') as f:
            for offset, length in records[start:]:
                f.seek(offset)
                yield f.read(length)

    def close(self) -> None:
        self._f.close()
