"""Benchmarks (measurements, not tests): ./ws bench [name ...] (default: all)

Writes raw numbers to test/benchmark/results/<name>.json and prints a Markdown table for the
README. Every figure in the README's benchmark table comes from these files.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .pose_gate import bench_pose_gate
from .two_hosts import bench_two_hosts
from .world_model_labels import bench_world_model_labels
from .worldsample_learning import VARIANTS, bench_worldsample

RESULTS = Path(__file__).resolve().parent / 'results'


def machine() -> dict:
    cpu = 'unknown'
    try:
        cpu = next(line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'date': time.strftime('%Y-%m-%d %H:%M:%S')}
    torch = sys.modules.get('torch')        # the GPU a benchmark ran on, when it used torch
    if torch is not None and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def save(name: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f'{name}.json'
    tmp = path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps({'machine': machine(), **data}, indent=1))
    os.replace(tmp, path)
    print(f'raw results: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}')


def bench_sim_env(steps: int = 500, repeats: int = 3) -> list[str]:
    """Env steps/s (controller + IK + 20 physics substeps + both cameras rendered), random actions."""
    from worldsample.core.config import load_config
    from worldsample.core.sim.env import InsertionEnv
    base = load_config('insertion')
    rows, raw = [], {}
    for size in (64, 128):
        cfg = replace(base, cameras=tuple(replace(c, width=size, height=size) for c in base.cameras))
        env = InsertionEnv(cfg)
        rng = np.random.default_rng(0)
        rates = []
        for r in range(repeats):
            env.reset(seed=r)
            for _ in range(20):
                env.step(rng.uniform(-1, 1, 7))
            t0 = time.perf_counter()
            for i in range(steps):
                _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 7))
                if term or trunc:
                    env.reset(seed=1000 + i)
            rates.append(steps / (time.perf_counter() - t0))
        env.close()
        raw[f'{size}x{size}'] = rates
        rows.append(f'| sim env step, two {size}² cameras | {np.median(rates):.0f} steps/s '
                    f'(median of {repeats} × {steps}) | ≥ 300 steps/s at 64² |')
    save('sim_env', {'steps_per_repeat': steps, 'steps_per_s': raw})
    return rows


def node_command(executable: str, name: str, **params) -> list[str]:
    """The command line of one worldsample node named ``name`` with these parameters (task
    insertion unless given), its parameters in a file of their own."""
    import yaml
    from ament_index_python.packages import get_package_prefix
    exe = Path(get_package_prefix('worldsample')) / 'lib' / 'worldsample' / executable
    path = Path(tempfile.mkdtemp()) / f'{name}.yaml'
    path.write_text(yaml.safe_dump({name: {'ros__parameters': {'task': 'insertion', **params}}}))
    return [str(exe), '--ros-args', '-r', f'__node:={name}', '--params-file', str(path)]


def start_node(executable: str, name: str, log: Path | None = None, **params) -> subprocess.Popen:
    """One worldsample node process on this benchmark's private DDS domain."""
    from worldsample.dds import keep_local
    keep_local(os.environ)
    os.environ.setdefault('ROS_DOMAIN_ID', str(150 + os.getpid() % 50))
    out = open(log, 'w') if log else subprocess.DEVNULL
    return subprocess.Popen(node_command(executable, name, **params), stdout=out, stderr=subprocess.STDOUT)


def bench_controller_latency(n: int = 300) -> list[str]:
    """Delta command published -> changed target pose received, over DDS (separate processes)."""
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from worldsample_msgs.msg import DeltaCommand

    from worldsample.nodes.common import COMMAND_QOS

    procs = [start_node('sim_node', 'sim'), start_node('a1x_controller', 'a1x_controller')]
    rclpy.init()
    node = rclpy.create_node('latency_probe')
    received: list[tuple[float, float]] = []
    node.create_subscription(PoseStamped, '/motion_target/target_pose_arm',
                             lambda m: received.append((time.perf_counter(), m.pose.position.y, time.time() - m.header.stamp.sec - m.header.stamp.nanosec * 1e-9)), COMMAND_QOS)
    pub = node.create_publisher(DeltaCommand, '/worldsample/command', COMMAND_QOS)
    try:
        deadline = time.monotonic() + 30
        while (not received or pub.get_subscription_count() == 0) and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        if not received:
            raise RuntimeError('controller did not come up within 30 s')
        latencies, ages = [], []
        for i in range(n):
            last_y = received[-1][1]
            sign = 1.0 if i % 2 == 0 else -1.0   # alternate so every command changes the target
            t_send = time.perf_counter()
            pub.publish(DeltaCommand(source=0, action=[0.0, sign, 0, 0, 0, 0, 0]))
            got = None
            while got is None and time.perf_counter() - t_send < 1.0:
                rclpy.spin_once(node, timeout_sec=0.05)
                for t, y, age in received[-3:]:
                    if t >= t_send and abs(y - last_y) > 1e-6:
                        got = t
                        ages.append(age * 1000.0)
            if got is not None:
                latencies.append((got - t_send) * 1000.0)
            time.sleep(0.05)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        for p in procs:
            p.terminate()
            p.wait()
    lat = np.array(latencies)
    save('controller_latency', {'commands': n, 'answered': len(lat), 'latency_ms': lat.tolist(),
                                'target_delivery_ms': ages})
    print('target publish -> probe receive: median %.2f ms' % np.median(ages))
    return [f'| controller: command → arm target over DDS | median {np.median(lat):.2f} ms, '
            f'p99 {np.percentile(lat, 99):.2f} ms ({len(lat)}/{n} commands) | — |']


