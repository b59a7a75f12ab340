"""The two_hosts benchmark's probe, run inside the GPU side's network namespace: records what
crosses the link (the policy's transitions and stats from the robot side, the learner's stats
beside it) until SIGINT, then writes it as JSON to the path given as its argument."""
from __future__ import annotations

import json
import signal
import sys
import time

import rclpy
from worldsample_msgs.msg import LearnerStats, PolicyStats, Transition

from worldsample.nodes.common import STATE_QOS, TRANSITION_QOS


def main(out: str) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rclpy.init()
    node = rclpy.create_node('two_hosts_probe')
    t0 = time.monotonic()
    got = {'transitions': [], 'learner': [], 'policy': []}
    node.create_subscription(Transition, '/worldsample/transitions', lambda m: got['transitions'].append(
        [time.monotonic() - t0, m.episode, m.step]), TRANSITION_QOS)
    node.create_subscription(LearnerStats, '/learner/stats', lambda m: got['learner'].append(
        [time.monotonic() - t0, m.received, m.recovered, m.caught_up, m.version]), STATE_QOS)
    node.create_subscription(PolicyStats, '/policy/stats', lambda m: got['policy'].append(
        [time.monotonic() - t0, m.params_version, m.act_ms, m.period_ms]), STATE_QOS)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    with open(out, 'w') as f:
        json.dump(got, f)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main(sys.argv[1])
