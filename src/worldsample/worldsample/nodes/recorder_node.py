"""recorder node: a rosbag2 (mcap) recorder for machines without ``ros2 bag``.

Records the task's ``recorder_topics`` (or the ``topics`` parameter) as raw CDR, exactly as
``ros2 bag record -s mcap`` would, using the ``rosbags`` writer. Topic types are discovered
from the graph; topics that appear later are picked up. The bag is written to
``<output>.partial`` and renamed to ``<output>`` on clean shutdown.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from ..core.recording.bag import BagWriter
from .common import SENSOR_QOS, declare_config, spin_node

RELIABLE_QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


def message_class(type_name: str):
    pkg, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{pkg}.{kind}'), name)


class RecorderNode(Node):
    def __init__(self):
        super().__init__('recorder')
        self.cfg = declare_config(self)
        topics = list(self.declare_parameter('topics', list(self.cfg.task.recorder_topics)).value)
        default_out = f'runs/bags/{self.cfg.task.name}_{time.strftime("%Y%m%d_%H%M%S")}'
        self.output = Path(self.declare_parameter('output', default_out).value)
        self.wanted = set(topics)
        self.writer = BagWriter(self.output)
        self.subs = {}
        self.create_timer(0.5, self.discover)
        self.discover()
        self.get_logger().info(f'recording {len(self.wanted)} topics to {self.output} (mcap)')

    def discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic not in self.wanted or topic in self.subs:
                continue
            type_name = types[0]
            infos = self.get_publishers_info_by_topic(topic)
            if not infos:   # seen only through subscribers so far: wait to match the publisher's QoS
                continue
            best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
            try:
                cls = message_class(type_name)
                self.writer.add_topic(topic, type_name)
            except Exception as e:   # unknown type: report once, keep recording the rest
                self.get_logger().error(f'cannot record {topic} ({type_name}): {e}')
                self.subs[topic] = None
                continue
            self.subs[topic] = self.create_subscription(
                cls, topic, lambda data, t=topic: self.on_message(t, data),
                SENSOR_QOS if best_effort else RELIABLE_QOS, raw=True)

    def on_message(self, topic: str, data: bytes) -> None:
        self.writer.write_raw(topic, self.get_clock().now().nanoseconds, data)

    def close(self) -> None:
        """Finish the bag (called by spin_node on shutdown, also after Ctrl-C)."""
        path = self.writer.close()
        counts = ', '.join(f'{t}: {n}' for t, n in sorted(self.writer.counts.items()))
        print(f'bag written: {path} ({counts})', flush=True)   # rosout may already be gone


def main(args=None):
    spin_node(RecorderNode, args)


if __name__ == '__main__':
    main()
