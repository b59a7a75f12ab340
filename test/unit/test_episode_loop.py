"""The episode rules the trainer and the policy node share."""
import numpy as np
import pytest

from worldsample.core.episode import EpisodeLoop


def test_intervention_wins_and_actions_are_projected(cfg):
    loop = EpisodeLoop(cfg.task, seed=40)
    a, intervened = loop.decide(np.array([2.0, -0.5, 0.1, 0.9, 0.9, 0.9, 1.0]), None)
    assert not intervened and a.tolist() == [1.0, -0.5, 0.1, 0.0, 0.0, 0.0, 0.0]     # clipped, inactive dims 0
    a, intervened = loop.decide(np.zeros(7), np.array([0.0, 0.3, -3.0, 0.5, 0, 0, 0]))
    assert intervened and a.tolist() == [0.0, 0.3, -1.0, 0.0, 0.0, 0.0, 0.0] and loop.interventions == 1
    a, intervened = loop.decide(None, np.full(7, 0.2))                                # the actor need not be asked
    assert intervened and loop.interventions == 2
    with pytest.raises(ValueError, match='no action'):
        loop.decide(None, None)


def test_episodes_end_on_success_or_at_the_step_limit(cfg):
    loop = EpisodeLoop(cfg.task, seed=40)
    assert loop.reset_seed == 40
    recs = [loop.record(np.zeros(7), i == 1, success=i == 2) for i in range(3)]
    assert [r.step for r in recs] == [0, 1, 2] and [r.done for r in recs] == [False, False, True]
    assert recs[2].terminated and recs[2].reward == 1.0 and not recs[2].truncated
    assert loop.episode == 1 and loop.reset_seed == 41
    loop.begin()
    n = cfg.task.max_episode_steps
    recs = [loop.record(np.zeros(7), False, success=False) for _ in range(n)]
    assert [r.done for r in recs].index(True) == n - 1 and recs[-1].truncated and not recs[-1].terminated
    assert [(e.episode, e.success, e.steps) for e in loop.finished] == [(0, True, 3), (1, False, n)]
