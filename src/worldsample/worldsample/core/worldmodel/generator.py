"""Counterfactual generation: real segments in, labelled synthetic trajectories out (ROS-free).

- :class:`SegmentCutter` cuts the real transition stream into non-overlapping segments of T
  consecutive steps of one episode, (o_0, A_{0:T-1}, O_{1:T}) with proprio; a gap or an
  episode end starts over. With ``end_segments`` an episode end that leaves a tail of fewer
  than T steps also gives the episode's last T steps (overlapping the segment before): the
  steps before an insertion otherwise never anchor a counterfactual.
- :class:`Generator` turns a batch of segments into K counterfactuals each: perturbed actions
  (counterfactual.perturb_actions), frames and proprio predicted by a :class:`Predictor`, then
  every predicted frame pair is scored by the reward model: y_hat_t = 1[R_hat(o'_t) >= delta_R].
  A trajectory ends at its first success (terminated, reward 1) or runs the whole segment
  (truncated); it is positive when it ends in success, negative otherwise. With a label
  calibration set (core.worldmodel.calibration), success needs R_hat >= theta and a
  counterfactual with an ambiguous frame before its end is dropped. With residual correction
  (learned models, ``world_model.residual_correction``) the predictor also replays each
  segment's own actions, and the learner gets o'_t = o_t + pred(A')_t - pred(A)_t
  (:func:`residual_corrected`) while the reward model labels pred(A')_t: what the model gets
  wrong alike for every action sequence from one anchor cancels (on insertion_vision it halved
  the offset of the learner's features, test/benchmark/world_model_labels.py), and after it a
  replay of the real actions would equal the real segment, so the calibration, which replays
  them, can only judge the uncorrected frames. With ``world_model.label_frames: corrected`` the
  reward model labels the corrected frames instead (``label_corrected``; no calibration): a
  counterfactual keeps its real segment's label except where the model predicts that the changed
  actions change what the reward model sees. A model that draws insertions from every anchor
  near the hole draws them for A and A' alike, and the difference leaves the real frames' label.
- :class:`ModelPredictor`: the video world model predicts the frames from the real o_0 in one
  batched rollout, brought to the cameras' resolution by pixel replication (``to_camera``);
  proprio from the controller integration (counterfactual.synthetic_proprio). The simulator's
  oracle (core.sim.oracle) is the other predictor: it replays the actions from the segment's saved physics state.
- With ``world_model.success_pose_gate`` (learned models) a predicted frame is a success only if
  the reward model accepts it (R_hat >= delta_R) and the counterfactual's proprio has reached the
  pose where the segment's real episode succeeded (:func:`at_success_pose`). A counterfactual
  that reaches such a success ends there (accepted frames on its way, before the arm got there,
  count as steps); one that never does but has an accepted frame is dropped: the model drew a
  success the geometry denies. The world model draws insertions that did not happen; the
  controller-integrated proprio says where the arm was sent, and a real success says where the
  hole is. This replaces label calibration.
- With ``world_model.counterfactual_actions: policy`` the actions are not perturbed logged ones:
  the current stochastic actor chooses each step's action on the frame the rollout has reached
  (:class:`ModelPolicyPredictor`, closed loop; core.sim.oracle.OraclePolicyPredictor).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import cv2
import numpy as np

from ..config import CellConfig, SceneConfig
from ..observation import CAMERAS
from .counterfactual import perturb_actions, synthetic_proprio
from .data import RunTracker, SegmentError, StreamRun
from .model import VideoWorldModel

# frames {camera: (N, H, W, 3) uint8} -> (R_hat (N,), y_hat (N,) bool)
Scorer = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


@dataclass
class RealSegment:
    episode: int
    start: int                          # step index of o_0 in its episode
    images: dict[str, np.ndarray]       # camera -> (T+1, H, W, 3) uint8: o_0 .. o_T
    actions: np.ndarray                 # (T, 7)
    proprio: np.ndarray                 # (T+1, 7)
    state: Any = None                   # simulation only: the saved state at o_0 (the oracle replays from it)
    goal: np.ndarray | None = None      # (7,) proprio where its episode succeeded (None: it did not, or not known)


@dataclass
class SyntheticTrajectory:
    source: tuple[int, int]             # (episode, start) of the real segment
    images: dict[str, np.ndarray]       # camera -> (n+1, H, W, 3): real o_0, then predicted (or corrected) frames
    actions: np.ndarray                 # (n, 7) counterfactual actions
    proprio: np.ndarray                 # (n+1, 7)
    scores: np.ndarray                  # (n,) R_hat of the predicted o'_1 .. o'_n
    success: np.ndarray                 # (n,) y_hat; only the last can be True

    @property
    def positive(self) -> bool:
        return bool(self.success[-1])


def segment_of(run: StreamRun) -> RealSegment:
    """A stream run of camera images (RunTracker keeping the images themselves) as a segment."""
    return RealSegment(run.episode, run.start, {c: np.stack([f[c] for f in run.frames]) for c in CAMERAS},
                       np.stack(run.actions), np.asarray(run.proprio, np.float32))


class SegmentCutter:
    def __init__(self, length: int, end_segments: bool = False):
        self.length, self.end_segments = length, end_segments
        self.tracker = RunTracker(lambda images: {c: images[c] for c in CAMERAS})
        self.previous: StreamRun | None = None      # the last segment cut (end_segments)

    def add(self, episode: int, step: int, images: dict[str, np.ndarray], proprio, action, next_images,
            next_proprio, done: bool) -> RealSegment | None:
        """Feed one real transition in stream order; returns a segment when one is complete."""
        self.tracker.add(episode, step, images, proprio, action, next_images, next_proprio)
        r, p, segment = self.tracker.run, self.previous, None
        if len(r.actions) == self.length:
            segment = segment_of(r)
            self.previous = r
            self.tracker.restart()
        elif done and self.end_segments and p is not None and p.episode == r.episode and p.next_step == r.start:
            n = len(r.actions)          # the tail after the last segment: the last T steps overlap it by T - n
            segment = segment_of(StreamRun(p.episode, p.start + n, p.frames[n:] + r.frames[1:],
                                           p.proprio[n:] + r.proprio[1:], p.actions[n:] + r.actions))
        if done:
            self.tracker.end()
            self.previous = None
        return segment


class Predictor(Protocol):
    def __call__(self, segments: list[RealSegment], actions: np.ndarray, k: int
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Counterfactual ``actions`` (S*K, T, 7), K per segment in order -> frames {camera:
        (S*K, T, H, W, 3) uint8} at the cameras' resolution for o'_1..o'_T and proprio (S*K, T+1, 7)."""


