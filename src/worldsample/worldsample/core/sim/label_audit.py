"""Auditing synthetic labels against the simulator's truth (simulation only).

A synthetic trajectory's label comes from the reward model scoring predicted frames (paper
Eq. 2: y_hat = 1[R_hat >= delta_R], or the calibrated theta for a learned world model). In
simulation the truth is at hand: the segment's saved physics state at o_0 (the state the oracle
replays from) and the trajectory's counterfactual actions say whether the peg really went in.
The audit replays every generated trajectory without rendering and counts

- labelled positive, and of those truly successful by the frame labelled a success;
- labelled negative (run over the whole segment), and of those truly successful somewhere;
- of the positives, those made from a real segment that itself succeeded (its own actions
  replayed), and how many of those were truly successful: whether a world model's positives
  are true only where the real arm got the peg in.

It reads nothing the learner sees and draws no random numbers, so a run trains the same with
and without it; it costs physics steps only (no rendering). What it measures is how much of
what the critic learns from synthetic positives is true.
"""
from __future__ import annotations

import time

from ..config import CellConfig
from ..worldmodel.data import SegmentError
from ..worldmodel.generator import RealSegment, SyntheticTrajectory
from .env import InsertionEnv


class LabelAudit:
    def __init__(self, cfg: CellConfig):
        self.env = InsertionEnv(cfg, render_cameras=False)
        self.counts = {'positive': 0, 'positive_true': 0, 'negative': 0, 'negative_truly_successful': 0,
                       'positive_of_successful_segment': 0, 'positive_true_of_successful_segment': 0}
        self.wall_s = 0.0

    def truly_successful(self, segment: RealSegment, actions) -> bool:
        """Whether the simulator, from the segment's state at o_0, succeeds within ``actions``."""
        if segment.state is None:
            raise SegmentError(f'segment (episode {segment.episode}, step {segment.start}) has no saved sim state: '
                               'labels can be audited on simulated segments only')
        self.env.restore(segment.state)
        return any(self.env.step(a)[4]['success'] for a in actions)

    def __call__(self, segments: list[RealSegment], trajectories: list[SyntheticTrajectory]) -> None:
        """Audit the ``trajectories`` one generation call made of ``segments``."""
        t0 = time.perf_counter()
        by_source = {(s.episode, s.start): s for s in segments}
        real: dict[tuple[int, int], bool] = {}          # the real segments' own outcome, when needed
        for traj in trajectories:
            segment = by_source[traj.source]
            true = self.truly_successful(segment, traj.actions)
            if traj.positive:
                self.counts['positive'] += 1
                self.counts['positive_true'] += true
                if traj.source not in real:
                    real[traj.source] = self.truly_successful(segment, segment.actions)
                if real[traj.source]:
                    self.counts['positive_of_successful_segment'] += 1
                    self.counts['positive_true_of_successful_segment'] += true
            else:
                self.counts['negative'] += 1
                self.counts['negative_truly_successful'] += true
        self.wall_s += time.perf_counter() - t0

    def summary(self) -> dict:
        """The counts so far with the labels' precision (NaN before any positive), the share of
        negatives that truly succeeded, and the audit's own wall time."""
        c = self.counts
        return {**c,
                'precision': c['positive_true'] / c['positive'] if c['positive'] else float('nan'),
                'negatives_truly_successful_share': (c['negative_truly_successful'] / c['negative']
                                                     if c['negative'] else float('nan')),
                'wall_s': self.wall_s}

    def close(self) -> None:
        self.env.close()
