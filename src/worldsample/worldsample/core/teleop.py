"""SpaceMouse teleoperation: six device axes and two buttons -> the 7-D delta action, with takeover.

The same mapping serves the device read directly (pyspacemouse) and the ``spacenav`` node's
``sensor_msgs/Joy`` (axes [x, y, z, roll, pitch, yaw] in [-1, 1], buttons [left, right]).
HIL-SERL's conventions: the operator takes over while the device is deflected or a button is
held (and for ``hold_s`` after, so that a pause between pushes does not hand control back
mid-correction); the left button closes the gripper, the right one opens it. In the operator's
recording sessions a third button (``success_button``) held down marks success.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import TeleopConfig
from .controller import ACTION_DIM


class TeleopInputError(ValueError):
    """A device reading the teleop must not act on (wrong length, NaN/inf)."""


def apply_deadzone(x: np.ndarray, deadzone: float) -> np.ndarray:
    """Zero inside the deadzone, then rescaled so that full deflection still gives 1."""
    mag = np.clip((np.abs(x) - deadzone) / (1.0 - deadzone), 0.0, 1.0)
    return np.sign(x) * mag


def success_marked(buttons, cfg: TeleopConfig) -> bool:
    """The operator holds the success button now (a device without that button never marks)."""
    return 0 <= cfg.success_button < len(buttons) and bool(buttons[cfg.success_button])


@dataclass
class TeleopOutput:
    action: np.ndarray        # (7,) in [-1, 1]
    moving: bool              # the device is deflected beyond the deadzone now


class SpaceMouseTeleop:
    """Turns device readings into intervention actions; None while the operator is hands-off."""

    def __init__(self, cfg: TeleopConfig):
        self.cfg = cfg
        self._sign = np.asarray(cfg.axis_signs, dtype=np.float64)
        self._last_active = -np.inf
        self._buttons_before = (False, False)

    def update(self, axes, buttons, now: float, tool_rot: np.ndarray | None = None) -> TeleopOutput | None:
        """One device reading at time ``now`` (s). ``tool_rot`` (3x3, the TCP's rotation in the
        base frame) is needed when the config maps the device in the tool frame."""
        a = np.asarray(axes, dtype=np.float64)
        if a.shape != (6,):
            raise TeleopInputError(f'expected 6 axes [x y z roll pitch yaw], got shape {a.shape}')
        if not np.all(np.isfinite(a)):
            raise TeleopInputError(f'non-finite axis value(s): {a.tolist()}')
        if len(buttons) < 2:
            raise TeleopInputError(f'expected at least 2 buttons [left right], got {len(buttons)}')
        close, opn = bool(buttons[0]), bool(buttons[1])
        dev = apply_deadzone(np.clip(a * self._sign, -1.0, 1.0), self.cfg.deadzone)
        trans, rot = dev[:3] * self.cfg.translation_gain, dev[3:] * self.cfg.rotation_gain
        if self.cfg.frame == 'tool':
            if tool_rot is None:
                return None   # no arm state yet: cannot map a tool-frame push safely
            trans, rot = tool_rot @ trans, tool_rot @ rot
        moving = bool(np.any(dev != 0.0))
        action = np.zeros(ACTION_DIM)
        action[:3], action[3:6] = np.clip(trans, -1, 1), np.clip(rot, -1, 1)
        # the press (rising edge) of a button closes or opens the gripper; closing wins if both are pressed
        pressed_close = close and not self._buttons_before[0]
        pressed_open = opn and not self._buttons_before[1]
        self._buttons_before = (close, opn)
        if pressed_close:
            action[6] = 1.0
        elif pressed_open:
            action[6] = -1.0
        if moving or close or opn:
            self._last_active = now
        if now - self._last_active > self.cfg.hold_s:
            return None
        return TeleopOutput(action, moving)
