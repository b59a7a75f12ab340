"""policy node: the 10 Hz episode loop on the robot side.

Each tick: take the latest observation (both cameras + the controller's proprio), choose an
action (actor), let a fresh intervention override it (the human always wins; the step is
marked intervened; core.episode.Takeover: under 0.25 s old and not released since), send it
to the controller, and stream the completed transition (o_t, a_t, r_t, o_{t+1}) to
``/worldsample/transitions``. Episodes start with the controller's ``reset`` service (seed =
base seed + episode) and end on success or the step limit. These rules are
core.episode.EpisodeLoop, the same object the single-process trainer drives.
Success (``success_source``) comes from the reward model service (``reward_model``: the step
completes when it answers), from the operator's live mark on ``/worldsample/success_mark``
(``operator``: the recording sessions, ``collect:=demos|labels``), or in simulation from
``/sim/success`` (``sim``: ground truth). Where the simulated task moves the board, each
episode starts once ``/sim/board`` reports the board moved after its reset (5 s at most), and
the scripted expert aims at that hole. With ``recorder`` (a node name; the graph sets it when it
records) no episode starts before that node subscribed to ``/worldsample/transitions``, so a
slow-starting recorder never misses an episode's first steps. With ``collect:=demos``,
``episodes`` counts successful demonstrations; with ``collect:=labels`` the mark labels
frames (core.episode). A real camera's frames (a D435i's 640 x 480) are cropped and resized to
the policy's resolution once, here (core.observation.policy_image); transitions and the
reward model get the resized images.

With ``actor:=sac`` the actions come from the learner's SAC actor: parameters arriving on
``/learner/actor_params`` are checked and prepared in a background thread and swapped in
between ticks, so the loop never waits for them; if the learner goes away the policy keeps
acting on the last parameters it has. Every acting tick publishes ``/policy/stats``
(observation -> command time and its observation and actor parts, tick period, parameter
version). The executor's thread, which runs the tick and the callbacks, runs at real-time
priority ``rt_priority`` (SCHED_FIFO, 10; 0 off) where permitted. It acts only on fresh inputs
(core.liveness, the task's ``liveness`` section): a camera image or arm state older than its
limit, stamps that went backwards, or arm feedback the controller reports as old stop the
commands (the controller's watchdog then holds) with the reason logged, until they are fresh
again. An ArmState without 7 finite proprio values is dropped by name.

With ``spool_dir`` every published transition is also spooled to disk (the last 1000-2000,
core.recording.transition_log.Spool), and ``~/replay`` (ReplayTransitions) publishes those after
a given (episode, step) again on ``/worldsample/transitions_replay``, paced, from a background
thread: a restarted learner catches up on what was published while it was down. Episode numbers
continue from the spool folder's newest episode, so a cell restarted on its run folder never
repeats an (episode, step) id that a resumed learner holds.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time

import jax
import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, String
from worldsample_msgs.msg import ActorParams, ArmState, DeltaCommand, PolicyStats, Transition
from worldsample_msgs.srv import ReplayTransitions, Reset, ScoreFrames

from ..core.actors import make_actor
from ..core.episode import SESSIONS, EpisodeLoop, SuccessMark, Takeover
from ..core.liveness import Liveness
from ..core.recording.transition_log import Spool, read_records
from ..core.observation import CAMERAS, policy_image
from ..core.rl.deployed_actor import ActorLoader, LoadedActor, ParamsError
from .common import (BOARD_TOPIC, COMMAND_QOS, INTERVENTION_TOPIC, LATCHED_QOS, PARAMS_TOPIC, REPLAY_TOPIC,
                     SENSOR_QOS, STATE_QOS, SUCCESS_MARK_TOPIC, TRANSITION_QOS, TRANSITION_TOPIC, arm_state_proprio,
                     array_to_image, compile_cache, control_loop_priority, declare_config, image_to_array, read_board,
                     spin_node, stamp_s)

ACK_WAIT_S = 5.0      # at the end of the last episode: how long to wait for the transitions' delivery
SUCCESS_SOURCES = ('sim', 'reward_model', 'operator')
INTERVENTION_FRESH_S = 0.25   # an intervention older than this no longer overrides the policy
REPLAY_RATE_HZ = 20.0         # spooled transitions re-sent this fast: twice the live rate, which a learner keeps up with
SCORE_TIMEOUT_S = 1.0         # a reward-model answer later than this counts as "not successful"
BOARD_WAIT_S = 5.0            # how long an episode waits for the sim to move the board after its reset


class PolicyNode(Node):
    def __init__(self):
        super().__init__('policy')
        self.cfg = declare_config(self)
        compile_cache(self)            # a restarted policy loads its compiled actor
        actor = self.declare_parameter('actor', 'expert').value
        self.episodes = int(self.declare_parameter('episodes', 0).value)   # 0 = run forever
        self.seed = int(self.declare_parameter('seed', 0).value)
        self.source = self.declare_parameter('success_source', 'sim').value
        self.session = self.declare_parameter('collect', '').value
        if self.source not in SUCCESS_SOURCES:
            raise ValueError(f'success_source must be one of {SUCCESS_SOURCES}, got {self.source!r}')
        if self.session not in SESSIONS:
            raise ValueError(f'collect must be one of {SESSIONS}, got {self.session!r}')
        if self.session and self.source != 'operator':
            raise ValueError(f'collect:={self.session} records the operator: success_source must be operator')
        self.learned = actor == 'sac'
        self.actor = None if self.learned else make_actor(actor, self.cfg, self.seed)
        self.loaded: LoadedActor | None = None     # SAC actor in use; replaced whole by the loader thread
        self.key, self.n_sampled = jax.random.PRNGKey(self.seed), 0
        if self.learned:
            self.inbox: queue.Queue = queue.Queue(maxsize=1)
            self.create_subscription(ActorParams, PARAMS_TOPIC, self.on_params, LATCHED_QOS)
            threading.Thread(target=self._load_params, args=(ActorLoader(self.cfg),), name='params',
                             daemon=True).start()
        self.images: dict[str, Image] = {}
        self.state: ArmState | None = None
        self.success = False
        self.takeover = Takeover(INTERVENTION_FRESH_S)
        live = self.cfg.liveness
        self.liveness = Liveness({**{name: live.camera_max_age_s for name in CAMERAS}, 'arm_state': live.state_max_age_s})
        self.stalled = False           # not commanding: an input is stale
        for name in CAMERAS:
            self.create_subscription(Image, f'/{name}/color/image_raw',
                                     lambda m, n=name: self.on_image(n, m), SENSOR_QOS)
        self.create_subscription(ArmState, '/a1x_controller/state', self.on_state, STATE_QOS)
        self.create_subscription(Bool, '/sim/success', lambda m: setattr(self, 'success', m.data), STATE_QOS)
        # the simulated board (tasks that move it): the scripted expert's hole, and each episode waits for its own
        self.hole: np.ndarray | None = None
        self.board_stamp = None
        self.create_subscription(PoseStamped, BOARD_TOPIC, self.on_board, LATCHED_QOS)
        self.mark = SuccessMark(INTERVENTION_FRESH_S)
        self.create_subscription(Bool, SUCCESS_MARK_TOPIC, self.on_mark, COMMAND_QOS)
        self.create_subscription(DeltaCommand, INTERVENTION_TOPIC, self.on_intervention, COMMAND_QOS)
        self.pub_cmd = self.create_publisher(DeltaCommand, '/worldsample/command', COMMAND_QOS)
        self.pub_tr = self.create_publisher(Transition, TRANSITION_TOPIC, TRANSITION_QOS)
        self.recorder = self.declare_parameter('recorder', '').value   # a node every episode waits for
        spool_dir = self.declare_parameter('spool_dir', '').value
        self.spool = Spool(spool_dir, int(self.declare_parameter('spool_segment', 1000).value)) if spool_dir else None
        if self.spool is not None:
            self.pub_replay = self.create_publisher(Transition, REPLAY_TOPIC, TRANSITION_QOS)
            self.create_service(ReplayTransitions, '~/replay', self.on_replay)
        self.pub_summary = self.create_publisher(String, '/worldsample/episode_summary', TRANSITION_QOS)
        self.pub_stats = self.create_publisher(PolicyStats, '/policy/stats', STATE_QOS)
        self.last_tick, self.period = None, 0.0
        self.reset_client = self.create_client(Reset, '/a1x_controller/reset')
        self.reward_client = (self.create_client(ScoreFrames, '/reward_model/score')
                              if self.source == 'reward_model' else None)
        self.scoring, self.scoring_since, self.scoring_id, self.scoring_obs = False, 0.0, 0, None
        # numbered on from the spool folder's last episode, so ids stay unique across restarts of a run
        first = self.spool.first_episode if self.spool is not None else 0
        self.loop = EpisodeLoop(self.cfg.task, self.seed, self.session, episode=first)
        self.pending = None       # (obs msgs, action, intervened) awaiting o_{t+1}
        self.reset_future = None
        self.needs_reset = True
        self.finished = Future()   # done after `episodes` episodes; ends spin_node
        self.create_timer(1.0 / self.cfg.task.control_hz, self.on_tick)
        control_loop_priority(self)   # this thread spins the executor: the step runs first on its core
        what = {'demos': 'successful demonstrations', 'labels': 'label episodes'}.get(self.session, 'episodes')
        self.get_logger().info(f'policy up: actor={actor}, success from {self.source}, '
                               f'{what}: {self.episodes or "unlimited"}')

    def on_image(self, name: str, msg: Image) -> None:
        if not self.liveness.observe(name, stamp_s(msg.header)):
            self.get_logger().warning(f'{name}: image stamps went backwards', throttle_duration_sec=2.0)
        self.images[name] = msg       # decoded (and checked) when an observation is taken

    def on_state(self, msg: ArmState) -> None:
        try:
            arm_state_proprio(msg)
        except ValueError as e:
            self.get_logger().error(f'arm state dropped: {e}', throttle_duration_sec=2.0)
            return
        if not self.liveness.observe('arm_state', stamp_s(msg.header)):
            self.get_logger().warning('arm state stamps went backwards', throttle_duration_sec=2.0)
        self.state = msg
        if self.reset_future is not None and msg.mode == ArmState.MODE_RESETTING:
            self.reset_seen = True     # seen here, not at a tick: a short reset lasts less than one

    def on_board(self, msg: PoseStamped) -> None:
        hole = read_board(self, msg, self.cfg.task.workspace)
        if hole is not None:
            self.hole, self.board_stamp = hole, Time.from_msg(msg.header.stamp)

    def _board_pending(self) -> bool:
        """In a simulation that moves the board, the episode starts once the board was moved after
        its reset began (the sim moves it as soon as the peg is clear); BOARD_WAIT_S at most."""
        if not self.cfg.task.scene.moves_board or self.count_publishers(BOARD_TOPIC) == 0:
            return False
        if self.board_stamp is not None and self.board_stamp >= self.reset_time:
            return False
        waited = (self.get_clock().now() - self.reset_time).nanoseconds * 1e-9
        if waited < BOARD_WAIT_S:
            return True
        self.get_logger().warning(f'the sim did not move the board within {BOARD_WAIT_S:g} s of the reset: '
                                  'this episode keeps the last board', throttle_duration_sec=10.0)
        return False

    def on_params(self, msg: ActorParams) -> None:
        """Hand the newest parameters to the loader thread (an older unread message is replaced)."""
        try:
            self.inbox.get_nowait()
        except queue.Empty:
            pass
        self.inbox.put(msg)

    def _load_params(self, loader: ActorLoader) -> None:
        while True:
            msg = self.inbox.get()
            try:
                loaded = loader.load(msg.version, msg.obs_dim, msg.actor, msg.encoder)
            except ParamsError as e:
                self.get_logger().error(f'{e}; keeping version {self.loaded.version if self.loaded else "none"}')
                continue
            first = self.loaded is None
            self.loaded = loaded     # one reference swap: the next tick acts on the new version
            if first:
                self.get_logger().info(f'first actor parameters: v{loaded.version}')
            else:
                self.get_logger().info(f'actor parameters v{loaded.version} in use', throttle_duration_sec=30.0)

    def on_mark(self, msg: Bool) -> None:
        if msg.data:
            self.mark.mark(time.monotonic())

    def on_intervention(self, msg: DeltaCommand) -> None:
        if msg.source == DeltaCommand.SOURCE_RELEASE:    # the operator let go: its action is not used
            self.takeover.release()
            return
        if len(msg.action) != 7 or not np.all(np.isfinite(msg.action)):
            self.get_logger().warning(f'ignoring malformed intervention ({len(msg.action)} values)',
                                      throttle_duration_sec=2.0)
            return
        self.takeover.command(time.monotonic(), msg.action)

    # -- episode loop ------------------------------------------------------------------------
    def on_tick(self) -> None:
        now = time.monotonic()
        self.period, self.last_tick = (now - self.last_tick if self.last_tick else 0.0), now
        if self.finished.done():
            return
        if self.learned and self.loaded is None:
            self.get_logger().info(f'waiting for actor parameters on {PARAMS_TOPIC}', throttle_duration_sec=5.0)
            return
        if self.reset_future is not None:
            self._poll_reset()
            return
        obs = self._observation()
        if obs is None:
            return
        if self.needs_reset:
            self._start_reset()
            return
        if self.scoring:          # waiting for the reward model's verdict on o_{t+1}
            if time.monotonic() - self.scoring_since > SCORE_TIMEOUT_S:
                self.get_logger().error(f'reward model did not answer within {SCORE_TIMEOUT_S} s; '
                                        'counting the step as not successful')
                self.scoring = False
                self._complete(self.scoring_obs, False, act_on=obs)
            return
        if self.pending is None:
            self._act(obs)
        elif self.reward_client is None:
            success = self.mark.on(now) if self.source == 'operator' else bool(self.success)
            self._complete(obs, success, act_on=obs)
        else:
            self._score(obs)

    def _score(self, next_obs) -> None:
        """Ask the reward model about o_{t+1}; complete the step and act as soon as it answers."""
        images = next_obs['images']
        request = ScoreFrames.Request(wrist=[images['wrist_camera']], side=[images['side_camera']])
        self.scoring, self.scoring_since, self.scoring_obs = True, time.monotonic(), next_obs
        self.scoring_id += 1
        ticket = self.scoring_id
        self.reward_client.call_async(request).add_done_callback(lambda f: self._on_score(f, next_obs, ticket))

    def _on_score(self, future, next_obs, ticket: int) -> None:
        if not self.scoring or ticket != self.scoring_id:   # answered after the time-out: stale
            return
        self.scoring = False
        result = future.result()
        if result is None or not result.ok:
            self.get_logger().error(f'reward model failed: {result.message if result else "no response"}; '
                                    'counting the step as not successful', throttle_duration_sec=2.0)
            success = False
        else:
            success = bool(result.success[0])
        self._complete(next_obs, success, act_on=next_obs)

    def _stale_inputs(self) -> list[str]:
        problems = self.liveness.problems(self.get_clock().now().nanoseconds * 1e-9)
        limit = self.cfg.liveness.feedback_max_age_s
        if self.state is not None and self.state.feedback_age_s > limit:
            problems.append(f'arm feedback: {self.state.feedback_age_s:.2f} s old at the controller (limit {limit:g} s)')
        return problems

    def _observation(self):
        """The latest observation: image messages (for transitions), decoded arrays (for the actor);
        None while an input is missing or stale (then nothing is commanded and the controller holds)."""
        t = time.monotonic()
        if self.state is None or any(n not in self.images for n in CAMERAS):
            return None
        msgs, arrays = {}, {}
        for name in CAMERAS:
            cam = self.cfg.camera(name)
            msg = self.images[name]
            try:
                arrays[name] = policy_image(image_to_array(msg), cam)
            except ValueError as e:     # ImageError included
                self.get_logger().error(f'{name}: {e}', throttle_duration_sec=2.0)
                return None
            # a real camera's frame, cropped and resized once here: transitions carry what the actor saw
            resized = (msg.height, msg.width) != (cam.height, cam.width) or msg.encoding != 'rgb8'
            msgs[name] = array_to_image(arrays[name], msg.header.stamp, msg.header.frame_id) if resized else msg
        stale = self._stale_inputs()
        if stale:
            if not self.stalled:
                self.get_logger().error(f'not commanding: stale input ({"; ".join(stale)})')
            else:
                self.get_logger().warning(f'still not commanding: {"; ".join(stale)}', throttle_duration_sec=5.0)
            self.stalled = True
            return None
        if self.stalled:
            self.get_logger().info('inputs fresh again: commanding')
            self.stalled = False
        return {'images': msgs, 'arrays': arrays, 'proprio': list(self.state.proprio), 'mode': self.state.mode,
                't': t, 'observe_s': time.monotonic() - t}

    def _act(self, obs) -> None:
        now = time.monotonic()
        human = self.takeover.current(now)
        policy = None
        if human is not None:
            pass                  # the human wins: the actor is not even asked
        elif self.learned:
            self.n_sampled += 1
            policy = self.loaded.act({**obs['arrays'], 'proprio': np.asarray(obs['proprio'])}, self.key,
                                     self.n_sampled)
        else:
            policy = self.actor({'proprio': np.asarray(obs['proprio']), 'hole': self.hole})
        actor_s = time.monotonic() - now
        action, intervened = self.loop.decide(policy, human)
        cmd = DeltaCommand(source=DeltaCommand.SOURCE_INTERVENTION if intervened else DeltaCommand.SOURCE_POLICY,
                           action=[float(a) for a in action])
        cmd.header.stamp = self.get_clock().now().to_msg()
        self.pub_cmd.publish(cmd)
        self.pending = (obs, action, intervened)
        stats = PolicyStats(params_version=self.loaded.version if self.loaded else 0,
                            act_ms=1e3 * (time.monotonic() - obs['t']), observe_ms=1e3 * obs['observe_s'],
                            actor_ms=1e3 * actor_s, period_ms=1e3 * self.period,
                            episode=self.loop.episode, step=self.loop.step, intervened=intervened)
        stats.header.stamp = cmd.header.stamp
        self.pub_stats.publish(stats)

    def _complete(self, next_obs, success: bool, act_on) -> None:
        """Complete the pending step with o_{t+1} = ``next_obs``; unless that ended the episode, act on
        ``act_on`` at once, and only then publish the transition (o_t, a_t, r_t, o_{t+1}): with its
        four images it is the heaviest message of the step and must not delay the command."""
        obs, action, intervened = self.pending
        self.pending = None
        rec = self.loop.record(action, intervened, success)
        if not rec.done:
            self._act(act_on)
        tr = Transition(origin=Transition.ORIGIN_REAL, episode=rec.episode, step=rec.step,
                        wrist=obs['images']['wrist_camera'], side=obs['images']['side_camera'],
                        proprio=obs['proprio'], action=[float(a) for a in rec.action], intervened=rec.intervened,
                        reward=rec.reward, terminated=rec.terminated, truncated=rec.truncated, success=rec.success,
                        next_wrist=next_obs['images']['wrist_camera'], next_side=next_obs['images']['side_camera'],
                        next_proprio=next_obs['proprio'])
        tr.header.stamp = self.get_clock().now().to_msg()
        self.pub_tr.publish(tr)
        if self.spool is not None:
            try:
                self.spool.append((rec.episode, rec.step), serialize_message(tr))
            except OSError as e:       # disk full, folder gone: the loop goes on, catch-up loses this one
                self.get_logger().error(f'spool not written ({e}): a restarted learner cannot catch up on '
                                        f'episode {rec.episode} step {rec.step}', throttle_duration_sec=5.0)
        if rec.done:
            self._end_episode()

    def on_replay(self, request: ReplayTransitions.Request,
                  response: ReplayTransitions.Response) -> ReplayTransitions.Response:
        """Re-send the spooled transitions after (episode, step), at most ``max_count`` of them (0: all),
        from a thread; answers at once."""
        after = (int(request.episode), int(request.step))
        todo, oldest = self.spool.after(after), self.spool.oldest()
        held = len(todo)
        if request.max_count:
            todo = todo[:request.max_count]
        response.ok, response.count = True, len(todo)
        response.message = (f'{len(todo)} of the {held} spooled transitions after episode {after[0]} step {after[1]}; '
                            f'the spool reaches back to {oldest}' if oldest else 'nothing spooled yet')
        threading.Thread(target=self._replay, args=(todo,), name='replay', daemon=True).start()
        self.get_logger().info(f'replay requested: {response.message}')
        return response

    def _replay(self, todo) -> None:
        wanted: dict = {}
        for path, record in todo:
            wanted.setdefault(path, set()).add(record)
        sent = 0
        for path, records in wanted.items():   # oldest log first, each streamed once
            try:
                for i, payload in enumerate(read_records(path)):
                    if i in records:
                        self.pub_replay.publish(deserialize_message(payload, Transition))
                        sent += 1
                        time.sleep(1.0 / REPLAY_RATE_HZ)
            except OSError as e:                # rotated out meanwhile
                self.get_logger().warning(f'replay: {path.name} is gone ({e})')
        self.get_logger().info(f'replay done: {sent} of {len(todo)} transitions sent')

    def _end_episode(self) -> None:
        ep = self.loop.finished[-1]
        summary = {'episode': ep.episode, 'success': ep.success, 'steps': ep.steps, 'interventions': ep.interventions}
        self.get_logger().info(f'episode {ep.episode}: {"SUCCESS" if ep.success else "failure"} '
                               f'after {ep.steps} steps ({ep.interventions} intervened)')
        self.pub_summary.publish(String(data=json.dumps(summary)))
        self.mark.episode_ended()
        done = sum(e.success for e in self.loop.finished) if self.session == 'demos' else len(self.loop.finished)
        if self.session == 'demos':
            self.get_logger().info(f'{done} of {self.episodes or "unlimited"} demonstrations recorded')
        if self.episodes and done >= self.episodes:
            # the process ends next, and with it what DDS has not delivered: wait for the recorder's
            # and the learner's acknowledgements of the last transitions first
            if not self.pub_tr.wait_for_all_acked(Duration(seconds=ACK_WAIT_S)):
                self.get_logger().warning(f'the last transitions were not acknowledged by every subscriber within '
                                          f'{ACK_WAIT_S:g} s')
            self.get_logger().info(f'finished {self.episodes} episodes')
            self.finished.set_result(True)
            return
        self.needs_reset = True

    def _recorder_missing(self) -> bool:
        """The recorder node (parameter ``recorder``) has not subscribed to the transitions yet: an
        episode started now would reach its bag without its first steps."""
        if not self.recorder or any(i.node_name == self.recorder
                                    for i in self.get_subscriptions_info_by_topic(TRANSITION_TOPIC)):
            return False
        self.get_logger().info(f'waiting for the {self.recorder} node to subscribe to {TRANSITION_TOPIC}',
                               throttle_duration_sec=5.0)
        return True

    def _start_reset(self) -> None:
        if self._recorder_missing():
            return
        for client in (self.reset_client, self.reward_client):
            if client is not None and not client.service_is_ready():
                self.get_logger().info(f'waiting for {client.srv_name}', throttle_duration_sec=5.0)
                return
        self.loop.begin()
        self.pending = None
        self.needs_reset = False
        self.reset_seen = False
        self.reset_stamp = self.state.header.stamp if self.state else None
        self.reset_time = self.get_clock().now()
        self.reset_future = self.reset_client.call_async(Reset.Request(seed=self.loop.reset_seed))

    def _poll_reset(self) -> None:
        """Wait for the reset request to be accepted, then for the controller to leave RESETTING."""
        if not self.reset_future.done():
            return
        result = self.reset_future.result()
        if result is None or not result.success:
            self.reset_future = None
            self.get_logger().error(f'reset refused: {result.message if result else "no response"}; retrying',
                                    throttle_duration_sec=2.0)
            self.needs_reset = True
            return
        if self.state is None or self.state.header.stamp == self.reset_stamp:
            return
        if self.state.mode == ArmState.MODE_RESETTING:
            self.reset_seen = True
            return
        if not self.reset_seen or self._board_pending():
            return
        self.reset_future = None
        if self.state.mode != ArmState.MODE_IDLE:
            self.get_logger().error('reset did not reach its start pose; retrying')
            self.needs_reset = True
            return
        self.success = False   # the next /sim/success message reflects the new episode
        self.get_logger().info(f'episode {self.loop.episode} start ({result.message})')


def main(args=None):
    # One XLA thread: the actor is a small MLP (about 0.4 ms), so a pool only spreads each control
    # step over threads that may wait for a core busy with the learner or the sim.
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               ' --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1').strip()
    # and in the calling thread: no hand-off to a dispatch thread that waits for a core like any other
    jax.config.update('jax_cpu_enable_async_dispatch', False)
    spin_node(PolicyNode, args)


if __name__ == '__main__':
    main()
