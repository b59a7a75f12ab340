"""Counterfactual action sequences and their proprioception (WorldSample, appendix B.2).

For a real segment with executed actions a_{0:T-1}:

    a'_t = Pi_A(a_t * xi + eps_t),   xi_j ~ U(1 - s, 1 + s)  (once per segment and dimension),
                                     eps_{t,j} ~ N(0, sigma^2),  s = 0.20, sigma = 0.05,

where Pi_A clips into the action box [-1, 1]^7 and sets the task's inactive dimensions to
exactly zero (the same projection the policy applies to interventions).

The proprioception of a synthetic step comes from the controller's own integration
(core.controller.DeltaEEController: scaling, workspace box, rotation limits, gripper
thresholds). The real measured trajectory already contains what the controller's target does
not (tracking lag, contact), so the synthetic one is the real one moved by the difference
between the targets the two action sequences produce from the same start, clipped to the
controller's limits (widened to p_t itself, so a step the perturbation leaves unchanged stays
exactly real):

    p'_t = clip(p_t + (target(a'_{0:t-1}) - target(a_{0:t-1})))
"""
from __future__ import annotations

import numpy as np

from ..config import ControllerConfig, TaskConfig
from ..controller import DeltaEEController, project_action
from ..observation import pose_from_proprio, proprio as proprio_vector


def perturb_actions(actions: np.ndarray, task: TaskConfig, rng: np.random.Generator, scale: float = 0.20,
                    noise: float = 0.05) -> np.ndarray:
    """One counterfactual of a (T, 7) action segment: ``scale`` is s, ``noise`` is sigma
    (config ``world_model.perturb_scale`` / ``perturb_noise``)."""
    actions = np.asarray(actions, np.float64)
    if actions.ndim != 2 or actions.shape[1] != 7:
        raise ValueError(f'actions must have shape (T, 7), got {actions.shape}')
    xi = rng.uniform(1.0 - scale, 1.0 + scale, size=(1, 7))        # once per segment and dimension
    eps = rng.normal(0.0, noise, size=actions.shape)
    return project_action(actions * xi + eps, task.action)


def _targets(proprio0: np.ndarray, actions: np.ndarray, task: TaskConfig, ctrl_cfg: ControllerConfig) -> np.ndarray:
    ctrl = DeltaEEController(task, ctrl_cfg)
    ctrl.sync(pose_from_proprio(proprio0, task))
    ctrl.gripper_closed = proprio0[6] < 0.5 * (ctrl_cfg.gripper_closed_m + ctrl_cfg.gripper_open_m)
    out = [proprio_vector(ctrl.target, ctrl.gripper_target(), task)]
    for t, a in enumerate(actions):
        target = ctrl.apply(a, now=float(t))
        out.append(proprio_vector(target, ctrl.gripper_target(), task))
    return np.stack(out)


def synthetic_proprio(proprio: np.ndarray, actions: np.ndarray, cf_actions: np.ndarray, task: TaskConfig,
                      ctrl_cfg: ControllerConfig) -> np.ndarray:
    """(T+1, 7) proprio of the counterfactual: the real one (T+1, 7) moved by the target difference."""
    proprio = np.asarray(proprio, np.float64)
    if proprio.shape != (len(actions) + 1, 7) or np.shape(cf_actions) != np.shape(actions):
        raise ValueError(f'need proprio (T+1, 7) and two (T, 7) action sequences, got {proprio.shape}, '
                         f'{np.shape(actions)}, {np.shape(cf_actions)}')
    delta = _targets(proprio[0], cf_actions, task, ctrl_cfg) - _targets(proprio[0], actions, task, ctrl_cfg)
    ws, g = task.workspace, sorted((ctrl_cfg.gripper_closed_m, ctrl_cfg.gripper_open_m))
    low = np.concatenate([ws.low, -np.asarray(ws.max_rot), [g[0]]])
    high = np.concatenate([ws.high, ws.max_rot, [g[1]]])
    # the limits, widened to the real values themselves: an unchanged step stays exactly real
    return np.clip(proprio + delta, np.minimum(low, proprio), np.maximum(high, proprio)).astype(np.float32)
