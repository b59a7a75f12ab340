"""The label benchmark's rollout sets: which post-trainings it runs and what each samples."""
from dataclasses import replace

import numpy as np
import pytest

from test.benchmark.world_model_labels import ROLLOUTS, RolloutSet, _label_stats, _resampled, _rollout_sets, _weighted_mix
from worldsample.core.worldmodel.data import Episode
from worldsample.core.worldmodel.training import mix


def _episodes(lengths):
    return [Episode(np.zeros((n + 1, 4, 8, 3), np.uint8), np.zeros((n, 7), np.float32), np.zeros((n + 1, 7), np.float32))
            for n in lengths]


def test_plain_rollouts_at_the_default_noise_are_always_the_control():
    assert _rollout_sets((), (), 1.0) == [RolloutSet(ROLLOUTS['noise_max'])]
    sets = _rollout_sets((), (0.3,), 4.0)
    assert sets == [RolloutSet(0.6), RolloutSet(0.3, human=True), RolloutSet(0.3, human=True, intervened_weight=4.0)]
    assert sets[0].name == 'demos, then post-trained on demos + rollouts'       # the name earlier results use
    assert sets[2].tag == 'noise0.3_human_w4' and 'weighted 4x' in sets[2].name
    assert len({rs.tag for rs in sets}) == len({rs.name for rs in sets}) == 3
    for bad in (((-0.1,), (), 1.0), ((0.3, 0.3), (), 1.0), ((), (0.6,), 0.0)):
        with pytest.raises(SystemExit):
            _rollout_sets(*bad)


def test_episodes_with_a_takeover_are_sampled_w_times_as_often_and_the_demo_share_holds(cfg):
    wm = replace(cfg.world_model, demo_share=0.5, rollout_half_life=10 ** 9)   # no recency: per-step weights only
    demos, rollouts = _episodes([10, 10]), _episodes([10, 20, 10])
    flags = np.array([True, False, False])
    episodes, w = _weighted_mix(demos, rollouts, flags, 4.0, wm)
    assert len(episodes) == 5 and w[:2].sum() == pytest.approx(0.5) and w.sum() == pytest.approx(1.0)
    per_step = w[2:] / np.array([10, 20, 10])
    assert per_step[0] == pytest.approx(4 * per_step[1]) and per_step[1] == pytest.approx(per_step[2])
    same = _weighted_mix(demos, rollouts, flags, 1.0, wm)[1]
    np.testing.assert_array_equal(same, mix(demos, rollouts, wm)[1])        # weight 1: exactly training.mix


def test_the_simulated_human_takes_over_from_the_noisy_expert_for_its_takeover_steps():
    from test.benchmark.run import _sim_episodes
    from worldsample.core.config import load_config
    cfg = load_config('insertion_vision')
    plain = _sim_episodes(cfg, episodes=1, seed=5, noise_max=0.0)
    assert 'intervention' not in plain
    data = _sim_episodes(cfg, episodes=4, seed=5, noise_max=2.0, human=True)   # episode 3: sigma 2, it strays
    took = data['intervention']
    assert took.dtype == bool and took.any() and not took[data['episode'] == 0].any()   # sigma 0: the expert alone
    starts = np.flatnonzero(took & ~np.r_[False, took[:-1]])
    for s in starts:            # a takeover lasts takeover_steps, unless the episode ends first
        run = took[s:s + cfg.human.takeover_steps]
        same_ep = data['episode'][s:s + cfg.human.takeover_steps] == data['episode'][s]
        assert run[same_ep].all()


def test_the_reward_models_episodes_are_one_more_stage_with_its_own_data_and_name():
    sets = _rollout_sets((0.3,), (), 1.0, reward_episodes=True)
    assert sets == [RolloutSet(0.3), RolloutSet(None, reward_episodes=True)]
    assert sets[1].data == ('reward episodes',) and sets[0].data == (0.3, False)
    assert sets[1].tag == 'reward_episodes' and "reward model's labelled episodes" in sets[1].name


def test_a_success_is_kept_only_if_every_resample_draws_it_too():
    """Counterfactual i's resample r is 'successful' when draws[r][i]; the first look is ``labels``."""
    segs = [object(), object()]
    cf = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 2, 7), np.float32)   # cf[i] tells i
    draws = iter([np.array([True, False, True, True]), np.array([True, True, True, False])])
    asked = []

    def predictor(segments, actions, k):
        ids = actions[:, 0, 0].astype(int)
        assert k == 1 and [segs.index(s) for s in segments] == [i // 2 for i in ids]
        asked.append(ids.tolist())
        return next(draws)[ids], None

    first = np.array([[0, 1], [1, 0], [0, 0], [0, 1]], bool)      # 0, 1 and 3 look successful once
    keep = _resampled(predictor, segs, cf, 2, first, 2, lambda frames, n: np.repeat(frames[:, None], 2, axis=1))
    assert asked == [[0, 1, 3], [0, 3]]                  # only what is still a success is predicted again
    assert keep.tolist() == [True, False, False, False]
    truth = np.array([[0, 1], [1, 1], [0, 0], [0, 0]], bool)
    stats = _label_stats(first.astype(float), 0.5, truth, keep)
    assert stats['positives'] == 1 and stats['precision'] == 1.0 and stats['recall'] == 0.5
    assert _label_stats(first.astype(float), 0.5, truth)['positives'] == 3       # without keep: the first look


@pytest.mark.parametrize('bad', [{'resample': -1}, {'reward_encoder': (0, 64)}, {'reward_encoder': (32, 0)}])
def test_bad_options_are_refused_before_any_recording(bad):
    from test.benchmark.world_model_labels import bench_world_model_labels
    with pytest.raises(SystemExit, match='--re'):
        bench_world_model_labels(task='no_such_task', **bad)      # a valid call would fail on the task instead
