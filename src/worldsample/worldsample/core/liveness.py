"""Liveness of input streams: the policy acts only on fresh, forward-moving inputs (ROS-free).

Each stream (a camera, the arm state) reports the stamp of every message it delivers. A stream is
stale when its newest stamp is older than its maximum age, when it has delivered nothing yet, or
when a stamp went backwards (a clock jump, a replayed or misbehaving source), until a later
message moves it forward again (the same stamp repeated does not). The policy stops commanding while any stream is stale; the
controller's watchdog then holds the arm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Stream:
    max_age_s: float
    last: float = -math.inf          # newest stamp (s)
    backwards: bool = False          # the last stamp was older than the one before it

    def observe(self, stamp_s: float) -> bool:
        """A message with this stamp arrived; False while the stream stands after going backwards
        (a repeated stamp is not a step forward)."""
        if stamp_s < self.last:
            self.backwards = True
        elif stamp_s > self.last:
            self.backwards = False
        self.last = stamp_s
        return not self.backwards

    def problem(self, now_s: float) -> str | None:
        if self.last == -math.inf:
            return 'nothing received yet'
        if self.backwards:
            return 'its timestamps went backwards'
        age = now_s - self.last
        if age > self.max_age_s:
            return f'its newest message is {age:.2f} s old (limit {self.max_age_s:g} s)'
        return None


class Liveness:
    def __init__(self, max_ages: dict[str, float]):
        self.streams = {name: Stream(age) for name, age in max_ages.items()}

    def observe(self, name: str, stamp_s: float) -> bool:
        return self.streams[name].observe(stamp_s)

    def problems(self, now_s: float) -> list[str]:
        """'<stream>: <why>' for every stale stream (empty: all fresh)."""
        return [f'{name}: {why}' for name, s in self.streams.items() if (why := s.problem(now_s)) is not None]
