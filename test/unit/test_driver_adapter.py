"""The A1X driver adapter: TCP <-> gripper_link, metres <-> stroke, feedback by name or index."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from worldsample.core import kinematics
from worldsample.core.controller import Pose
from worldsample.core.driver import (A1XAdapter, FeedbackError, gripper_link_from_tcp, opening_from_stroke,
                                     status_errors, stroke_from_opening, tcp_from_gripper_link)


def _random_pose(rng) -> Pose:
    return Pose(rng.uniform(-0.5, 0.5, 3), Rotation.random(random_state=rng.integers(1 << 31)).as_matrix())


def test_pose_conversion_round_trips_and_places_the_tcp_on_the_approach_axis(cfg):
    tool = cfg.robot.tool
    rng = np.random.default_rng(0)
    for _ in range(50):
        tcp = _random_pose(rng)
        gl = gripper_link_from_tcp(tcp, tool)
        back = tcp_from_gripper_link(gl, tool)
        np.testing.assert_allclose(back.pos, tcp.pos, atol=1e-12)
        np.testing.assert_allclose(back.rot, tcp.rot, atol=1e-12)
        # gripper_link's x (the approach axis) is the TCP's z; the TCP lies tcp_offset_m along it
        np.testing.assert_allclose(gl.rot[:, 0], tcp.rot[:, 2], atol=1e-12)
        np.testing.assert_allclose(tcp.pos - gl.pos, tool.tcp_offset_m * gl.rot[:, 0], atol=1e-12)


def test_tool_pointing_down_puts_gripper_link_above_the_tcp(cfg):
    down = Rotation.from_euler('xyz', cfg.task.reset_rpy).as_matrix()
    gl = gripper_link_from_tcp(Pose(np.array([0.33, 0.0, 0.17]), down), cfg.robot.tool)
    np.testing.assert_allclose(gl.pos, [0.33, 0.0, 0.17 + cfg.robot.tool.tcp_offset_m], atol=1e-6)


def test_target_reached_through_vendor_ik_lands_the_tcp_on_target(cfg):
    """What the real arm does with our target: IK for gripper_link, then our FK + tool = the TCP asked for."""
    adapter = A1XAdapter(cfg.robot)
    down = Rotation.from_euler('xyz', cfg.task.reset_rpy).as_matrix()
    tcp = Pose(np.array([0.35, 0.03, 0.08]), Rotation.from_rotvec([0, 0, 0.2]).as_matrix() @ down)
    gl = adapter.target(tcp)
    q, err = kinematics.inverse(gl.pos, gl.rot, kinematics.READY_SEED, iterations=100)
    assert err < 1e-5
    reached = adapter.tcp(q)
    np.testing.assert_allclose(reached.pos, tcp.pos, atol=2e-5)
    np.testing.assert_allclose(reached.rot, tcp.rot, atol=1e-4)


def test_gripper_stroke_mapping(cfg):
    g = cfg.robot.gripper
    assert stroke_from_opening(0.0, g) == 0.0 and stroke_from_opening(0.05, g) == 100.0
    # our "open" must read as open to the driver (it took metres as a stroke before: both closed)
    closed = stroke_from_opening(cfg.controller.gripper_closed_m, g)
    opened = stroke_from_opening(cfg.controller.gripper_open_m, g)
    assert closed == pytest.approx(20.0) and opened == pytest.approx(90.0)
    assert stroke_from_opening(1.0, g) == 100.0 and stroke_from_opening(-1.0, g) == 0.0   # clipped
    for m in np.linspace(0.0, 0.05, 11):
        assert opening_from_stroke(stroke_from_opening(m, g), g) == pytest.approx(m)


def test_gripper_feedback_is_checked(cfg):
    a = A1XAdapter(cfg.robot)
    assert a.gripper_opening([20.0]) == pytest.approx(0.010)
    for bad, why in (([], 'no position'), ([float('nan')], 'non-finite'), ([3000.0], 'outside the driver range')):
        with pytest.raises(FeedbackError, match=why):
            a.gripper_opening(bad)


def test_feedback_by_name_in_any_order(cfg):
    a = A1XAdapter(cfg.robot)
    names = list(cfg.robot.joint_names)
    q = np.arange(6) * 0.1
    order = [3, 0, 5, 1, 4, 2]
    got = a.joints([names[i] for i in order] + ['gripper'], [q[i] for i in order] + [50.0])
    np.testing.assert_allclose(got, q)
    assert a.layout.by_name


def test_feedback_by_documented_index_when_names_differ(cfg):
    a = A1XAdapter(cfg.robot)
    q = np.arange(6) * 0.1
    got = a.joints([f'joint{i}' for i in range(1, 7)] + ['gripper'], [*q, 50.0])   # vendor naming unknown
    np.testing.assert_allclose(got, q)
    assert not a.layout.by_name
    np.testing.assert_allclose(a.joints([], [*q, 50.0]), q)    # no names at all: index order too
    # the driver switching to our names is picked up
    a.joints(list(cfg.robot.joint_names), q)
    assert a.layout.by_name


@pytest.mark.parametrize('names, positions, why', [
    # the message that crashed the controller (IndexError): more names than positions
    (['arm_joint1', 'arm_joint2', 'arm_joint3', 'arm_joint4', 'arm_joint5', 'arm_joint6'], [0.1, 0.2], '6 joint names but 2'),
    ([], [0.1] * 5, '5 positions'),
    (['a', 'b', 'c'], [0.1, 0.2, 0.3], '3 positions'),
    ([], [0.1, 0.2, float('nan'), 0.4, 0.5, 0.6], 'non-finite'),
    ([], [[0.1] * 6], 'flat list'),
])
def test_malformed_feedback_is_refused_by_name(cfg, names, positions, why):
    with pytest.raises(FeedbackError, match=why):
        A1XAdapter(cfg.robot).joints(names, positions)


def test_status_errors_read_the_vendor_layout():
    ok = SimpleNamespace(errors=[SimpleNamespace(code=0, description='')])
    assert status_errors(ok) == [] and status_errors(SimpleNamespace()) == []
    bad = SimpleNamespace(errors=[SimpleNamespace(code=0, description=''),
                                  SimpleNamespace(code=17, description='joint 3 over current')])
    assert status_errors(bad) == ['17: joint 3 over current']