def bench_camera_latency(frames: int = 300, fps: float = 30.0) -> list[str]:
    """Camera node: a 640x480 frame entering the node -> its Image message at a subscriber (median, p99).

    The node reads a pyrealsense2 software device (the same conversion and publishing path as a
    D435i) into which the benchmark injects frames at ``fps``, stamped in the host's clock (system
    time domain) at injection; a subscriber in another ROS context (its own DDS participant) takes
    the latency as its arrival time minus that stamp.
    """
    import threading

    import pyrealsense2 as rs
    import rclpy
    from sensor_msgs.msg import Image

    from test.software_camera import SoftwareCamera
    from worldsample.core.realsense import QueueSource
    from worldsample.nodes.camera_node import CameraNode
    from worldsample.nodes.common import SENSOR_QOS

    cam = SoftwareCamera(640, 480, fps=int(fps))
    contexts = [rclpy.context.Context(), rclpy.context.Context()]
    for c in contexts:
        rclpy.init(context=c)
    node = CameraNode(open_source=lambda: QueueSource(cam.queue), context=contexts[0])
    probe = rclpy.create_node('camera_latency_probe', context=contexts[1])
    latencies: list[float] = []

    def on_image(msg: Image) -> None:
        latencies.append((time.time_ns() - msg.header.stamp.sec * 10**9 - msg.header.stamp.nanosec) / 1e6)
    probe.create_subscription(Image, '/wrist_camera/color/image_raw', on_image, SENSOR_QOS)
    executors = []
    for n, c in ((node, contexts[0]), (probe, contexts[1])):
        ex = rclpy.executors.SingleThreadedExecutor(context=c)
        ex.add_node(n)
        threading.Thread(target=ex.spin, daemon=True).start()
        executors.append(ex)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), np.uint8) for _ in range(8)]
    try:
        deadline = time.monotonic() + 30
        while node.pub_image.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        latencies.clear()
        t_next = time.perf_counter()
        for i in range(frames):
            cam.inject(images[i % len(images)], time.time_ns() / 1e6, i, rs.timestamp_domain.system_time)
            t_next += 1.0 / fps
            time.sleep(max(0.0, t_next - time.perf_counter()))
        time.sleep(0.5)
    finally:
        for ex in executors:
            ex.shutdown()
        node.close()
        node.destroy_node()
        probe.destroy_node()
        for c in contexts:
            rclpy.shutdown(context=c)
        cam.close()
    lat = np.array(latencies)
    save('camera_latency', {'frames': frames, 'fps': fps, 'size': [640, 480], 'received': len(lat),
                            'latency_ms': lat.tolist()})
    return [f'| camera node: 640×480 frame in → Image at a subscriber | median {np.median(lat):.2f} ms, '
            f'p99 {np.percentile(lat, 99):.2f} ms ({len(lat)}/{frames} frames at {fps:g} Hz) | — |']


def bench_teleop_latency(trials: int = 40) -> list[str]:
    """SpaceMouse event -> intervention command at the controller (median, p99), over DDS.

    Separate processes: sim, a1x_controller, teleop (reading the spacenav node's Joy) and the
    policy (zero actor). A probe plays the spacenav node, publishing Joy at 50 Hz; each trial
    pushes the device from rest and times the first ``/worldsample/command`` the controller
    receives with source intervention in the push's direction, and the teleop's own
    ``/worldsample/intervention`` on the way. Trials are 1.5 s apart, long enough for control to
    return to the policy (hold_s 0.5 s plus the policy's 0.25 s freshness), in one endless episode.
    The policy applies an intervention at its next 10 Hz control step, so up to a control period
    of the latency is the loop's own rate.
    """
    import rclpy
    from sensor_msgs.msg import Joy
    from worldsample_msgs.msg import DeltaCommand

    from worldsample.nodes.common import COMMAND_QOS, SENSOR_QOS

    import yaml

    from worldsample.core.config import config_dir
    tmp = Path(tempfile.mkdtemp())
    # one long episode: no reset (during which the policy sends nothing) falls inside a trial
    task = yaml.safe_load((config_dir() / 'insertion.yaml').read_text())
    task.update(robot=str(config_dir() / task['robot']), cameras=str(config_dir() / task['cameras']))
    task['task']['max_episode_steps'] = 100_000
    (tmp / 'task.yaml').write_text(yaml.safe_dump(task))
    t = {'task': str(tmp / 'task.yaml')}
    procs = [start_node('sim_node', 'sim', **t), start_node('a1x_controller', 'a1x_controller', **t),
             start_node('teleop', 'teleop', tmp / 'teleop.log', **t),
             start_node('policy_node', 'policy', tmp / 'policy.log', actor='zero', **t)]
    rclpy.init()
    node = rclpy.create_node('teleop_latency_probe')
    seen = {'cmd': [], 'intervention': []}
    node.create_subscription(DeltaCommand, '/worldsample/command',
                             lambda m: seen['cmd'].append((time.perf_counter(), m)), COMMAND_QOS)
    node.create_subscription(DeltaCommand, '/worldsample/intervention',
                             lambda m: seen['intervention'].append((time.perf_counter(), m)), COMMAND_QOS)
    joy = node.create_publisher(Joy, '/spacenav/joy', SENSOR_QOS)

    def spin(seconds: float, axes: list[float]) -> None:
        end, t_next = time.perf_counter() + seconds, 0.0
        while time.perf_counter() < end:
            if time.perf_counter() >= t_next:
                joy.publish(Joy(axes=axes, buttons=[0, 0]))
                t_next = time.perf_counter() + 0.02
            rclpy.spin_once(node, timeout_sec=0.002)

    def first(topic: str, after: float, sign: float) -> float | None:
        for t, m in seen[topic]:
            if t >= after and m.source == DeltaCommand.SOURCE_INTERVENTION and np.sign(m.action[0]) == sign:
                return (t - after) * 1000.0
        return None

    rest = [0.0] * 6
    lat, via = [], []
    try:
        deadline = time.monotonic() + 60
        while not any(m.source == DeltaCommand.SOURCE_POLICY for _, m in seen['cmd'][-5:]):
            if time.monotonic() > deadline:
                raise RuntimeError(f'the policy did not start commanding within 60 s; logs in {tmp}')
            spin(0.2, rest)
        for i in range(trials):
            spin(1.5, rest)
            sign = 1.0 if i % 2 == 0 else -1.0
            for k in seen:
                seen[k].clear()
            t0 = time.perf_counter()
            spin(0.4, [0.8 * sign, 0.0, 0.0, 0.0, 0.0, 0.0])
            got, mid = first('cmd', t0, sign), first('intervention', t0, sign)
            if got is not None:
                lat.append(got)
            if mid is not None:
                via.append(mid)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=20)
    lat, via = np.array(lat), np.array(via)
    save('teleop_latency', {'trials': trials, 'joy_rate_hz': 50, 'latency_ms': lat.tolist(),
                            'to_teleop_intervention_ms': via.tolist()})
    return [f'| SpaceMouse (Joy) event → intervention command at the controller | median {np.median(lat):.1f} ms, '
            f'p99 {np.percentile(lat, 99):.1f} ms ({len(lat)}/{trials} pushes); of which Joy → teleop '
            f'intervention median {np.median(via):.1f} ms, p99 {np.percentile(via, 99):.1f} ms | — |']


