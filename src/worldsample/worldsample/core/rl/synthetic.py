"""Whole synthetic trajectories from a stream of single steps (the learner node's input side).

A world-model worker publishes each labelled counterfactual contiguously, steps 0..n-1 under
one trajectory id, the last step ``terminated`` with reward 1 (positive: the reward model
accepted that frame) or ``truncated`` with reward 0 (negative). The learner stores a trajectory
only once it is complete, in the positive or the negative buffer, so the queues never hold half
a trajectory. A step that breaks these rules is refused with a :class:`SyntheticError` naming
the rule, and its trajectory is dropped.
"""
from __future__ import annotations

import io
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class SyntheticError(ValueError):
    """A synthetic step that does not fit the trajectory protocol."""


@dataclass
class _Partial:
    f: list = field(default_factory=list)
    action: list = field(default_factory=list)
    f_next: list = field(default_factory=list)


class Trajectory(NamedTuple):
    """A whole synthetic trajectory, embedded: what ``Learner.store_synthetic`` takes."""
    f: np.ndarray          # (n, d) features of o'_0..o'_{n-1}
    actions: np.ndarray    # (n, 7)
    f_next: np.ndarray     # (n, d) features of o'_1..o'_n
    success: np.ndarray    # (n,) reward-model labels, True on the accepted last step only


RECORD_MAGIC = b'WSSYN1\n'   # a transition-log record holding one embedded synthetic trajectory


def to_record(t: Trajectory) -> bytes:
    """The trajectory as one transition-log record: the magic, then an npz of its arrays (a few KB
    where the steps' messages are about 200 KB each); no pickle."""
    buf = io.BytesIO()
    np.savez(buf, **t._asdict())
    return RECORD_MAGIC + buf.getvalue()


def from_record(payload: bytes) -> Trajectory:
    """The trajectory of a :func:`to_record` record; SyntheticError if it is not one."""
    if not payload.startswith(RECORD_MAGIC):
        raise SyntheticError('not a synthetic trajectory record')
    try:
        with np.load(io.BytesIO(payload[len(RECORD_MAGIC):]), allow_pickle=False) as z:
            t = Trajectory(*(z[name] for name in Trajectory._fields))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise SyntheticError(f'a damaged synthetic trajectory record ({type(e).__name__}: {e})') from None
    n = len(t.success)
    if t.f.shape[0] != n or t.actions.shape != (n, 7) or t.f_next.shape != t.f.shape:
        raise SyntheticError(f'a synthetic trajectory record with mismatched shapes {t.f.shape} {t.actions.shape} '
                             f'{t.f_next.shape} {t.success.shape}')
    return t


class SyntheticAssembler:
    def __init__(self, max_pending: int = 64, max_length: int = 256):
        self.max_pending, self.max_length = max_pending, max_length
        self.pending: OrderedDict[int, _Partial] = OrderedDict()
        self.dropped = 0       # trajectories given up (out-of-order steps, evicted when too many were open)

    def add(self, traj_id: int, step: int, f, action, reward: float, f_next, terminated: bool,
            truncated: bool, intervened: bool = False) -> Trajectory | None:
        """One embedded step. Returns the :class:`Trajectory` when the step completes it, else None;
        SyntheticError for a step that breaks the protocol."""
        if intervened:
            raise SyntheticError('a synthetic step cannot be intervened')
        if terminated and truncated:
            raise SyntheticError('a step cannot be both terminated and truncated')
        if reward != float(terminated):
            raise SyntheticError(f'reward must be 1 on the terminal (accepted) step and 0 otherwise, got {reward} '
                                 f'with terminated={terminated}')
        part = self.pending.get(traj_id)
        expected = 0 if part is None else len(part.action)
        if step != expected:
            if part is not None:
                del self.pending[traj_id]
                self.dropped += 1
            raise SyntheticError(f'step {step} of trajectory {traj_id} out of order (expected {expected}); '
                                 'trajectory dropped')
        if part is None:
            if len(self.pending) >= self.max_pending:
                self.pending.popitem(last=False)
                self.dropped += 1
            part = self.pending[traj_id] = _Partial()
        part.f.append(np.asarray(f, np.float32))
        part.action.append(np.asarray(action, np.float32))
        part.f_next.append(np.asarray(f_next, np.float32))
        n = len(part.action)
        if not (terminated or truncated):
            if n >= self.max_length:
                del self.pending[traj_id]
                self.dropped += 1
                raise SyntheticError(f'trajectory {traj_id} has {n} steps and no end; dropped')
            return None
        del self.pending[traj_id]
        success = np.zeros(n, bool)
        success[-1] = terminated
        return Trajectory(np.stack(part.f), np.stack(part.action), np.stack(part.f_next), success)
