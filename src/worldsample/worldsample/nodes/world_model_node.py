"""world_model node: counterfactual generation beside training (several can run side by side).

- cuts the real stream ``/worldsample/transitions`` into T-step segments (core SegmentCutter);
  a bounded queue of pending segments drops the oldest when generation falls behind;
- a worker thread takes up to ``batch_segments`` segments at a time and makes K
  counterfactuals each with the world model (core Generator: perturbed actions, one batched
  rollout, proprio through the controller's integration), on a GPU when torch sees one; with
  ``world_model.residual_correction`` the same rollout replays each segment's own actions and
  the published frames have the model's error on them taken out;
- labels every predicted frame pair with one batched call of the reward model service
  ``/reward_model/score`` (y_hat = 1[R_hat >= delta_R]), held to a threshold calibrated on
  replays of recent real segments of held-out episodes (core.worldmodel.calibration.held_out:
  every ``label_holdout_every``-th, which world_model_trainer never trains on) before the first
  batch and after weights reloads, at most every ``calibrate_every_s``
  (core.worldmodel.calibration.LabelCalibrator, the same as the single-process loop, which
  recalibrates after every post-training burst);
- generates only once the weights have had ``warmup`` updates on real rollouts (the weights
  file counts them; default ``train.post_train_warmup``): a model fit to the demos alone draws
  successes that did not happen. Segments that arrive before are counted and let go;
- keeps positive and negative queues (bounded, oldest dropped) and publishes them, alternating,
  on ``/worldsample/synthetic_transitions`` (Transition, origin SYNTHETIC) while a subscriber
  listens: each trajectory contiguously, its last step ``terminated`` (positive) or
  ``truncated`` (negative);
- watches the weights file and loads new weights between batches (asynchronous post-training
  writes it atomically), without a restart;
- answers ``~/predict`` (PredictFrames): an anchor frame pair and an action sequence in, the
  predicted frames of both cameras out, so a user or another node can ask the model what an
  action sequence would do; bad shapes, encodings or values are refused by name;
- with ``world_model.success_pose_gate`` an episode's segments wait for its end (or for the next
  episode's first step, then without a goal), and a synthetic success must also reach the pose
  where that episode succeeded (core generator.at_success_pose), in place of label calibration;
- with ``world_model.label_frames: corrected`` the reward model labels the residual-corrected
  frames the node publishes, and nothing is calibrated;
- with ``world_model.counterfactual_actions: policy`` the current stochastic actor chooses each
  counterfactual's actions on the frames the rollout reaches (core ModelPolicyPredictor, as in the
  single-process loop): the node takes the learner's actor broadcast ``/learner/actor_params``
  as the policy node does (checked by the same loader; a bad one is refused by name and the
  previous actor kept), and lets segments go (counted) until the first one has arrived.
The worker runs at CPU niceness ``nice`` (10) so the control loop is scheduled first.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from rclpy.node import Node
from rclpy.task import Future
from worldsample_msgs.msg import ActorParams, Transition
from worldsample_msgs.srv import PredictFrames, ScoreFrames

from ..core.controller import project_action
from ..core.images import ImageError
from ..core.observation import CAMERAS
from ..core.worldmodel.calibration import LabelCalibrator
from ..core.worldmodel.generator import (Generator, ModelPolicyPredictor, ModelPredictor, SegmentCutter,
                                         SyntheticTrajectory)
from ..core.worldmodel.model import WorldModel, sized
from .common import (LATCHED_QOS, PARAMS_TOPIC, SYNTHETIC_QOS, SYNTHETIC_TOPIC, TRANSITION_QOS, TRANSITION_TOPIC,
                     array_to_image, declare_config, image_to_array, real_step, yield_to_control_loop, spin_node)



class GenerationError(RuntimeError):
    """A batch that could not be labelled (reward model missing, failing or too slow)."""


class ServiceScorer:
    """The reward model service as the generator's scorer; ``threshold`` is its delta_R as last reported."""

    def __init__(self, node: 'WorldModelNode', max_pairs: int):
        self.node, self.max_pairs, self.threshold = node, max_pairs, float('nan')

    def __call__(self, frames: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Scored in requests of at most ``max_pairs`` frame pairs (a calibration replays hundreds)."""
        n = len(frames['wrist_camera'])
        parts = [self.node._score({c: f[i:i + self.max_pairs] for c, f in frames.items()})
                 for i in range(0, n, self.max_pairs)]
        self.threshold = parts[-1][2]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class WorldModelNode(Node):
    def __init__(self):
        super().__init__('world_model')
        yield_to_control_loop(self)    # niceness 10, off the control loop's CPU (parameters nice, cpus)
        self.cfg = declare_config(self)
        self.weights = Path(self.declare_parameter('weights', 'runs/world_model/world_model.safetensors').value)
        self.size = self.declare_parameter('size', 'default').value
        device = self.declare_parameter('device', '').value or None
        seed = int(self.declare_parameter('seed', 0).value)
        threads = int(self.declare_parameter('threads', 1).value)   # torch threads; 0 = torch's default (all cores)
        self.batch_segments = int(self.declare_parameter('batch_segments', 4).value)
        self.score_timeout = float(self.declare_parameter('score_timeout_s', 10.0).value)
        self.reload_every = float(self.declare_parameter('reload_every_s', 5.0).value)
        queue = int(self.declare_parameter('queue_trajectories', 256).value)
        warmup = int(self.declare_parameter('warmup', -1).value)     # -1: the task's train.post_train_warmup
        self.warmup = self.cfg.train.post_train_warmup if warmup < 0 else warmup
        if threads:
            torch.set_num_threads(threads)
        self.wm_cfg = sized(self.cfg.world_model, self.size)
        self.model = WorldModel.load(self.weights, self.wm_cfg, device)
        self.mtime = self.weights.stat().st_mtime_ns
        self.scorer = ServiceScorer(self, int(self.declare_parameter('score_batch', 128).value))
        # counterfactual_actions: policy -- the learner's broadcast actor chooses the actions
        self.policy = self.wm_cfg.counterfactual_actions == 'policy'
        self.actor = None                   # core.rl.deployed_actor.LoadedActor, once broadcast
        if self.policy:                     # JAX only where the node samples the actor
            from ..core.rl.deployed_actor import ActorLoader
            from ..core.rl.synthetic_loop import stochastic_actor
            self.actor_loader = ActorLoader(self.cfg)
            predictor = ModelPolicyPredictor(self.cfg, self.model, stochastic_actor(
                self.cfg, lambda: (self.actor.state, self.actor.feat), seed), self.wm_cfg.residual_correction)
        else:
            predictor = ModelPredictor(self.cfg, self.model)
        self.generator = Generator(self.cfg, predictor, self.scorer, np.random.default_rng(seed),
                                   self.wm_cfg.residual_correction, self.wm_cfg.success_pose_gate,
                                   self.wm_cfg.label_frames == 'corrected')
        # success_pose_gate: the current episode's segments wait for its end, which gives their goal
        self.waiting: list | None = [] if self.wm_cfg.success_pose_gate else None
        self.cutter = SegmentCutter(self.wm_cfg.segment_length, self.wm_cfg.end_segments)
        self.calibrator = LabelCalibrator(self.wm_cfg, float(self.declare_parameter('calibrate_every_s', 120.0).value))
        self.pending: deque = deque(maxlen=int(self.declare_parameter('max_pending_segments', 32).value))
        self.positive: deque[SyntheticTrajectory] = deque(maxlen=queue)
        self.negative: deque[SyntheticTrajectory] = deque(maxlen=queue)
        self.counts = {'segments': 0, 'dropped_segments': 0, 'skipped_before_warmup': 0, 'positive': 0, 'negative': 0,
                       'dropped_ambiguous': 0, 'calibrations': 0, 'published': 0}
        if self.policy:
            self.counts |= {'skipped_without_actor': 0, 'actor_version': -1}
            self.params: ActorParams | None = None     # the newest broadcast, read by the worker between batches
            self.tried_version = -1
            self.create_subscription(ActorParams, PARAMS_TOPIC, self.on_params, LATCHED_QOS)
        self.next_id = seed * 1_000_000_000       # synthetic trajectory ids (Transition.episode) per worker
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.finished = Future()             # fails if the worker dies (spin_node exits 1)
        self.client = self.create_client(ScoreFrames, '/reward_model/score')
        self.pub = self.create_publisher(Transition, SYNTHETIC_TOPIC, SYNTHETIC_QOS)
        self.max_predict_steps = int(self.declare_parameter('max_predict_steps', 64).value)
        self.model_lock = threading.Lock()    # one prediction at a time: generation batches vs ~/predict
        self.create_service(PredictFrames, '~/predict', self.on_predict)
        self.create_subscription(Transition, TRANSITION_TOPIC, self.on_transition, TRANSITION_QOS)
        self.thread = threading.Thread(target=self._work, name='generate', daemon=True)
        self.thread.start()
        self.get_logger().info(f'world model {self.weights} ({self.model.n_params / 1e6:.2f}M parameters, '
                               f'{self.model.steps} training steps) on {self.model.device}, sampling in '
                               f'{str(self.model.sample_dtype).removeprefix("torch.")}; '
                               f'K={self.wm_cfg.counterfactuals} counterfactuals per {self.wm_cfg.segment_length}-step '
                               f'segment ({self.wm_cfg.counterfactual_actions} actions); generating after '
                               f'{self.warmup} post-training updates on rollouts (the weights have '
                               f'{self.model.rollout_steps})')

    # -- real stream ---------------------------------------------------------------------
    def on_transition(self, msg: Transition) -> None:
        step = real_step(self, msg, self.cfg)
        if step is None:
            return
        segment = self.cutter.add(*step)
        self.calibrator.observe(*step, segment)
        if self.waiting is None:
            self._queue([segment] if segment is not None else [])
            return
        if self.waiting and self.waiting[0].episode != msg.episode:    # its end never arrived: no goal
            self._queue(self.waiting)
            self.waiting = []
        if segment is not None:
            self.waiting.append(segment)
        if step[-1]:                         # the episode's end: where it succeeded, if it did
            goal = np.asarray(msg.next_proprio, np.float32) if msg.terminated else None
            for waiting in self.waiting:
                waiting.goal = goal
            self._queue(self.waiting)
            self.waiting = []

    def _queue(self, segments: list) -> None:
        for segment in segments:
            if len(self.pending) == self.pending.maxlen:
                self.counts['dropped_segments'] += 1
            self.pending.append(segment)
            self.counts['segments'] += 1
        if segments:
            self.wake.set()

    def on_params(self, msg: ActorParams) -> None:
        """Keep the newest actor broadcast; the worker reads it before its next batch."""
        self.params = msg

    def _maybe_take_actor(self) -> None:
        """Swap in the newest broadcast actor (worker thread, between batches); a bad one is refused
        by name and the previous actor kept."""
        msg = self.params
        if msg is None or msg.version == self.tried_version:
            return
        self.tried_version = msg.version
        from ..core.rl.deployed_actor import ParamsError
        try:
            actor = self.actor_loader.load(msg.version, msg.obs_dim, msg.actor, msg.encoder)
        except ParamsError as e:
            self.get_logger().error(f'{e}; keeping actor version {self.actor.version if self.actor else "none"}',
                                    throttle_duration_sec=5.0)
            return
        if self.actor is None:
            self.get_logger().info(f'counterfactual actions from the actor, v{actor.version}')
        self.actor = actor
        self.counts['actor_version'] = actor.version

    # -- generation service --------------------------------------------------------------
    def on_predict(self, request: PredictFrames.Request, response: PredictFrames.Response) -> PredictFrames.Response:
        try:
            anchor = {}
            for name, msg in (('wrist_camera', request.wrist), ('side_camera', request.side)):
                cam = self.cfg.camera(name)
                try:
                    anchor[name] = image_to_array(msg, (cam.height, cam.width))[None]
                except ImageError as e:
                    raise ValueError(f'{name}: {e}') from None
            actions = np.asarray(request.actions, np.float64)
            if len(actions) == 0 or len(actions) % 7:
                raise ValueError(f'actions must be T x 7 values (T >= 1), got {len(actions)}')
            if len(actions) // 7 > self.max_predict_steps:
                raise ValueError(f'at most {self.max_predict_steps} steps per request, got {len(actions) // 7}')
            if not np.all(np.isfinite(actions)):
                raise ValueError('actions contain NaN or inf')
            actions = project_action(actions.reshape(-1, 7), self.cfg.task.action)[None]
        except ValueError as e:
            response.ok, response.message = False, str(e)
            self.get_logger().warning(f'predict request refused: {e}', throttle_duration_sec=2.0)
            return response
        with self.model_lock:
            frames = self.generator.predictor.frames(anchor, actions)
        stamp = self.get_clock().now().to_msg()
        response.wrist = [array_to_image(f, stamp, 'wrist_camera') for f in frames['wrist_camera'][0]]
        response.side = [array_to_image(f, stamp, 'side_camera') for f in frames['side_camera'][0]]
        response.ok, response.message = True, ''
        return response

    # -- worker --------------------------------------------------------------------------
    def _score(self, frames: dict[str, np.ndarray]):
        """(R_hat, y_hat, delta_R) of the frames from the reward model service."""
        stamp = self.get_clock().now().to_msg()
        request = ScoreFrames.Request(wrist=[array_to_image(f, stamp, 'wrist') for f in frames['wrist_camera']],
                                      side=[array_to_image(f, stamp, 'side') for f in frames['side_camera']])
        if not self.client.wait_for_service(timeout_sec=self.score_timeout):
            raise GenerationError('reward model service /reward_model/score is not available')
        done = threading.Event()
        future = self.client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.score_timeout):
            raise GenerationError(f'reward model did not answer within {self.score_timeout} s')
        result = future.result()
        if not result.ok:
            raise GenerationError(f'reward model refused the frames: {result.message}')
        return np.asarray(result.scores), np.asarray(result.success, bool), float(result.threshold)

    def _work(self) -> None:
        try:
            self._work_loop()
        except Exception as e:   # a dead worker must take the node down, loudly; control is unaffected
            if self.stop.is_set() or not self.context.ok():   # Ctrl-C mid-batch: that batch is dropped, no error
                return
            self.get_logger().error(f'generation stopped: {type(e).__name__}: {e}')
            self.finished.set_exception(RuntimeError(f'generation worker failed: {type(e).__name__}: {e}'))

    def _work_loop(self) -> None:
        last_check = time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() - last_check >= self.reload_every:
                last_check = time.monotonic()
                self._maybe_reload()
            self._publish_queued()
            if not self.pending:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            batch = [self.pending.popleft() for _ in range(min(self.batch_segments, len(self.pending)))]
            if self.policy:
                self._maybe_take_actor()
                if self.actor is None:
                    self.counts['skipped_without_actor'] += len(batch)
                    self.get_logger().info(f'waiting for actor parameters on {PARAMS_TOPIC} (counterfactual_actions: '
                                           f'policy); {self.counts["skipped_without_actor"]} segments let go so far',
                                           throttle_duration_sec=30.0)
                    continue
            if self.model.rollout_steps < self.warmup:
                self.counts['skipped_before_warmup'] += len(batch)
                self.get_logger().info(f'waiting for the warm-up: the weights have {self.model.rollout_steps} of '
                                       f'{self.warmup} post-training updates on rollouts; '
                                       f'{self.counts["skipped_before_warmup"]} segments let go so far',
                                       throttle_duration_sec=30.0)
                continue
            t0 = time.perf_counter()
            try:
                with self.model_lock:
                    calibration = (self.calibrator.apply(self.generator) if self.generator.calibrates_labels
                                   else None)
                    trajectories = self.generator.generate(batch)
            except GenerationError as e:
                self.get_logger().error(f'{len(batch)} segment(s) not used: {e}', throttle_duration_sec=5.0)
                continue
            if calibration is not None:
                self.counts['calibrations'] = self.calibrator.calibrations
                trusted = (f'success at R_hat >= {calibration.threshold:.3f} (precision {calibration.precision:.2f})'
                           if calibration.threshold is not None else 'no predicted success trusted')
                self.get_logger().info(f'labels calibrated on {len(self.calibrator.recent.segments)} real segments '
                                       f'({calibration.real_positive_frames} successful frames): {trusted}')
            self.counts['dropped_ambiguous'] = self.generator.dropped_ambiguous
            for t in trajectories:
                (self.positive if t.positive else self.negative).append(t)
                self.counts['positive' if t.positive else 'negative'] += 1
            frames = sum(len(t.actions) for t in trajectories)
            timing = self.generator.last_timing
            self.get_logger().info(
                f'{len(trajectories)} counterfactuals ({sum(t.positive for t in trajectories)} positive) from '
                f'{len(batch)} segment(s), {frames} frames in {time.perf_counter() - t0:.2f} s (predict '
                f'{timing["predict_s"]:.2f} s, reward model {timing["label_s"]:.2f} s); totals {self.counts}',
                throttle_duration_sec=10.0)

    def _maybe_reload(self) -> None:
        try:
            mtime = self.weights.stat().st_mtime_ns
            if mtime == self.mtime:
                return
            model = WorldModel.load(self.weights, self.wm_cfg, str(self.model.device))
        except (FileNotFoundError, ValueError) as e:
            self.get_logger().error(f'new weights not loaded, keeping the current ones: {e}', throttle_duration_sec=30.0)
            return
        with self.model_lock:
            self.mtime, self.model = mtime, model
            self.generator.predictor.model = model
        self.calibrator.model_changed()
        self.get_logger().info(f'loaded new world model weights ({model.steps} training steps)')

    def _publish_queued(self) -> None:
        """Alternate positives and negatives while a subscriber listens; otherwise keep them queued."""
        while (self.positive or self.negative) and self.pub.get_subscription_count() > 0:
            for q in (self.positive, self.negative):
                if q:
                    self._publish(q.popleft())

    def _publish(self, traj: SyntheticTrajectory) -> None:
        stamp = self.get_clock().now().to_msg()
        n = len(traj.actions)
        for t in range(n):
            img = {c: array_to_image(traj.images[c][t], stamp, c) for c in CAMERAS}
            nxt = {c: array_to_image(traj.images[c][t + 1], stamp, c) for c in CAMERAS}
            success = bool(traj.success[t])
            msg = Transition(origin=Transition.ORIGIN_SYNTHETIC, episode=self.next_id % 2 ** 32, step=t,
                             wrist=img['wrist_camera'], side=img['side_camera'],
                             proprio=traj.proprio[t].tolist(), action=traj.actions[t].tolist(), intervened=False,
                             reward=float(success), terminated=success, truncated=t == n - 1 and not success,
                             success=success, next_wrist=nxt['wrist_camera'], next_side=nxt['side_camera'],
                             next_proprio=traj.proprio[t + 1].tolist())
            msg.header.stamp = stamp
            self.pub.publish(msg)
        self.next_id += 1
        self.counts['published'] += 1

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=30)
        print(f'world model worker stopped: {self.counts}', flush=True)


def main(args=None):
    spin_node(WorldModelNode, args)


if __name__ == '__main__':
    main()