def bench_learner(seconds: float = 15.0) -> list[str]:
    """Learner update steps/s at batch 256 on cached features, through core.rl.learner.Learner.

    One step = cta_ratio (2) critic updates + 1 actor/temperature update, with the RLPD sampling
    from both buffers. Feature sizes: the configured encoder (2 x 32-d + proprio = 71-d) and
    2 x 256-d + proprio (519-d, the size of a ResNet-style embedding).
    """
    import jax

    from worldsample.core.config import load_config
    from worldsample.core.observation import CAMERAS
    from worldsample.core.rl.learner import Learner
    from worldsample.core.vision.encoder import EncoderConfig, PCAEncoder
    cfg = load_config('insertion')
    rng = np.random.default_rng(0)
    raw, rows = {}, []
    for per_camera in (cfg.train.encoder_dim, 256):
        n_in = cfg.train.encoder_size ** 2 * 3
        encoder = PCAEncoder(CAMERAS, EncoderConfig(cfg.train.encoder_size, per_camera),
                             {c: np.zeros(n_in, np.float32) for c in CAMERAS},
                             {c: np.zeros((per_camera, n_in), np.float32) for c in CAMERAS})
        learner = Learner(cfg, encoder)
        dim = learner.feat.dim
        for buf in (learner.online, learner.demo):
            for _ in range(2000):
                a = np.zeros(7, np.float32)
                a[:3] = rng.uniform(-1, 1, 3)
                buf.add(rng.normal(size=dim), a, 0.0, rng.normal(size=dim), False)
        t0 = time.perf_counter()
        jax.block_until_ready(learner.step())
        compile_s = time.perf_counter() - t0
        times = []
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            learner.step()          # returns python floats: the update has finished
            times.append(time.perf_counter() - t0)
        rate = len(times) / sum(times)
        raw[str(dim)] = {'compile_s': compile_s, 'step_s': times}
        rows.append(f'| learner step, batch 256, {dim}-d cached features ({jax.devices()[0].platform}) | '
                    f'{rate:.0f} steps/s = {rate * cfg.agent.cta_ratio:.0f} critic updates/s '
                    f'(median step {np.median(times) * 1000:.1f} ms) | ≥ 80 updates/s |')
    save('learner', {'batch_size': cfg.agent.batch_size, 'cta_ratio': cfg.agent.cta_ratio,
                     'device': str(jax.devices()[0]), 'by_feature_dim': raw})
    return rows


class _Cell:
    """Node processes of a sim cell plus a probe node recording /policy/stats (and more topics)."""

    def __init__(self, specs, tmp: Path, topics: dict | None = None):
        import rclpy
        from worldsample_msgs.msg import PolicyStats

        from worldsample.nodes.common import STATE_QOS
        self.tmp = tmp
        self.procs = {name: start_node(exe, name, tmp / f'{name}.log', **params) for exe, name, params in specs}
        rclpy.init()
        self.node = rclpy.create_node('bench_probe')
        self.got = {'/policy/stats': []}
        for topic, msg_type in {'/policy/stats': PolicyStats, **(topics or {})}.items():
            self.got[topic] = []
            self.node.create_subscription(msg_type, topic, self.got[topic].append, STATE_QOS)

    def spin(self, cond, timeout: float) -> bool:
        import rclpy
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return cond()

    def measure(self, seconds: float) -> dict:
        n = len(self.got['/policy/stats'])
        self.spin(lambda: False, seconds)
        got = [s for s in self.got['/policy/stats'][n:] if s.period_ms > 0]
        return {'act_ms': [s.act_ms for s in got], 'observe_ms': [s.observe_ms for s in got],
                'actor_ms': [s.actor_ms for s in got], 'period_ms': [s.period_ms for s in got],
                'version_per_step': [s.params_version for s in got],
                'params_versions': sorted({s.params_version for s in got})}

    def stop(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGINT)
        self.procs[name].wait(timeout=60)
        self.spin(lambda: False, 2.0)

    def close(self) -> None:
        import rclpy
        self.node.destroy_node()
        rclpy.shutdown()
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _split(d: dict) -> str:
    """Where a control step's time goes: taking the observation, the actor, and the steps around a
    parameter swap (the loader thread's work competes with them for the GIL)."""
    if 'observe_ms' not in d:
        return ''
    act, versions = np.array(d['act_ms']), np.array(d['version_per_step'])
    change = versions[1:] != versions[:-1]
    swapped = np.r_[False, change] | np.r_[change, False]    # the step during the load and the first after
    text = (f'; of it, observation p99 {np.percentile(d["observe_ms"], 99):.2f} ms, actor p99 '
            f'{np.percentile(d["actor_ms"], 99):.2f} ms')
    if swapped.any():
        text += (f'; the steps around a parameter swap median {np.median(act[swapped]):.2f} ms, max '
                 f'{act[swapped].max():.2f} ms ({swapped.sum()} steps), the others p99 '
                 f'{np.percentile(act[~swapped], 99):.2f} ms')
    return text


