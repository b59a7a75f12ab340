"""The episode rules the trainer and the policy node share."""
import numpy as np
import pytest

from worldsample.core.episode import EpisodeLoop, SuccessMark, Takeover


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


def test_a_label_session_labels_frames_and_ends_when_the_mark_is_let_go(cfg):
    loop = EpisodeLoop(cfg.task, session='labels')
    marks = [False, True, True, True, False]
    recs = [loop.record(np.zeros(7), True, success=m) for m in marks]
    assert [r.success for r in recs] == marks and [r.reward for r in recs] == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert not any(r.terminated for r in recs), 'a marked frame is a label, not a terminal state'
    assert [r.done for r in recs] == [False, False, False, False, True] and recs[-1].truncated
    assert loop.finished[-1].success and loop.finished[-1].steps == 5
    loop.begin()                                          # never marked: runs to the step limit, a failure
    n = cfg.task.max_episode_steps
    recs = [loop.record(np.zeros(7), False, success=False) for _ in range(n)]
    assert [r.done for r in recs].index(True) == n - 1 and not loop.finished[-1].success
    loop.begin()                                          # marked up to the limit: ends there, a success
    recs = [loop.record(np.zeros(7), False, success=i >= n - 3) for i in range(n)]
    assert recs[-1].done and recs[-1].success and loop.finished[-1].success
    with pytest.raises(ValueError, match='session'):
        EpisodeLoop(cfg.task, session='teleop')


def test_a_demo_session_ends_at_the_first_marked_step(cfg):
    loop = EpisodeLoop(cfg.task, session='demos')
    recs = [loop.record(np.zeros(7), True, success=i == 3) for i in range(4)]
    assert recs[-1].done and recs[-1].terminated and recs[-1].reward == 1.0 and loop.finished[-1].success


def test_the_success_mark_is_fresh_for_a_while_and_not_carried_into_the_next_episode():
    mark = SuccessMark(fresh_s=0.25)
    assert not mark.on(0.0)
    mark.mark(1.0)
    assert mark.on(1.1) and mark.on(1.24) and not mark.on(1.26)     # no new mark: let go
    mark.mark(2.0)
    mark.episode_ended()                                  # the episode ended on this mark
    mark.mark(2.1)                                        # still held across the reset
    assert not mark.on(2.2), 'a mark held across the reset ended the next episode'
    assert not mark.on(2.5)                               # let go ...
    mark.mark(3.0)
    assert mark.on(3.05)                                  # ... a new mark counts again


def test_a_takeover_overrides_while_fresh_and_ends_at_once_on_release():
    takeover = Takeover(fresh_s=0.25)
    assert takeover.current(0.0) is None
    takeover.command(1.0, [0, 0, 0.5, 0, 0, 0, 0])
    np.testing.assert_array_equal(takeover.current(1.2), [0, 0, 0.5, 0, 0, 0, 0])
    assert takeover.current(1.26) is None                   # a device that stopped reporting hands back
    takeover.command(2.0, np.ones(7))
    takeover.release()                                      # the operator let go
    assert takeover.current(2.01) is None, 'a released command still overrode the actor'
    takeover.command(2.1, -np.ones(7))                      # the next push takes over again
    np.testing.assert_array_equal(takeover.current(2.15), -np.ones(7))
