"""learner node: SAC/RLPD training on the transition stream (the GPU side of the graph).

- consumes ``/worldsample/transitions``: images are checked against the camera config and
  embedded once on arrival; intervened steps are also copied to the demo buffer (HIL-SERL);
  a malformed transition is refused with a message naming the problem and training goes on;
- consumes ``/worldsample/synthetic_transitions`` (world-model workers) the same way: each
  trajectory is assembled from its steps (core.rl.synthetic) and stored whole in the positive
  or negative synthetic buffer; Policy-Paced Learning (``ppl.mode``, core.rl.ppl) decides how
  many synthetic rows each critic batch gets;
- trains in a background thread as fast as the data allows (core.rl.learner.Learner); every
  update it will run is compiled on start (``Learner.warm_up``), so neither the first update
  nor a Ctrl-C waiting for the current one stops for a compile;
- broadcasts versioned actor parameters + the frozen encoder on ``/learner/actor_params``
  (transient-local: a late policy gets the latest at once) every ``publish_every_s``;
- checkpoints agent, buffers and encoder to ``<run_dir>/checkpoint`` every
  ``checkpoint_every_s`` and on shutdown; on start it resumes from there when a checkpoint
  exists, else it starts from ``demos`` (a dataset from record_demos: fits the encoder and
  fills the demo buffer);
- writes every valid real transition to an append-only transition log
  (``<run_dir>/transitions_<generation>.log``, core.recording.transition_log), fsync'd before the
  transition is stored and counted; each checkpoint starts a new generation and records where
  it stands, and on start the records past that are replayed, so a SIGKILL loses none of the
  transitions received before it (``recovered`` in the stats); then it asks the policy's
  ``~/replay`` for the transitions published after the newest one it holds (those it missed
  while down) and stores them from ``/worldsample/transitions_replay`` (``caught_up``), each
  (episode, step) once, ``catch_up_chunk`` (50) at a time: the next chunk is asked for once all
  of one has come, so a learner storing slowly never overflows its queue, and a chunk that
  stops short is asked for again (core.recording.transition_log.CatchUp); each whole synthetic
  trajectory goes into the same log as one record of its embedded rows and is replayed the same
  way (``synthetic_recovered``);
- publishes ``/learner/stats`` (rqt_plot) and writes the same numbers as TensorBoard scalars
  to ``<run_dir>/tensorboard``;
- runs at CPU niceness ``nice`` (10) and off the lowest CPU (``cpus``), so on a machine shared
  with the robot-side nodes the 10 Hz control loop is scheduled first.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.task import Future
from tensorboardX import SummaryWriter
from worldsample_msgs.msg import ActorParams, LearnerStats, Transition
from worldsample_msgs.srv import ReplayTransitions

from ..core.recording.dataset import load_dataset
from ..core.recording.transition_log import CatchUp, HeldIds, TransitionLog, TransitionLogError
from ..core.rl.deployed_actor import export_actor
from ..core.rl.learner import Learner
from ..core.rl.synthetic import RECORD_MAGIC, SyntheticAssembler, from_record, to_record
from .common import (LATCHED_QOS, PARAMS_TOPIC, REPLAY_TOPIC, STATE_QOS, SYNTHETIC_QOS, SYNTHETIC_TOPIC,
                     TRANSITION_QOS, TRANSITION_TOPIC, compile_cache, declare_config, spin_node, transition_images,
                     yield_to_control_loop)

STATS_TOPIC = '/learner/stats'
STAT_FIELDS = ('critic_loss', 'actor_loss', 'q_mean', 'entropy', 'temperature')
PPL_FIELDS = ('entropy_ema', 'rho', 'positive_share', 'w_q', 'q_real', 'q_positive', 'q_negative')
LOG_EVERY_S = 10.0


class LearnerNode(Node):
    def __init__(self):
        super().__init__('learner')
        yield_to_control_loop(self)    # niceness 10, off the control loop's CPU (parameters nice, cpus)
        compile_cache(self)
        self.cfg = declare_config(self)
        mode = self.declare_parameter('ppl_mode', '').value
        if mode:   # a run's variant without editing the task YAML
            self.cfg = dataclasses.replace(self.cfg, ppl=dataclasses.replace(self.cfg.ppl, mode=mode))
        run_dir = Path(self.declare_parameter('run_dir', 'runs/learner').value)
        demos = self.declare_parameter('demos', '').value
        seed = int(self.declare_parameter('seed', 0).value)
        publish_every = float(self.declare_parameter('publish_every_s', 2.0).value)
        self.checkpoint_every = float(self.declare_parameter('checkpoint_every_s', 30.0).value)
        stats_every = float(self.declare_parameter('stats_every_s', 1.0).value)
        catch_up_chunk = int(self.declare_parameter('catch_up_chunk', 50).value)
        if catch_up_chunk < 1:      # refused before the start-up's minute, not after it
            raise ValueError(f'catch_up_chunk must be at least 1, got {catch_up_chunk}')
        self.checkpoint = run_dir / 'checkpoint'
        self.run_dir = run_dir
        self.learner = self._start(demos, seed)
        started = time.monotonic()
        self.learner.warm_up()     # compiled here, not in the first update (nor a Ctrl-C's wait for it)
        self.get_logger().info(f'updates compiled in {time.monotonic() - started:.1f} s')
        self.encoder_bytes = self.learner.feat.encoder.to_bytes()
        self.lock = threading.Lock()     # buffers + sampling rng + log: transition callbacks vs training thread
        self.refusals: Counter[str] = Counter()   # refused real transitions by reason (the error's type)
        self.not_durable = 0             # stored although the log could not be written (disk full, ...)
        self.held = HeldIds()            # (episode, step) ids held, in bounded memory: each stored once
        self.assembler = SyntheticAssembler()
        self.synthetic = {'trajectories': 0, 'rejected': 0, 'recovered': 0}
        self.log, self.recovered = self._open_log()
        resumed_at = self.learner.last_real_id   # the policy re-sends what came after this
        self.held.floor = max(self.held.floor, resumed_at)    # in the checkpoint or the log
        self.caught_up = 0
        self.catchup = CatchUp(resumed_at, time.monotonic(), chunk=catch_up_chunk)   # what to ask the spool for
        self.checkpointed = self.learner.received
        self.info: dict[str, float] = {}
        self.published = -1
        self.last_stats = (time.monotonic(), self.learner.version)
        self.last_log = time.monotonic()
        self.finished = Future()         # fails if the training thread dies (spin_node exits 1)
        self.tb = SummaryWriter(str(run_dir / 'tensorboard'))
        self.pub_params = self.create_publisher(ActorParams, PARAMS_TOPIC, LATCHED_QOS)
        self.pub_stats = self.create_publisher(LearnerStats, STATS_TOPIC, STATE_QOS)
        self.create_subscription(Transition, TRANSITION_TOPIC, self.on_transition, TRANSITION_QOS)
        self.create_subscription(Transition, REPLAY_TOPIC, self.on_replayed, TRANSITION_QOS)
        self.replay_client = self.create_client(ReplayTransitions, '/policy/replay')
        # everything published after the newest transition held (a new run: everything the policy spooled)
        self.replay_timer = self.create_timer(1.0, self.request_replay)
        self.create_subscription(Transition, SYNTHETIC_TOPIC, self.on_synthetic, SYNTHETIC_QOS)
        self.publish_params()
        self.create_timer(publish_every, self.publish_params)
        self.create_timer(stats_every, self.publish_stats)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._train_loop, name='train', daemon=True)
        self.thread.start()

    def _log_path(self, generation: int) -> Path:
        return self.run_dir / f'transitions_{generation}.log'

    def _open_log(self) -> tuple[TransitionLog, int]:
        """Replay what the logs hold past the checkpoint's position (real transitions and whole
        synthetic trajectories), then append to the newest one."""
        gen, position = self.learner.log_position
        files = self.run_dir.glob('transitions_*.log')
        gens = sorted(int(p.stem.split('_')[1]) for p in files if p.stem.split('_')[1].isdigit())
        for g in gens:
            if g < gen:                  # already in the checkpoint
                self._log_path(g).unlink()
        recovered = 0
        for g in [g for g in gens if g >= gen]:
            try:
                log = TransitionLog(self._log_path(g))
            except TransitionLogError as e:
                raise ValueError(f'cannot replay the transition log: {e}') from None
            if log.cut:
                self.get_logger().warning(f'{log.path.name} ended in {log.cut} (a crash while writing): cut off')
            start = position if g == gen else 0
            if log.records < start:
                self.get_logger().error(f'{log.path.name} holds {log.records} records but the checkpoint has '
                                        f'{start} of them: the log is not this run\'s; nothing replayed from it')
            for payload in log.read(start):
                if payload.startswith(RECORD_MAGIC):
                    self._recover_synthetic(payload)
                else:
                    self._store_real(deserialize_message(payload, Transition), logged=False)
                    recovered += 1
            log.close()
        newest = max([gen, *gens])
        log = TransitionLog(self._log_path(newest))
        self.learner.log_position = (newest, log.records)     # everything logged so far is in memory now
        if recovered or self.synthetic['recovered']:
            self.get_logger().info(f'recovered {recovered} transitions and {self.synthetic["recovered"]} synthetic '
                                   f'trajectories from the transition log (received {self.learner.received} in all)')
        return log, recovered

    def _start(self, demos: str, seed: int) -> Learner:
        log = self.get_logger()
        if Learner.checkpoint_exists(self.checkpoint):
            learner = Learner.resume(self.cfg, self.checkpoint)
            log.info(f'resumed from {self.checkpoint}: version {learner.version}, online {len(learner.online)}, '
                     f'demo {len(learner.demo)} transitions')
            return learner
        if not demos:
            raise ValueError(f'no checkpoint in {self.checkpoint} and no demos:=<dataset.npz> to start from '
                             '(record one with record_demos)')
        learner = Learner.from_dataset(self.cfg, load_dataset(demos), seed)
        for old in self.run_dir.glob('transitions_*.log'):   # another run's, whose checkpoint is gone
            log.warning(f'removing {old.name}: no checkpoint holds its transitions\' run')
            old.unlink()
        learner.save(self.checkpoint)
        log.info(f'new run from {demos}: {len(learner.demo)} demo transitions, encoder '
                 f'{learner.feat.encoder.out_dim}-d, features {learner.feat.dim}-d; checkpoint {self.checkpoint}')
        return learner

    # -- data ----------------------------------------------------------------------------
    def request_replay(self) -> None:
        """Ask the policy's replay service, once it is there, for what came after each hole's start:
        at start-up the newest transition held (what was published while this learner was down),
        later any gap in the live stream."""
        now = time.monotonic()
        stalled = self.catchup.stalled(now)
        if stalled:
            self.get_logger().warning(stalled)
        if not self.catchup.pending:
            return
        if not self.replay_client.service_is_ready():
            self.get_logger().info('waiting for /policy/replay to catch up on transitions missed while down',
                                   throttle_duration_sec=30.0)
            return
        after = self.catchup.due(now)   # duplicates of what is held are skipped
        if after is None:
            return
        future = self.replay_client.call_async(ReplayTransitions.Request(episode=after[0], step=after[1],
                                                                         max_count=self.catchup.chunk))
        future.add_done_callback(lambda f: self._on_replay_answer(f, after))

    def _on_replay_answer(self, future, after) -> None:
        result = future.result()
        if result is None or not result.ok:
            self.get_logger().error(f'catch-up refused: {result.message if result else "no answer"}')
            self.catchup.answered(after, None, time.monotonic())
        else:
            self.get_logger().info(f'catching up from episode {after[0]} step {after[1]}: {result.message}')
            self.catchup.answered(after, result.count, time.monotonic())
            self._next_chunk()

    def on_replayed(self, msg: Transition) -> None:
        self.catchup.on_replayed((msg.episode, msg.step), time.monotonic())
        if (msg.episode, msg.step) not in self.held:   # else held already (before the restart, or live since)
            self._take(msg)
            if (msg.episode, msg.step) in self.held:
                self.caught_up += 1
        self._next_chunk()

    def _next_chunk(self) -> None:
        """Ask for the next chunk as soon as the last one has all come (not at the next timer tick)."""
        if self.catchup.flight is None and self.catchup.pending:
            self.request_replay()

    def on_transition(self, msg: Transition) -> None:
        key = (msg.episode, msg.step)
        last = self.catchup.gaps.last
        backwards = key <= self.held.floor or (last is not None and key <= last)
        if backwards and key in self.held and self._well_formed(msg):
            # the live stream's ids only grow (one writer, reliable, and a restarted policy numbers on
            # from its spool folder): a policy restarted on another folder numbers from 0 again.
            self.get_logger().warning(f'the live stream repeats episode {key[0]} step {key[1]}, which this learner '
                                      'holds: the policy restarted without its spool folder and numbers episodes '
                                      'from the start again; its ids count as new from here')
            self.held = HeldIds()
            self.catchup.restart()
            with self.lock:                  # the training thread writes it into checkpoints
                self.learner.last_real_id = (-1, -1)
        gap = self.catchup.on_live(key, msg.terminated or msg.truncated, self.learner.last_real_id)
        if gap is not None:
            self.get_logger().warning(f'transitions after episode {gap[0]} step {gap[1]} are missing from the '
                                      f'stream (at episode {msg.episode} step {msg.step}): asking the policy again')
        self._take(msg)

    def _take(self, msg: Transition) -> None:
        if (msg.episode, msg.step) in self.held:
            return                          # the same transition, live and re-sent
        if msg.origin != Transition.ORIGIN_REAL:
            self._refuse(msg, 'origin', f'origin {msg.origin} on the real stream')
            return
        try:
            self._store_real(msg, logged=True)
        except ValueError as e:   # ImageError, FeatureError, EncoderError, BufferError: the message says which
            self._refuse(msg, type(e).__name__, str(e))

    def _refuse(self, msg: Transition, kind: str, why: str) -> None:
        """Count a refused real transition by kind; the first of each kind is always logged, the
        rest at most every 2 s (the periodic line counts them all)."""
        self.refusals[kind] += 1
        text = f'transition (episode {msg.episode}, step {msg.step}) refused: {why}'
        if self.refusals[kind] == 1:
            self.get_logger().error(text)
        else:
            self.get_logger().error(text, throttle_duration_sec=2.0)

    def _well_formed(self, msg: Transition) -> bool:
        try:
            transition_images(msg, self.cfg)
        except ValueError:
            return False
        return msg.origin == Transition.ORIGIN_REAL

    def _store_real(self, msg: Transition, logged: bool) -> None:
        """Check and embed a real transition, write it to the log (fsync'd; not when it comes from the
        log), then store and count it. The log is the one current under the lock: a checkpoint swaps
        it for the next generation."""
        obs, nxt = transition_images(msg, self.cfg)
        f, f_next = self.learner.embed(obs, msg.proprio), self.learner.embed(nxt, msg.next_proprio)
        self.learner.check(f, msg.action, msg.reward, f_next)     # refused before it reaches the log
        with self.lock:
            if logged:
                try:
                    self.learner.log_position = (self.learner.log_position[0],
                                                 self.log.append(serialize_message(msg)))
                except OSError as e:
                    self.not_durable += 1
                    self.get_logger().error(f'transition log not written ({e}): stored in memory only',
                                            throttle_duration_sec=5.0)
            self.learner.store(f, msg.action, msg.reward, f_next, msg.terminated, msg.intervened)
            key = (msg.episode, msg.step)
            self.held.add(key)
            self.learner.last_real_id = max(self.learner.last_real_id, key)

    def on_synthetic(self, msg: Transition) -> None:
        try:
            self.synthetic['trajectories'] += self._store_synthetic(msg)
        except ValueError as e:   # ImageError, FeatureError, EncoderError, BufferError, SyntheticError
            self.synthetic['rejected'] += 1
            self.get_logger().error(f'synthetic transition (trajectory {msg.episode}, step {msg.step}) refused: {e}',
                                    throttle_duration_sec=2.0)

    def _store_synthetic(self, msg: Transition) -> bool:
        """Check and embed one synthetic step; once its trajectory is whole, store it and append it
        to the log as one record of its embedded rows (core.rl.synthetic.to_record, a few KB), under
        the lock like a real transition, so the checkpoint plus the log hold it. Not fsync'd: it
        survives the learner's death (the page cache), and the next real transition's fsync takes
        it to the disk. Returns whether a trajectory was stored."""
        if msg.origin != Transition.ORIGIN_SYNTHETIC:
            raise ValueError(f'origin {msg.origin} on the synthetic stream')
        obs, nxt = transition_images(msg, self.cfg)
        f, f_next = self.learner.embed(obs, msg.proprio), self.learner.embed(nxt, msg.next_proprio)
        done = self.assembler.add(msg.episode, msg.step, f, msg.action, msg.reward, f_next, msg.terminated,
                                  msg.truncated, msg.intervened)
        if done is None:
            return False
        with self.lock:
            self.learner.store_synthetic(*done)    # a refused trajectory is not logged
            try:
                self.learner.log_position = (self.learner.log_position[0],
                                             self.log.append(to_record(done), sync=False))
            except OSError as e:
                self.get_logger().error(f'transition log not written ({e}): synthetic trajectory in memory only',
                                        throttle_duration_sec=5.0)
        return True

    def _recover_synthetic(self, payload: bytes) -> None:
        """A synthetic trajectory from the log, stored again; a damaged one is skipped (the world
        models make more) with the reason."""
        try:
            self.learner.store_synthetic(*from_record(payload))
        except ValueError as e:      # SyntheticError, BufferError
            self.get_logger().warning(f'transition log: synthetic trajectory skipped: {e}')
            return
        self.synthetic['recovered'] += 1

    # -- training (background thread) ---------------------------------------------------
    def _train_loop(self) -> None:
        try:
            next_checkpoint = time.monotonic() + self.checkpoint_every
            while not self.stop.is_set():
                with self.lock:
                    batches = self.learner.sample() if self.learner.ready() else None
                if batches is None:
                    self.stop.wait(0.1)      # waiting for learning_starts online transitions
                else:
                    self.info = self.learner.update(batches)
                if time.monotonic() >= next_checkpoint:
                    self.save()
                    next_checkpoint = time.monotonic() + self.checkpoint_every
        except Exception as e:   # a dead training thread must take the node down, loudly
            self.get_logger().error(f'training stopped: {traceback.format_exc()}')
            self.finished.set_exception(RuntimeError(f'training thread failed: {type(e).__name__}: {e}'))

    def save(self) -> None:
        """Checkpoint and start a new log generation: the checkpoint holds every record of the old one
        (log appends and stores share the lock), which is deleted once the checkpoint is on disk."""
        with self.lock:
            old = self.log
            gen = self.learner.log_position[0] + 1
            self.log = TransitionLog(self._log_path(gen))
            self.learner.log_position = (gen, 0)
            self.learner.save(self.checkpoint)
            self.checkpointed = self.learner.received
            old.close()
            old.path.unlink()

    # -- outputs -------------------------------------------------------------------------
    def publish_params(self) -> None:
        state = self.learner.state   # immutable snapshot; the training thread swaps in new ones
        if int(state.step) == self.published:
            return
        version, actor = export_actor(state)
        msg = ActorParams(version=version, obs_dim=self.learner.feat.dim, actor=actor, encoder=self.encoder_bytes)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_params.publish(msg)
        self.published = version

    def publish_stats(self) -> None:
        now, version = time.monotonic(), self.learner.version
        steps_per_s = (version - self.last_stats[1]) / max(now - self.last_stats[0], 1e-6)
        self.last_stats = (now, version)
        msg = LearnerStats(version=version, steps_per_s=steps_per_s,
                           critic_updates_per_s=steps_per_s * self.cfg.agent.cta_ratio,
                           online_size=len(self.learner.online), demo_size=len(self.learner.demo),
                           received=self.learner.received, rejected=sum(self.refusals.values()),
                           checkpointed=self.checkpointed,
                           durable=self.learner.received - self.not_durable, recovered=self.recovered,
                           caught_up=self.caught_up,
                           catching_up=self.catchup.flight is not None or bool(self.catchup.pending),
                           syn_positive_size=len(self.learner.syn_positive),
                           syn_negative_size=len(self.learner.syn_negative),
                           synthetic_used=self.learner.ppl.synthetic_used,
                           synthetic_trajectories=self.synthetic['trajectories'],
                           synthetic_rejected=self.synthetic['rejected'],
                           synthetic_recovered=self.synthetic['recovered'],
                           synthetic_per_update=float(self.info.get('synthetic_rows', 0.0)),
                           **{k: float(self.info.get(k, 0.0)) for k in STAT_FIELDS},
                           **{k: float(self.info.get(k, float('nan'))) for k in PPL_FIELDS})
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_stats.publish(msg)
        for name in ('steps_per_s', 'critic_updates_per_s', *STAT_FIELDS):
            self.tb.add_scalar(f'train/{name}', getattr(msg, name), version)
        for name in ('online_size', 'demo_size', 'received', 'rejected', 'syn_positive_size', 'syn_negative_size',
                     'synthetic_used', 'synthetic_trajectories', 'synthetic_rejected'):
            self.tb.add_scalar(f'data/{name}', getattr(msg, name), version)
        for name in (*PPL_FIELDS, 'synthetic_per_update'):
            if math.isfinite(getattr(msg, name)):     # NaN: not measured yet (e.g. no selection so far)
                self.tb.add_scalar(f'ppl/{name}', getattr(msg, name), version)
        if now - self.last_log >= LOG_EVERY_S:
            self.last_log = now
            self.get_logger().info(
                f'v{version}: {steps_per_s:.0f} steps/s, online {msg.online_size}, demo {msg.demo_size}, '
                f'received {msg.received} (refused {msg.rejected}{self._refusal_kinds()}), '
                f'critic loss {msg.critic_loss:.4f}, '
                f'Q {msg.q_mean:.3f}, alpha {msg.temperature:.4f}; synthetic +{msg.syn_positive_size}/'
                f'-{msg.syn_negative_size} (refused {msg.synthetic_rejected}), rho {msg.rho:.3f}, '
                f'pi {msg.positive_share:.2f}, {msg.synthetic_used} synthetic rows used')

    def _refusal_kinds(self) -> str:
        return ': ' + ', '.join(f'{k} {n}' for k, n in sorted(self.refusals.items())) if self.refusals else ''

    def close(self) -> None:
        """Stop training and write a final checkpoint (runs on Ctrl-C too)."""
        self.stop.set()
        self.thread.join()
        if not self.finished.done():
            self.save()
            print(f'checkpoint at version {self.learner.version} ({self.checkpointed} transitions)',
                  flush=True)   # rosout may already be gone
        self.log.close()
        self.tb.close()


def main(args=None):
    spin_node(LearnerNode, args)


if __name__ == '__main__':
    main()
