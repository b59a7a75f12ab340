"""The learner's append-only transition log: fsync'd records, a crash's broken tail cut off, replay."""
import os

import pytest

from worldsample.core.recording.transition_log import MAGIC, HeldIds, Spool, TransitionLog, TransitionLogError


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


def test_the_spool_keeps_the_last_segments_and_finds_what_comes_after_an_id(tmp_path):
    from worldsample.core.recording.transition_log import Spool, read_records
    (tmp_path / 'spool_7.log').write_bytes(b'a previous run')
    spool = Spool(tmp_path, segment=4)
    assert not (tmp_path / 'spool_7.log').exists()
    keys = [(e, s) for e in range(3) for s in range(4)]          # 12 transitions, 3 segments of 4
    for k in keys:
        spool.append(k, f'{k}'.encode())
    assert spool.oldest() == (1, 0)                               # the first segment rotated out
    got = [list(read_records(path))[r] for path, r in spool.after((1, 2))]
    assert got == [f'{k}'.encode() for k in keys if k > (1, 2)]
    assert len(spool.after((-1, -1))) == 8 and spool.after((2, 3)) == []
    spool.close()


def test_stream_gaps_are_found_by_episode_and_step():
    from worldsample.core.recording.transition_log import StreamGaps
    gaps = StreamGaps()
    seen = [gaps.observe(k, d) for k, d in (((0, 0), False), ((0, 1), False), ((0, 2), True), ((1, 0), False))]
    assert seen == [None] * 4                                   # consecutive, across an episode end
    assert gaps.observe((1, 4), False) == (1, 0)                # steps 1-3 missing
    assert gaps.observe((3, 0), False) == (1, 4)                # the rest of episode 1 and episode 2 missing
    assert gaps.observe((2, 5), False) is None                  # an old one (re-sent): not a new hole
    assert gaps.observe((3, 1), False) is None


def test_catch_up_waits_for_the_live_stream_so_no_transition_falls_between_the_answer_and_it():
    from worldsample.core.recording.transition_log import CatchUp
    up = CatchUp(resumed_at=(0, 23), started=100.0, live_wait_s=5.0)
    assert up.due(101.0) is None                  # the live stream has not begun: the answer could miss its start
    assert up.on_live((5, 40), False, newest_held=(0, 23)) is None
    assert up.due(101.5) == (0, 23) and up.due(102.0) is None     # asked once, covering (0, 24) .. (5, 39)
    assert up.on_live((5, 42), False, newest_held=(5, 40)) == (5, 40)   # a hole in the live stream
    assert up.due(102.5) is None                                  # one request in flight at a time
    up.answered((0, 23), 2, 102.6)
    up.on_replayed((0, 24), 102.7)
    assert up.due(102.8) is None
    up.on_replayed((0, 25), 102.9)                                # all the answer announced came
    assert up.due(103.0) == (5, 40)
    up.answered((5, 40), 1, 103.1)
    up.on_replayed((5, 41), 103.2)
    assert up.on_live((5, 41), False, newest_held=(5, 42)) is None      # re-sent: not a new hole
    assert up.due(104.0) is None

    # no live stream within the wait (the policy was paused): ask anyway, and once more after the
    # newest id held when the live stream does begin, for what came after the answer
    late = CatchUp(resumed_at=(0, 23), started=100.0, live_wait_s=5.0)
    assert late.due(104.9) is None and late.due(105.0) == (0, 23)
    late.answered((0, 23), 0, 105.1)
    assert late.on_live((9, 3), False, newest_held=(7, 10)) is None
    assert late.due(106.0) == (7, 10)
    assert late.on_live((9, 4), False, newest_held=(9, 3)) is None and late.due(107.0) is None

    # a first run holds nothing: the first request asks for all the spool holds
    assert CatchUp(resumed_at=(-1, -1), started=0.0).due(5.0) == (-1, -1)


