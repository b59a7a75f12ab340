"""Benchmarks (measurements, not tests): ./ws bench [sim_env] [controller_latency]

Writes raw numbers to test/benchmark/results/<name>.json and prints a Markdown table for the
README. Every figure in the README's benchmark table comes from these files.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / 'results'


def machine() -> dict:
    cpu = 'unknown'
    try:
        cpu = next(line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'date': time.strftime('%Y-%m-%d %H:%M:%S')}


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


def bench_controller_latency(n: int = 300) -> list[str]:
    """Delta command published -> changed target pose received, over DDS (separate processes)."""
    import rclpy
    import yaml
    from ament_index_python.packages import get_package_prefix
    from geometry_msgs.msg import PoseStamped
    from worldsample_msgs.msg import DeltaCommand

    from worldsample.nodes.common import COMMAND_QOS

    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(150 + os.getpid() % 50))
    exe = Path(get_package_prefix('worldsample')) / 'lib' / 'worldsample'
    tmp = Path(tempfile.mkdtemp())
    procs = []
    for name, executable in (('sim', 'sim_node'), ('a1x_controller', 'a1x_controller')):
        params = tmp / f'{name}.yaml'
        params.write_text(yaml.safe_dump({name: {'ros__parameters': {'task': 'insertion'}}}))
        procs.append(subprocess.Popen([str(exe / executable), '--ros-args', '-r', f'__node:={name}',
                                       '--params-file', str(params)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
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


def bench_learner(obs_dim: int = 2 * 256 + 7, seconds: float = 20.0) -> list[str]:
    """SAC learner steps/s at batch 256 on cached embeddings (2 x 256-d views + proprio).

    One learner step = cta_ratio (2) critic updates + 1 actor/temperature update, batches
    drawn RLPD-style from two replay buffers, including the host-side sampling.
    """
    import jax

    from worldsample.core.rl import sac
    from worldsample.core.rl.replay import ReplayBuffer, mixed_batch
    from worldsample.core.config import load_config
    cfg = load_config('insertion').agent
    rng = np.random.default_rng(0)
    online, demo = ReplayBuffer(20_000, obs_dim), ReplayBuffer(20_000, obs_dim)
    for buf in (online, demo):
        n = 5_000
        buf.data['obs'][:n] = rng.normal(size=(n, obs_dim))
        buf.data['next_obs'][:n] = rng.normal(size=(n, obs_dim))
        buf.data['action'][:n, :3] = rng.uniform(-1, 1, (n, 3))
        buf.size = n
    state = sac.create(cfg, obs_dim, (True, True, True, False, False, False, False), jax.random.PRNGKey(0))

    def step(state, key):
        batches = [mixed_batch(online, demo, cfg.batch_size, rng) for _ in range(cfg.cta_ratio)]
        stacked = jax.tree_util.tree_map(lambda *x: np.stack(x), *batches)
        return sac.update(state, stacked, key)

    t_compile = time.perf_counter()
    state, info = step(state, jax.random.PRNGKey(1))
    jax.block_until_ready(info)
    compile_s = time.perf_counter() - t_compile
    times = []
    key = jax.random.PRNGKey(2)
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        key, sub = jax.random.split(key)
        t0 = time.perf_counter()
        state, info = step(state, sub)
        jax.block_until_ready(info)
        times.append(time.perf_counter() - t0)
    rate = len(times) / sum(times)
    save('learner', {'obs_dim': obs_dim, 'batch_size': cfg.batch_size, 'cta_ratio': cfg.cta_ratio,
                     'compile_s': compile_s, 'step_s': times, 'device': str(jax.devices()[0])})
    return [f'| learner step, batch 256, cached embeddings ({jax.devices()[0].platform}) | '
            f'{rate:.0f} steps/s = {rate * cfg.cta_ratio:.0f} critic updates/s '
            f'(median step {np.median(times) * 1000:.1f} ms) | ≥ 80 updates/s |']


def bench_learning(seeds: tuple[int, ...] = (0, 1, 2), env_steps: int = 4000) -> list[str]:
    """HIL-SERL baseline learning on sim insertion with the simulated human (single process).

    Eval: 20 episodes with the deterministic actor and no interventions, every 500 steps.
    """
    from worldsample.core.config import load_config
    from worldsample.core.rl.trainer import train
    cfg = load_config('insertion')
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


BENCHES = {'sim_env': bench_sim_env, 'controller_latency': bench_controller_latency, 'learner': bench_learner,
           'learning': bench_learning}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('names', nargs='*', choices=[[], *BENCHES], default=[], metavar='name',
                   help=f'benchmarks to run (default: all): {", ".join(BENCHES)}')
    args = p.parse_args(argv)
    rows = []
    for name in args.names or list(BENCHES):
        print(f'== {name}', flush=True)
        rows += BENCHES[name]()
    m = machine()
    print(f'\nMachine: {m["cpu"]}, {m["cores"]} cores, Python {m["python"]}\n')
    print('| what | measured | budget |\n| --- | --- | --- |')
    print('\n'.join(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
