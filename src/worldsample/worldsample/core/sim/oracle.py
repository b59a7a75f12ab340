"""The oracle world model (simulation only): the simulator itself replays each counterfactual.

Where the learned world model predicts o'_1..o'_T from the real o_0, the oracle restores the
segment's saved physics state (InsertionEnv.snapshot at o_0: arm, board, controller) in a
replay env of the same task and executes the counterfactual actions, rendering both cameras and
reading the true proprio. Its frames then go through the same labelling path (reward model,
positive/negative split) as the learned model's. Running the learner with it separates what
world-model error costs from what the learning rule does. With ``proprio='kinematic'`` it pairs
its frames with the controller-integrated proprio a learned model uses instead of the true one
(a control: what that proprio costs, with perfect frames).
"""
from __future__ import annotations

import numpy as np

from ..config import CellConfig
from ..observation import CAMERAS
from ..worldmodel.data import SegmentError
from ..worldmodel.generator import RealSegment, kinematic_proprio
from .env import InsertionEnv


class OraclePredictor:
    needs_state = True

    def __init__(self, cfg: CellConfig, proprio: str = 'simulated'):
        if proprio not in ('simulated', 'kinematic'):
            raise ValueError(f"oracle proprio must be 'simulated' or 'kinematic', got {proprio!r}")
        self.cfg, self.proprio = cfg, proprio
        self.env = InsertionEnv(cfg)

    def __call__(self, segments: list[RealSegment], actions: np.ndarray, k: int):
        frames = {c: [] for c in CAMERAS}
        proprio = []
        for i, seq in enumerate(actions):
            seg = segments[i // k]
            if seg.state is None:
                raise SegmentError(f'segment (episode {seg.episode}, step {seg.start}) has no saved sim state: '
                                   'the oracle replays simulated segments only')
            self.env.restore(seg.state)
            traj = {c: [] for c in CAMERAS}
            p = [seg.proprio[0]]     # o_0 as recorded (after mj_step the sites lag the state by one substep)
            for a in seq:
                obs = self.env.step(a)[0]
                for c in CAMERAS:
                    traj[c].append(obs[c])
                p.append(obs['proprio'])
            for c in CAMERAS:
                frames[c].append(np.stack(traj[c]))
            proprio.append(np.stack(p))
        frames = {c: np.stack(f) for c, f in frames.items()}
        if self.proprio == 'kinematic':
            return frames, kinematic_proprio(self.cfg, segments, actions, k)
        return frames, np.stack(proprio)

    def close(self) -> None:
        self.env.close()