def _catch_up(spool, chunk, lost, answer_first=True, live_from=None):
    """A consumer catching up on ``spool`` (ids, oldest first) through a channel that loses the
    sends ``lost(key, nth_send_of_it)`` says; one tick a second; the live stream (if any) began
    at ``live_from``. Returns (held, stall notes, asks)."""
    from worldsample.core.recording.transition_log import CatchUp
    up = CatchUp(resumed_at=(-1, -1), started=0.0, live_wait_s=0.0, chunk=chunk, quiet_s=10.0, retries=2)
    if live_from is not None:
        assert up.on_live(live_from, False, newest_held=(-1, -1)) is None
    held, notes, asks, sends = set(), [], [], {}
    for now in range(1, 2000):
        if (note := up.stalled(float(now))) is not None:
            notes.append(note)
        after = up.due(float(now))
        if after is None and up.flight is None and not up.pending:
            break
        if after is None:
            continue
        asks.append(after)
        todo = [k for k in spool if k > after][:chunk]
        if answer_first:
            up.answered(after, len(todo), float(now))
        for key in todo:
            sends[key] = sends.get(key, 0) + 1
            if not lost(key, sends[key]):
                up.on_replayed(key, float(now))
                held.add(key)
        if not answer_first:                     # the answer can come after the re-sent transitions
            up.answered(after, len(todo), float(now))
    return held, notes, asks


SPOOL = [(e, s) for e in range(4) for s in range(30)]      # 120 transitions, four episodes


def test_catch_up_asks_a_chunk_at_a_time_after_the_newest_id_re_sent():
    for answer_first in (True, False):
        held, notes, asks = _catch_up(SPOOL, 50, lambda key, n: False, answer_first)
        assert held == set(SPOOL) and not notes
        assert asks == [(-1, -1), SPOOL[49], SPOOL[99]]       # the last chunk (20) is short: no more asked


def test_catch_up_stops_at_the_live_stream_rather_than_chase_the_growing_spool():
    held, notes, asks = _catch_up(SPOOL, 50, lambda key, n: False, live_from=SPOOL[60])
    assert asks == [(-1, -1), SPOOL[49]] and set(SPOOL[:61]) <= held     # the live stream holds the rest
    held, notes, asks = _catch_up(SPOOL, 50, lambda key, n: False, live_from=SPOOL[49])
    assert asks == [(-1, -1)]
    # a hole in the live stream is filled up to where it showed, however much more is spooled
    from worldsample.core.recording.transition_log import CatchUp
    up = CatchUp(resumed_at=(0, 3), started=0.0, live_wait_s=0.0, chunk=5)
    up.on_live((0, 4), False, newest_held=(0, 3))
    assert up.due(1.0) == (0, 3)
    up.answered((0, 3), 1, 1.0)
    up.on_replayed((0, 4), 1.0)
    assert up.on_live((0, 13), False, newest_held=(0, 4)) == (0, 4)      # (0, 5) .. (0, 12) missing
    for start in ((0, 4), (0, 9)):
        assert up.due(2.0) == start
        up.answered(start, 5, 2.0)
        for step in range(start[1] + 1, start[1] + 6):
            up.on_replayed((0, step), 2.0)
    assert up.due(3.0) is None and not up.pending                     # the re-sent ids passed (0, 13): filled


def test_catch_up_asks_again_for_a_chunk_that_stopped_short_and_loses_nothing():
    # the first send of every seventh transition is lost, as a full queue drops the oldest
    held, notes, asks = _catch_up(SPOOL, 50, lambda key, n: n == 1 and SPOOL.index(key) % 7 == 3)
    assert held == set(SPOOL)
    assert len(notes) == 3 and all('asking again (1 of 2)' in n for n in notes)
    assert asks == [(-1, -1), (-1, -1), SPOOL[49], SPOOL[49], SPOOL[99], SPOOL[99]]


