"""World-model data: contiguous episodes as model frames, training samples and real segments.

Model frames put the configured views side by side: each camera image is area-resized to
``view_size`` x ``view_size`` and the views are concatenated along the width, giving
uint8 frames of shape (view_size, view_size * n_views, 3).

A training sample for predicting o_{t+1} inside a segment that starts at s (t - s < T):
target o_{t+1}; anchor o_s (the segment's real first frame); context o_{t-k+1..t}; actions
a_{t-k+1..t} (the last one leads to the target). Context positions before s repeat o_s and
their actions are zero, exactly what generation from a lone real anchor sees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..config import WorldModelConfig
from ..recording.dataset import IMAGE_FIELDS


class SegmentError(ValueError):
    """Frames or actions of the wrong shape or type for the world model."""


def model_frames(images: dict[str, np.ndarray], cfg: WorldModelConfig) -> np.ndarray:
    """{camera: (N, H, W, 3) uint8} -> (N, S, S * n_views, 3) uint8, views side by side."""
    parts = []
    for view in cfg.views:
        if view not in images:
            raise SegmentError(f'missing view {view!r}; got {sorted(images)}')
        f = np.asarray(images[view])
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise SegmentError(f'{view}: expected uint8 frames (N, H, W, 3), got {f.dtype} {f.shape}')
        s = cfg.view_size
        parts.append(np.stack([cv2.resize(x, (s, s), interpolation=cv2.INTER_AREA) if x.shape[:2] != (s, s) else x
                               for x in f]))
    return np.concatenate(parts, axis=2)


def split_views(frames: np.ndarray, cfg: WorldModelConfig) -> dict[str, np.ndarray]:
    """Inverse of :func:`model_frames`' concatenation: (..., S, S * n, 3) -> {view: (..., S, S, 3)}."""
    s = cfg.view_size
    return {v: frames[..., :, i * s:(i + 1) * s, :] for i, v in enumerate(cfg.views)}


@dataclass(frozen=True)
class Episode:
    frames: np.ndarray    # (L + 1, S, S * n, 3) uint8
    actions: np.ndarray   # (L, 7) float32
    proprio: np.ndarray   # (L + 1, 7) float32


def episodes_from_dataset(data: dict[str, np.ndarray], cfg: WorldModelConfig, min_steps: int = 1) -> list[Episode]:
    """Contiguous runs of steps (per episode id, in step order; a missing step splits a run)."""
    order = np.lexsort((data['step'], data['episode']))
    episodes, run = [], []

    def close():
        if len(run) >= min_steps:
            idx = np.asarray(run)
            imgs = {c: np.concatenate([data[f][idx], data['next_' + f][idx[-1:]]]) for c, f in IMAGE_FIELDS.items()
                    if c in cfg.views}
            episodes.append(Episode(model_frames(imgs, cfg), data['action'][idx].astype(np.float32),
                                    np.concatenate([data['proprio'][idx], data['next_proprio'][idx[-1:]]])))
        run.clear()

    for i in order:
        if run and (data['episode'][i] != data['episode'][run[-1]] or data['step'][i] != data['step'][run[-1]] + 1):
            close()
        run.append(i)
        if data['terminated'][i] or data['truncated'][i]:
            close()
    close()
    return episodes


def episodes_from_frames(frames: dict[str, np.ndarray], proprio: np.ndarray, actions: np.ndarray, ids: np.ndarray,
                         cfg: WorldModelConfig) -> list[Episode]:
    """Episodes of a frame stream in which frame i of an episode followed ``actions[i]`` (the
    reward model's labelled frames, core.reward.data.LabelledFrames), in order of first appearance;
    an episode of a single frame has no step and is left out."""
    episodes = []
    for ep in dict.fromkeys(np.asarray(ids).tolist()):
        idx = np.flatnonzero(ids == ep)
        if len(idx) < 2:
            continue
        if np.any(np.diff(idx) != 1):
            raise SegmentError(f'episode {ep}: its frames are not contiguous in the stream')
        episodes.append(Episode(model_frames({c: frames[c][idx] for c in cfg.views}, cfg),
                                np.asarray(actions[idx[1:]], np.float32), np.asarray(proprio[idx], np.float32)))
    return episodes


