"""A keyboard as a stand-in SpaceMouse, for machines without one (ROS-free).

Key presses become the ``spacenav`` node's Joy axes and buttons, so the ``teleop`` node and
core.teleop treat them like the device. A movement key pushes its axis fully for ``hold_s``
after each press: a tap moves one control step, and a held key (the terminal's auto-repeat,
about 30 presses/s after a first delay) keeps moving; releasing it stops within ``hold_s``.

    w / s   forward / back (+x / -x)      a / d   left / right (+y / -y)
    r / f   up / down (+z / -z)           q / e   yaw left / right (+yaw / -yaw)
    c       close the gripper (left button)   o   open it (right button)
    m       mark success: the third button (``teleop.success_button``) for ``mark_s`` after each
            press, so a tap marks a few control steps and a held key marks until released
    space   stop: every axis to zero now
"""
from __future__ import annotations

import numpy as np

# key -> (axis index in [x y z roll pitch yaw], direction)
MOVES = {'w': (0, 1.0), 's': (0, -1.0), 'a': (1, 1.0), 'd': (1, -1.0), 'r': (2, 1.0), 'f': (2, -1.0),
         'q': (5, 1.0), 'e': (5, -1.0)}
BUTTONS = {'c': 0, 'o': 1}
MARK = 'm'
HELP = ('keys: w/s forward/back, a/d left/right, r/f up/down, q/e yaw, c close, o open, m mark success, '
        'space stop, Ctrl-C quit')


class KeyboardJoy:
    def __init__(self, hold_s: float = 0.12, mark_s: float = 0.6):
        # mark_s outlasts a terminal's auto-repeat delay (about 0.5 s), so a held m marks without a gap
        self.hold_s, self.mark_s = hold_s, mark_s
        self.until = np.full(6, -np.inf)       # each axis pushed until this time
        self.direction = np.zeros(6)
        self.pressed = [False, False]          # button presses not yet reported
        self.mark_until = -np.inf              # the success button is held until this time

    def press(self, key: str, now: float) -> bool:
        """One key press at ``now`` (s); False for a key without a meaning (ignored)."""
        key = key.lower()
        if key in MOVES:
            axis, sign = MOVES[key]
            self.until[axis], self.direction[axis] = now + self.hold_s, sign
        elif key in BUTTONS:
            self.pressed[BUTTONS[key]] = True
        elif key == MARK:
            self.mark_until = now + self.mark_s
        elif key == ' ':
            self.until[:] = -np.inf
        else:
            return False
        return True

    def joy(self, now: float) -> tuple[np.ndarray, list[int]]:
        """Axes and [left, right, mark] buttons now; a gripper button press is reported once, the
        mark for as long as its key is held."""
        axes = np.where(now < self.until, self.direction, 0.0)
        buttons, self.pressed = [int(p) for p in self.pressed], [False, False]
        return axes, [*buttons, int(now < self.mark_until)]
