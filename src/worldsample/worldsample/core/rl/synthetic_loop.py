"""The real-synthetic loop of the single-process trainer (WorldSample §3.1-3.2), ROS-free.

Fed every executed real step in stream order, it cuts T-step segments (core SegmentCutter, the
same cutter the world_model node uses); every ``batch_segments`` completed segments become K
counterfactual trajectories each, in one batched call of a :class:`Generator` (the learned world
model, or the simulator's oracle), labelled by the reward model and embedded into the learner's
positive or negative synthetic buffer. With ``world_model.success_pose_gate`` (learned models)
an episode's segments wait for its end, which tells where it succeeded: the goal the
generator's success labels are gated on; with ``world_model.label_frames: corrected`` the reward
model labels the residual-corrected frames and nothing is calibrated. A :class:`PostTrainer` keeps training the learned
world model on the accumulating rollouts (mixed with the demos, recency-weighted; the episodes
held out for label calibration excepted) in bursts of ``train.post_train_steps`` updates every
``train.post_train_every`` environment steps, so generation and post-training share the cores
with acting and learning in a fixed, recorded ratio. The first burst, once a rollout episode
has ended, is ``train.post_train_warmup`` updates long, and the learned model's segments are
skipped (counted) until it has run: a model fit to the demos alone makes frames the reward
model misreads.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import numpy as np

from ..config import CellConfig
from ..controller import project_action
from ..episode import StepRecord
from ..observation import CAMERAS
from ..worldmodel.calibration import LabelCalibrator
from ..worldmodel.data import Episode
from ..worldmodel.generator import Generator, ModelPolicyPredictor, ModelPredictor, SegmentCutter
from ..worldmodel.model import WorldModel
from ..worldmodel.training import RolloutEpisodes, mix, train as train_world_model
from . import sac
from .features import Featurizer
from .learner import Learner


class PostTrainer:
    def __init__(self, model: WorldModel, demos: list[Episode], every: int, steps: int, rng: np.random.Generator,
                 warmup: int = 0):
        self.model, self.demos, self.every, self.steps, self.rng = model, demos, every, steps, rng
        self.warmup = warmup            # updates of the first burst, which waits for a completed rollout
        self.trained = 0                # post-training updates so far
        self.stream = RolloutEpisodes(model.cfg)      # label calibration's held-out episodes left out
        self.rollouts: list[Episode] = []

    @property
    def warmed_up(self) -> bool:
        return self.trained >= self.warmup

    def observe(self, rec: StepRecord, obs: dict, next_obs: dict) -> None:
        self.rollouts += self.stream.add(rec.episode, rec.step, obs, obs['proprio'], rec.action, next_obs,
                                         next_obs['proprio'], rec.done)

    def maybe_train(self, env_step: int) -> bool:
        if env_step % self.every or not (self.demos or self.rollouts) or not (self.warmed_up or self.rollouts):
            return False
        steps = self.steps if self.warmed_up else max(self.steps, self.warmup - self.trained)
        episodes, weights = mix(self.demos, self.rollouts, self.model.cfg)
        train_world_model(self.model, episodes, weights, steps, self.rng, rollouts=bool(self.rollouts))
        self.trained += steps
        return True


class SyntheticLoop:
    def __init__(self, cfg: CellConfig, generator: Generator, learner: Learner, post_trainer: PostTrainer | None = None,
                 batch_segments: int = 4, calibrate_labels: bool = False, audit=None, positives: bool = True):
        self.cfg, self.generator, self.learner, self.post_trainer = cfg, generator, learner, post_trainer
        # False: trajectories labelled positive are left out (counted), a control that tells what
        # the synthetic negatives alone do for the learner
        self.positives = positives
        # simulation only: every generated label checked against the simulator (core.sim.label_audit)
        self.audit = audit
        self.cutter = SegmentCutter(cfg.world_model.segment_length, cfg.world_model.end_segments)
        # learned models: labels held to a threshold calibrated on replays of recent real segments of
        # held-out episodes (never post-trained on), at the first generation and again after every
        # post-training burst
        self.calibrator = LabelCalibrator(cfg.world_model) if calibrate_labels else None
        self.batch_segments = batch_segments    # segments per generation call (batched rollouts amortise on a CPU)
        self.pending: list = []
        # success_pose_gate: the current episode's segments wait for its end, which gives their goal
        self.waiting: list | None = [] if generator.pose_gate else None
        self.snapshots: dict[tuple[int, int], object] = {}
        self.counts = {'segments': 0, 'trajectories': 0, 'positive': 0, 'synthetic_transitions': 0,
                       'post_train_bursts': 0, 'dropped_ambiguous': 0, 'calibrations': 0, 'skipped_before_warmup': 0,
                       'dropped_positive': 0}
        self.wall = {'generation': 0.0, 'post_training': 0.0}

    @property
    def needs_state(self) -> bool:
        """Whether :meth:`observe` needs the sim state at each o_t (the oracle, or the label audit)."""
        return self.generator.needs_state or self.audit is not None

    def observe(self, rec: StepRecord, obs: dict, next_obs: dict, env_step: int, snapshot=None) -> None:
        """One executed real step (``snapshot``: the sim state at o_t, for the oracle)."""
        if snapshot is not None:
            self.snapshots[(rec.episode, rec.step)] = snapshot
        if self.post_trainer is not None:
            self.post_trainer.observe(rec, obs, next_obs)
        images = {c: obs[c] for c in CAMERAS}
        next_images = {c: next_obs[c] for c in CAMERAS}
        segment = self.cutter.add(rec.episode, rec.step, images, obs['proprio'], rec.action, next_images,
                                  next_obs['proprio'], rec.done)
        if segment is not None:
            segment.state = self.snapshots.get((segment.episode, segment.start))
            (self.pending if self.waiting is None else self.waiting).append(segment)
            self.counts['segments'] += 1
        if self.waiting is not None and rec.done:      # the episode's outcome: where it succeeded, if it did
            goal = np.asarray(next_obs['proprio'], np.float32) if rec.success else None
            for waiting in self.waiting:
                waiting.goal = goal
            self.pending, self.waiting = self.pending + self.waiting, []
        if self.calibrator is not None:
            self.calibrator.observe(rec.episode, rec.step, images, obs['proprio'], rec.action, next_images,
                                    next_obs['proprio'], rec.done, segment)
        if self.pending and self.post_trainer is not None and not self.post_trainer.warmed_up:
            self.counts['skipped_before_warmup'] += len(self.pending)    # the model is not yet fit to generate
            self.pending = []
        if len(self.pending) >= self.batch_segments:
            t0 = time.perf_counter()
            if self.calibrator is not None and self.calibrator.apply(self.generator):
                self.counts['calibrations'] = self.calibrator.calibrations
            trajectories = self.generator.generate(self.pending)
            if not self.positives:
                self.counts['dropped_positive'] += sum(t.positive for t in trajectories)
                trajectories = [t for t in trajectories if not t.positive]
            for traj in trajectories:
                positive = self.learner.add_synthetic(traj.images, traj.proprio, traj.actions, traj.success)
                self.counts['trajectories'] += 1
                self.counts['positive'] += positive
                self.counts['synthetic_transitions'] += len(traj.actions)
            self.counts['dropped_ambiguous'] = self.generator.dropped_ambiguous
            self.wall['generation'] += time.perf_counter() - t0
            if self.audit is not None:          # its own wall time, kept out of generation's
                self.audit(self.pending, trajectories)
            self.pending = []
        if segment is not None or rec.done:     # states before the next segment's start are let go
            first = rec.step - self.cutter.length if self.cutter.end_segments else rec.step    # an end segment's
            self.snapshots = {k: v for k, v in self.snapshots.items()
                              if not rec.done and k[0] == rec.episode and k[1] > first}
        if self.post_trainer is not None:
            t0 = time.perf_counter()
            if self.post_trainer.maybe_train(env_step):
                self.counts['post_train_bursts'] += 1
                if self.calibrator is not None:
                    self.calibrator.model_changed()
                self.wall['post_training'] += time.perf_counter() - t0

    def close(self) -> None:
        """Release the simulator replay envs of the oracle and the label audit (simulation only)."""
        for part in (self.generator.predictor, self.audit):
            if hasattr(part, 'close'):
                part.close()

    @property
    def label_calibration(self) -> dict | None:
        """The latest calibration (LabelCalibration fields)."""
        latest = self.calibrator.latest if self.calibrator is not None else None
        return dataclasses.asdict(latest) if latest is not None else None

    @property
    def label_audit(self) -> dict | None:
        """The label audit's summary so far (LabelAudit.summary), or None without one."""
        return self.audit.summary() if self.audit is not None else None


