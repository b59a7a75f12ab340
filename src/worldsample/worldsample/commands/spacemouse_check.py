"""spacemouse_check: find the SpaceMouse on USB and show its live axes and buttons.

    ./ws run spacemouse_check [--seconds 10]

Prints the devices found, then for ``--seconds`` the axes exactly as the teleop node gets them
([x forward, y left, z up, roll, pitch, yaw] in [-1, 1]) and the buttons, and at the end each
axis' largest push: push the cap forward, left, up and twist it to check every direction (a
wrong sign is fixed by ``teleop.axis_signs`` in the task YAML). Exit status 1 when no device
can be read, with what to do about it.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..core.spacemouse import UDEV_RULE, SpaceMouseError, SpaceMouseReader, find_devices

AXES = ('x', 'y', 'z', 'roll', 'pitch', 'yaw')


def check(seconds: float, out=sys.stdout) -> int:
    try:
        devices = find_devices()
        reader = SpaceMouseReader(devices[0] if devices else None)
    except SpaceMouseError as e:
        print(f'error: {e}\nudev rule (in /etc/udev/rules.d/99-spacemouse.rules, then '
              f'`sudo udevadm control --reload-rules && sudo udevadm trigger`):\n{UDEV_RULE}', file=out)
        return 1
    print(f'found: {", ".join(str(d) for d in devices)}; reading {reader.device} for {seconds:g} s', file=out)
    lo, hi, reports = np.zeros(6), np.zeros(6), 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            reports += reader.poll()
            axes, buttons = reader.state.joy()
            lo, hi = np.minimum(lo, axes), np.maximum(hi, axes)
            print('\r' + ' '.join(f'{n} {v:+.2f}' for n, v in zip(AXES, axes)) + f'  buttons {buttons}', end='',
                  file=out, flush=True)
            time.sleep(0.1)
    except SpaceMouseError as e:
        print(f'\nerror: {e}', file=out)
        return 1
    finally:
        reader.close()
    print(f'\n{reports} reports; largest push per axis (min / max): '
          + ', '.join(f'{n} {a:+.2f}/{b:+.2f}' for n, a, b in zip(AXES, lo, hi)), file=out)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seconds', type=float, default=10.0, help='how long to show the live axes')
    return check(p.parse_args(argv).seconds)


if __name__ == '__main__':
    sys.exit(main())
