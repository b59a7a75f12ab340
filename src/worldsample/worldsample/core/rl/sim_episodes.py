"""A simulated cell driven by the episode loop, one control step at a time (simulation only).

Per step: the simulated human may override, else the stochastic actor acts on the current
observation; core.episode.EpisodeLoop decides (the human wins, projection into the action box),
the env steps, the outcome is recorded; after an episode ends, :meth:`SimEpisodes.reset` starts
the next one from the loop's reset seed. The single-process trainer runs its cell with it, and
the extra-real control (core.rl.extra_real) runs a second cell the same way.
"""
from __future__ import annotations

import jax
import numpy as np

from ..config import CellConfig
from ..episode import EpisodeLoop, StepRecord
from ..sim.env import InsertionEnv
from ..sim_human import SimulatedHuman
from . import sac
from .features import Featurizer


class SimEpisodes:
    def __init__(self, cfg: CellConfig, seed: int, env: InsertionEnv | None = None):
        """Episode k resets with seed ``seed + k``; ``env`` is the cell's env (a new one if None)."""
        self.env = env if env is not None else InsertionEnv(cfg)
        self.human = SimulatedHuman(cfg)
        self.episodes = EpisodeLoop(cfg.task, seed=seed)
        self.obs, _ = self.env.reset(seed=self.episodes.reset_seed)
        self.human.reset(self.env.hole)

    def step(self, state: sac.SACState, feat: Featurizer, key: jax.Array, snapshot: bool = False
             ) -> tuple[StepRecord, dict, dict, object]:
        """One control step: (record, o_t, o_{t+1}, the sim state at o_t if ``snapshot`` else None)."""
        obs = self.obs
        override = self.human.step(obs['proprio'])
        policy = None if override is not None else np.asarray(sac.sample_actions(state, feat(obs)[None], key))[0]
        action, intervened = self.episodes.decide(policy, override)
        snap = self.env.snapshot() if snapshot else None
        self.obs, _, _, _, info = self.env.step(action)
        return self.episodes.record(action, intervened, info['success']), obs, self.obs, snap

    def reset(self) -> None:
        """The next episode (after a step whose record is done)."""
        self.obs, _ = self.env.reset(seed=self.episodes.reset_seed)
        self.human.reset(self.env.hole)
        self.episodes.begin()

    def close(self) -> None:
        self.env.close()