def training_batch(episodes: list[Episode], weights: np.ndarray | None, n: int, cfg: WorldModelConfig,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n samples: episode by ``weights`` (default: by length), segment start and offset uniform."""
    lengths = np.array([len(e.actions) for e in episodes])
    p = lengths / lengths.sum() if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
    k, T = cfg.context_frames, cfg.segment_length
    out = {'target': [], 'anchor': [], 'context': [], 'actions': []}
    for e in rng.choice(len(episodes), size=n, p=p):
        ep = episodes[e]
        L = len(ep.actions)
        s = int(rng.integers(0, L))
        t = s + int(rng.integers(0, min(T, L - s)))
        idx = np.arange(t - k + 1, t + 1)
        valid = idx >= s
        out['target'].append(ep.frames[t + 1])
        out['anchor'].append(ep.frames[s])
        out['context'].append(ep.frames[np.where(valid, idx, s)])
        out['actions'].append(np.where(valid[:, None], ep.actions[np.clip(idx, 0, None)], 0.0))
    return {key: np.stack(v) for key, v in out.items()}


def segments(episodes: list[Episode], length: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Non-overlapping real segments (o_{0:T}, a_{0:T-1}, proprio_{0:T}) of exactly ``length`` steps."""
    out = []
    for ep in episodes:
        for s in range(0, len(ep.actions) - length + 1, length):
            out.append((ep.frames[s:s + length + 1], ep.actions[s:s + length], ep.proprio[s:s + length + 1]))
    return out


@dataclass
class StreamRun:
    """A contiguous run of one episode in a live transition stream: frames and proprio of
    o_start .. o_{start+n}, the n actions between them."""
    episode: int
    start: int
    frames: list
    proprio: list
    actions: list

    @property
    def next_step(self) -> int:
        return self.start + len(self.actions)


class RunTracker:
    """Follows a live transition stream (in order) as contiguous runs: a new episode id or a
    missing step ends the current run and starts another. ``frame`` maps one step's camera
    images to what a run keeps (model frames, or the camera images themselves)."""

    def __init__(self, frame: Callable[[dict[str, np.ndarray]], object]):
        self.frame = frame
        self.run: StreamRun | None = None

    def add(self, episode: int, step: int, images, proprio, action, next_images, next_proprio) -> StreamRun | None:
        """Extends the current run by one transition; returns the run a gap ended, if any."""
        ended = None
        if self.run is not None and (self.run.episode != episode or self.run.next_step != step):
            ended, self.run = self.run, None
        if self.run is None:
            self.run = StreamRun(episode, step, [self.frame(images)], [proprio], [])
        self.run.frames.append(self.frame(next_images))
        self.run.proprio.append(next_proprio)
        self.run.actions.append(np.asarray(action, np.float32))
        return ended

    def end(self) -> StreamRun | None:
        run, self.run = self.run, None
        return run

    def restart(self) -> None:
        """Continue with an empty run that starts at the current run's last observation."""
        r = self.run
        self.run = StreamRun(r.episode, r.next_step, r.frames[-1:], r.proprio[-1:], [])


class EpisodeAssembler:
    """Builds :class:`Episode`s from a live transition stream (in order): a run ends at an episode
    end, or where the stream skips (a new episode id or a missing step)."""

    def __init__(self, cfg: WorldModelConfig):
        self.cfg = cfg
        self.tracker = RunTracker(lambda images: model_frames({v: images[v][None] for v in cfg.views}, cfg)[0])

    def add(self, episode: int, step: int, images, proprio, action, next_images, next_proprio,
            done: bool) -> list[Episode]:
        runs = [self.tracker.add(episode, step, images, proprio, action, next_images, next_proprio)]
        if done:
            runs.append(self.tracker.end())
        return [Episode(np.stack(r.frames), np.stack(r.actions), np.asarray(r.proprio, np.float32))
                for r in runs if r is not None]