def _loop_rows(what: str, phases: dict) -> list[str]:
    rows = []
    for phase, d in phases.items():
        act, jitter = np.array(d['act_ms']), np.abs(np.array(d['period_ms']) - 100.0)
        rows.append(f'| policy, {what}, {phase.replace("_", " ")} | observation → command median {np.median(act):.2f} '
                    f'ms, p99 {np.percentile(act, 99):.2f} ms; period jitter median {np.median(jitter):.2f} ms, '
                    f'p99 {np.percentile(jitter, 99):.2f} ms ({len(act)} steps){d.get("note", "")}{_split(d)} '
                    f'| p99 ≤ 5 ms, ≤ 5 ms |')
    (a, da), (b, db) = list(phases.items())[0], list(phases.items())[-1]
    on, off = (1000.0 / np.mean(d['period_ms']) for d in (da, db))
    rows.append(f'| policy loop rate, {a.replace("_", " ")} / {b.replace("_", " ")} | {on:.3f} Hz / {off:.3f} Hz '
                f'= {on / off:.3f} | ≥ 0.98 |')
    return rows


def bench_policy_loop(seconds: float = 60.0) -> list[str]:
    """The policy node's 10 Hz loop with the SAC actor in the full sim cell, learner training
    beside it (its default: kept off the lowest CPU, ``cpus:=auto``), then (same run) the learner
    restarted unpinned (``cpus:=''``, niceness only), then after it is stopped: observation ->
    command time and tick period jitter |period - 100 ms| from /policy/stats."""
    from worldsample_msgs.msg import LearnerStats

    from worldsample.commands.record_demos import record
    tmp = Path(tempfile.mkdtemp())
    record('insertion', episodes=10, out=tmp / 'demos', seed=0, keep_failures=False)
    learner = {'run_dir': str(tmp / 'run'), 'demos': str(tmp / 'demos' / 'demos.npz')}
    cell = _Cell([('sim_node', 'sim', {}), ('a1x_controller', 'a1x_controller', {}), ('sim_human', 'sim_human', {}),
                  ('policy_node', 'policy', {'actor': 'sac'}), ('learner', 'learner', learner)],
                 tmp, {'/learner/stats': LearnerStats})
    lstats = cell.got['/learner/stats']
    phases = {}
    try:
        for phase, cpus in (('learner_on', None), ('learner_on_unpinned', '')):
            if cpus is not None:
                cell.stop('learner')
                cell.procs['learner'] = start_node('learner', 'learner', tmp / 'learner_unpinned.log', cpus=cpus,
                                                   **learner)
            n = len(lstats)
            if not cell.spin(lambda: len(lstats) > n + 3 and lstats[-1].steps_per_s > 0, 180):
                raise RuntimeError(f'learner did not start training; see {tmp}/learner*.log')
            m = len(lstats)
            phases[phase] = cell.measure(seconds)
            rates = [s.steps_per_s for s in lstats[m:]]
            phases[phase]['learner_steps_per_s'] = rates
            phases[phase]['note'] = (f'; learner {np.mean(rates):.0f} steps/s meanwhile, '
                                     f'{len(phases[phase]["params_versions"])} parameter versions used')
        cell.stop('learner')
        phases['learner_off'] = cell.measure(seconds)
    finally:
        cell.close()
    save('policy_loop', {'seconds_per_phase': seconds, **phases})
    return _loop_rows('SAC actor, 10 Hz in the sim cell', phases)


def bench_generation_load(seconds: float = 60.0) -> list[str]:
    """Does counterfactual generation slow the control loop? The sim cell (scripted actor) with
    the reward model and one world_model worker at the default size (untrained weights: the
    cost does not depend on them) generating from the live rollouts, then (same run) with the
    worker stopped."""
    import torch

    from worldsample.commands.train_reward import build
    from worldsample.core.config import load_config
    from worldsample.core.worldmodel.model import WorldModel
    tmp = Path(tempfile.mkdtemp())
    model, _ = build('insertion', episodes=15, seed=1, threshold=0.7, steps=150)
    model.save(tmp / 'rm')
    weights = WorldModel(load_config('insertion').world_model, device='cpu').save(tmp / 'wm.safetensors')
    cell = _Cell([('sim_node', 'sim', {}), ('a1x_controller', 'a1x_controller', {}), ('policy_node', 'policy', {}),
                  ('reward_model', 'reward_model', {'model_dir': str(tmp / 'rm')}),
                  # untrained weights and no post-training: no warm-up to wait for (this measures cost)
                  ('world_model', 'world_model', {'weights': str(weights), 'warmup': 0})], tmp)
    try:
        log = tmp / 'world_model.log'
        if not cell.spin(lambda: 'counterfactuals (' in log.read_text(), 180):
            raise RuntimeError(f'no generation within 180 s; see {log}')
        phases = {'generation_on': cell.measure(seconds)}
        cell.stop('world_model')
        phases['generation_off'] = cell.measure(seconds)
    finally:
        cell.close()
    lines = [ln for ln in log.read_text().splitlines() if 'counterfactuals (' in ln or 'stopped' in ln]
    phases['generation_on']['note'] = f'; worker: {lines[-1].split("]: ")[-1] if lines else "?"}'
    save('generation_load', {'seconds_per_phase': seconds, 'torch_threads_default': torch.get_num_threads(),
                             'worker_log': lines, **phases})
    return _loop_rows('scripted actor, 10 Hz in the sim cell', phases)


