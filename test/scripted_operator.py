"""A scripted operator for the tests and benchmarks: watches the cell and drives it through Joy.

It plays the human at the SpaceMouse: it reads the controller's ArmState, asks the scripted
expert what to do, and sends the SpaceMouse reading (``sensor_msgs/Joy``, the ``spacenav``
node's layout) that the teleop node maps back to that action; it watches ``/sim/success`` as a
person watches the peg, and once it sees the peg in holds the success button for ``mark_s``, then
lets go and waits for the next episode. Like a person it keeps holding when the peg bounces out
of the success region for a moment (``/sim/success`` flickers at the end of a fast descent);
letting go at the first flicker ended label episodes after one or two marked steps.
"""
from __future__ import annotations

import time

import numpy as np
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool
from worldsample_msgs.msg import ArmState

from worldsample.core.config import CellConfig
from worldsample.core.controller import Mode
from worldsample.core.expert import InsertionExpert
from worldsample.nodes.common import SENSOR_QOS, STATE_QOS


def joy_axes_for(action: np.ndarray, cfg: CellConfig) -> np.ndarray:
    """The device axes that core.teleop maps to ``action`` (base frame): its inverse."""
    t = cfg.teleop
    dev = np.r_[np.asarray(action[:3]) / t.translation_gain, np.asarray(action[3:6]) / t.rotation_gain]
    dev = np.clip(dev, -1.0, 1.0)
    axes = np.where(dev != 0.0, np.sign(dev) * (t.deadzone + (1.0 - t.deadzone) * np.abs(dev)), 0.0)
    return axes * np.asarray(t.axis_signs)


class ScriptedOperator:
    def __init__(self, node, cfg: CellConfig, mark_s: float = 0.6, joy_topic: str = '/spacenav/joy'):
        self.cfg, self.mark_s = cfg, mark_s
        self.expert = InsertionExpert(cfg)
        self.state: ArmState | None = None
        self.success = False
        self.mark_since: float | None = None
        self.done_episode = False          # marked and let go: hands off until the next reset
        self.marks = 0
        node.create_subscription(ArmState, '/a1x_controller/state', self._on_state, STATE_QOS)
        node.create_subscription(Bool, '/sim/success', lambda m: setattr(self, 'success', m.data), STATE_QOS)
        self.pub = node.create_publisher(Joy, joy_topic, SENSOR_QOS)

    def _on_state(self, msg: ArmState) -> None:
        if msg.mode == Mode.RESETTING:
            self.done_episode, self.mark_since = False, None
        self.state = msg

    def tick(self) -> None:
        """One SpaceMouse report (call at 20-50 Hz)."""
        axes, buttons = np.zeros(6), [0, 0, 0]
        now = time.monotonic()
        if self.state is not None and self.state.mode != Mode.RESETTING and not self.done_episode:
            if self.success or self.mark_since is not None:
                self.mark_since = self.mark_since or now
                if now - self.mark_since < self.mark_s:
                    buttons[self.cfg.teleop.success_button] = 1
                    self.marks += 1
                else:
                    self.done_episode = True
            else:
                axes = joy_axes_for(self.expert.act(np.asarray(self.state.proprio)), self.cfg)
        self.pub.publish(Joy(axes=[float(a) for a in axes], buttons=buttons))
