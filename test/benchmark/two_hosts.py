"""The robot-PC / GPU-server split over a network link: ``./ws bench two_hosts`` (needs root).

Two Linux network namespaces joined by a veth pair stand in for the two machines: each side has
its own network stack, addresses and routes, and DDS traffic between them crosses the link, as
between a robot PC and a GPU server on one LAN (they still share this machine's CPUs and disk).
Both sides are configured as README "Robot PC and GPU server" says: one ``ROS_DOMAIN_ID``,
``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` and the UDP profile. The robot side runs the simulated
cell with ``actor:=sac learner:=false``; the GPU side runs the learner and a probe. Halfway the
learner is SIGKILLed and restarted: it recovers from its log and catches up through the policy's
replay service, across the link. Counted: transitions published and received, parameters reaching
the policy, the control step's timing.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROBOT, GPU = 'ws_robot', 'ws_gpu'
ADDRESS = {ROBOT: '10.231.0.1', GPU: '10.231.0.2'}


def _ip(*args: str) -> None:
    subprocess.run(['ip', *args], check=True)


def _link_up() -> None:
    for ns in (ROBOT, GPU):
        _ip('netns', 'add', ns)
    _ip('link', 'add', 'ws_veth_r', 'type', 'veth', 'peer', 'name', 'ws_veth_g')
    for ns, dev in ((ROBOT, 'ws_veth_r'), (GPU, 'ws_veth_g')):
        _ip('link', 'set', dev, 'netns', ns)
        _ip('-n', ns, 'addr', 'add', f'{ADDRESS[ns]}/24', 'dev', dev)
        _ip('-n', ns, 'link', 'set', dev, 'up')
        _ip('-n', ns, 'link', 'set', 'lo', 'up')
        _ip('-n', ns, 'route', 'add', 'default', 'dev', dev)    # multicast discovery leaves by the link


def _link_down() -> None:
    for ns in (ROBOT, GPU):
        subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)   # takes the veth pair along


def _in(ns: str, cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(['ip', 'netns', 'exec', ns, *cmd], env=env, stdout=open(log, 'w'),
                            stderr=subprocess.STDOUT)


def _learner(env: dict, tmp: Path, log: str, **params) -> subprocess.Popen:
    from .run import node_command
    return _in(GPU, node_command('learner', 'learner', cpus='', **params), env, tmp / f'{log}.log')


def _stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_two_hosts(seconds: float = 180.0) -> list[str]:
    from worldsample.commands.record_demos import record
    from worldsample.core.config import config_dir

    from .run import save
    if os.geteuid() != 0:
        raise RuntimeError('two_hosts needs root: it makes two network namespaces (ip netns)')
    tmp = Path(tempfile.mkdtemp())
    record('insertion', episodes=10, out=tmp / 'demos', seed=0, keep_failures=False)
    env = {k: v for k, v in os.environ.items() if k not in ('ROS_STATIC_PEERS', 'ROS_DISCOVERY_SERVER')}
    env.update(ROS_DOMAIN_ID=str(150 + os.getpid() % 50), ROS_AUTOMATIC_DISCOVERY_RANGE='SUBNET',
               FASTDDS_DEFAULT_PROFILES_FILE=str(config_dir() / 'fastdds.xml'), PYTHONUNBUFFERED='1')
    learner_params = {'run_dir': str(tmp / 'gpu_run'), 'checkpoint_every_s': 20.0}
    _link_down()
    _link_up()
    procs: list[subprocess.Popen] = []
    t0 = time.monotonic()
    try:
        probe = _in(GPU, [sys.executable, '-m', 'test.benchmark.two_hosts_probe', str(tmp / 'probe.json')], env,
                    tmp / 'probe.log')
        robot = _in(ROBOT, [sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py', 'actor:=sac',
                            'learner:=false', 'record:=false', f'run_dir:={tmp / "robot_run"}'], env, tmp / 'robot.log')
        learner = _learner(env, tmp, 'learner', demos=str(tmp / 'demos' / 'demos.npz'), **learner_params)
        procs += [probe, robot, learner]
        time.sleep(seconds / 2)
        learner.send_signal(signal.SIGKILL)
        learner.wait(timeout=10)
        killed_at = time.monotonic() - t0
        time.sleep(10.0)                              # the policy goes on; the learner misses these
        learner = _learner(env, tmp, 'learner_restarted', **learner_params)
        procs.append(learner)
        time.sleep(seconds / 2)
        _stop(robot)                                  # no more transitions: the learner finishes catching up
        stopped_at = time.monotonic() - t0
        time.sleep(15.0)
        _stop(learner)
        _stop(probe, 30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        _link_down()
    got = json.loads((tmp / 'probe.json').read_text())
    ids = {(e, s) for _, e, s in got['transitions']}
    stats = got['learner']
    final = stats[-1] if stats else [0, 0, 0, 0, 0]
    first_transition = next((t for t, received, *_ in stats if received > 0), None)
    policy = np.array(got['policy']) if got['policy'] else np.zeros((0, 4))
    acting = policy[policy[:, 3] > 0] if len(policy) else policy
    first_step = got['policy'][0][0] if got['policy'] else None     # it acts once it has parameters
    first_trained = next((t for t, version, *_ in got['policy'] if version > 0), None)
    versions = sorted({int(v) for _, v, *_ in got['policy']})
    result = {'seconds': seconds, 'killed_at_s': killed_at, 'robot_stopped_at_s': stopped_at,
              'published_ids': len(ids), 'learner_final': {'received': final[1], 'recovered': final[2],
                                                            'caught_up': final[3], 'version': final[4]},
              'first_transition_at_learner_s': first_transition, 'first_policy_step_s': first_step,
              'first_trained_params_at_policy_s': first_trained, 'params_versions_used': len(versions),
              'newest_version_used': versions[-1] if versions else None,
              'act_ms': acting[:, 2].tolist(), 'period_ms': acting[:, 3].tolist(), 'logs': str(tmp)}
    save('two_hosts', result)
    lost = len(ids) - final[1]
    act = acting[:, 2] if len(acting) else np.zeros(1)
    return [f'| robot side and learner in two network namespaces over a veth link (SUBNET discovery, one domain), '
            f'{seconds:.0f} s with the learner SIGKILLed and restarted halfway | {len(ids)} transitions published, '
            f'{final[1]} held by the learner at the end ({final[2]} recovered from its log, {final[3]} caught up '
            f'from the policy\'s spool): {lost} missing; first transition at the learner after '
            f'{first_transition or float("nan"):.1f} s, the policy\'s first step (on the learner\'s parameters) '
            f'after {first_step or float("nan"):.1f} s, first trained parameters after '
            f'{first_trained or float("nan"):.1f} s, {len(versions)} versions used (newest '
            f'v{versions[-1] if versions else "-"}); control step median '
            f'{np.median(act):.2f} ms, p99 {np.percentile(act, 99):.2f} ms ({len(acting)} steps) | 0 missing |']
