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

import heapq
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic

MAGIC = b'WSTLOG1\n'
HEADER = struct.Struct('<II')
MAX_RECORD = 64 << 20        # a transition is ~200 KB; a larger length field is damage, not data


class TransitionLogError(ValueError):
    """A file that is not a transition log, or damage before its tail."""


def _records(path: str | os.PathLike):
    """Yield (offset, payload) of each whole record, then (None, why the file ends early or None);
    streams the file, one record in memory at a time."""
    with open(path, 'rb') as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise TransitionLogError(f'{path} is not a transition log (bad magic)')
        while True:
            pos = f.tell()
            head = f.read(HEADER.size)
            if not head:
                yield None, None
                return
            if len(head) < HEADER.size:
                yield None, f'a cut record header at byte {pos}'
                return
            length, crc = HEADER.unpack(head)
            payload = f.read(length) if length <= MAX_RECORD else b''
            if length > MAX_RECORD or len(payload) < length:
                yield None, f'a record cut at byte {pos} ({len(payload)} of {length} bytes)'
                return
            if zlib.crc32(payload) != crc:
                yield None, f'a record with a bad checksum at byte {pos}'
                return
            yield pos, payload


def scan(path: str | os.PathLike) -> tuple[list[tuple[int, int]], str | None]:
    """[(offset, length)] of the whole records, and why the file ends early (None: it does not)."""
    records = []
    for pos, payload in _records(path):
        if pos is None:
            return records, payload
        records.append((pos + HEADER.size, len(payload)))
    return records, None


def read_records(path: str | os.PathLike, start: int = 0):
    """Payloads of a log's whole records from ``start`` on."""
    for i, (pos, payload) in enumerate(_records(path)):
        if pos is None:
            return
        if i >= start:
            yield payload


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

    def append(self, payload: bytes, sync: bool = True) -> int:
        """Write one record (and fsync it); returns the number of records now written."""
        self._f.write(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self._f.flush()
        if sync:
            os.fsync(self._f.fileno())
        self.records += 1
        return self.records

    def read(self, start: int = 0):
        """Payloads of records ``start``, ``start + 1``, ... (those already written)."""
        return read_records(self.path, start)

    def close(self) -> None:
        self._f.close()


class Spool:
    """The last transitions a node published, on disk in two rotating logs of ``segment`` records
    each (so at least ``segment`` and at most ``2 * segment`` are kept), with their stream ids
    ((episode, step), increasing) in memory, for a consumer that was down to catch up on. Not
    fsync'd: it guards against the consumer's death, not this node's.

    The folder also remembers the newest episode spooled (``episode.txt``, rewritten once per
    episode), so a producer restarted on the same folder numbers its episodes on from
    ``first_episode`` and its ids stay unique within a run: a consumer that resumed from a
    checkpoint would take repeated ids for transitions it already holds."""

    def __init__(self, folder: str | os.PathLike, segment: int = 1000):
        self.folder, self.segment = Path(folder), segment
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob('spool_*.log'):   # a previous process's: nobody can ask for them now
            old.unlink()
        self.first_episode = self._read_episode() + 1
        self.episode = self.first_episode - 1
        self.index = 0
        self.log = TransitionLog(self._path(0))
        self.ids: dict[int, list[tuple[int, int]]] = {0: []}

    def _path(self, index: int) -> Path:
        return self.folder / f'spool_{index}.log'

    def _read_episode(self) -> int:
        path = self.folder / 'episode.txt'
        if not path.is_file():
            return -1
        text = path.read_text().strip()
        if not text.isdigit():
            raise ValueError(f'{path} should hold the newest spooled episode number, found {text[:40]!r}')
        return int(text)

    def append(self, key: tuple[int, int], payload: bytes) -> None:
        if self.log.records >= self.segment:
            self.log.close()
            self.index += 1
            self._path(self.index - 2).unlink(missing_ok=True)
            self.ids.pop(self.index - 2, None)
            self.log = TransitionLog(self._path(self.index))
            self.ids[self.index] = []
        self.log.append(payload, sync=False)
        self.ids[self.index].append(key)
        if key[0] > self.episode:
            self.episode = key[0]
            atomic.write_bytes(self.folder / 'episode.txt', f'{key[0]}\n'.encode())

    def oldest(self) -> tuple[int, int] | None:
        keys = [k for i in sorted(self.ids) for k in self.ids[i]]
        return keys[0] if keys else None

    def after(self, key: tuple[int, int]) -> list[tuple[Path, int]]:
        """(log, record index) of every spooled transition whose id comes after ``key``, oldest first."""
        return [(self._path(i), r) for i in sorted(self.ids) for r, k in enumerate(self.ids[i]) if k > key]

    def close(self) -> None:
        self.log.close()


class StreamGaps:
    """Finds holes in a transition stream by its ids: within an episode the steps are consecutive,
    and an episode's last step (done) is followed by step 0 of the next episode."""

    def __init__(self):
        self.last: tuple[int, int] | None = None
        self.last_done = False

    def observe(self, key: tuple[int, int], done: bool) -> tuple[int, int] | None:
        """The id after which transitions are missing (the one seen before ``key``), or None."""
        last, want = self.last, None
        if last is not None:
            want = (last[0] + 1, 0) if self.last_done else (last[0], last[1] + 1)
        if last is None or key > last:
            self.last, self.last_done = key, done
        return last if want is not None and key > want else None


class HeldIds:
    """The (episode, step) ids a consumer holds, in bounded memory: the newest ``window`` ids
    individually, everything at or below ``floor`` as held. A transition can only come back from
    a producer's spool (its newest 1000-2000), so an id that falls below the window either is held
    or can no longer be had. ``floor`` starts at what a checkpoint already covers."""

    def __init__(self, floor: tuple[int, int] = (-1, -1), window: int = 20_000):
        if window < 1:
            raise ValueError(f'window must be at least 1, got {window}')
        self.floor, self.window = tuple(floor), window
        self.ids: set[tuple[int, int]] = set()
        self.order: list[tuple[int, int]] = []     # min-heap of self.ids, for evicting the oldest

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key <= self.floor or key in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, key: tuple[int, int]) -> None:
        if key in self:
            return
        self.ids.add(key)
        heapq.heappush(self.order, key)
        while len(self.ids) > self.window:
            oldest = heapq.heappop(self.order)
            self.ids.discard(oldest)
            self.floor = max(self.floor, oldest)


