"""Start a WorldSample launch graph without ``ros2 launch`` (pip-only ROS 2 installs).

    python -m worldsample.launch_runner insertion.launch.py [name:=value ...]
    (or: ./ws launch insertion.launch.py ...)

Starts the nodes of ``worldsample.graph`` (the definition the launch files use) as separate
processes, prefixes their output with the node name, forwards Ctrl-C to all of them and waits
for a clean exit. If a node dies, the runner says which one and how, then stops the rest
(except for nodes that are not ``required``: their death is reported and the rest runs on, as
it would with ``ros2 launch``). A ``respawn`` node (learner, world-model workers,
post-training, reward model) is started again after it dies, after a back-off that doubles with
each death that follows its last start within ``STABLE_S`` (1 s, 2 s, 4 s, ... up to 30 s),
and the restarts are counted in the runner's last line. A node marked ``exit_ends_graph`` (the
policy with ``episodes:=N``) finishing normally ends the graph with exit code 0.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from .dds import dds_environment
from .graph import ARGUMENTS, GraphError, NodeSpec, build_graph

PACKAGE = 'worldsample'
STOP_GRACE_S = 10.0
FINISH_DRAIN_S = 1.0      # after a node that ends the graph finished, before the others are stopped
RESPAWN_DELAY_S = 1.0     # first back-off; doubled per quick death, up to RESPAWN_MAX_S
RESPAWN_MAX_S = 30.0
STABLE_S = 60.0           # a node that ran this long before dying starts its back-off afresh


def _log(msg: str) -> None:
    print(f'[launch_runner] {msg}', flush=True)


def package_paths() -> tuple[Path, Path]:
    """(executables folder, launch folder) of the installed package, like ros2 run/launch find them."""
    from ament_index_python.packages import get_package_prefix, get_package_share_directory
    return (Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE,
            Path(get_package_share_directory(PACKAGE)) / 'launch')


def parse_arguments(argv: list[str]) -> tuple[str, dict[str, str]]:
    if not argv or ':=' in argv[0]:
        raise GraphError('usage: launch_runner <file>.launch.py [name:=value ...]; '
                         f'arguments: {", ".join(f"{k} (default {v[0]!r})" for k, v in ARGUMENTS.items())}')
    args = {}
    for item in argv[1:]:
        if ':=' not in item:
            raise GraphError(f'expected name:=value, got {item!r}')
        key, value = item.split(':=', 1)
        args[key] = value
    return argv[0], args


def task_arguments(launch_file: str, args: dict[str, str], launch_dir: Path) -> dict[str, str]:
    """A task launch file makes its own name the default task, as its IncludeLaunchDescription does;
    ``task:=`` (another task, or an operator's calibrated YAML) wins."""
    name = Path(launch_file).name
    if not (launch_dir / name).is_file():
        known = sorted(p.name for p in launch_dir.glob('*.launch.py'))
        raise GraphError(f'no launch file {name!r} in package {PACKAGE}; available: {known}')
    if name != 'worldsample_cell.launch.py':
        args = {'task': name.removesuffix('.launch.py'), **args}
    return args


def respawn_delay(quick_deaths: int) -> float:
    """Back-off before a respawn, after this many deaths in a row each soon after its start."""
    return min(RESPAWN_MAX_S, RESPAWN_DELAY_S * 2 ** max(0, quick_deaths - 1))


class Graph:
    def __init__(self, specs: list[NodeSpec], exe_dir: Path, local_only: bool = True):
        self.specs = specs
        self.exe_dir = exe_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, float] = {}
        self.restarts: dict[str, int] = {s.name: 0 for s in specs if s.respawn}
        self.quick_deaths: dict[str, int] = dict.fromkeys(self.restarts, 0)
        self.respawn_at: dict[str, float] = {}
        self.stopping = False
        self._tmp = tempfile.TemporaryDirectory(prefix='worldsample_launch_')
        self._env = dict(os.environ, PYTHONUNBUFFERED='1')
        # a simulated cell talks to no other machine unless the user says so (worldsample.dds)
        self._env.update(dds_environment(self._env, local_only))

    def start(self) -> None:
        for spec in self.specs:
            self._spawn(spec)

    def _spawn(self, spec: NodeSpec) -> None:
        params = Path(self._tmp.name) / f'{spec.name}.yaml'
        params.write_text(yaml.safe_dump({spec.name: {'ros__parameters': spec.parameters}}))
        cmd = [str(self.exe_dir / spec.executable), '--ros-args', '-r', f'__node:={spec.name}',
               '--params-file', str(params)]
        # own session: a terminal Ctrl-C reaches only the runner, which then stops every
        # node exactly once (a second SIGINT could interrupt e.g. the recorder closing its bag)
        proc = subprocess.Popen(cmd, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent, text=True, bufsize=1)
        self.procs[spec.name] = proc
        self.started_at[spec.name] = time.monotonic()
        threading.Thread(target=self._pump, args=(spec.name, proc), daemon=True).start()
        _log(f'started {spec.name} (pid {proc.pid}): {spec.executable} {spec.parameters}')

    def _schedule_respawn(self, name: str, code: int) -> None:
        quick = time.monotonic() - self.started_at[name] < STABLE_S
        self.quick_deaths[name] = self.quick_deaths[name] + 1 if quick else 1
        delay = respawn_delay(self.quick_deaths[name])
        self.respawn_at[name] = time.monotonic() + delay
        _log(f'node {name!r} died with {_describe(code)}; respawning it in {delay:g} s '
             f'(restart {self.restarts[name] + 1}); the rest of the graph keeps running')

    @staticmethod
    def _pump(name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            sys.stdout.write(f'[{name}] {line}')
            sys.stdout.flush()

    def watch(self) -> int:
        """Block until the graph ends; returns the runner's exit code."""
        by_name = {s.name: s for s in self.specs}
        gone = set()
        while True:
            for name, at in list(self.respawn_at.items()):
                if time.monotonic() >= at:
                    del self.respawn_at[name]
                    self.restarts[name] += 1
                    gone.discard(name)
                    self._spawn(by_name[name])
            for name, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None or name in gone:
                    continue
                if by_name[name].exit_ends_graph and code == 0:
                    _log(f'{name} finished; shutting the graph down in {FINISH_DRAIN_S:g} s')
                    time.sleep(FINISH_DRAIN_S)       # the recorder takes what it has received first
                    return self.stop(0)
                if by_name[name].respawn:
                    gone.add(name)
                    self._schedule_respawn(name, code)
                    continue
                if not by_name[name].required:
                    _log(f'node {name!r} died with {_describe(code)}; the rest of the graph keeps running')
                    gone.add(name)
                    continue
                _log(f'node {name!r} died with {_describe(code)}; shutting the graph down')
                return self.stop(1)
            time.sleep(0.1)

    def stop(self, code: int) -> int:
        self.stopping = True
        alive = [p for p in self.procs.values() if p.poll() is None]
        for p in alive:
            p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        for name, p in self.procs.items():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log(f'{name} did not stop within {STOP_GRACE_S:.0f} s of SIGINT; killing it')
                p.kill()
                p.wait()
        if self.restarts:
            _log('restarts: ' + ', '.join(f'{n} {k}' for n, k in self.restarts.items()))
        self._tmp.cleanup()
        return code


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the runner itself is killed, so no node is left orphaned."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL('libc.so.6', use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f'signal {signal.Signals(-code).name}'
        except ValueError:
            return f'signal {-code}'
    return f'exit code {code}'


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        launch_file, args = parse_arguments(argv)
        exe_dir, launch_dir = package_paths()
        specs = build_graph(task_arguments(launch_file, args, launch_dir))
    except GraphError as e:
        print(f'launch_runner: {e}', file=sys.stderr)
        return 2
    graph = Graph(specs, exe_dir, local_only=any(s.executable == 'sim_node' for s in specs))
    # Ctrl-C must work even where the shell started us with SIGINT ignored (a background job of a
    # non-interactive shell): Python would otherwise keep it ignored, and so would the nodes.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    graph.start()
    try:
        return graph.watch()
    except KeyboardInterrupt:
        _log('interrupted: stopping all nodes')
        return graph.stop(0)


if __name__ == '__main__':
    sys.exit(main())
