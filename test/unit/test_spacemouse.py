"""The SpaceMouse over USB HID: report parsing into the spacenav node's Joy axes, device
selection, and what a machine without a SpaceMouse says."""
import io
import struct

import numpy as np
import pytest

from worldsample.commands.spacemouse_check import check
from worldsample.core.spacemouse import (FULL_SCALE, SpaceMouseError, SpaceMouseReader, SpaceMouseState,
                                         find_devices, select_devices)
from worldsample.core.teleop import SpaceMouseTeleop


def report(rid, *values):
    return [rid, *struct.pack(f'<{len(values)}h', *values)]


def test_six_axis_reports_map_to_the_spacenav_joy_axes():
    s = SpaceMouseState()
    # newer devices: one 13-byte report. Cap pushed forward (device y < 0), left (x < 0), pulled up
    # (z < 0), and twisted: rx, ry, rz
    assert s.feed(report(1, -100, -256, -512, 30, -60, 90))
    axes, buttons = s.joy()
    np.testing.assert_allclose(axes, np.array([256, 100, 512, 60, -30, -90]) / FULL_SCALE)
    assert axes[0] > 0 and axes[1] > 0 and axes[2] > 0       # forward, left, up: +x, +y, +z
    assert buttons == [0, 0]
    s.feed(report(1, 0, 0, 9000, 0, 0, 0))                    # beyond full scale: clipped
    assert s.joy()[0][2] == -1.0


def test_older_devices_send_translation_and_rotation_as_two_reports_and_buttons_as_a_third():
    s = SpaceMouseState()
    s.feed(report(1, 51, 0, 0))
    s.feed(report(2, 0, 0, 102))
    np.testing.assert_allclose(s.joy()[0], [0, -51 / 512, 0, 0, 0, -102 / 512])
    s.feed([3, 0b01, 0])
    assert s.joy()[1] == [1, 0]
    s.feed([3, 0b10, 0])
    assert s.joy()[1] == [0, 1]
    assert not s.feed([7, 1, 2, 3]) and not s.feed([1, 2])    # unknown or short reports: ignored
    np.testing.assert_allclose(s.joy()[0], [0, -51 / 512, 0, 0, 0, -102 / 512])


def test_a_push_forward_becomes_a_forward_intervention(cfg):
    s = SpaceMouseState()
    s.feed(report(1, 0, -350, 0, 0, 0, 0))                    # a full push as these devices report it
    axes, buttons = s.joy()
    out = SpaceMouseTeleop(cfg.teleop).update(axes, buttons, now=0.0)
    assert out.moving and out.action[0] > 0.5 and np.allclose(out.action[1:], 0)


def test_device_selection_keeps_3dconnexion_devices_once():
    entries = [
        {'path': b'/dev/hidraw0', 'vendor_id': 0x256f, 'product_id': 0xc635, 'product_string': 'SpaceMouse Compact'},
        {'path': b'/dev/hidraw0', 'vendor_id': 0x256f, 'product_id': 0xc635, 'product_string': 'SpaceMouse Compact'},
        {'path': b'/dev/hidraw1', 'vendor_id': 0x046d, 'product_id': 0xc52b, 'product_string': 'Unifying Receiver'},
        {'path': b'/dev/hidraw2', 'vendor_id': 0x046d, 'product_id': 0xc626, 'product_string': 'SpaceNavigator'},
        {'path': b'/dev/hidraw3', 'vendor_id': 0x1234, 'product_id': 0xc626, 'product_string': 'other'},
    ]
    found = select_devices(entries)
    assert [str(d) for d in found] == ['SpaceMouse Compact (256f:c635)', 'SpaceNavigator (046d:c626)']


def test_no_spacemouse_is_a_clear_error_and_the_self_test_says_what_to_do():
    assert find_devices() == []                               # these machines have none
    with pytest.raises(SpaceMouseError, match='no SpaceMouse found on USB'):
        SpaceMouseReader()
    out = io.StringIO()
    assert check(0.1, out) == 1
    text = out.getvalue()
    assert 'no SpaceMouse found' in text and 'SUBSYSTEM=="hidraw"' in text and 'udevadm' in text
