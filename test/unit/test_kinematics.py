import itertools

import mujoco
import numpy as np
import pytest

from worldsample.core import kinematics
from worldsample.core.config import load_config
from worldsample.core.controller import Pose, reset_orientation
from worldsample.core.driver import A1XAdapter, gripper_link_from_tcp
from worldsample.core.sim.cell import InsertionCell


def test_forward_matches_mujoco_model(cfg):
    """The MJCF is generated from the same chain: FK must agree with MuJoCo's gripper_link site,
    and the adapter's TCP with the TCP site."""
    cell = InsertionCell(cfg, render=False)
    site = cell.model.site('gripper_link').id
    adapter = A1XAdapter(cfg.robot)
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(kinematics.LOWER, kinematics.UPPER)
        cell.teleport(q)
        pos, rot = kinematics.forward(q)
        np.testing.assert_allclose(pos, cell.data.site_xpos[site], atol=1e-9)
        np.testing.assert_allclose(rot, cell.data.site_xmat[site].reshape(3, 3), atol=1e-9)
        tcp = adapter.tcp(q)
        np.testing.assert_allclose(tcp.pos, cell.tcp_pose().pos, atol=1e-9)
        np.testing.assert_allclose(tcp.rot, cell.tcp_pose().rot, atol=1e-9)


def test_urdf_values_and_firmware_margin():
    """Exact URDF offsets; our limits 2 degrees inside the URDF's, where the firmware stops."""
    assert kinematics.A1X_JOINTS[3].origin == (0.1747, 0.00049739, 0.075485)
    assert kinematics.GRIPPER_LINK == 0.08165
    urdf = np.array([(j.urdf_lower, j.urdf_upper) for j in kinematics.A1X_JOINTS])
    np.testing.assert_allclose(kinematics.LOWER - urdf[:, 0], np.deg2rad(2.0))
    np.testing.assert_allclose(urdf[:, 1] - kinematics.UPPER, np.deg2rad(2.0))
    assert np.all(kinematics.LOWER < kinematics.READY_SEED) and np.all(kinematics.READY_SEED < kinematics.UPPER)


def test_jacobian_matches_finite_differences():
    q = kinematics.READY_SEED + 0.1
    jac = kinematics.jacobian(q)
    eps = 1e-6
    for i in range(6):
        dq = np.zeros(6)
        dq[i] = eps
        num = (kinematics.forward(q + dq)[0] - kinematics.forward(q - dq)[0]) / (2 * eps)
        np.testing.assert_allclose(jac[:3, i], num, atol=1e-7)


@pytest.mark.parametrize('task', ['insertion', 'insertion_vision'])
def test_whole_workspace_is_reachable_tool_down(task):
    cfg = load_config(task)
    ws, rot = cfg.task.workspace, reset_orientation(cfg.task)
    for corner in itertools.product(*zip(ws.low, ws.high)):
        target = gripper_link_from_tcp(Pose(np.array(corner), rot), cfg.robot.tool)
        q, err = kinematics.inverse(target.pos, target.rot, kinematics.READY_SEED)
        assert err < 1e-4, f'workspace corner {corner} unreachable ({err * 1000:.1f} mm)'
        assert np.all(q >= kinematics.LOWER) and np.all(q <= kinematics.UPPER)


def test_forward_rejects_wrong_shape():
    with pytest.raises(ValueError, match='6 joint angles'):
        kinematics.forward(np.zeros(5))


def test_rotation_log_inverts_exp():
    from scipy.spatial.transform import Rotation
    for v in ([0, 0, 0], [1e-8, 0, 0], [0.3, -0.2, 0.1], [0, np.pi - 1e-6, 0]):
        r = Rotation.from_rotvec(v).as_matrix()
        np.testing.assert_allclose(Rotation.from_rotvec(kinematics.rotation_log(r)).as_matrix(), r, atol=1e-6)


def test_mjcf_compiles(cfg):
    from worldsample.core.sim.model import build_mjcf
    model = mujoco.MjModel.from_xml_string(build_mjcf(cfg))
    assert model.nu == 8 and model.ncam == 2
