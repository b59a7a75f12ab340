"""Workspace box and reset pose from the arm moved through the cell."""
import numpy as np
import pytest

from worldsample.core.config import config_dir, load_config
from worldsample.core.controller import Pose, reset_orientation
from worldsample.core.workspace_calibration import CalibrationError, WorkspaceCalibration


def _cal(cfg, points, margin=0.005):
    cal = WorkspaceCalibration(margin)
    for p in points:
        cal.add(Pose(np.asarray(p, float), reset_orientation(cfg.task)))
    return cal


def test_the_visited_range_shrunk_by_the_margin_is_the_box_and_the_last_pose_the_reset(cfg, tmp_path):
    corners = [[0.28, -0.05, 0.06], [0.37, 0.05, 0.14], [0.30, 0.04, 0.07]]
    cal = _cal(cfg, corners + [[0.33, 0.01, 0.12]])
    low, high, reset, rpy = cal.result()
    np.testing.assert_allclose(low, [0.285, -0.045, 0.065])
    np.testing.assert_allclose(high, [0.365, 0.045, 0.135])
    np.testing.assert_allclose(reset, [0.33, 0.01, 0.12])
    out = tmp_path / 'cells' / 'cell.yaml'
    out.parent.mkdir()
    out.write_text(cal.task_yaml(config_dir() / 'insertion.yaml', out, 'test'))
    task = load_config(out).task                                       # extends insertion, overrides four keys
    np.testing.assert_allclose(task.workspace.low, low, atol=1e-4)
    np.testing.assert_allclose(task.workspace.high, high, atol=1e-4)
    np.testing.assert_allclose(task.reset_pos, reset, atol=1e-4)
    np.testing.assert_allclose(reset_orientation(task), reset_orientation(cfg.task), atol=1e-4)
    assert task.workspace.max_rot == cfg.task.workspace.max_rot and task.name == cfg.task.name


def test_a_path_that_defines_no_workspace_is_named(cfg):
    with pytest.raises(CalibrationError, match='no arm feedback'):
        WorkspaceCalibration().result()
    with pytest.raises(CalibrationError, match='moved only y 8.0 mm'):
        _cal(cfg, [[0.28, 0.0, 0.06], [0.37, 0.008, 0.14]]).result()
    with pytest.raises(CalibrationError, match='is not inside the box'):
        _cal(cfg, [[0.28, -0.05, 0.06], [0.37, 0.05, 0.14]]).result()     # ended at a corner
    with pytest.raises(ValueError, match='margin'):
        WorkspaceCalibration(-0.01)
