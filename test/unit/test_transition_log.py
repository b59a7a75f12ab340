"""The learner's append-only transition log: fsync'd records, a crash's broken tail cut off, replay."""
import os

import pytest

from worldsample.core.recording.transition_log import MAGIC, TransitionLog, TransitionLogError


def test_records_read_back_in_order_and_a_broken_tail_is_cut_on_open(tmp_path):
    path = tmp_path / 'transitions.log'
    log = TransitionLog(path)
    payloads = [bytes([i]) * (100 + i) for i in range(5)]
    for k, p in enumerate(payloads, 1):
        assert log.append(p) == k
    log.close()
    assert list(TransitionLog(path).read(2)) == payloads[2:]
    whole = path.stat().st_size
    with open(path, 'ab') as f:                       # a crash in the middle of the next record
        f.write(b'\x10\x00\x00\x00\x00\x00')
    log = TransitionLog(path)
    assert log.records == 5 and 'cut record' in log.cut and path.stat().st_size == whole
    log.append(b'after the crash')                     # appends continue on a clean boundary
    log.close()
    assert list(TransitionLog(path).read(4)) == [payloads[4], b'after the crash']


def test_damage_is_found_not_trusted(tmp_path):
    path = tmp_path / 'transitions.log'
    log = TransitionLog(path)
    for p in (b'a' * 50, b'b' * 50, b'c' * 50):
        log.append(p)
    log.close()
    data = bytearray(path.read_bytes())
    data[len(MAGIC) + 8 + 50 + 8 + 3] ^= 0xFF          # flip a byte of the second record
    path.write_bytes(bytes(data))
    log = TransitionLog(path)
    assert log.records == 1 and 'bad checksum' in log.cut   # only what precedes the damage is kept
    (tmp_path / 'other').write_bytes(b'PK\x03\x04 not a log')
    with pytest.raises(TransitionLogError, match='not a transition log'):
        TransitionLog(tmp_path / 'other')
    empty = tmp_path / 'empty.log'
    empty.touch()
    assert TransitionLog(empty).records == 0 and os.path.getsize(empty) == len(MAGIC)