def bench_closed_loop_generation(seconds: float = 100.0, threads: tuple[int, ...] = (0, 1)) -> list[str]:
    """Generation throughput in the running graph, as a new user runs it: sim, controller,
    simulated human, policy with the SAC actor, learner with PPL training, reward model, one tiny
    world_model worker and post-training, all on this machine. After the first generation batch,
    ``seconds`` of episodes: real segments arrived vs generated (and dropped), synthetic
    transitions the learner stored per real transition, synthetic rows in critic updates, and
    where a generation batch's time goes (world-model sampling vs the reward-model round trip).
    Once per torch thread setting of the two world-model nodes (0: torch's default, all cores)."""
    from worldsample.commands.record_demos import record
    from worldsample.commands.train_reward import build
    from worldsample.core.config import load_config
    from worldsample.core.worldmodel.model import WorldModel, sized
    tmp = Path(tempfile.mkdtemp())
    record('insertion', episodes=10, out=tmp / 'demos', seed=0, keep_failures=False)
    model, _ = build('insertion', episodes=15, seed=1, threshold=0.7, steps=150)
    model.save(tmp / 'rm')
    tiny = sized(load_config('insertion').world_model, 'tiny')
    weights = WorldModel(tiny, device='cpu').save(tmp / 'wm.safetensors')
    runs, rows = {}, []
    for n in threads:
        runs[f'threads_{n}'] = data = _closed_loop(tmp / f'threads_{n}', tmp, weights, n, seconds,
                                                   load_config('insertion').world_model.counterfactuals)
        batch = np.array(data['batch_timing_s']) if data['batch_timing_s'] else np.zeros((1, 3))
        jitter = np.abs(np.array(data['period_ms']) - 100.0)
        end = data['worker_totals']
        rows.append(
            f'| closed loop (sim, SAC policy, learner + PPL, reward model, tiny world_model worker, post-training), '
            f'{seconds:.0f} s, torch threads {n or "default"} | segments: {end.get("segments", 0)} arrived, '
            f'{data["segments_generated"]:.0f} generated, {end.get("dropped_segments", 0)} dropped; first batch '
            f'{data["first_batch_after_start_s"]:.0f} s after start; batch median {np.median(batch[:, 0]):.2f} s '
            f'(sampling {np.median(batch[:, 1]):.2f} s, reward model {np.median(batch[:, 2]):.2f} s); learner stored '
            f'{data["synthetic_trajectories_in_window"]} synthetic trajectories per '
            f'{data["real_transitions_in_window"]} real transitions in the window; period jitter p99 '
            f'{np.percentile(jitter, 99):.2f} ms | — |')
    save('closed_loop_generation', {'seconds': seconds, **runs})
    return rows


def _closed_loop(tmp: Path, shared: Path, weights: Path, threads: int, seconds: float, k: int) -> dict:
    import re

    from worldsample_msgs.msg import LearnerStats
    tmp.mkdir()
    demos = str(shared / 'demos' / 'demos.npz')
    wm = {'weights': str(weights), 'size': 'tiny', 'threads': threads}
    cell = _Cell([('sim_node', 'sim', {}), ('a1x_controller', 'a1x_controller', {}), ('sim_human', 'sim_human', {}),
                  ('policy_node', 'policy', {'actor': 'sac'}),
                  ('learner', 'learner', {'run_dir': str(tmp / 'run'), 'demos': demos}),
                  ('reward_model', 'reward_model', {'model_dir': str(shared / 'rm')}),
                  # generation from the start (warmup 0): this measures throughput, not label quality
                  ('world_model', 'world_model_0', {**wm, 'warmup': 0}),
                  ('world_model_trainer', 'world_model_trainer', {**wm, 'demos': demos,
                                                                  'weights': str(tmp / 'post.safetensors')})],
                 tmp, {'/learner/stats': LearnerStats})
    lstats, log = cell.got['/learner/stats'], tmp / 'world_model_0.log'
    try:
        t0 = time.monotonic()
        if not cell.spin(lambda: 'counterfactuals (' in log.read_text(), 300):
            raise RuntimeError(f'no generation within 300 s; see {log}')
        first_batch_s = time.monotonic() - t0
        cell.spin(lambda: bool(lstats), 30)
        before = lstats[-1]
        loop = cell.measure(seconds)
        after = lstats[-1]
    finally:
        cell.close()
    lines = [ln for ln in log.read_text().splitlines() if 'counterfactuals (' in ln or 'stopped' in ln]
    totals = [json.loads(m.group(1).replace("'", '"')) for m in (re.search(r'(\{.*\})', ln) for ln in lines) if m]
    pattern = r'in ([0-9.]+) s \(predict ([0-9.]+) s, reward model ([0-9.]+) s'
    timing = [tuple(float(x) for x in re.findall(pattern, ln)[0]) for ln in lines if 'predict' in ln]
    end = totals[-1] if totals else {}
    return {'threads': threads, 'first_batch_after_start_s': first_batch_s, 'worker_totals': end,
            'segments_generated': (end.get('positive', 0) + end.get('negative', 0)) / k, 'batch_timing_s': timing,
            'real_transitions_in_window': after.received - before.received,
            'synthetic_trajectories_in_window': after.synthetic_trajectories - before.synthetic_trajectories,
            'synthetic_rows_used_in_window': after.synthetic_used - before.synthetic_used,
            'learner_steps_per_s': after.steps_per_s, 'worker_log': lines, **loop}