@dataclass
class _Request:
    """A catch-up request in flight: what it asked after, the answer's count, the ids re-sent."""
    after: tuple[int, int]
    until: tuple[int, int] | None       # the hole ends before this id (held from the live stream)
    heard: float                       # when the answer or a re-sent transition last came
    count: int | None = None           # transitions the producer said it will re-send
    seen: set[tuple[int, int]] = field(default_factory=set)


class CatchUp:
    """When a restarted consumer asks a producer's spool for what it missed (the requests of
    ``after`` ids; the producer re-sends at most ``chunk`` transitions past one).

    The first request covers what came after ``resumed_at`` (the newest id held from a checkpoint
    or the log). It waits until the live stream has begun (at most ``live_wait_s``): the spool
    answers with what it holds when asked, and a restarted subscriber is matched to the producer
    a while after it starts, so a request made before its first live transition leaves the
    transitions in between in neither the answer nor the live stream. If the live stream begins
    only after the wait, it asks once more, after the newest id held then. Later, each hole in the
    live stream (StreamGaps) is asked for.

    One request is in flight at a time, and the consumer paces it: the next chunk is asked for
    (after the newest id re-sent) only once every transition the answer announced has come, so
    no more than ``chunk`` re-sent transitions ever wait in the consumer's queue, however slowly
    it stores them (a bounded queue overflowing would lose them silently). The chunks stop at the
    hole's end, the live transition that showed it (for the first request, the first live
    transition), not at the end of the spool, which grows as fast as the live stream. A request
    that goes quiet for ``quiet_s`` short of its count lost some on the way: it is asked again,
    ``retries`` times, then given up past what came (``stalled`` says so)."""

    def __init__(self, resumed_at: tuple[int, int], started: float, live_wait_s: float = 5.0,
                 chunk: int = 50, quiet_s: float = 10.0, retries: int = 2):
        if chunk < 1:
            raise ValueError(f'chunk must be at least 1, got {chunk}')
        self.resumed_at, self.started, self.live_wait_s = tuple(resumed_at), started, live_wait_s
        self.chunk, self.quiet_s, self.retries = chunk, quiet_s, retries
        self.gaps = StreamGaps()
        # holes not yet asked for: (after, until); until None: up to the live stream's start
        self.pending: list[tuple[tuple[int, int], tuple[int, int] | None]] = [(self.resumed_at, None)]
        self.live_first: tuple[int, int] | None = None
        self.asked = False
        self.flight: _Request | None = None
        self.tries: dict[tuple[int, int], int] = {}      # re-asks of a request that stalled

    def restart(self) -> None:
        """The producer numbers from the start again: every id counts as new."""
        self.resumed_at, self.gaps = (-1, -1), StreamGaps()

    def on_live(self, key: tuple[int, int], done: bool, newest_held: tuple[int, int]) -> tuple[int, int] | None:
        """A live transition; returns the id after which transitions are missing (then asked for)."""
        key = tuple(key)
        if self.gaps.last is None:
            self.live_first = key
            if self.asked:                            # the live stream began after a request was answered
                self.pending.append((max(tuple(newest_held), self.resumed_at), key))
        gap = self.gaps.observe(key, done)
        if gap is not None and gap >= self.resumed_at:
            self.pending.append((gap, key))
            return gap
        return None

    def due(self, now: float) -> tuple[int, int] | None:
        """The id to ask after now (one request covers every hole after it, ``chunk`` at a time), or
        None (nothing missing, the live stream not begun, or a request still in flight)."""
        if self.flight is not None or not self.pending or \
                (self.gaps.last is None and now - self.started < self.live_wait_s):
            return None
        after = min(a for a, _ in self.pending)
        for a, _ in self.pending:                     # a re-ask merged into an earlier request is
            if a != after:                            # covered by it: its count of tries goes too
                self.tries.pop(a, None)
        ends = [u for _, u in self.pending]
        until = None if None in ends else max(ends)
        self.pending.clear()
        self.asked = True
        self.flight = _Request(after, until, now)
        return after

    def answered(self, after: tuple[int, int], count: int | None, now: float) -> None:
        """The producer's answer to the request after ``after``: how many it re-sends (None: refused)."""
        f = self.flight
        if f is None or f.after != tuple(after):      # a late answer to a request given up
            return
        if count is None:
            self.flight = None
            return
        f.count, f.heard = count, now
        self._settle()

    def on_replayed(self, key: tuple[int, int], now: float) -> None:
        """A re-sent transition came (held already or not)."""
        f = self.flight
        if f is not None and tuple(key) > f.after:
            f.seen.add(tuple(key))
            f.heard = now
            self._settle()

    def _settle(self) -> None:
        f = self.flight
        if f.count is None or len(f.seen) < f.count:
            return
        self.flight = None
        self.tries.pop(f.after, None)
        if f.count >= self.chunk:                     # a full chunk: the spool may hold more
            self._go_on(f)

    def _go_on(self, f: _Request) -> None:
        """Ask on after the newest id re-sent, unless the re-sent ids reached the hole's end."""
        until = f.until if f.until is not None else self.live_first
        if f.seen and (until is None or max(f.seen) < until):
            self.pending.append((max(f.seen), f.until))

    def stalled(self, now: float) -> str | None:
        """If the request in flight went quiet short of its count: ask again or give it up; says which."""
        f = self.flight
        if f is None or now - f.heard < self.quiet_s:
            return None
        self.flight = None
        got = f'{len(f.seen)} of {"?" if f.count is None else f.count}'
        tries = self.tries.get(f.after, 0) + 1
        if tries <= self.retries:
            self.tries[f.after] = tries
            self.pending.append((f.after, f.until))
            return (f'the transitions re-sent after episode {f.after[0]} step {f.after[1]} stopped at {got} '
                    f'for {self.quiet_s:.0f} s: asking again ({tries} of {self.retries})')
        self.tries.pop(f.after, None)
        if f.count is None or f.count >= self.chunk:
            self._go_on(f)                            # on past what came: the rest cannot be had
        return (f'the transitions re-sent after episode {f.after[0]} step {f.after[1]} stopped at {got} '
                f'{tries} times: going on without the rest')
