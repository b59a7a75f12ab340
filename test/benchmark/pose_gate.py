"""How well the success-pose gate tells true insertions with a learned model's proprio (simulation).

    ./ws bench pose_gate [--task insertion_vision]

Noisy-expert episodes of the task (action noise 0.2) that end in success give real segments
from their last 24 steps (every 4th step as an anchor) and their goal, the TCP pose at the
success step. From each segment's saved physics state the oracle runs the expert again with
action noise 0, 0.1, 0.2 and 0.4 (closed loop, as the policy-driven counterfactuals do); the
simulator says which rollouts truly insert, and ``generator.at_success_pose`` judges each on the
controller-integrated proprio of its actions (``kinematic_proprio``, what a learned world model
pairs its frames with). The reward model is left out: the gate is the part that must hold where
the model's frames fool it. Raw counts per noise level go to ``results/pose_gate.json``.
"""
from __future__ import annotations

import numpy as np

NOISES = (0.0, 0.1, 0.2, 0.4)


def bench_pose_gate(task: str = 'insertion_vision', episodes: int = 10, seed: int = 0) -> list[str]:
    from worldsample.core.config import load_config
    from worldsample.core.expert import InsertionExpert
    from worldsample.core.observation import CAMERAS
    from worldsample.core.sim.env import InsertionEnv
    from worldsample.core.sim.oracle import OraclePolicyPredictor
    from worldsample.core.worldmodel.generator import RealSegment, at_success_pose, kinematic_proprio
    from .run import save

    cfg = load_config(task)
    T, active = cfg.world_model.segment_length, np.asarray(cfg.task.action.active)
    env, expert, rng = InsertionEnv(cfg), InsertionExpert(cfg), np.random.default_rng(seed)
    counts = {n: {'rollouts': 0, 'true': 0, 'gate': 0, 'gate_true': 0} for n in NOISES}
    noise = {'value': 0.0}

    def noisy(proprio, hole, sd):
        return np.clip(expert.act(proprio, hole) + rng.normal(0.0, sd, 7), -1.0, 1.0) * active

    oracle = OraclePolicyPredictor(cfg, lambda images, proprio: np.stack(
        [noisy(p, env.hole, noise['value']) for p in proprio]).astype(np.float32))
    successes = 0
    for ep in range(episodes):
        obs, _ = env.reset(seed=900_000 + ep)
        frames, actions, states = [obs], [], []
        for _ in range(cfg.task.max_episode_steps):
            states.append(env.snapshot())
            actions.append(noisy(obs['proprio'], env.hole, 0.2))
            obs, _, done, truncated, _ = env.step(actions[-1])
            frames.append(obs)
            if done or truncated:
                break
        if not done:
            continue
        successes += 1
        goal, n = frames[-1]['proprio'], len(actions)
        for s in range(max(0, n - 24), n - T + 1, 4):
            seg = RealSegment(ep, s, {c: np.stack([o[c] for o in frames[s:s + T + 1]]) for c in CAMERAS},
                              np.array(actions[s:s + T], np.float32),
                              np.stack([o['proprio'] for o in frames[s:s + T + 1]]), state=states[s], goal=goal)
            for sd in NOISES:
                noise['value'] = sd
                _, _, acts, _ = oracle.rollout([seg], 1)      # the expert aims at this episode's hole
                true = bool(oracle.last_success[0].any())
                gate = bool(at_success_pose(kinematic_proprio(cfg, [seg], acts, 1)[0], goal, cfg.task.scene).any())
                c = counts[sd]
                c['rollouts'] += 1
                c['true'] += true
                c['gate'] += gate
                c['gate_true'] += gate and true
    oracle.close()
    env.close()
    save('pose_gate', {'task': task, 'episodes': episodes, 'successful_episodes': successes, 'seed': seed,
                       'segment_length': T, 'counts': {str(k): v for k, v in counts.items()}})
    rows = []
    for sd, c in counts.items():
        precision = c['gate_true'] / c['gate'] if c['gate'] else float('nan')
        recall = c['gate_true'] / c['true'] if c['true'] else float('nan')
        rows.append(f'| success-pose gate, expert rollouts with action noise {sd} | {c["rollouts"]} rollouts, '
                    f'{c["true"]} truly insert; the gate passes {c["gate"]} (precision {precision:.2f}, '
                    f'recall {recall:.2f}) | — |')
    return rows
