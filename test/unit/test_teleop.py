"""SpaceMouse mapping: deadzone, gains, frames, gripper buttons, takeover and its hold."""
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from worldsample.core.config import ConfigError
from worldsample.core.teleop import SpaceMouseTeleop, TeleopInputError, apply_deadzone

RELEASED = [0, 0]


def test_deadzone_zeroes_small_pushes_and_keeps_full_scale():
    x = np.array([0.05, -0.1, 0.55, -1.0, 1.0, 0.0])
    np.testing.assert_allclose(apply_deadzone(x, 0.1), [0.0, 0.0, 0.5, -1.0, 1.0, 0.0])


def test_hands_off_gives_no_takeover(cfg):
    t = SpaceMouseTeleop(cfg.teleop)
    assert t.update([0.05, 0, 0, 0, 0, -0.05], RELEASED, now=0.0) is None


def test_push_maps_to_the_action_in_the_base_frame(cfg):
    t = SpaceMouseTeleop(replace(cfg.teleop, translation_gain=0.5))
    out = t.update([1.0, 0, -0.55, 0, 0, 0.0], RELEASED, now=0.0)
    assert out.moving
    np.testing.assert_allclose(out.action, [0.5, 0, -0.25, 0, 0, 0, 0])


def test_axis_signs_flip_device_axes(cfg):
    t = SpaceMouseTeleop(replace(cfg.teleop, axis_signs=(1.0, -1.0, 1.0, 1.0, 1.0, -1.0)))
    out = t.update([0, 1.0, 0, 0, 0, 1.0], RELEASED, now=0.0)
    np.testing.assert_allclose(out.action, [0, -1, 0, 0, 0, -1, 0])


def test_tool_frame_rotates_pushes_with_the_tcp(cfg):
    t = SpaceMouseTeleop(replace(cfg.teleop, frame='tool'))
    assert t.update([1.0, 0, 0, 0, 0, 0], RELEASED, now=0.0) is None    # no arm state yet: no guess
    rot = Rotation.from_euler('z', 90, degrees=True).as_matrix()         # tool x = base y
    out = t.update([1.0, 0, 0, 0, 0, 0], RELEASED, now=0.0, tool_rot=rot)
    np.testing.assert_allclose(out.action[:3], [0, 1, 0], atol=1e-12)


def test_buttons_close_and_open_the_gripper_once_per_press(cfg):
    t = SpaceMouseTeleop(cfg.teleop)
    assert t.update([0] * 6, [1, 0], now=0.0).action[6] == 1.0     # left: close
    held = t.update([0] * 6, [1, 0], now=0.1)
    assert held is not None and held.action[6] == 0.0              # held: takeover, no new command
    assert t.update([0] * 6, [0, 1], now=0.2).action[6] == -1.0    # right: open
    assert t.update([0] * 6, [1, 1], now=0.3).action[6] == 1.0     # both pressed: close wins


def test_takeover_holds_after_the_device_comes_to_rest(cfg):
    t = SpaceMouseTeleop(replace(cfg.teleop, hold_s=0.5))
    assert t.update([0.5, 0, 0, 0, 0, 0], RELEASED, now=10.0).moving
    rest = t.update([0] * 6, RELEASED, now=10.4)
    assert rest is not None and not rest.moving and not np.any(rest.action)   # still the operator's: hold still
    assert t.update([0] * 6, RELEASED, now=10.6) is None                     # handed back


@pytest.mark.parametrize('axes, buttons, why', [
    ([0.0] * 5, RELEASED, '6 axes'),
    ([0, 0, float('nan'), 0, 0, 0], RELEASED, 'non-finite'),
    ([0, 0, 0, 0, float('inf'), 0], RELEASED, 'non-finite'),
    ([0.0] * 6, [1], '2 buttons'),
])
def test_bad_readings_are_refused(cfg, axes, buttons, why):
    with pytest.raises(TeleopInputError, match=why):
        SpaceMouseTeleop(cfg.teleop).update(axes, buttons, now=0.0)


def test_out_of_range_axes_are_clipped(cfg):
    out = SpaceMouseTeleop(cfg.teleop).update([7.0, -3.0, 0, 0, 0, 0], RELEASED, now=0.0)
    np.testing.assert_allclose(out.action[:2], [1.0, -1.0])


def test_config_checks(cfg):
    for bad in (dict(deadzone=1.0), dict(frame='world'), dict(axis_signs=(1.0, 0.5, 1.0, 1.0, 1.0, 1.0)),
                dict(hold_s=-1.0), dict(success_button=-2)):
        with pytest.raises(ConfigError):
            replace(cfg.teleop, **bad)
    gripper_task = replace(cfg.task, action=replace(cfg.task.action, active=(True,) * 7))
    with pytest.raises(ConfigError, match='success_button 1 closes or opens the gripper'):
        replace(cfg, task=gripper_task, teleop=replace(cfg.teleop, success_button=1))
    replace(cfg, teleop=replace(cfg.teleop, success_button=1))    # insertion leaves the gripper alone: allowed
