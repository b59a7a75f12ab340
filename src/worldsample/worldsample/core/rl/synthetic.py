"""Whole synthetic trajectories from a stream of single steps (the learner node's input side).

A world-model worker publishes each labelled counterfactual contiguously, steps 0..n-1 under
one trajectory id, the last step ``terminated`` with reward 1 (positive: the reward model
accepted that frame) or ``truncated`` with reward 0 (negative). The learner stores a trajectory
only once it is complete, in the positive or the negative buffer, so the queues never hold half
a trajectory. A step that breaks these rules is refused with a :class:`SyntheticError` naming
the rule, and its trajectory is dropped.
"""
from __future__ import annotations

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
    records: list = field(default_factory=list)


class Trajectory(NamedTuple):
    """A whole synthetic trajectory: what ``Learner.store_synthetic`` takes, and the steps' records
    (the messages as received, for the learner's transition log)."""
    f: np.ndarray          # (n, d) features of o'_0..o'_{n-1}
    actions: np.ndarray    # (n, 7)
    f_next: np.ndarray     # (n, d) features of o'_1..o'_n
    success: np.ndarray    # (n,) reward-model labels, True on the accepted last step only
    records: list


class SyntheticAssembler:
    def __init__(self, max_pending: int = 64, max_length: int = 256, max_record_bytes: int = 256 << 20):
        """At most ``max_pending`` open trajectories of at most ``max_length`` steps, and at most
        ``max_record_bytes`` of records held for them (a record is a ~200 KB message: the open
        trajectories' records are the assembler's memory), the oldest open one given up first."""
        self.max_pending, self.max_length, self.max_record_bytes = max_pending, max_length, max_record_bytes
        self.pending: OrderedDict[int, _Partial] = OrderedDict()
        self.record_bytes = 0  # of the open trajectories' records (bytes-like ones)
        self.dropped = 0       # trajectories given up (out-of-order steps, evicted when too many were open)

    def _drop(self, traj_id: int) -> _Partial:
        part = self.pending.pop(traj_id)
        self.record_bytes -= sum(len(r) for r in part.records if isinstance(r, (bytes, bytearray)))
        return part

    def add(self, traj_id: int, step: int, f, action, reward: float, f_next, terminated: bool,
            truncated: bool, intervened: bool = False, record=None) -> Trajectory | None:
        """One embedded step (``record``: anything to hand back with the whole trajectory). Returns the
        :class:`Trajectory` when the step completes it, else None; SyntheticError for a step that
        breaks the protocol."""
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
                self._drop(traj_id)
                self.dropped += 1
            raise SyntheticError(f'step {step} of trajectory {traj_id} out of order (expected {expected}); '
                                 'trajectory dropped')
        if part is None:
            if len(self.pending) >= self.max_pending:
                self._drop(next(iter(self.pending)))
                self.dropped += 1
            part = self.pending[traj_id] = _Partial()
        part.f.append(np.asarray(f, np.float32))
        part.action.append(np.asarray(action, np.float32))
        part.f_next.append(np.asarray(f_next, np.float32))
        part.records.append(record)
        if isinstance(record, (bytes, bytearray)):
            self.record_bytes += len(record)
        n = len(part.action)
        if not (terminated or truncated):
            if n >= self.max_length:
                self._drop(traj_id)
                self.dropped += 1
                raise SyntheticError(f'trajectory {traj_id} has {n} steps and no end; dropped')
            while self.record_bytes > self.max_record_bytes and len(self.pending) > 1:
                self._drop(next(iter(self.pending)))   # the oldest open trajectory (never this one)
                self.dropped += 1
            return None
        self._drop(traj_id)
        success = np.zeros(n, bool)
        success[-1] = terminated
        return Trajectory(np.stack(part.f), np.stack(part.action), np.stack(part.f_next), success, part.records)
