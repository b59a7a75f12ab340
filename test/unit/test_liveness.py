"""Input liveness: stale, missing and backwards streams."""
from worldsample.core.liveness import Liveness


def test_streams_are_stale_when_old_missing_or_going_backwards():
    live = Liveness({'wrist_camera': 0.5, 'arm_state': 0.25})
    assert live.problems(10.0) == ['wrist_camera: nothing received yet', 'arm_state: nothing received yet']
    assert live.observe('wrist_camera', 10.0) and live.observe('arm_state', 10.0)
    assert live.problems(10.2) == []
    assert live.problems(10.3) == ['arm_state: its newest message is 0.30 s old (limit 0.25 s)']
    live.observe('arm_state', 10.3)
    assert not live.observe('wrist_camera', 9.0)                 # backwards: stale although "recent"
    assert live.problems(10.35) == ['wrist_camera: its timestamps went backwards']
    assert not live.observe('wrist_camera', 9.0)                 # the same stamp again: still standing
    assert live.problems(10.35) == ['wrist_camera: its timestamps went backwards']
    assert live.observe('wrist_camera', 9.5)                     # forward again, but old
    assert live.problems(10.35) == ['wrist_camera: its newest message is 0.85 s old (limit 0.5 s)']
    live.observe('wrist_camera', 10.34)                            # fresh again: resumes
    assert live.problems(10.35) == []
