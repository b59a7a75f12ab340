import numpy as np
import pytest

from worldsample.core.controller import (CommandError, DeltaEEController, Mode, Pose, project_action,
                                         reset_orientation, reset_waypoints, sample_reset_pose, validate_action)


@pytest.fixture
def ctl(cfg):
    c = DeltaEEController(cfg.task, cfg.controller)
    c.sync(Pose(np.asarray(cfg.task.reset_pos), reset_orientation(cfg.task)))
    return c


def test_step_moves_by_scale_and_zeroes_inactive(cfg, ctl):
    start = ctl.target.pos.copy()
    ctl.apply([1, -0.5, 0, 1, 1, 1, 1], now=0.0)
    np.testing.assert_allclose(ctl.target.pos - start, [0.01, -0.005, 0.0])
    np.testing.assert_allclose(ctl.target.rot, reset_orientation(cfg.task))   # rotations inactive
    assert ctl.mode == Mode.TRACKING


def test_projection_clips_and_keeps_inactive_exactly_zero(cfg):
    a = project_action(np.array([3.0, -7.0, 0.2, 0.5, -0.5, 0.1, 0.9]), cfg.task.action)
    np.testing.assert_array_equal(a, [1.0, -1.0, 0.2, 0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize('bad, why', [
    ([0.0] * 6, 'must have 7 values'), ([0.0] * 8, 'must have 7 values'), ([], 'must have 7 values'),
    ([np.nan] + [0.0] * 6, 'non-finite'), ([0.0] * 6 + [np.inf], 'non-finite'), ([[0.0] * 7], 'shape'),
    (['a'] * 7, 'not numeric')])
def test_invalid_commands_rejected_with_reason(ctl, bad, why):
    before = ctl.target.pos.copy()
    with pytest.raises(CommandError, match=why):
        ctl.apply(bad, now=0.0)
    np.testing.assert_array_equal(ctl.target.pos, before)
    assert ctl.rejected == 1


def test_fuzz_10000_commands_never_leave_the_box(cfg, ctl):
    """Random, huge and malformed commands: the target always stays in the workspace box."""
    rng = np.random.default_rng(42)
    ws = cfg.task.workspace
    rejected = 0
    for i in range(10_000):
        kind = rng.integers(5)
        if kind == 0:
            cmd = rng.uniform(-1, 1, 7)
        elif kind == 1:
            cmd = rng.normal(0, 1e6, 7)
        elif kind == 2:
            cmd = rng.uniform(-1, 1, 7)
            cmd[rng.integers(7)] = rng.choice([np.nan, np.inf, -np.inf])
        elif kind == 3:
            cmd = rng.uniform(-1, 1, rng.choice([0, 1, 6, 8, 20]))
        else:
            cmd = np.full(7, rng.choice([1.0, -1.0]))   # push into a wall
        measured = Pose(ctl.target.pos + rng.normal(0, 0.005, 3), ctl.target.rot)
        try:
            ctl.apply(cmd, now=float(i), measured=measured)
        except CommandError:
            rejected += 1
        assert np.all(ctl.target.pos >= np.asarray(ws.low) - 1e-12), ctl.target.pos
        assert np.all(ctl.target.pos <= np.asarray(ws.high) + 1e-12), ctl.target.pos
        assert ctl.in_limits(ctl.target)
    assert rejected == ctl.rejected and 3000 < rejected < 5000


def test_orientation_clipped_to_max_rot(cfg):
    from dataclasses import replace
    task = replace(cfg.task, action=replace(cfg.task.action, active=(True,) * 7))
    c = DeltaEEController(task, cfg.controller)
    c.sync(Pose(np.asarray(task.reset_pos), reset_orientation(task)))
    for i in range(100):
        c.apply([0, 0, 0, 1, 1, 1, 0], now=float(i))
    assert c.in_limits(c.target)


def test_anti_windup_limits_lead(cfg, ctl):
    measured = ctl.target.copy()
    for i in range(20):   # arm stuck: target may run ahead by max_lead only
        ctl.apply([0, 0, -1, 0, 0, 0, 0], now=float(i), measured=measured)
    assert measured.pos[2] - ctl.target.pos[2] == pytest.approx(cfg.controller.max_lead_m)


def test_watchdog_holds_measured_pose(cfg, ctl):
    ctl.apply([1, 0, 0, 0, 0, 0, 0], now=0.0)
    measured = Pose(ctl.target.pos - [0.004, 0, 0], ctl.target.rot)
    assert not ctl.tick(cfg.controller.watchdog_timeout_s * 0.5, measured)
    assert ctl.mode == Mode.TRACKING
    assert ctl.tick(cfg.controller.watchdog_timeout_s + 0.01, measured)
    assert ctl.mode == Mode.HOLDING
    np.testing.assert_allclose(ctl.target.pos, measured.pos)


def test_estop_blocks_commands(ctl):
    ctl.estop(True, ctl.target)
    with pytest.raises(CommandError, match='e-stop'):
        ctl.apply([0] * 7, now=0.0)
    ctl.estop(False, None)
    ctl.apply([0] * 7, now=0.0)


def test_gripper_thresholds(cfg, ctl):
    ctl.apply([0, 0, 0, 0, 0, 0, -0.9], now=0.0)
    assert ctl.gripper_closed          # gripper dimension inactive for insertion: stays closed
    from dataclasses import replace
    task = replace(cfg.task, action=replace(cfg.task.action, active=(True,) * 7))
    c = DeltaEEController(task, cfg.controller)
    c.sync(ctl.target)
    c.apply([0, 0, 0, 0, 0, 0, -0.9], now=0.0)
    assert not c.gripper_closed and c.gripper_target() == cfg.controller.gripper_open_m
    c.apply([0, 0, 0, 0, 0, 0, 0.3], now=0.1)
    assert not c.gripper_closed        # inside the dead band: unchanged
    c.apply([0, 0, 0, 0, 0, 0, 0.9], now=0.2)
    assert c.gripper_closed


def test_reset_pose_seeded_and_in_box(cfg):
    a = sample_reset_pose(cfg.task, np.random.default_rng(3))
    b = sample_reset_pose(cfg.task, np.random.default_rng(3))
    np.testing.assert_array_equal(a.pos, b.pos)
    assert np.all(np.abs(a.pos - cfg.task.reset_pos) <= np.asarray(cfg.task.reset_noise) + 1e-12)


def test_reset_waypoints_lift_first(cfg):
    start = Pose(np.array([0.33, 0.0, 0.06]), reset_orientation(cfg.task))
    goal = sample_reset_pose(cfg.task, np.random.default_rng(0))
    wps = reset_waypoints(start, goal, cfg.controller, cfg.task.workspace, dt=0.02)
    np.testing.assert_allclose(wps[-1].pos, goal.pos)
    steps = np.diff(np.stack([start.pos] + [w.pos for w in wps]), axis=0)
    assert np.max(np.linalg.norm(steps, axis=1)) <= cfg.controller.reset_speed_mps * 0.02 + 1e-12
    lifted = next(i for i, w in enumerate(wps) if w.pos[2] >= goal.pos[2])
    np.testing.assert_allclose([w.pos[:2] for w in wps[:lifted]], [start.pos[:2]] * lifted)


def test_validate_action_returns_float_array():
    out = validate_action([1, 2, 3, 4, 5, 6, 7])
    assert out.dtype == np.float64 and out.shape == (7,)


def test_a_dry_run_accepts_and_validates_commands_but_never_moves_the_target(cfg):
    dry = DeltaEEController(cfg.task, cfg.controller, command_scale=0.0)
    start = Pose(np.asarray(cfg.task.reset_pos), reset_orientation(cfg.task))
    dry.sync(start)
    for a in ([1, 1, 1, 0, 0, 0, -1], [-1, 0.5, -1, 0, 0, 0, 1]):
        dry.apply(a, now=0.0, measured=start)
    np.testing.assert_array_equal(dry.target.pos, start.pos)
    assert dry.accepted == 2 and dry.gripper_closed                # the gripper command is scaled away too
    with pytest.raises(CommandError, match='non-finite'):
        dry.apply([np.nan] * 7, now=0.0)                           # still checked like any command
    slow = DeltaEEController(cfg.task, cfg.controller, command_scale=0.25)
    slow.sync(start)
    slow.apply([1, 0, 0, 0, 0, 0, 0], now=0.0)
    np.testing.assert_allclose(slow.target.pos - start.pos, [0.0025, 0, 0])
    for bad in (-0.1, 1.5, float('nan')):
        with pytest.raises(ValueError, match='command_scale'):
            DeltaEEController(cfg.task, cfg.controller, command_scale=bad)
