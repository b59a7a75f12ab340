"""The oracle world model (simulation only): the simulator itself replays each counterfactual.

Where the learned world model predicts o'_1..o'_T from the real o_0, the oracle restores the
segment's saved physics state (InsertionEnv.snapshot at o_0: arm, board, controller) in a
replay env of the same task and executes the counterfactual actions, rendering both cameras and
reading the true proprio. Its frames then go through the same labelling path (reward model,
positive/negative split) as the learned model's. Running the learner with it separates what
world-model error costs from what the learning rule does. With ``proprio='kinematic'`` it pairs
its frames with the controller-integrated proprio a learned model uses instead of the true one
(a control: what that proprio costs, with perfect frames). :class:`OraclePolicyPredictor` lets
the current actor choose the counterfactual actions instead of perturbing the logged ones. Each
call also keeps the simulator's own success of every step (``last_success``), which
:func:`truth_scorer` hands the generator in place of the reward model's labels: a control that
tells what the reward model's label errors cost.
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
        self.last_success = np.zeros((0, 0), bool)   # (S*K, T) ground-truth success of the last call's steps

    def __call__(self, segments: list[RealSegment], actions: np.ndarray, k: int):
        runs = [self._run(segments[i // k], len(seq), lambda t, obs, seq=seq: seq[t]) for i, seq in enumerate(actions)]
        frames = {c: np.stack([r[0][c] for r in runs]) for c in CAMERAS}
        self.last_success = np.stack([r[3] for r in runs])
        if self.proprio == 'kinematic':
            return frames, kinematic_proprio(self.cfg, segments, actions, k)
        return frames, np.stack([r[1] for r in runs])

    def _run(self, seg: RealSegment, T: int, choose):
        """From the segment's saved state at o_0, T steps of ``choose(t, o_t)`` -> (frames {camera: (T,
        H, W, 3)} of o_1..o_T, proprio (T+1, 7), actions (T, 7), the simulator's success at o_1..o_T
        (T,)); o_0 is the recorded observation."""
        if seg.state is None:
            raise SegmentError(f'segment (episode {seg.episode}, step {seg.start}) has no saved sim state: '
                               'the oracle replays simulated segments only')
        self.env.restore(seg.state)
        obs = {**{c: seg.images[c][0] for c in CAMERAS}, 'proprio': seg.proprio[0]}
        # o_0's proprio as recorded (after mj_step the sites lag the state by one substep)
        traj, p, acts, success = {c: [] for c in CAMERAS}, [seg.proprio[0]], [], []
        for t in range(T):
            a = choose(t, obs)
            obs, _, _, _, info = self.env.step(a)
            acts.append(a)
            success.append(info['success'])
            p.append(obs['proprio'])
            for c in CAMERAS:
                traj[c].append(obs[c])
        return {c: np.stack(f) for c, f in traj.items()}, np.stack(p), np.stack(acts), np.asarray(success, bool)

    def close(self) -> None:
        self.env.close()


class OraclePolicyPredictor(OraclePredictor):
    """The oracle with the current stochastic actor choosing each counterfactual's actions
    (``world_model.counterfactual_actions: policy``): from a segment's saved state at o_0, K
    rollouts of T steps, each action ``actor(images, proprio)`` on the observation reached (o_0
    the recorded one)."""
    chooses_actions = True

    def __init__(self, cfg: CellConfig, actor):
        super().__init__(cfg)
        self.actor = actor       # ({camera: (N, H, W, 3)}, (N, 7)) -> (N, 7) projected actions

    def rollout(self, segments: list[RealSegment], k: int):
        """K actor rollouts per segment, in order -> (frames {camera: (S*K, T, H, W, 3)}, proprio
        (S*K, T+1, 7), actions (S*K, T, 7), the learner's frames: the same)."""
        def choose(t, obs):
            return self.actor({c: obs[c][None] for c in CAMERAS}, np.asarray(obs['proprio'])[None])[0]
        T = len(segments[0].actions)
        runs = [self._run(seg, T, choose) for seg in segments for _ in range(k)]
        frames = {c: np.stack([r[0][c] for r in runs]) for c in CAMERAS}
        self.last_success = np.stack([r[3] for r in runs])
        return frames, np.stack([r[1] for r in runs]), np.stack([r[2] for r in runs]).astype(np.float32), frames


def truth_scorer(oracle: OraclePredictor):
    """The generator's scorer with the simulator's labels: the ground-truth success of each step
    of ``oracle``'s last rollouts, in the order the generator scores their frames (R_hat = y_hat =
    the truth). A control (``labels='truth'`` in core.rl.synthetic_loop.build_loop), like the
    extra-real cell's labels; the product labels with the reward model."""
    def score(frames: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        truth = oracle.last_success.reshape(-1)
        n = len(next(iter(frames.values())))
        if len(truth) != n:
            raise ValueError(f'truth labels of {len(truth)} steps for {n} frames: score the oracle\'s last rollouts')
        return truth.astype(np.float32), truth
    score.threshold = 0.5
    return score
