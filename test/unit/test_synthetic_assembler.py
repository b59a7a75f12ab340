"""Synthetic trajectories assembled from single steps, as the learner node receives them."""
import numpy as np
import pytest

from worldsample.core.rl.synthetic import SyntheticAssembler, SyntheticError, from_record, to_record

D = 5


def _step(asm, traj, t, last=None, **kw):
    """Feed step t of trajectory traj; last='pos' ends it accepted, 'neg' ends it truncated."""
    args = dict(traj_id=traj, step=t, f=np.full(D, t, np.float32), action=np.full(7, t / 10, np.float32),
                reward=float(last == 'pos'), f_next=np.full(D, t + 1, np.float32), terminated=last == 'pos',
                truncated=last == 'neg')
    return asm.add(**(args | kw))


def test_interleaved_trajectories_come_out_whole_and_labelled():
    asm = SyntheticAssembler()
    assert _step(asm, 7, 0) is None and _step(asm, 9, 0) is None and _step(asm, 7, 1) is None
    f, a, f_next, success = _step(asm, 9, 1, last='neg')
    assert f.shape == (2, D) and a.shape == (2, 7) and success.tolist() == [False, False]
    np.testing.assert_array_equal(f_next[:, 0], [1, 2])
    f, a, f_next, success = _step(asm, 7, 2, last='pos')
    assert success.tolist() == [False, False, True] and f[:, 0].tolist() == [0, 1, 2]
    assert not asm.pending and asm.dropped == 0


@pytest.mark.parametrize('kw, why', [
    ({'reward': 1.0}, 'reward must be 1 on the terminal'), ({'intervened': True}, 'intervened'),
    ({'terminated': True, 'truncated': True, 'reward': 1.0}, 'both terminated and truncated')])
def test_protocol_violations_are_named(kw, why):
    with pytest.raises(SyntheticError, match=why):
        _step(SyntheticAssembler(), 1, 0, **kw)


def test_out_of_order_steps_drop_the_trajectory_and_the_next_one_starts_clean():
    asm = SyntheticAssembler()
    _step(asm, 3, 0)
    with pytest.raises(SyntheticError, match='step 2 of trajectory 3 out of order \\(expected 1\\)'):
        _step(asm, 3, 2)
    assert asm.dropped == 1 and 3 not in asm.pending
    with pytest.raises(SyntheticError, match='expected 0'):
        _step(asm, 4, 1)                     # a trajectory whose start was missed
    assert _step(asm, 3, 0) is None and _step(asm, 3, 1, last='neg') is not None


def test_open_trajectories_are_bounded():
    asm = SyntheticAssembler(max_pending=2, max_length=3)
    for traj in range(3):
        _step(asm, traj, 0)
    assert list(asm.pending) == [1, 2] and asm.dropped == 1
    _step(asm, 1, 1)
    with pytest.raises(SyntheticError, match='no end'):
        _step(asm, 1, 2)
    assert list(asm.pending) == [2]



def test_a_trajectory_comes_back_whole_from_its_log_record_and_damage_is_named():
    asm = SyntheticAssembler()
    _step(asm, 1, 0)
    whole = _step(asm, 1, 1, last='pos')
    record = to_record(whole)
    assert len(record) < 4096                         # the embedded rows, not the frames
    back = from_record(record)
    for got, want in zip(back, whole):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(SyntheticError, match='not a synthetic trajectory record'):
        from_record(b'\x00\x01\x00\x00cdr')
    with pytest.raises(SyntheticError, match='damaged synthetic trajectory record'):
        from_record(record[:len(record) // 2])
    short = whole._replace(actions=whole.actions[:1])
    with pytest.raises(SyntheticError, match='mismatched shapes'):
        from_record(to_record(short))
