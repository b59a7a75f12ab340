"""Policy-Paced Learning (WorldSample §3.3, Eq. 4-8, appendix B.4), ROS-free and JAX-free.

Two decisions per critic batch of B rows (README, section Policy-Paced Learning has the reasoning):

* **How many synthetic rows** (uncertainty-guided scheduling, Eq. 8). H_t (Eq. 6) is the actor
  entropy on real states, smoothed by an EMA over update steps. SAC's entropy can be negative,
  so it is normalised onto [0, 1] between the target entropy H_lo = -|A|/2 (where the
  temperature drives the policy) and H_hi = |A| ln 2, the entropy of the uniform distribution on
  the active action box (no distribution on [-1, 1]^|A| has more):

      H~_t = clip((H_t - H_lo) / (H_hi - H_lo), 0, 1),    rho_t = rho_max / (1 + kappa H~_t^p)

  rho is small while the policy is uncertain and rises toward rho_max as it concentrates. Before
  the first entropy measurement H~ = 1. The batch gets n_syn = round(rho B) synthetic rows; the
  other B - n_syn stay RLPD's 50/50 real mix.

* **Which synthetic rows** (Q-aware selection, Eq. 5, read as a mixture): with Q-bar the
  critic-ensemble mean Q(s, a) over fresh samples of each source, choose the admitted positive
  share pi so that the mixture's value matches the real one,

      pi* = (Q_real - Q_neg) / (Q_pos - Q_neg),   pi = clip(pi*, pi_min, pi_max)

  (pi = 1/2 when Q_pos = Q_neg: every pi gives the same value). With one queue empty pi is 1
  (only positives) or 0 (only negatives); with both empty no synthetic row is used. When the
  admitted mixture still misses, gap = |pi Q_pos + (1 - pi) Q_neg - Q_real| > delta_Q, every
  synthetic row's loss weight is w_Q = delta_Q / gap (else 1), so data whose value the real
  data contradicts counts less. pi and w_Q are re-estimated every ``select_every`` update steps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..config import PPLConfig

SCHEDULED = ('full', 'no_q_selection')        # rho from the entropy schedule; the others use rho_max
Q_SELECTED = ('full', 'no_scheduling')        # pi from Eq. 5; the others sample both queues uniformly


def entropy_bounds(n_active: int) -> tuple[float, float]:
    """(H_lo, H_hi): SAC's target entropy and the uniform entropy on [-1, 1]^n_active."""
    return -n_active / 2.0, n_active * math.log(2.0)


def normalised_entropy(h: float | None, n_active: int) -> float:
    if h is None:
        return 1.0
    lo, hi = entropy_bounds(n_active)
    return float(np.clip((h - lo) / (hi - lo), 0.0, 1.0))


def schedule(h_norm: float, cfg: PPLConfig) -> float:
    """rho(H~) of Eq. 8 for the configured mode (0 for ``baseline``)."""
    if cfg.mode == 'baseline':
        return 0.0
    if cfg.mode not in SCHEDULED:
        return cfg.rho_max
    return cfg.rho_max / (1.0 + cfg.kappa * h_norm ** cfg.power)


@dataclass(frozen=True)
class Selection:
    positive_share: float     # pi: share of the synthetic rows drawn from the positive queue
    weight: float             # w_Q of every synthetic row
    gap: float                # |admitted synthetic mean Q - real mean Q| (nan when nothing is admitted)


def select(q_real: float, q_pos: float | None, q_neg: float | None, cfg: PPLConfig) -> Selection | None:
    """Eq. 5 as a mixture (module docstring); ``None`` for a queue that is empty. Returns None
    when both queues are empty (no synthetic rows)."""
    if q_pos is None and q_neg is None:
        return None
    if q_neg is None:
        pi = 1.0
    elif q_pos is None:
        pi = 0.0
    elif q_pos == q_neg:
        pi = float(np.clip(0.5, cfg.positive_share_min, cfg.positive_share_max))
    else:
        pi = float(np.clip((q_real - q_neg) / (q_pos - q_neg), cfg.positive_share_min, cfg.positive_share_max))
    mixed = pi * (q_pos if q_pos is not None else 0.0) + (1.0 - pi) * (q_neg if q_neg is not None else 0.0)
    gap = abs(mixed - q_real)
    return Selection(pi, 1.0 if gap <= cfg.delta_q else cfg.delta_q / gap, gap)


@dataclass
class PPLState:
    """What PPL carries between update steps; saved with the learner's checkpoint."""
    entropy: float | None = None          # EMA of H_t
    positive_share: float = float('nan')  # pi of the last selection
    weight: float = 1.0                   # w_Q of the last selection
    gap: float = float('nan')
    q_real: float = float('nan')          # Q-bar estimates of the last selection (or measurement)
    q_positive: float = float('nan')
    q_negative: float = float('nan')
    selected_at: int = -1                 # update step of the last selection (or measurement)
    synthetic_used: int = 0               # synthetic rows that entered critic updates, whole run

    def observe_entropy(self, h: float, ema: float) -> None:
        self.entropy = h if self.entropy is None else ema * self.entropy + (1.0 - ema) * h

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'PPLState':
        return cls(**d)


def split_counts(n_syn: int, sizes: tuple[int, int], cfg: PPLConfig, state: PPLState) -> tuple[int, int]:
    """(positive, negative) rows among one batch's ``n_syn`` synthetic rows; ``sizes`` are the queue
    sizes. Q-selected modes use the last selection's pi; the others draw uniformly over all
    synthetic samples of both queues (pi = the positive queue's share)."""
    n_pos_q, n_neg_q = sizes
    if n_pos_q + n_neg_q == 0:
        return 0, 0
    if n_neg_q == 0:
        return n_syn, 0
    if n_pos_q == 0:
        return 0, n_syn
    pi = state.positive_share if cfg.mode in Q_SELECTED else n_pos_q / (n_pos_q + n_neg_q)
    n_pos = int(round(pi * n_syn))
    return n_pos, n_syn - n_pos