def reward_scorer(model) -> Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """A reward model (core.reward.classifier.RewardModel) as the generator's labeller: R_hat and
    y_hat = 1[R_hat >= delta_R] of every frame pair."""
    def score(frames):
        r = model.score(frames)
        return r, r >= model.threshold
    score.threshold = model.threshold    # delta_R, the base of label calibration
    return score


def stochastic_actor(cfg: CellConfig, current: Callable[[], tuple[sac.SACState, Featurizer]], seed: int) -> Callable:
    """The current actor as a predictor's policy: ({camera: (N, H, W, 3)}, proprio (N, 7)) -> (N, 7)
    sampled actions projected into the task's action box, as the episode loop executes them.
    ``current()`` gives the actor to sample at each call (the learner's state and featuriser in
    the single-process loop, the last broadcast parameters in the world_model node); its own
    explicit random key."""
    key = jax.random.PRNGKey(seed + 1)

    def act(images: dict[str, np.ndarray], proprio: np.ndarray) -> np.ndarray:
        nonlocal key
        key, k = jax.random.split(key)
        state, feat = current()
        a = np.asarray(sac.sample_actions(state, feat.batch(images, proprio), k), np.float64)
        return np.stack([project_action(x, cfg.task.action) for x in a]).astype(np.float32)
    return act


