"""Action sources for the policy loop: the scripted expert, random and zero baselines.

Each actor maps an observation dict (``proprio`` plus camera images) to a 7-D action in
[-1, 1] with the task's inactive dimensions exactly zero. The scripted expert also reads the
episode's ``hole`` (x, y, yaw; absent or None: the task's fixed board), which only a simulation
knows. The learned SAC actor plugs in here.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .config import CellConfig
from .controller import project_action
from .expert import InsertionExpert

Actor = Callable[[dict], np.ndarray]
ACTORS = ('expert', 'random', 'zero')


def make_actor(name: str, cfg: CellConfig, seed: int = 0) -> Actor:
    if name == 'expert':
        expert = InsertionExpert(cfg)
        return lambda obs: project_action(expert.act(obs['proprio'], obs.get('hole')), cfg.task.action)
    if name == 'random':
        rng = np.random.default_rng(seed)
        return lambda obs: project_action(rng.uniform(-1.0, 1.0, 7), cfg.task.action)
    if name == 'zero':
        return lambda obs: np.zeros(7)
    raise ValueError(f'unknown actor {name!r}; choose one of {ACTORS}')