def _sim_episodes(cfg, episodes: int, seed: int, noise_max: float, states: list | None = None,
                  human: bool = False) -> dict[str, np.ndarray]:
    """Scripted-expert episodes with per-episode action noise (sigma cycles 0 .. noise_max) as a
    dataset: noise 0 gives demos, noise > 0 policy-like rollouts with misses and corrections.
    ``states`` (a list) receives the saved sim state at every row's observation. With ``human`` the
    task's simulated human takes over from the noisy expert as it does from the policy in a run
    (on a stall or a stray, ``human`` in the task's config), and an ``intervention`` column says
    which steps it acted."""
    from worldsample.core.expert import InsertionExpert
    from worldsample.core.recording.dataset import IMAGE_FIELDS
    from worldsample.core.sim.env import InsertionEnv
    from worldsample.core.sim_human import SimulatedHuman
    env, expert, rng = InsertionEnv(cfg), InsertionExpert(cfg), np.random.default_rng(seed)
    operator = SimulatedHuman(cfg) if human else None
    rows = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        if operator is not None:
            operator.reset(env.hole)
        sigma = noise_max * (ep % 4) / 3.0
        for t in range(cfg.task.max_episode_steps):
            a = np.clip(expert.act(obs['proprio'], env.hole) + rng.normal(0.0, sigma, 7), -1, 1) * np.asarray(cfg.task.action.active)
            takeover = None if operator is None else operator.step(obs['proprio'])
            if takeover is not None:
                a = np.clip(takeover, -1, 1) * np.asarray(cfg.task.action.active)
            if states is not None:
                states.append(env.snapshot())
            nxt, r, term, trunc, _ = env.step(a)
            rows.append({**{f: obs[c] for c, f in IMAGE_FIELDS.items()},
                         **{'next_' + f: nxt[c] for c, f in IMAGE_FIELDS.items()},
                         'proprio': obs['proprio'], 'next_proprio': nxt['proprio'], 'action': a.astype(np.float32),
                         'reward': r, 'terminated': term, 'truncated': trunc, 'episode': ep, 'step': t,
                         **({'intervention': takeover is not None} if human else {})})
            obs = nxt
            if term or trunc:
                break
    env.close()
    return {k: np.stack([row[k] for row in rows]) for k in rows[0]}


def bench_world_model_fidelity(steps: int = 1500, size: str = 'tiny', only: tuple[str, ...] = ()) -> list[str]:
    """Paper Table 2a: held-out sim rollout segments (8 steps) replayed from o_0 (CPU scale by
    default; ``--wm-size default --wm-steps 20000`` on a GPU).

    Data: 20 scripted demos; 60 training and 16 held-out rollouts of the expert with action
    noise (policy-like: misses, corrections, failures). Variants: untrained, demo-only,
    rollout-only, demo+rollout (mixed 50/50), and single-view models (wrist, side) on
    demo+rollout; plus copy-last-frame. Same steps, batch and seed for every trained variant.
    Sampling in the configured precision; demo+rollout is scored in float32 as well.
    Post-training (what world_model_trainer does): the demo-only weights trained ``steps`` more
    on demo+rollout, against the same weights trained ``steps`` more on demos alone.
    ``only`` runs the named variants (and those they continue from); copy-last-frame always.
    Results: world_model_fidelity.json for the whole tiny table at 1500 steps, else a file named by
    size, steps and subset (``_partial``).
    """
    import dataclasses

    import torch

    from worldsample.core.config import load_config
    from worldsample.core.worldmodel.data import episodes_from_dataset
    from worldsample.core.worldmodel.model import WorldModel, sized
    from worldsample.core.worldmodel.training import evaluate, mix, train
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = load_config('insertion')
    dual = sized(cfg.world_model, size)
    # name: (config, sources trained on, variant whose saved weights it continues from)
    variants = {'untrained': (dual, None, None), 'demo-only': (dual, ('demos',), None),
                'rollout-only': (dual, ('rollouts',), None), 'demo+rollout': (dual, ('demos', 'rollouts'), None),
                'demo-only, then demos again': (dual, ('demos',), 'demo-only'),
                'demo-only, then post-training on demo+rollout': (dual, ('demos', 'rollouts'), 'demo-only')}
    for view in dual.views:
        variants[f'single-view {view}, demo+rollout'] = (dataclasses.replace(dual, views=(view,)),
                                                          ('demos', 'rollouts'), None)
    unknown = sorted(set(only) - set(variants))
    if unknown:
        raise SystemExit(f'unknown world_model_fidelity variant(s) {unknown}; choose from {list(variants)}')
    wanted = set(only) | {variants[v][2] for v in only} - {None}
    if only:
        variants = {k: v for k, v in variants.items() if k in wanted}
    t0 = time.perf_counter()
    sources = {'demos': _sim_episodes(cfg, 20, seed=10_000, noise_max=0.0),
               'rollouts': _sim_episodes(cfg, 60, seed=20_000, noise_max=1.5),
               'held_out': _sim_episodes(cfg, 16, seed=30_000, noise_max=1.5)}
    sizes = ', '.join(f'{k} {len(v["action"])} steps' for k, v in sources.items())
    print(f'sim data: {sizes} ({time.perf_counter() - t0:.0f} s)', flush=True)
    @functools.cache
    def by_config(wm_cfg) -> dict:      # model frames, made once per configuration (dual view, each single view)
        return {k: episodes_from_dataset(v, wm_cfg) for k, v in sources.items()}

    results, weights_dir = {}, Path(tempfile.mkdtemp(prefix='ws_wm_fidelity_'))
    for name, (wm_cfg, train_on, init) in variants.items():
        eps = by_config(wm_cfg)
        # on a GPU when torch sees one; a continuation gets a fresh optimiser, as post-training does
        model = WorldModel.load(weights_dir / f'{init}.safetensors', wm_cfg) if init else WorldModel(wm_cfg, seed=0)
        t1 = time.perf_counter()
        losses = []
        if train_on:
            episodes, weights = mix(eps['demos'] if 'demos' in train_on else [],
                                    eps['rollouts'] if 'rollouts' in train_on else [], wm_cfg)
            losses = train(model, episodes, weights, steps, np.random.default_rng(1 if init else 0))
        train_s = time.perf_counter() - t1
        if any(init_from == name for _, _, init_from in variants.values()):
            model.save(weights_dir / f'{name}.safetensors')
        results[name] = {'train_s': train_s, 'total_steps': model.steps,
                         'final_loss': float(np.mean(losses[-100:])) if losses else None,
                         **evaluate(model, eps['held_out'], wm_cfg)}
        print(f'{name}: {results[name]["metrics"]} ({train_s:.0f} s training)', flush=True)
        if name == 'demo+rollout' and model.sample_dtype != torch.float32:    # the sampling precision's cost
            model.sample_dtype = torch.float32
            results[f'{name}, sampled in float32'] = {'total_steps': model.steps, **evaluate(model, eps['held_out'],
                                                                                             wm_cfg)}
    shutil.rmtree(weights_dir)
    results['copy-last-frame'] = evaluate(None, by_config(dual)['held_out'], dual)
    device = str(model.device)
    name = 'world_model_fidelity' + ('' if size == 'tiny' and steps == 1500 else f'_{size}_{steps}') + ('_partial' if only else '')
    save(name, {'size': size, 'steps': steps, 'batch_size': dual.batch_size, 'device': device,
                                  'params': WorldModel(dual, device='cpu').n_params,
                                  'frame': [dual.view_size, dual.view_size * len(dual.views)], 'results': results})
    rows = []
    for name, r in results.items():
        m = r['metrics']
        cells = [f"{v.split('_')[0]} {m[v]['psnr']:.2f} dB / {m[v]['psnr_moving']:.2f} dB / {m[v]['ssim']:.3f}"
                 for v in ('both', *dual.views) if v in m]
        trained = f"{r['total_steps']} steps" if 'total_steps' in r else 'no model'
        rows.append(f"| world model ({size}, {trained}, {device}), {name} | {'; '.join(cells)} "
                    f"({r['segments']} segments) | ≥ 28 dB, ≥ 0.90 SSIM |")
    return rows


