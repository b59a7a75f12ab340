"""The Fast DDS profiles of a cell (config/fastdds.xml, config/fastdds_localhost.xml).

Both keep Fast DDS on UDP, without its shared-memory transport: nodes of a cell are SIGKILLed
and restarted, and shared memory can leave a restarted reader matched but receiving nothing
(eProsima/Fast-DDS#5053, #5469). A simulated cell uses the localhost profile (UDP on the
loopback interface, unicast discovery to 127.0.0.1) instead of ROS_AUTOMATIC_DISCOVERY_RANGE=
LOCALHOST, with which rmw_fastrtps puts the shared-memory transport back.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from .core.config import config_dir

PROFILE = 'fastdds.xml'
LOCALHOST_PROFILE = 'fastdds_localhost.xml'
PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
RANGE_VARIABLE = 'ROS_AUTOMATIC_DISCOVERY_RANGE'


def dds_environment(env: Mapping[str, str], local_only: bool) -> dict[str, str]:
    """The variables to add to ``env`` for a cell: the localhost profile for a simulated one
    (``local_only``), the subnet profile otherwise; nothing where the user chose a discovery range
    or a profile file of their own."""
    ours = {str(config_dir() / PROFILE), ''}
    if RANGE_VARIABLE in env or env.get(PROFILE_VARIABLE, '') not in ours:
        return {}
    return {PROFILE_VARIABLE: str(config_dir() / (LOCALHOST_PROFILE if local_only else PROFILE))}


def keep_local(env: MutableMapping[str, str]) -> None:
    """Put a simulated cell's (or a test's) DDS traffic on this machine's loopback, in place."""
    env.update(dds_environment(env, local_only=True))
