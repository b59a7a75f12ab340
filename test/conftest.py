"""Shared fixtures. Run through ``./ws test`` (it sets up the environment and builds)."""
import os
import signal

import pytest

from worldsample.core.config import load_config
from worldsample.dds import keep_local


@pytest.fixture(scope='session')
def cfg():
    return load_config('insertion')


def pytest_configure(config):
    config.addinivalue_line('markers', 'integration: real processes over DDS')
    # Node processes are stopped with SIGINT. A run started with SIGINT ignored (a background job of
    # a non-interactive shell) would pass that on to them; with a handler here they get the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Keep test traffic on this machine and away from other runs.
    keep_local(os.environ)
    os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