def bench_world_model_throughput(batch: int = 16, frames: int = 8) -> list[str]:
    """Synthetic frames/s of autoregressive rollouts (3 Euler steps per frame), batched, on CPU
    (and on the GPU when torch sees one), for the default and tiny sizes, in the configured
    sampling precision (bf16 where native) and in float32, interleaved in one run."""
    import dataclasses

    import torch

    from worldsample.core.config import load_config
    from worldsample.core.worldmodel.model import WorldModel, sized
    cfg = load_config('insertion').world_model
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    raw, rows = {}, []
    for size in ('default', 'tiny'):
        for device in devices:
            models = {}
            for precision in dict.fromkeys((cfg.sampling_precision, 'float32')):
                model = WorldModel(dataclasses.replace(sized(cfg, size), sampling_precision=precision), device=device)
                models[str(model.sample_dtype).removeprefix('torch.')] = model
            s, views = model.cfg.view_size, len(model.cfg.views)
            anchor = np.random.default_rng(0).integers(0, 255, (batch, s, s * views, 3), np.uint8)
            actions = np.zeros((batch, frames, 7), np.float32)
            times = {dtype: [] for dtype in models}
            for m in models.values():
                m.rollout(anchor[:2], actions[:2, :1])            # warm-up
            for _ in range(3):
                for dtype, m in models.items():
                    t0 = time.perf_counter()
                    m.rollout(anchor, actions)
                    times[dtype].append((time.perf_counter() - t0) / (batch * frames))
            for dtype, ts in times.items():
                ms = 1000 * float(np.median(ts))
                raw[f'{size}/{device}/{dtype}'] = {'params': model.n_params, 'ms_per_frame': [1000 * t for t in ts]}
                rows.append(f'| world model sampling, {size} ({model.n_params / 1e6:.2f}M params, {s}×{s * views}), '
                            f'{device} {dtype}, batch {batch} × {frames} frames | {ms:.1f} ms/frame '
                            f'({1000 / ms:.0f} frames/s) | ≤ 20 ms/frame on CPU at the default size |')
    # a machine with a GPU keeps its own file: its CPU rows are another machine's too
    save('world_model_throughput' + ('_gpu' if 'cuda' in devices else ''), {'batch': batch, 'frames': frames, 'steps_per_frame': cfg.sampling_steps,
                                    'torch_threads': torch.get_num_threads(), 'results': raw})
    return rows


def bench_learning(seeds: tuple[int, ...] = (0, 1, 2)) -> list[str]:
    """HIL-SERL baseline learning on sim insertion with the simulated human (single process),
    ``train.env_steps`` environment steps per seed.

    Eval: 20 episodes with the deterministic actor and no interventions, every 500 steps.
    """
    from worldsample.core.config import load_config
    from worldsample.core.rl.trainer import train
    cfg = load_config('insertion')
    env_steps = cfg.train.env_steps
    cfg = replace(cfg, train=replace(cfg.train, eval_every=500))
    runs = []
    for seed in seeds:
        _, _, hist = train(cfg, seed=seed, log=lambda m, s=seed: print(f'[seed {s}] {m}', flush=True),
                           env_steps=env_steps)
        reach = next((s for s, r in zip(hist.env_steps, hist.success_rate) if r >= 0.8), None)
        runs.append({'seed': seed, 'history': hist.__dict__, 'steps_to_80': reach})
    save('learning', {'env_steps': env_steps, 'eval_episodes': cfg.train.eval_episodes, 'runs': runs})
    final = [r['history']['success_rate'][-1] for r in runs]
    reach = [r['steps_to_80'] for r in runs]
    wall = [r['history']['wall_s'][-1] for r in runs]
    interv = [r['history']['intervention_rate'][-1] for r in runs]
    return [f'| HIL-SERL baseline, sim insertion, {len(seeds)} seeds × {env_steps} env steps | final success '
            f'{" / ".join(f"{x:.2f}" for x in final)}; steps to 80%: {" / ".join(str(x) for x in reach)}; '
            f'last-window intervention rate {np.mean(interv):.2f}; wall {np.mean(wall) / 60:.1f} min per seed '
            f'| ≥ 80% success |']


