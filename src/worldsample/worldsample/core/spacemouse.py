"""A 3Dconnexion SpaceMouse read directly over USB HID (hidapi), without ``spacenavd``/``spacenav``.

HID input reports of these devices: report 1 carries the translation (x, y, z) as
little-endian int16, and on newer devices (SpaceMouse Compact, Wireless, Pro Wireless,
Enterprise: 13-byte report) the rotation (rx, ry, rz) right after it; older ones (SpaceNavigator,
SpaceMouse Pro) send the rotation as report 2; report 3 is the button bit mask (bit 0 left, bit 1
right). Device axes: x right, y towards the operator, z down; rotations about them.

:class:`SpaceMouseState` turns those reports into exactly what the ``spacenav`` node publishes
as ``sensor_msgs/Joy`` (spacenavd's default axis map followed by the node's): axes
[x forward, y left, z up, roll, pitch, yaw] = -[y, x, z, ry, rx, rz] / full_scale with
full_scale 512, and buttons [left, right]. So core.teleop and the ``teleop`` YAML section treat
both paths alike (``teleop.axis_signs`` corrects a device that differs; the self-test prints
live axes to check it).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

VENDORS = {0x046d: 'Logitech (3Dconnexion)', 0x256f: '3Dconnexion'}
FULL_SCALE = 512.0      # the spacenav node's default full_scale
# product ids of 3Dconnexion's 6-DoF devices (both vendor ids; keyboards and receivers of other
# Logitech devices share 0x046d, so that vendor is matched by product)
PRODUCTS = {0xc603, 0xc605, 0xc606, 0xc621, 0xc623, 0xc625, 0xc626, 0xc627, 0xc628, 0xc629, 0xc62b, 0xc62e,
            0xc62f, 0xc631, 0xc632, 0xc633, 0xc635, 0xc636, 0xc652}
UDEV_RULE = ('SUBSYSTEM=="hidraw", ATTRS{idVendor}=="256f", MODE="0666"\n'
             'SUBSYSTEM=="hidraw", ATTRS{idVendor}=="046d", ATTRS{idProduct}=="c6*", MODE="0666"')


class SpaceMouseError(RuntimeError):
    """No device, no permission, or a device that stopped answering."""


@dataclass(frozen=True)
class DeviceInfo:
    path: bytes
    vendor_id: int
    product_id: int
    product: str

    def __str__(self) -> str:
        return f'{self.product or "SpaceMouse"} ({self.vendor_id:04x}:{self.product_id:04x})'


class SpaceMouseState:
    """The latest raw axes and buttons, fed HID input reports in arrival order."""

    def __init__(self):
        self.raw = np.zeros(6)       # x y z rx ry rz, device units
        self.buttons = 0

    def feed(self, report: bytes | list[int]) -> bool:
        """One input report; False for a report this class does not know (ignored)."""
        data = bytes(report)
        if len(data) >= 13 and data[0] == 1:
            self.raw[:] = struct.unpack_from('<6h', data, 1)
        elif len(data) >= 7 and data[0] in (1, 2):
            i = 0 if data[0] == 1 else 3
            self.raw[i:i + 3] = struct.unpack_from('<3h', data, 1)
        elif len(data) >= 2 and data[0] == 3:
            self.buttons = int.from_bytes(data[1:], 'little')
        else:
            return False
        return True

    def joy(self) -> tuple[np.ndarray, list[int]]:
        """The spacenav node's Joy axes and [left, right] buttons (module docstring)."""
        x, y, z, rx, ry, rz = self.raw
        axes = -np.array([y, x, z, ry, rx, rz]) / FULL_SCALE
        return np.clip(axes, -1.0, 1.0), [self.buttons & 1, (self.buttons >> 1) & 1]


def select_devices(entries: list[dict]) -> list[DeviceInfo]:
    """The SpaceMice among ``hid.enumerate()`` entries (one per device path)."""
    found = {}
    for d in entries:
        vid, pid = d.get('vendor_id'), d.get('product_id')
        if vid in VENDORS and pid in PRODUCTS and d.get('path') and d['path'] not in found:
            found[d['path']] = DeviceInfo(d['path'], vid, pid, d.get('product_string') or '')
    return list(found.values())


def find_devices() -> list[DeviceInfo]:
    return select_devices(_hid().enumerate())


class SpaceMouseReader:
    """An open device: :meth:`poll` reads the pending reports into :attr:`state`."""

    def __init__(self, device: DeviceInfo | None = None):
        hid = _hid()
        if device is None:
            devices = find_devices()
            if not devices:
                raise SpaceMouseError('no SpaceMouse found on USB (3Dconnexion vendor 256f or 046d); is it plugged '
                                      'in, and can this user read /dev/hidraw* (udev rule in the README)?')
            device = devices[0]
        self.device, self.state = device, SpaceMouseState()
        self.dev = hid.device()
        try:
            self.dev.open_path(device.path)
        except OSError as e:
            raise SpaceMouseError(f'cannot open {device} at {device.path.decode(errors="replace")}: {e} '
                                  '(permission: see the udev rule in the README)') from None
        self.dev.set_nonblocking(True)

    def poll(self, max_reports: int = 64) -> int:
        """Reads what has arrived; the number of reports. SpaceMouseError when the device is gone."""
        n = 0
        for _ in range(max_reports):
            try:
                report = self.dev.read(64)
            except (OSError, ValueError) as e:
                raise SpaceMouseError(f'{self.device}: read failed ({e}); unplugged?') from None
            if not report:
                break
            self.state.feed(report)
            n += 1
        return n

    def close(self) -> None:
        self.dev.close()


def _hid():
    try:
        import hid
    except ImportError as e:     # the hidapi wheel is in requirements.txt
        raise SpaceMouseError(f'the hidapi package is not installed ({e})') from None
    return hid
