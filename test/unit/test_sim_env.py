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
