"""The keyboard stand-in for a SpaceMouse: key presses -> the spacenav node's Joy axes and buttons."""
import numpy as np

from worldsample.core.keyboard import KeyboardJoy
from worldsample.core.teleop import SpaceMouseTeleop, success_marked


def test_a_tap_pushes_its_axis_for_hold_s_and_space_stops_everything():
    k = KeyboardJoy(hold_s=0.1)
    assert k.press('w', 0.0) and k.press('D', 0.0)            # forward and right (case-insensitive)
    axes, buttons = k.joy(0.05)
    np.testing.assert_array_equal(axes, [1, -1, 0, 0, 0, 0])
    assert buttons == [0, 0, 0]
    np.testing.assert_array_equal(k.joy(0.1)[0], np.zeros(6))   # released: stops after hold_s
    for t in (0.0, 0.033, 0.066, 0.1):                          # held: auto-repeat keeps it moving
        k.press('q', t)
    assert k.joy(0.15)[0][5] == 1.0
    k.press(' ', 0.16)
    np.testing.assert_array_equal(k.joy(0.17)[0], np.zeros(6))
    assert not k.press('x', 0.2) and not k.press('\n', 0.2)     # keys without a meaning


def test_gripper_keys_are_reported_once_and_drive_the_teleop(cfg):
    k = KeyboardJoy()
    k.press('c', 0.0)
    assert k.joy(0.01)[1] == [1, 0, 0] and k.joy(0.02)[1] == [0, 0, 0]
    teleop = SpaceMouseTeleop(cfg.teleop)
    k.press('r', 1.0)
    out = teleop.update(*k.joy(1.05), now=1.05)
    assert out.moving and out.action[2] > 0.9 and np.allclose(out.action[[0, 1, 3, 4, 5, 6]], 0)
    k.press('o', 1.1)
    out = teleop.update(*k.joy(1.12), now=1.12)
    assert out.action[6] == -1.0                                   # open (right button)


def test_the_mark_key_holds_the_success_button_past_the_auto_repeat_delay(cfg):
    k = KeyboardJoy(mark_s=0.6)
    k.press('m', 0.0)
    assert success_marked(k.joy(0.1)[1], cfg.teleop) and success_marked(k.joy(0.55)[1], cfg.teleop)
    k.press('m', 0.5)                                              # the first auto-repeat, ~0.5 s later
    assert success_marked(k.joy(1.0)[1], cfg.teleop)
    assert not success_marked(k.joy(1.15)[1], cfg.teleop)         # released
    assert not success_marked([0, 0], cfg.teleop)                  # a device without that button never marks
