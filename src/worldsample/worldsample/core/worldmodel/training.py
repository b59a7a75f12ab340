"""Training data mix and the train / evaluate loops of the world model (used by the commands,
the benchmarks and the asynchronous post-training alike)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import WorldModelConfig
from ..recording.dataset import load_dataset, transitions_from_bag
from .calibration import held_out
from .data import Episode, EpisodeAssembler, episodes_from_dataset, segments, split_views, training_batch
from .metrics import LPIPS, segment_scores
from .model import WorldModel


def load_episodes(path: str | os.PathLike, cfg: WorldModelConfig) -> list[Episode]:
    """Episodes from a dataset ``.npz`` (record_demos, bag conversion) or a rosbag2 folder."""
    path = Path(path)
    data = transitions_from_bag(path) if path.is_dir() else load_dataset(path)
    return episodes_from_dataset(data, cfg)


class RolloutEpisodes:
    """The real stream as post-training's rollout episodes, in the single-process loop and the
    world_model_trainer node alike: every ``label_holdout_every``-th episode is left out
    (calibration.held_out), for label calibration, which must judge the model on episodes it
    never trained on."""

    def __init__(self, cfg: WorldModelConfig):
        self.cfg, self.assembler = cfg, EpisodeAssembler(cfg)

    def add(self, episode: int, step: int, images, proprio, action, next_images, next_proprio,
            done: bool) -> list[Episode]:
        """One real step in stream order; the episodes it completes."""
        if held_out(episode, self.cfg.label_holdout_every):
            return []
        return self.assembler.add(episode, step, images, proprio, action, next_images, next_proprio, done)


def mix(demos: list[Episode], rollouts: list[Episode], cfg: WorldModelConfig) -> tuple[list[Episode], np.ndarray]:
    """Episodes and sampling weights: every step of a source equally likely within it, demos
    getting ``demo_share`` of the samples when both are given; rollouts (oldest first) weighted by
    recency, 0.5^(age / rollout_half_life) with age counted in episodes."""
    if not demos and not rollouts:
        raise ValueError('no training episodes: give demos, rollouts or both')
    parts = []
    if demos:
        w = np.array([len(e.actions) for e in demos], np.float64)
        parts.append((demos, w / w.sum() * (cfg.demo_share if rollouts else 1.0)))
    if rollouts:
        age = np.arange(len(rollouts))[::-1]
        w = np.array([len(e.actions) for e in rollouts], np.float64) * 0.5 ** (age / cfg.rollout_half_life)
        parts.append((rollouts, w / w.sum() * ((1.0 - cfg.demo_share) if demos else 1.0)))
    return [e for eps, _ in parts for e in eps], np.concatenate([w for _, w in parts])


def train(model: WorldModel, episodes: list[Episode], weights: np.ndarray, steps: int, rng: np.random.Generator,
          progress: Callable[[int, float], None] | None = None, rollouts: bool = False) -> list[float]:
    """``steps`` updates; with ``rollouts`` (the episodes hold real rollouts) they also count in
    ``model.rollout_steps``, the post-training the world_model workers' warm-up waits for."""
    losses = []
    for i in range(steps):
        losses.append(model.train_step(training_batch(episodes, weights, model.cfg.batch_size, model.cfg, rng)))
        model.rollout_steps += int(rollouts)
        if progress is not None:
            progress(i + 1, losses[-1])
    return losses


def evaluate(model: WorldModel | None, episodes: list[Episode], cfg: WorldModelConfig, max_segments: int = 0,
             lpips: LPIPS | None = None, batch: int = 16) -> dict:
    """Replay held-out real segments' actions from their o_0 and score o_1..o_T (metrics module
    conventions), per view and on the whole (side-by-side) image. ``model=None`` scores the
    copy-last-frame baseline: every predicted frame is o_0, the last frame the generator sees."""
    segs = segments(episodes, cfg.segment_length)
    if max_segments:
        segs = segs[:max_segments]
    if not segs:
        raise ValueError(f'no held-out segment of {cfg.segment_length} steps in {len(episodes)} episodes')
    scores: dict[str, dict[str, list[float]]] = {}
    for i in range(0, len(segs), batch):
        chunk = segs[i:i + batch]
        real = np.stack([f for f, _, _ in chunk])
        if model is None:
            pred = np.repeat(real[:, :1], cfg.segment_length, axis=1)
        else:
            pred = model.rollout(real[:, 0], np.stack([a for _, a, _ in chunk]))
        groups = {'both': (pred, real)} if len(cfg.views) > 1 else {}
        real_views = split_views(real, cfg)
        groups |= {v: (p, real_views[v]) for v, p in split_views(pred, cfg).items()}
        for name, (p, r) in groups.items():
            for ps, rs in zip(p, r):
                for metric, values in segment_scores(ps, rs, lpips).items():
                    scores.setdefault(name, {}).setdefault(metric, []).extend(values)
    return {'segments': len(segs), 'frames_per_segment': cfg.segment_length,
            'metrics': {g: {m: float(np.mean(v)) for m, v in ms.items() if v} for g, ms in scores.items()}}
