from dataclasses import replace

import numpy as np
import pytest

from worldsample.core.worldmodel.counterfactual import perturb_actions, synthetic_proprio


def _segments(cfg, n, actions, **kw):
    rng = np.random.default_rng(0)
    return np.stack([perturb_actions(actions, cfg.task, rng, **kw) for _ in range(n)])


def test_scale_is_drawn_once_per_segment_and_dimension_from_the_uniform_range(cfg):
    a = np.zeros((10, 7))
    a[:, :3] = [0.5, -0.4, 0.3]
    cf = _segments(cfg, 4000, a, noise=0.0)
    xi = cf[:, :, :3] / a[None, :, :3]
    np.testing.assert_allclose(xi, np.broadcast_to(xi[:, :1], xi.shape), atol=1e-12)   # constant over the steps
    xi = xi[:, 0]
    assert xi.min() >= 0.8 and xi.max() <= 1.2
    np.testing.assert_allclose(xi.mean(0), 1.0, atol=0.01)
    np.testing.assert_allclose(xi.var(0), 0.4 ** 2 / 12, rtol=0.1)   # U(0.8, 1.2)
    assert abs(np.corrcoef(xi[:, 0], xi[:, 1])[0, 1]) < 0.05           # independent per dimension


def test_additive_noise_is_gaussian_with_sigma_per_step(cfg):
    a = np.zeros((10, 7))
    a[:, :3] = 0.2
    eps = _segments(cfg, 4000, a, scale=0.0)[:, :, :3] - 0.2
    np.testing.assert_allclose(eps.std(), 0.05, rtol=0.03)
    assert abs(eps.mean()) < 0.002
    assert abs(np.corrcoef(eps[:, 0, 0], eps[:, 1, 0])[0, 1]) < 0.05   # fresh per step


def test_projection_keeps_the_box_and_inactive_dimensions_exactly_zero(cfg):
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (50, 7))
    cf = _segments(cfg, 200, a, scale=0.9, noise=0.5)
    assert cf.min() >= -1.0 and cf.max() <= 1.0
    assert np.all(cf[:, :, 3:] == 0.0)                                 # insertion: only x, y, z active
    assert np.any(cf == 1.0) and np.any(cf == -1.0)                    # clipping happened
    again = _segments(cfg, 200, a, scale=0.9, noise=0.5)
    np.testing.assert_array_equal(cf, again)                           # explicit generator: reproducible
    with pytest.raises(ValueError, match=r'\(T, 7\)'):
        perturb_actions(np.zeros((5, 6)), cfg.task, rng)


def test_synthetic_proprio_follows_the_controller_and_its_limits(cfg):
    T = 6
    real = np.zeros((T + 1, 7), np.float32)
    real[:, :3] = [0.33, 0.0, 0.15]
    real[:, 6] = 0.01
    real[:, 0] += 0.004 * np.arange(T + 1)                              # measured motion (with lag, contact...)
    actions = np.zeros((T, 7))
    actions[:, 0] = 0.5
    same = synthetic_proprio(real, actions, actions, cfg.task, cfg.controller)
    np.testing.assert_array_equal(same, real)                           # unperturbed: exactly the real steps
    cf = actions.copy()
    cf[:, 1] = 0.5                                                      # also move +y: 5 mm per step
    syn = synthetic_proprio(real, actions, cf, cfg.task, cfg.controller)
    np.testing.assert_allclose(syn[:, 1], 0.5 * cfg.task.action.scale_pos * np.arange(T + 1), atol=1e-6)
    np.testing.assert_allclose(syn[:, [0, 2, 6]], real[:, [0, 2, 6]], atol=1e-6)
    far = cf.copy()
    far[:, 1] = 1.0
    long_real = np.repeat(real[:1], 31, axis=0)
    syn = synthetic_proprio(long_real, np.zeros((30, 7)), np.repeat(far[:1], 30, axis=0), cfg.task, cfg.controller)
    assert syn[:, 1].max() == pytest.approx(cfg.task.workspace.high[1])   # the workspace box holds
    rot = replace(cfg.task, action=replace(cfg.task.action, active=(True,) * 7))
    turn = np.zeros((30, 7))
    turn[:, 3] = 1.0
    syn = synthetic_proprio(long_real, np.zeros((30, 7)), turn, rot, cfg.controller)
    assert syn[:, 3].max() == pytest.approx(cfg.task.workspace.max_rot[0], abs=1e-6)
    with pytest.raises(ValueError, match='T\\+1'):
        synthetic_proprio(real[:3], actions, actions, cfg.task, cfg.controller)


def test_pose_from_proprio_inverts_proprio(cfg):
    from worldsample.core.observation import pose_from_proprio, proprio
    p = np.array([0.33, -0.02, 0.12, 0.1, -0.2, 0.05, 0.03])
    np.testing.assert_allclose(proprio(pose_from_proprio(p, cfg.task), p[6], cfg.task), p, atol=1e-6)
