"""The cell's Fast DDS profile (config/fastdds.xml, set by ./ws and the launch file): nodes talk
over UDP only, so a SIGKILLed and restarted node is never left matched to a dead shared-memory
port (eProsima/Fast-DDS#5053)."""
from pathlib import Path

import pytest
from worldsample_msgs.msg import ArmState

from worldsample.nodes.common import STATE_QOS

pytestmark = pytest.mark.integration
SHM = Path('/dev/shm')


def _segments() -> set[str]:
    return {p.name for p in SHM.glob('fastdds_*')} if SHM.is_dir() else set()


def test_nodes_open_no_shared_memory_segment(procs, ros_node):
    before = _segments()
    procs.start('sim_node', 'sim')
    procs.start('a1x_controller', 'a1x_controller')
    states = []
    ros_node.create_subscription(ArmState, '/a1x_controller/state', states.append, STATE_QOS)
    assert ros_node.spin_until(lambda: len(states) > 5, 30), procs.log('a1x_controller')
    assert _segments() - before == set()