def build_loop(cfg: CellConfig, learner: Learner, source: str, scorer, seed: int, model: WorldModel | None = None,
               demo_episodes: list[Episode] = (), audit_labels: bool = False, positives: bool = True,
               oracle_proprio: str = 'simulated', labels: str = 'reward_model') -> SyntheticLoop:
    """The loop for ``source`` 'model' (the learned world model, post-trained on the rollouts mixed
    with ``demo_episodes``) or 'oracle' (the simulator replays; simulation only); with
    ``world_model.counterfactual_actions: policy`` the learner's current actor chooses the
    counterfactuals' actions (:func:`stochastic_actor`). ``audit_labels``
    (simulation only) checks every generated label against the simulator's truth; ``positives``
    False leaves out every trajectory labelled positive; ``oracle_proprio`` 'kinematic' gives the
    oracle's frames the learned model's controller-integrated proprio; ``labels`` 'truth' (oracle
    only, a control) labels with the simulator's success instead of ``scorer``."""
    rng = np.random.default_rng(seed)
    audit = None
    if audit_labels:
        from ..sim.label_audit import LabelAudit
        audit = LabelAudit(cfg)
    wm, policy = cfg.world_model, cfg.world_model.counterfactual_actions == 'policy'
    actor = stochastic_actor(cfg, lambda: (learner.state, learner.feat), seed) if policy else None
    if labels not in ('reward_model', 'truth'):
        raise ValueError(f"labels must be 'reward_model' or 'truth', got {labels!r}")
    if source == 'oracle':
        from ..sim.oracle import OraclePolicyPredictor, OraclePredictor, truth_scorer
        if policy and oracle_proprio != 'simulated':
            raise ValueError('the policy-driven oracle reads the simulated proprio only')
        predictor = (OraclePolicyPredictor(cfg, actor) if policy
                     else OraclePredictor(cfg, oracle_proprio))
        if labels == 'truth':
            scorer = truth_scorer(predictor)
        return SyntheticLoop(cfg, Generator(cfg, predictor, scorer, rng), learner, audit=audit, positives=positives)
    if labels != 'reward_model':
        raise ValueError('only the oracle knows the true labels')
    if source != 'model' or model is None:
        raise ValueError(f"synthetic source must be 'oracle' or 'model' with a world model, got {source!r}")
    post = PostTrainer(model, list(demo_episodes), cfg.train.post_train_every, cfg.train.post_train_steps, rng,
                       cfg.train.post_train_warmup)
    predictor = (ModelPolicyPredictor(cfg, model, actor, wm.residual_correction)
                 if policy else ModelPredictor(cfg, model))
    generator = Generator(cfg, predictor, scorer, rng, wm.residual_correction, wm.success_pose_gate,
                          wm.label_frames == 'corrected')
    return SyntheticLoop(cfg, generator, learner, post,
                         calibrate_labels=generator.calibrates_labels, audit=audit, positives=positives)
