"""Shared fixtures. Run through ``./ws test`` (it sets up the environment and builds)."""
import os

import pytest

from worldsample.core.config import load_config


@pytest.fixture(scope='session')
def cfg():
    return load_config('insertion')


def pytest_configure(config):
    config.addinivalue_line('markers', 'integration: real processes over DDS')
    # Keep test traffic on this machine and away from other runs.
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