def bench_fault_injection(rounds: int = 3) -> list[str]:
    """The fault-injection test (test/integration/test_fault_injection.py) in its longer form:
    ``rounds`` times, each restartable node SIGKILLed and restarted in turn."""
    out = Path(tempfile.mkdtemp()) / 'counts.json'
    env = dict(os.environ, FAULT_INJECTION_ROUNDS=str(rounds), FAULT_INJECTION_RESULTS=str(out))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-s', '-p', 'no:cacheprovider',
                           'test/integration/test_fault_injection.py'], env=env)
    if not out.is_file():
        raise RuntimeError(f'the fault-injection test stopped before counting (exit {done.returncode})')
    counts = json.loads(out.read_text())
    save('fault_injection', {'rounds': rounds, 'passed': done.returncode == 0, 'wall_s': time.perf_counter() - t0,
                             **counts})
    return [f'| fault injection, {rounds} rounds: {len(counts["killed"])} SIGKILLs, {counts["restarts"]} restarts | '
            f'real transitions lost {counts["lost"]} ({counts["bag_transitions"]} in the bag, '
            f'{counts["learner_received"]} in the learner); targets outside the box {counts["targets_outside_box"]} '
            f'of {counts["targets"]}; controller holds {counts["controller_holds"]}; malformed inputs '
            f'{counts["malformed_inputs"]} | 0 lost, 0 outside |']


BENCHES = {'sim_env': bench_sim_env, 'controller_latency': bench_controller_latency,
           'camera_latency': bench_camera_latency, 'teleop_latency': bench_teleop_latency, 'learner': bench_learner,
           'policy_loop': bench_policy_loop, 'generation_load': bench_generation_load, 'learning': bench_learning,
           'world_model_fidelity': bench_world_model_fidelity, 'world_model_throughput': bench_world_model_throughput,
           'closed_loop_generation': bench_closed_loop_generation, 'worldsample': bench_worldsample,
           'world_model_labels': bench_world_model_labels, 'fault_injection': bench_fault_injection,
           'two_hosts': bench_two_hosts, 'pose_gate': bench_pose_gate}


def main(argv=None) -> int:
    # nodes are stopped with SIGINT: never pass on an ignored SIGINT (background job of a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('names', nargs='*', choices=[[], *BENCHES], default=[], metavar='name',
                   help=f'benchmarks to run (default: all): {", ".join(BENCHES)}')
    p.add_argument('--wm-size', default='tiny', help='world_model_fidelity, world_model_labels: model size (tiny, default)')
    p.add_argument('--wm-steps', type=int, default=1500,
                   help='world_model_fidelity: training steps per variant; world_model_labels: per training stage')
    p.add_argument('--wm-reuse', action='store_true',
                   help='world_model_labels: measure the weights an earlier run of the same size and steps kept')
    p.add_argument('--rollout-noise', action='append', type=float, default=[], metavar='SIGMA',
                   help='world_model_labels: post-train on rollouts with this action noise level (repeatable; '
                        'each from the same demos-only model; default: 0.6)')
    p.add_argument('--rollout-human', action='append', type=float, default=[], metavar='SIGMA',
                   help='world_model_labels: also post-train on rollouts at this noise level in which the '
                        'simulated human takes over, as in a run (repeatable)')
    p.add_argument('--intervened-weight', type=float, default=1.0, metavar='W',
                   help='world_model_labels: with --rollout-human, also post-train with the episodes with a '
                        'takeover sampled W times as often')
    p.add_argument('--reward-episodes', action='store_true',
                   help="world_model_labels: also post-train on the reward model's labelled episodes")
    p.add_argument('--resample', type=int, default=0, metavar='R',
                   help='world_model_labels: predict every counterfactual labelled successful R more times and '
                        'also report the labels that every resample keeps')
    p.add_argument('--reward-encoder', type=int, nargs=2, default=None, metavar=('SIZE', 'DIM'),
                   help="world_model_labels: label with the benchmark's reward model of this encoder (views "
                        'SIZE x SIZE, DIM components per camera; trained once and cached) in place of the '
                        "task's encoder")
    p.add_argument('--wm-variant', action='append', default=[], metavar='NAME',
                   help='world_model_fidelity: run only this variant, e.g. rollout-only (repeatable; default: all)')
    p.add_argument('--variant', action='append', default=[], metavar='NAME',
                   help=f'worldsample: run only this variant (repeatable; default: all of {", ".join(VARIANTS)})')
    p.add_argument('--seed', action='append', type=int, default=[], metavar='K',
                   help='worldsample: run only this seed (repeatable; default: 0 1 2)')
    p.add_argument('--env-steps', type=int, default=None, help='worldsample: default train.env_steps of the task')
    p.add_argument('--task', default='insertion_vision', help='worldsample, world_model_labels: the benchmark task')
    p.add_argument('--wm-pretrain-steps', type=int, default=1000,
                   help='worldsample: world-model training steps on the demos before a run')
    p.add_argument('--rounds', type=int, default=3,
                   help='fault_injection: rounds of killing every restartable node')
    p.add_argument('--threads', type=int, default=None,
                   help='worldsample: torch threads in this process (world-model training and sampling; '
                        'use 1 when running seeds side by side on two cores; default: torch\'s own)')
    args = p.parse_args(argv)
    options = {'world_model_fidelity': {'size': args.wm_size, 'steps': args.wm_steps, 'only': tuple(args.wm_variant)},
               'worldsample': {'variants': tuple(args.variant), 'seeds': tuple(args.seed) or (0, 1, 2),
                               'env_steps': args.env_steps, 'task': args.task,
                               'wm_pretrain_steps': args.wm_pretrain_steps, 'threads': args.threads},
               'world_model_labels': {'size': args.wm_size, 'steps': args.wm_steps, 'task': args.task,
                               'reuse': args.wm_reuse, 'rollout_noise': tuple(args.rollout_noise),
                               'rollout_human': tuple(args.rollout_human), 'intervened_weight': args.intervened_weight,
                               'reward_episodes': args.reward_episodes, 'resample': args.resample,
                               'reward_encoder': None if args.reward_encoder is None else tuple(args.reward_encoder)},
               'fault_injection': {'rounds': args.rounds}, 'pose_gate': {'task': args.task}}
    rows = []
    for name in args.names or list(BENCHES):
        print(f'== {name}', flush=True)
        rows += BENCHES[name](**options.get(name, {}))
    m = machine()
    print(f'\nMachine: {m["cpu"]}, {m["cores"]} cores, Python {m["python"]}\n')
    print('| what | measured | budget |\n| --- | --- | --- |')
    print('\n'.join(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
