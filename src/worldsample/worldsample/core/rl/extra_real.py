"""The extra-real control of the single-process trainer (simulation only): the ceiling of synthetic data.

A second simulated cell runs the same episode loop (core.rl.sim_episodes: the current stochastic
actor, the simulated human unless left out, the episode rules) and takes ``per_step`` steps for every real step
of the trainer's cell: the generation budget, K synthetic transitions per real one. Its
transitions fill the learner's synthetic buffers in place of counterfactuals, cut like synthetic
trajectories: at most T = ``world_model.segment_length`` steps, ending at the episode's success
(positive: reward 1, terminal; ground truth, not the reward model) or at T steps or the step limit
(negative, truncated, bootstrapped). PPL then schedules and selects them exactly as it does a
world model's trajectories, and nothing reaches the real buffers. With the learner, its update
budget and PPL unchanged, K extra real transitions per real step is the most any synthetic stream
of that size could be: the ceiling of what a world model can add.

It has the trainer-facing interface of core.rl.synthetic_loop.SyntheticLoop (observe, counts,
wall, close, label calibration and audit: none here).
"""
from __future__ import annotations

import time
from dataclasses import replace

import jax
import numpy as np

from ..config import CellConfig
from .learner import Learner
from .sim_episodes import SimEpisodes

SEED_OFFSET = 50_000     # its episodes' reset seeds: the trainer's block (seed * 100_000) + this


class ExtraReal:
    needs_state = False
    label_calibration = None
    label_audit = None

    def __init__(self, cfg: CellConfig, learner: Learner, seed: int, per_step: int, human: bool = True):
        """``human`` False: no simulated human in the extra cell, the actor alone acts there."""
        if per_step < 1:
            raise ValueError(f'extra real steps per real step must be >= 1, got {per_step}')
        self.learner, self.per_step, self.length = learner, per_step, cfg.world_model.segment_length
        cell_cfg = cfg if human else replace(cfg, human=replace(cfg.human, aggressiveness=0.0))
        self.cell = SimEpisodes(cell_cfg, seed * 100_000 + SEED_OFFSET)
        self.key = jax.random.PRNGKey(seed + SEED_OFFSET)
        self.run: list[tuple] = []       # (features o_t, action, features o_t+1, success) of the open trajectory
        self.f = None                    # features of the cell's current observation (None after a reset)
        self.counts = {'segments': 0, 'trajectories': 0, 'positive': 0, 'synthetic_transitions': 0,
                       'post_train_bursts': 0, 'dropped_ambiguous': 0, 'skipped_before_warmup': 0,
                       'episodes': 0, 'intervened_steps': 0}
        self.wall = {'generation': 0.0, 'post_training': 0.0}

    def observe(self, rec, obs, next_obs, env_step: int, snapshot=None) -> None:
        """One real step of the trainer's cell: the extra cell takes ``per_step`` steps."""
        t0 = time.perf_counter()
        feat = self.learner.feat
        for _ in range(self.per_step):
            self.key, k = jax.random.split(self.key)
            r, o, o_next, _ = self.cell.step(self.learner.state, feat, k)
            f = feat(o) if self.f is None else self.f
            self.f = feat(o_next)                 # o_t+1 of this step is o_t of the next
            self.run.append((f, r.action, self.f, r.success))
            self.counts['intervened_steps'] += r.intervened
            if r.done or len(self.run) == self.length:
                self._store()
            if r.done:
                self.cell.reset()
                self.f = None
                self.counts['episodes'] += 1
        self.wall['generation'] += time.perf_counter() - t0

    def _store(self) -> None:
        f, actions, f_next, success = (np.stack(x) for x in zip(*self.run))
        positive = self.learner.store_synthetic(f, actions, f_next, success.astype(bool))
        self.counts['segments'] += 1
        self.counts['trajectories'] += 1
        self.counts['positive'] += positive
        self.counts['synthetic_transitions'] += len(self.run)
        self.run = []

    def close(self) -> None:
        self.cell.close()
