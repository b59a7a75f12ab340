import numpy as np
import pytest

from worldsample.core.actors import make_actor
from worldsample.core.expert import InsertionExpert
from worldsample.core.sim.env import InsertionEnv
from worldsample.core.sim_human import SimulatedHuman


@pytest.fixture(scope='module')
def env(cfg):
    e = InsertionEnv(cfg)
    yield e
    e.close()


def run_episode(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    for step in range(env.cfg.task.max_episode_steps):
        obs, reward, term, trunc, info = env.step(policy(obs))
        if term or trunc:
            return info['success'], step + 1, reward
    raise AssertionError('episode neither terminated nor truncated')


def test_expert_succeeds_in_95_percent_of_50_seeded_episodes(cfg):
    env = InsertionEnv(cfg, render_cameras=False)
    expert = InsertionExpert(cfg)
    results = [run_episode(env, lambda o: expert.act(o['proprio']), seed) for seed in range(50)]
    rate = np.mean([s for s, _, _ in results])
    assert rate >= 0.95, f'expert success {rate:.2f}'
    assert all(r == 1.0 for s, _, r in results if s)


def test_zero_policy_does_not_succeed_and_truncates(cfg):
    env = InsertionEnv(cfg, render_cameras=False)
    success, steps, reward = run_episode(env, lambda o: np.zeros(7), seed=0)
    assert not success and steps == cfg.task.max_episode_steps and reward == 0.0


def test_observation_spaces_and_images(env, cfg):
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    for name in ('wrist_camera', 'side_camera'):
        cam = cfg.camera(name)
        assert obs[name].shape == (cam.height, cam.width, 3) and obs[name].dtype == np.uint8
        assert obs[name].std() > 5, f'{name} renders a flat image'
    assert not info['success']


def test_seeded_reset_is_reproducible_and_randomised(env):
    a = env.reset(seed=7)[0]['proprio']
    b = env.reset(seed=7)[0]['proprio']
    c = env.reset(seed=8)[0]['proprio']
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.linalg.norm(a[:3] - c[:3]) > 1e-3


def test_actions_move_the_arm_as_commanded(env):
    obs, _ = env.reset(seed=2)
    start = obs['proprio'][:3].copy()
    for _ in range(3):
        obs, *_ = env.step(np.array([1.0, 0, 0, 0, 0, 0, 0]))
    assert obs['proprio'][0] - start[0] == pytest.approx(0.03, abs=0.006)
    assert abs(obs['proprio'][1] - start[1]) < 0.003


def test_simulated_human_takes_over_when_policy_strays(cfg):
    env = InsertionEnv(cfg, render_cameras=False)
    human = SimulatedHuman(cfg)
    stray = make_actor('random', cfg, seed=0)
    obs, _ = env.reset(seed=3)
    interventions, success = 0, False
    for _ in range(cfg.task.max_episode_steps):
        action = human.step(obs['proprio'])
        interventions += action is not None
        obs, _, term, trunc, info = env.step(stray(obs) if action is None else action)
        if term or trunc:
            success = info['success']
            break
    assert interventions > 0 and success


def test_human_with_zero_aggressiveness_never_intervenes(cfg):
    from dataclasses import replace
    human = SimulatedHuman(replace(cfg, human=replace(cfg.human, aggressiveness=0.0)))
    assert all(human.step(np.array([0.5, 0.5, 0.5, 0, 0, 0, 0])) is None for _ in range(50))


def test_refresh_recomputes_the_current_takeover_step_from_a_newer_state_and_counts_nothing(cfg):
    """The sim_human node refreshes its published action from every newer arm state between steps."""
    human = SimulatedHuman(cfg)
    far = np.array([cfg.task.scene.hole_xy[0] + 0.2, 0.0, 0.15, 0, 0, 0, 0])     # strays: a takeover at once
    assert human.refresh(far) is None                                           # no step yet
    first = human.step(far)
    assert first is not None and human.remaining == cfg.human.takeover_steps - 1
    nearer = far.copy()
    nearer[0] = cfg.task.scene.hole_xy[0] + 0.004      # 4 mm off: a correction below the action's limit
    np.testing.assert_array_equal(human.refresh(far), first)
    np.testing.assert_array_equal(human.refresh(nearer), human.expert.act(nearer, None))
    assert not np.array_equal(human.refresh(nearer), first)                     # from the newer state
    assert human.remaining == cfg.human.takeover_steps - 1                      # counted nothing
    for _ in range(cfg.human.takeover_steps - 1):
        assert human.step(far) is not None
    assert human.refresh(far) is not None           # the takeover's last step is still current
    assert human.step(nearer) is None and human.refresh(nearer) is None      # progress, in reach: the policy's
    human.reset()
    assert human.refresh(far) is None


@pytest.fixture(scope='module')
def vision_cfg():
    from worldsample.core.config import load_config
    return load_config('insertion_vision')


def test_the_board_moves_and_turns_per_seeded_episode(vision_cfg, cfg):
    env = InsertionEnv(vision_cfg)
    s = vision_cfg.task.scene
    holes = []
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        holes.append(info['hole'])
        assert np.all(np.abs(info['hole'][:2] - s.hole_xy) <= s.hole_xy_noise) and abs(info['hole'][2]) <= s.hole_yaw_noise
    holes = np.array(holes)
    assert holes[:, :2].std(0).min() > 0.01 and holes[:, 2].std() > 0.08
    a = env.reset(seed=3)
    np.testing.assert_array_equal(a[1]['hole'], holes[3])                # seeded: the same board again
    b = env.reset(seed=4)
    assert np.abs(a[0]['side_camera'].astype(int) - b[0]['side_camera']).mean() > 1.0   # the cameras see it move
    env.close()
    fixed = InsertionEnv(cfg, render_cameras=False)
    assert fixed.reset(seed=5)[1]['hole'].tolist() == [*cfg.task.scene.hole_xy, 0.0]


def test_a_seed_gives_the_same_board_to_the_env_and_to_the_sim_nodes_reset(vision_cfg, cfg):
    from worldsample.core.controller import sample_reset_pose
    from worldsample.core.sim.board import sample_board, seeded_start
    env = InsertionEnv(vision_cfg, render_cameras=False)
    for seed in (0, 7):
        start, board = seeded_start(vision_cfg.task, seed)       # the sim node's /sim/reset and reset moves
        np.testing.assert_allclose(env.reset(seed=seed)[1]['hole'], board)
        np.testing.assert_allclose(start.pos, sample_reset_pose(vision_cfg.task, np.random.default_rng(seed)).pos)
    env.close()
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    assert sample_board(cfg.task.scene, rng).tolist() == [*cfg.task.scene.hole_xy, 0.0]
    assert rng.bit_generator.state == before       # a fixed board draws nothing: fixed-board seeds keep their starts


def test_the_sim_moves_the_board_once_per_reset_and_only_with_the_peg_clear(vision_cfg):
    from worldsample.core.controller import Mode
    from worldsample.core.sim.board import CLEAR_M, BoardMover
    s = vision_cfg.task.scene
    top, clear = s.board_size[2], s.board_size[2] + CLEAR_M + 0.001
    env = InsertionEnv(vision_cfg, render_cameras=False)
    mover = BoardMover(vision_cfg.task)
    mover.on_mode(Mode.TRACKING, -1)
    assert mover.due(clear) is None                              # no reset, no move
    mover.on_mode(Mode.RESETTING, 11)
    assert mover.due(top - 0.01) is None                         # the peg is still in the hole
    np.testing.assert_allclose(mover.due(clear), env.reset(seed=11)[1]['hole'])   # the env's board of that seed
    mover.on_mode(Mode.RESETTING, 11)                            # the same reset, reported again
    assert mover.due(clear) is None
    mover.on_mode(Mode.IDLE, 11)
    mover.on_mode(Mode.RESETTING, 12)                            # the next reset: the next seed's board
    np.testing.assert_allclose(mover.due(clear), env.reset(seed=12)[1]['hole'])
    mover.on_mode(Mode.RESETTING, 13)
    mover.on_mode(Mode.HOLDING, 13)                              # a reset that timed out with the peg low
    assert mover.due(clear) is None                              # ... leaves the board where it is
    mover.on_mode(Mode.IDLE, 13)
    mover.on_mode(Mode.RESETTING, -1)                            # an unseeded reset: a fresh board in range
    board = mover.due(clear)
    assert np.all(np.abs(board[:2] - s.hole_xy) <= s.hole_xy_noise) and abs(board[2]) <= s.hole_yaw_noise
    env.close()


def test_success_is_judged_in_the_turned_hole(vision_cfg):
    env = InsertionEnv(vision_cfg, render_cameras=False)
    env.reset(seed=0)
    cell, s = env.cell, vision_cfg.task.scene
    cell.place_board(0.33, 0.0, np.pi / 4)
    depth = s.board_size[2] - s.insert_depth - 0.002
    corner = 0.9 * s.hole_size / 2                                   # inside the square's corner along its own axes
    c = np.cos(np.pi / 4)
    cell.peg_tip = lambda: np.array([0.33 + corner * c - corner * c, corner * c + corner * c, depth])
    assert cell.success()                                            # (corner, corner) in the hole frame
    cell.peg_tip = lambda: np.array([0.33 + corner, corner, depth])  # the same offset in the base frame: outside
    assert not cell.success()


def test_expert_inserts_into_the_moved_and_turned_hole(vision_cfg):
    from worldsample.core.expert import yaw_error
    assert yaw_error(0.1, 0.0) == pytest.approx(0.1) and yaw_error(np.pi / 2 + 0.1, 0.0) == pytest.approx(0.1)
    assert yaw_error(-0.1, 0.0) == pytest.approx(-0.1) and abs(yaw_error(np.pi / 4 + 0.01, 0.0)) <= np.pi / 4
    env = InsertionEnv(vision_cfg, render_cameras=False)
    expert = InsertionExpert(vision_cfg)

    def run(seed):
        obs, _ = env.reset(seed=seed)
        for _ in range(vision_cfg.task.max_episode_steps):
            obs, _, term, trunc, info = env.step(expert.act(obs['proprio'], env.hole))
            if term or trunc:
                return info['success'], obs['proprio'][5]
    results = [run(seed) for seed in range(20)]
    assert np.mean([ok for ok, _ in results]) >= 0.95
    assert np.std([yaw for _, yaw in results]) > 0.05                     # it had to turn the peg (rz)
