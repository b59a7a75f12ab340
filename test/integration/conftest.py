"""Integration fixtures: real node processes over DDS on a private ROS_DOMAIN_ID."""
import os
import signal
import subprocess
import sys
import time

import pytest
import rclpy
import yaml
from ament_index_python.packages import get_package_prefix

from worldsample.commands.record_demos import record
from worldsample.commands.train_reward import build
from worldsample.core.config import config_dir

EXE_DIR = os.path.join(get_package_prefix('worldsample'), 'lib', 'worldsample')


class Procs:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.procs = {}

    def start(self, executable, name, **params):
        path = self.tmp / f'{name}.params.yaml'
        path.write_text(yaml.safe_dump({name: {'ros__parameters': {'task': 'insertion', **params}}}))
        log = open(self.tmp / f'{name}.log', 'w')
        proc = subprocess.Popen([os.path.join(EXE_DIR, executable), '--ros-args', '-r', f'__node:={name}',
                                 '--params-file', str(path)], stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def log(self, name):
        return (self.tmp / f'{name}.log').read_text()

    def interrupt(self, name, timeout=30):
        """Ctrl-C one node and wait for it to exit: its exit code (a node that hangs fails with its log)."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'{name} still running {timeout} s after Ctrl-C; its log:\n'
                                 f'{self.log(name)[-4000:]}') from None

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    yield p
    p.stop()


@pytest.fixture(scope='session')
def fast_task(tmp_path_factory):
    """The insertion task with a small, quickly-starting agent (the learner's code paths are the same)."""
    folder = tmp_path_factory.mktemp('task')
    data = yaml.safe_load((config_dir() / 'insertion.yaml').read_text())
    data['robot'] = str(config_dir() / data['robot'])
    data['cameras'] = str(config_dir() / data['cameras'])
    data['agent'].update(hidden=[64, 64], batch_size=64)
    data['train'].update(learning_starts=20)
    path = folder / 'fast_insertion.yaml'
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope='session')
def demos(tmp_path_factory, fast_task):
    out = tmp_path_factory.mktemp('demos')
    record(fast_task, episodes=3, out=out, seed=0, keep_failures=False)
    return str(out / 'demos.npz')


@pytest.fixture(scope='session')
def model_dir(tmp_path_factory):
    """A reward model trained on labelled sim frames (small, quick)."""
    model, _ = build('insertion', episodes=15, seed=1, threshold=0.7, steps=150)
    return model.save(tmp_path_factory.mktemp('rm'))


@pytest.fixture
def ros_node():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('test_probe', context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    node.spin_for = lambda seconds: _spin_for(executor, seconds)
    node.spin_until = lambda cond, timeout: _spin_until(executor, cond, timeout)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def _spin_for(executor, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)


def _spin_until(executor, cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        executor.spin_once(timeout_sec=0.05)
    return cond()


def run_launch(args, timeout):
    """Run the launch runner to completion; returns (exit code, output).

    On time-out the runner gets Ctrl-C (it stops its nodes) and the test fails with its output.
    """
    proc = subprocess.Popen([sys.executable, '-m', 'worldsample.launch_runner', 'insertion.launch.py', *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f'launch did not finish within {timeout} s:\n{out[-3000:]}')
    return proc.returncode, out