def test_catch_up_gives_up_on_what_the_spool_cannot_send_and_goes_on():
    # (1, 5) is never delivered (its spool record unreadable): asked three times, then left behind
    held, notes, asks = _catch_up(SPOOL, 50, lambda key, n: key == (1, 5))
    assert held == set(SPOOL) - {(1, 5)}
    assert [n.endswith('going on without the rest') for n in notes] == [False, False, True]
    assert asks == [(-1, -1), (-1, -1), (-1, -1), SPOOL[49], SPOOL[99]]


def test_catch_up_ignores_an_answer_to_a_request_it_gave_up_and_a_refusal_ends_the_request():
    from worldsample.core.recording.transition_log import CatchUp
    up = CatchUp(resumed_at=(0, 3), started=0.0, live_wait_s=0.0, chunk=5, quiet_s=10.0)
    assert up.due(1.0) == (0, 3)
    assert up.stalled(5.0) is None and 'asking again' in up.stalled(11.0)   # no answer at all
    assert up.due(11.0) == (0, 3)
    up.answered((0, 9), 5, 12.0)                  # not the request in flight
    assert up.flight.count is None
    up.answered((0, 3), None, 12.0)               # refused: nothing to wait for
    assert up.flight is None and up.due(13.0) is None
    with pytest.raises(ValueError, match='chunk'):
        CatchUp(resumed_at=(0, 3), started=0.0, chunk=0)


def test_a_re_ask_merged_into_an_earlier_request_leaves_no_count_of_tries_behind():
    from worldsample.core.recording.transition_log import CatchUp
    up = CatchUp(resumed_at=(0, 3), started=0.0, live_wait_s=0.0, chunk=5, quiet_s=10.0)
    assert up.due(1.0) == (0, 3)
    up.answered((0, 3), 5, 1.0)
    for step in range(4, 9):
        up.on_replayed((0, step), 1.0)
    assert up.due(2.0) == (0, 8)                  # a full chunk: the next one is asked for
    assert 'asking again' in up.stalled(13.0) and up.tries == {(0, 8): 1}
    # the live stream begins before the re-sent transitions were stored: asked once more from there
    up.on_live((0, 20), False, newest_held=(0, 3))
    assert up.due(14.0) == (0, 3) and up.tries == {}
    up.answered((0, 3), 2, 14.0)                 # the spool holds less than asked: nothing further
    for step in (4, 5):
        up.on_replayed((0, step), 14.0)
    assert up.flight is None and up.due(15.0) is None and up.tries == {}


def test_held_ids_stay_bounded_and_count_what_fell_below_the_window_as_held():
    held = HeldIds(floor=(2, 5), window=3)
    assert (2, 5) in held and (1, 99) in held and (2, 6) not in held
    for key in [(3, 0), (3, 2), (3, 1), (4, 0)]:      # out of order, as a catch-up interleaves
        held.add(key)
    assert len(held) == 3 and held.floor == (3, 0)      # the oldest left the window
    assert (3, 0) in held and (3, 1) in held and (4, 0) in held and (4, 1) not in held
    held.add((3, 1))                                     # held already: nothing changes
    assert len(held) == 3
    for step in range(1000):
        held.add((5, step))
    assert len(held) == 3 and held.floor == (5, 996)
    with pytest.raises(ValueError, match='window'):
        HeldIds(window=0)


def test_a_spool_folder_numbers_episodes_on_across_restarts(tmp_path):
    assert Spool(tmp_path).first_episode == 0
    spool = Spool(tmp_path, segment=4)
    for key in [(0, 0), (0, 1), (1, 0), (2, 0)]:
        spool.append(key, b'x')
    spool.close()
    restarted = Spool(tmp_path)
    assert restarted.first_episode == 3 and restarted.after((-1, -1)) == []   # the old records are gone
    (tmp_path / 'episode.txt').write_text('garbage')
    with pytest.raises(ValueError, match='episode.txt'):
        Spool(tmp_path)
