"""Stopping a node (nodes.common.spin_node): the callback running when SIGINT or SIGTERM arrives
finishes, publishing included, then ``close`` runs and the process exits 0; while the node is
still being built, a signal stops it at once."""
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.integration

NODE = textwrap.dedent('''
    import sys, time
    from rclpy.node import Node
    from std_msgs.msg import String
    from worldsample.nodes.common import spin_node

    class Busy(Node):
        def __init__(self):
            print('building', flush=True)
            time.sleep(float(sys.argv[1]))        # a slow start-up (loading, compiling)
            super().__init__('busy')
            self.pub = self.create_publisher(String, 'busy_out', 10)
            self.create_timer(0.01, self.tick)
            print('up', flush=True)

        def tick(self):                           # a callback with a write of several parts
            print('begin', flush=True)
            time.sleep(0.3)
            self.pub.publish(String(data='done'))
            print('end', flush=True)

        def close(self):
            print('closed', flush=True)

    spin_node(Busy)
''')


def _start(build_s: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', NODE, str(build_s)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _read_until(proc: subprocess.Popen, line: str, timeout: float) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = proc.stdout.readline().strip()
        seen.append(out)
        if out == line:
            return seen
    raise AssertionError(f'no {line!r} within {timeout} s: {seen}')


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_stop_lets_the_running_callback_finish_then_closes_the_node(sig):
    proc = _start(0.0)
    try:
        _read_until(proc, 'begin', 30)
        _read_until(proc, 'begin', 5)           # spinning: a second callback has begun
        proc.send_signal(sig)                    # ... and is inside its sleep
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    lines = out.split()
    assert proc.returncode == 0, out
    assert lines[0] == 'end' and 'Error' not in out, out   # the callback completed, its publish too
    assert lines[-1] == 'closed' and lines.count('begin') == lines.count('end') - 1, out


def test_ctrl_c_during_start_up_stops_the_node_at_once():
    proc = _start(60.0)
    try:
        _read_until(proc, 'building', 30)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 5 and 'up' not in out.split() and 'closed' not in out.split(), out
