"""Trusting the labels of predicted frames: calibration on replays of real segments (ROS-free).

The reward model was trained on real frames; the world model's frames can fool it (a small
model trained on 20 successful demos draws insertions that did not happen). Before its labels
reach the learner, the learned world model replays recent real segments with their own actions;
the reward model scores both the predicted and the real frames, and the real frames' labels
(the same labels the real transitions get) are the reference. The segments come from held-out
rollout episodes (every ``label_holdout_every``-th, :func:`held_out`), which post-training never
trains on: replays of segments the model has just trained on are not a test of its labels (with
them, a calibration passed at a replay precision of 1.00 while 2 of the 89 positives it then let
through were truly successful). The synthetic success threshold
is then the smallest theta >= delta_R at which the predicted frames' labels reach
``label_precision_min`` against the real ones, judged on at least ``label_min_positives``
frames each way. Where no theta does, the model's positives are not trusted at all.

In generation, a predicted frame is a success when R_hat >= theta; a frame with delta_R <= R_hat
< theta (or any R_hat >= delta_R when nothing is trusted) is ambiguous, and a counterfactual
that meets one before its end is dropped rather than labelled either way. The simulator's oracle
replays real physics and needs none of this.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..config import WorldModelConfig
from ..observation import CAMERAS
from .data import RunTracker
from .generator import Generator, Predictor, RealSegment, Scorer, segment_of


def held_out(episode: int, every: int) -> bool:
    """Whether rollout ``episode`` is held out of world-model post-training for label calibration
    (every ``every``-th: episodes every-1, 2*every-1, ...). Post-training, in the single-process loop
    and in the world_model_trainer node (training.RolloutEpisodes), skips these; the calibrator
    keeps only these."""
    return episode % every == every - 1


@dataclass(frozen=True)
class LabelCalibration:
    threshold: float | None        # theta; None: no predicted positive is trusted
    precision: float               # of the predicted labels at theta (NaN when none)
    recall: float
    frames: int                    # predicted frames judged
    real_positive_frames: int


def calibrated_threshold(pred_scores: np.ndarray, real_success: np.ndarray, base: float, precision_min: float,
                         min_positives: int) -> LabelCalibration:
    """theta as the module docstring defines it, from per-frame R_hat of predicted frames and the
    real frames' success labels (same shapes)."""
    pred, real = np.asarray(pred_scores, np.float64).ravel(), np.asarray(real_success, bool).ravel()
    if pred.shape != real.shape:
        raise ValueError(f'{pred.shape[0]} predicted scores but {real.shape[0]} real labels')
    n_real = int(real.sum())
    if n_real >= min_positives:
        for theta in np.unique(np.concatenate([[base], pred[pred >= base]])):   # ascending
            chosen = pred >= theta
            if chosen.sum() < min_positives:
                break
            hits = int((chosen & real).sum())
            if hits / chosen.sum() >= precision_min:
                return LabelCalibration(float(theta), hits / chosen.sum(), hits / n_real, pred.size, n_real)
    chosen = pred >= base
    hits = int((chosen & real).sum())
    precision = hits / chosen.sum() if chosen.any() else float('nan')
    return LabelCalibration(None, precision, hits / max(1, n_real), pred.size, n_real)


class CalibrationSet:
    """Recent real segments to calibrate on: every segment the cutter completes plus, for each
    episode, its last T steps (so that the success step, which ends an episode, is in one)."""

    def __init__(self, length: int, capacity: int):
        self.length = length
        self.segments: deque[RealSegment] = deque(maxlen=capacity)
        self.tracker = RunTracker(lambda images: images)    # the running episode's last T steps

    def add_segment(self, segment: RealSegment) -> None:
        self.segments.append(segment)

    def observe(self, episode: int, step: int, images, proprio, action, next_images, next_proprio, done: bool) -> None:
        self.tracker.add(episode, step, images, proprio, action, next_images, next_proprio)
        r = self.tracker.run
        drop = len(r.actions) - self.length
        if drop > 0:
            r.start += drop
            del r.frames[:drop], r.proprio[:drop], r.actions[:drop]
        if done:
            if len(r.actions) == self.length:
                self.segments.append(segment_of(r))
            self.tracker.end()


def calibrate(predictor: Predictor, scorer: Scorer, segments: list[RealSegment], precision_min: float,
              min_positives: int) -> LabelCalibration:
    """Replay ``segments`` with their own actions through ``predictor`` and set theta; the base is
    the scorer's delta_R (``scorer.threshold``, read after it has answered: a reward model
    behind a service reports it with its scores)."""
    if not segments:
        return LabelCalibration(None, float('nan'), 0.0, 0, 0)
    actions = np.stack([s.actions for s in segments])
    n, T = actions.shape[:2]
    predicted, _ = predictor(segments, actions, 1)
    real = {c: np.stack([s.images[c][1:] for s in segments]) for c in CAMERAS}
    # predicted and real frames in one batched scoring call: n*T predicted, then n*T real
    scores, success = scorer({c: np.concatenate([predicted[c], real[c]]).reshape(2 * n * T, *real[c].shape[2:])
                              for c in CAMERAS})
    return calibrated_threshold(np.asarray(scores)[:n * T], np.asarray(success, bool)[n * T:], scorer.threshold,
                                precision_min, min_positives)


class LabelCalibrator:
    """Label calibration as generation runs it, in the single-process loop and the world_model
    node alike: fed the real stream (:meth:`observe`, which keeps the held-out episodes' steps
    only), it calibrates the generator before its
    first batch and again after every change of the model (:meth:`model_changed`), at most once
    per ``min_interval_s`` (a calibration replays up to ``label_calibration_segments`` segments,
    as much model work as many generation batches). The stream and the generation may run on
    different threads."""

    def __init__(self, cfg: WorldModelConfig, min_interval_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg, self.min_interval_s, self.clock = cfg, min_interval_s, clock
        self.last: float | None = None
        self.lock = threading.Lock()
        self.recent = CalibrationSet(cfg.segment_length, cfg.label_calibration_segments)
        self.due = True
        self.latest: LabelCalibration | None = None
        self.calibrations = 0

    def observe(self, episode: int, step: int, images, proprio, action, next_images, next_proprio, done: bool,
                segment: RealSegment | None = None) -> None:
        """One real step, and the segment the cutter completed with it (if any)."""
        if not held_out(episode, self.cfg.label_holdout_every):
            return
        with self.lock:
            self.recent.observe(episode, step, images, proprio, action, next_images, next_proprio, done)
            if segment is not None:
                self.recent.add_segment(segment)

    def model_changed(self) -> None:
        self.due = True

    def apply(self, generator: Generator) -> LabelCalibration | None:
        """Calibrate ``generator`` when due; the new calibration, else None."""
        if not self.due or (self.last is not None and self.clock() - self.last < self.min_interval_s):
            return None
        self.last = self.clock()
        with self.lock:
            segments = list(self.recent.segments)
        self.latest = generator.calibration = calibrate(generator.predictor, generator.scorer, segments,
                                                        self.cfg.label_precision_min, self.cfg.label_min_positives)
        self.due = False
        self.calibrations += 1
        return self.latest