def kinematic_proprio(cfg: CellConfig, segments: list[RealSegment], actions: np.ndarray, k: int) -> np.ndarray:
    """(S*K, T+1, 7) proprio of counterfactual ``actions`` (K per segment in order) from the
    controller integration (counterfactual.synthetic_proprio): what a learned world model, which
    predicts frames only, pairs them with."""
    return np.stack([synthetic_proprio(segments[i // k].proprio, segments[i // k].actions, a, cfg.task, cfg.controller)
                     for i, a in enumerate(actions)])


def to_camera(view: np.ndarray, width: int, height: int) -> np.ndarray:
    """One predicted view (s, s, 3) at a camera's resolution, by pixel replication. The learner's
    and the reward model's encoders area-average frames down to ``train.encoder_size``; from
    replicated pixels that gives back the view exactly at its own size (and its area average, to
    uint8 rounding, below it), so both see what the model predicted. Bilinear upsampling instead
    blurred every synthetic frame: on insertion_vision that moved each one by 0.16 in the learner's features,
    half of what the counterfactual actions change (test/benchmark/world_model_labels.py)."""
    return cv2.resize(view, (width, height), interpolation=cv2.INTER_NEAREST)


def at_success_pose(proprio: np.ndarray, goal: np.ndarray | None, scene: SceneConfig) -> np.ndarray:
    """(T,) bool for o'_1..o'_T of one counterfactual with proprio (T+1, 7), o'_0 the real anchor:
    whether it is at the pose where its real episode succeeded, ``goal`` (7,) (all False without
    one). At step t the TCP is no higher than the goal, and where it last went below the board's
    top (TCP within ``insert_depth`` above the goal's height; the anchor, if it starts there) it
    was within 2c of the goal's xy, with c = (hole - peg) / 2 the clearance, and its yaw within
    2c / (peg / sqrt 2) of the goal's (a corner of the square peg then moves by at most 2c): two
    poses in the hole are each within c of its centre, so at most 2c apart, and a peg sent down
    further off or turned further would have met the board. Only the entry is judged: below the
    board's top the hole's walls hold the peg, while the controller-integrated proprio follows
    whatever sideways commands come next."""
    p = np.asarray(proprio, np.float64)
    if goal is None:
        return np.zeros(len(p) - 1, bool)
    goal = np.asarray(goal, np.float64)
    within = scene.hole_size - scene.peg_size          # 2c
    yaw = np.angle(np.exp(1j * (p[:, 5] - goal[5])))
    aligned = (np.hypot(p[:, 0] - goal[0], p[:, 1] - goal[1]) <= within) & (
        np.abs(yaw) <= within / (scene.peg_size / np.sqrt(2.0)))
    in_board = p[:, 2] < goal[2] + scene.insert_depth
    entered_aligned, out = False, np.zeros(len(p), bool)
    for i in range(len(p)):
        if in_board[i] and (i == 0 or not in_board[i - 1]):     # went below the board's top here
            entered_aligned = bool(aligned[i])
        out[i] = in_board[i] and entered_aligned and p[i, 2] <= goal[2]
    return out[1:]


def residual_corrected(predicted: dict[str, np.ndarray], replay: dict[str, np.ndarray], real: dict[str, np.ndarray],
                       k: int) -> dict[str, np.ndarray]:
    """o'_t = o_t + (pred(A')_t - pred(A)_t), uint8: counterfactual frames {camera: (S*K, T, H, W, 3)},
    K per segment in order, from the model's replays of the real actions and the real frames
    {camera: (S, T, H, W, 3)} of their S segments."""
    out = {}
    for c, f in predicted.items():
        residual = np.repeat(real[c].astype(np.int16) - replay[c].astype(np.int16), k, axis=0)
        out[c] = np.clip(f.astype(np.int16) + residual, 0, 255).astype(np.uint8)
    return out


class ModelPredictor:
    needs_state = False            # predicts from the real o_0 alone

    def __init__(self, cfg: CellConfig, model: VideoWorldModel):
        self.cfg, self.model = cfg, model

    def frames(self, anchors: dict[str, np.ndarray], actions: np.ndarray) -> dict[str, np.ndarray]:
        """Anchors {camera: (N, H, W, 3)}, actions (N, T, 7) -> {camera: (N, T, H, W, 3)} at camera resolution."""
        return self._camera(self.model.predict(anchors, actions))

    def _camera(self, views: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{view: (..., s, s, 3)} predicted views -> {camera: (..., H, W, 3)} at camera resolution."""
        out = {}
        for c in CAMERAS:
            cam, v = self.cfg.camera(c), views[c]
            flat = [to_camera(f, cam.width, cam.height) for f in v.reshape(-1, *v.shape[-3:])]
            out[c] = np.stack(flat).reshape(*v.shape[:-3], cam.height, cam.width, 3)
        return out

    def __call__(self, segments, actions, k):
        anchors = {c: np.stack([s.images[c][0] for s in segments for _ in range(k)]) for c in CAMERAS}
        return self.frames(anchors, actions), kinematic_proprio(self.cfg, segments, actions, k)


class ModelPolicyPredictor(ModelPredictor):
    """The learned model with the current stochastic actor choosing each counterfactual's actions
    (``world_model.counterfactual_actions: policy``), closed loop: step t's action is
    ``actor(images, proprio)`` on the frame the rollout has reached (o_0 the real one), with the
    controller-integrated proprio. With ``correct_residual`` each segment's batch also replays
    its own actions, and the actor, like the learner, sees o'_t = o_t + pred(A')_t - pred(A)_t."""
    chooses_actions = True

    def __init__(self, cfg: CellConfig, model: VideoWorldModel, actor, correct_residual: bool):
        super().__init__(cfg, model)
        self.actor, self.correct_residual = actor, correct_residual

    def rollout(self, segments: list[RealSegment], k: int):
        """K closed-loop rollouts per segment, in order -> (frames the reward model labels {camera:
        (S*K, T, H, W, 3)}, proprio (S*K, T+1, 7), actions (S*K, T, 7), the learner's frames)."""
        cfg, r, T = self.cfg, k + int(self.correct_residual), len(segments[0].actions)
        seg_of = np.repeat(np.arange(len(segments)), r)
        policy = np.tile(np.arange(r) < k, len(segments))           # per segment: K policy rows (+ its replay)
        actions = np.zeros((len(seg_of), T, 7), np.float32)
        if self.correct_residual:
            actions[~policy] = np.stack([s.actions for s in segments])
        anchors = {c: np.stack([segments[i].images[c][0] for i in seg_of]) for c in CAMERAS}
        real = {c: np.stack([s.images[c] for s in segments]) for c in CAMERAS}      # (S, T+1, H, W, 3)

        def act(t: int, views: dict[str, np.ndarray]) -> np.ndarray:
            if t == 0:
                images = {c: anchors[c][policy] for c in CAMERAS}
            else:
                frames = self._camera(views)
                images = {c: f[policy] for c, f in frames.items()}
                if self.correct_residual:
                    images = residual_corrected({c: f[:, None] for c, f in images.items()},
                                                {c: f[~policy][:, None] for c, f in frames.items()},
                                                {c: f[:, t:t + 1] for c, f in real.items()}, k)
                    images = {c: f[:, 0] for c, f in images.items()}
            proprio = np.stack([synthetic_proprio(segments[i].proprio[:t + 1], segments[i].actions[:t],
                                                  actions[row, :t], cfg.task, cfg.controller)[t]
                                for row, i in zip(np.flatnonzero(policy), seg_of[policy])])
            actions[policy, t] = self.actor(images, proprio)
            return actions[:, t]

        frames = self._camera(self.model.predict(anchors, actions, act))
        labelled = {c: f[policy] for c, f in frames.items()}
        learner = labelled if not self.correct_residual else residual_corrected(
            labelled, {c: f[~policy] for c, f in frames.items()}, {c: f[:, 1:] for c, f in real.items()}, k)
        cf = actions[policy]
        return labelled, kinematic_proprio(cfg, segments, cf, k), cf, learner


class Generator:
    def __init__(self, cfg: CellConfig, predictor: Predictor, scorer: Scorer, rng: np.random.Generator,
                 correct_residual: bool = False, pose_gate: bool = False, label_corrected: bool = False):
        if set(cfg.world_model.views) != set(CAMERAS):
            raise ValueError(f'generation needs a model of all cameras {CAMERAS}, configured views '
                             f'{cfg.world_model.views}')
        if label_corrected and (not correct_residual or pose_gate):
            raise ValueError('labelling the corrected frames needs residual correction, without the pose gate')
        self.cfg, self.predictor, self.scorer, self.rng = cfg, predictor, scorer, rng
        self.correct_residual = correct_residual      # learner frames: o_t + pred(A')_t - pred(A)_t
        self.label_corrected = label_corrected        # the reward model labels those, not pred(A')_t
        self.pose_gate = pose_gate                    # successes must reach the segment's goal (at_success_pose)
        self.last_timing = {'predict_s': 0.0, 'label_s': 0.0}     # of the last generate() call
        # None: the scorer's labels as they are (the oracle); else the labels of predicted frames
        # are held to a calibrated threshold (core.worldmodel.calibration)
        self.calibration = None
        self.dropped_ambiguous = 0                                  # counterfactuals left out by it

    @property
    def needs_state(self) -> bool:
        """Whether segments must carry the saved sim state at o_0 (the oracle)."""
        return bool(getattr(self.predictor, 'needs_state', False))

    @property
    def calibrates_labels(self) -> bool:
        """Whether a learned model's labels here are held to label calibration: the pose gate and
        corrected-frame labels each replace it (the oracle needs none either way)."""
        return not (self.pose_gate or self.label_corrected)

    def _predict(self, segments: list[RealSegment], cf: np.ndarray, k: int):
        """(frames the reward model labels, proprio, frames the learner gets) of counterfactual
        actions ``cf`` (S*K, T, 7)."""
        if not self.correct_residual:
            frames, proprio = self.predictor(segments, cf, k)
            return frames, proprio, frames
        # one batch: each segment's K counterfactuals, then a replay of its own actions
        batch = np.stack([a for i, s in enumerate(segments) for a in [*cf[i * k:(i + 1) * k], s.actions]])
        frames, proprio = self.predictor(segments, batch, k + 1)
        replay = np.arange(len(batch)) % (k + 1) == k
        real = {c: np.stack([s.images[c][1:] for s in segments]) for c in CAMERAS}
        replayed = {c: f[replay] for c, f in frames.items()}
        frames = {c: f[~replay] for c, f in frames.items()}
        return frames, proprio[~replay], residual_corrected(frames, replayed, real, k)

    def generate(self, segments: list[RealSegment]) -> list[SyntheticTrajectory]:
        wm, k = self.cfg.world_model, self.cfg.world_model.counterfactuals
        for s in segments:
            T = len(s.actions)
            if s.actions.shape != (T, 7) or s.proprio.shape != (T + 1, 7) or any(
                    s.images[c].shape[0] != T + 1 or s.images[c].dtype != np.uint8 for c in CAMERAS):
                raise SegmentError(f'segment (episode {s.episode}, step {s.start}): need T+1 uint8 frames per camera, '
                                   f'(T, 7) actions and (T+1, 7) proprio; got actions {s.actions.shape}, '
                                   f'proprio {s.proprio.shape}, frames {[s.images[c].shape for c in CAMERAS]}')
        if len({len(s.actions) for s in segments}) > 1:
            raise SegmentError('segments of one batch must have the same length')
        t0 = time.perf_counter()
        if getattr(self.predictor, 'chooses_actions', False):     # counterfactual_actions: policy
            frames, proprio, cf, learner_frames = self.predictor.rollout(segments, k)
        else:
            cf = np.stack([perturb_actions(s.actions, self.cfg.task, self.rng, wm.perturb_scale, wm.perturb_noise)
                           for s in segments for _ in range(k)])
            frames, proprio, learner_frames = self._predict(segments, cf, k)
        t1 = time.perf_counter()
        if self.label_corrected:
            frames = learner_frames
        n, T = len(cf), len(segments[0].actions)
        scores, success = self.scorer({c: frames[c].reshape(n * T, *frames[c].shape[2:]) for c in CAMERAS})
        self.last_timing = {'predict_s': t1 - t0, 'label_s': time.perf_counter() - t1}
        scores, success = np.asarray(scores).reshape(n, T), np.asarray(success, bool).reshape(n, T)
        ambiguous = np.zeros_like(success)
        if self.pose_gate:           # accepted frames away from the goal only discredit a counterfactual that never gets there
            at_goal = np.stack([at_success_pose(proprio[i], segments[i // k].goal, self.cfg.task.scene)
                                for i in range(n)])
            accepted, success = success, success & at_goal
            ambiguous = accepted & ~at_goal & ~success.any(axis=1, keepdims=True)
        elif self.calibration is not None:
            theta = self.calibration.threshold
            calibrated = scores >= theta if theta is not None else np.zeros_like(success)
            success, ambiguous = calibrated, success & ~calibrated
        out = []
        for i, actions in enumerate(cf):
            seg = segments[i // k]
            end = int(np.argmax(success[i])) + 1 if success[i].any() else T
            if ambiguous[i, :end].any():
                self.dropped_ambiguous += 1
                continue
            out.append(SyntheticTrajectory(
                (seg.episode, seg.start),
                {c: np.concatenate([seg.images[c][:1], learner_frames[c][i, :end]]) for c in CAMERAS},
                actions[:end].astype(np.float32), proprio[i, :end + 1].astype(np.float32), scores[i, :end],
                success[i, :end]))
        return out
