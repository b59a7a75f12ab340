"""Single-process HIL-SERL-style training on the sim env (no DDS): benchmarks and experiments.

The same core as the ROS graph (core.rl.learner.Learner: frozen encoder, SAC/RLPD agent,
replay buffers, PPL; core.episode.EpisodeLoop: the policy node's episode rules, driven step by
step by core.rl.sim_episodes) and the simulated human. Per environment step: featurise the
observation, sample the actor, let the simulated human override it (the step is then marked
intervened and also copied into the demo buffer, as in HIL-SERL), store the transition, feed
the real-synthetic loop when one is given (core.rl.synthetic_loop), then run
``updates_per_step`` learner steps. Rewards are the env's
sparse success (ground truth, simulation only); synthetic labels come from the reward model.
The history records wall time split into environment, learner, generation and post-training.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import jax
import numpy as np

from ..config import CellConfig
from ..expert import InsertionExpert
from ..observation import CAMERAS
from ..sim.env import InsertionEnv
from ..recording.dataset import IMAGE_FIELDS
from ..sim_human import SimulatedHuman
from . import sac
from .features import Featurizer
from .learner import Learner
from .sim_episodes import SimEpisodes
from .synthetic_loop import SyntheticLoop


@dataclass
class History:
    env_steps: list[int] = field(default_factory=list)
    success_rate: list[float] = field(default_factory=list)
    train_success_rate: list[float] = field(default_factory=list)
    intervention_rate: list[float] = field(default_factory=list)
    episode_length: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    wall_split: list[dict] = field(default_factory=list)   # cumulative s: env, learner, generation, post_training
    ppl: list[dict] = field(default_factory=list)          # Learner.ppl_stats() at each evaluation
    synthetic: list[dict] = field(default_factory=list)    # SyntheticLoop.counts at each evaluation


def collect_demos(env: InsertionEnv, n: int, seed: int) -> list[list[tuple]]:
    """n successful scripted-expert episodes as lists of (obs, action, reward, next_obs, terminated)."""
    expert, episodes, attempt = InsertionExpert(env.cfg), [], 0
    while len(episodes) < n:
        obs, _ = env.reset(seed=seed + attempt)
        attempt += 1
        steps = []
        for _ in range(env.cfg.task.max_episode_steps):
            a = expert.act(obs['proprio'], env.hole)
            nxt, r, term, trunc, _ = env.step(a)
            steps.append((obs, a, r, nxt, term))
            obs = nxt
            if term or trunc:
                break
        if steps[-1][4]:
            episodes.append(steps)
    return episodes


def demos_to_dataset(demos: list[list[tuple]]) -> dict[str, np.ndarray]:
    """Episodes from :func:`collect_demos` in the dataset layout :meth:`Learner.from_dataset` reads."""
    steps = [s for ep in demos for s in ep]
    data = {f: np.stack([s[0][c] for s in steps]) for c, f in IMAGE_FIELDS.items()}
    data |= {'next_' + f: np.stack([s[3][c] for s in steps]) for c, f in IMAGE_FIELDS.items()}
    data['proprio'] = np.stack([s[0]['proprio'] for s in steps])
    data['next_proprio'] = np.stack([s[3]['proprio'] for s in steps])
    data['action'] = np.stack([s[1] for s in steps]).astype(np.float32)
    data['reward'] = np.array([s[2] for s in steps], np.float32)
    data['terminated'] = np.array([s[4] for s in steps])
    data['truncated'] = np.zeros(len(steps), bool)             # demos are successful episodes
    data['episode'] = np.concatenate([np.full(len(ep), i) for i, ep in enumerate(demos)])
    data['step'] = np.concatenate([np.arange(len(ep)) for ep in demos])
    return data


def evaluate(env: InsertionEnv, state: sac.SACState, feat: Featurizer, episodes: int, seed: int,
             key: jax.Array, human: SimulatedHuman | None = None) -> dict:
    """Deterministic actor over seeded episodes; with ``human`` the simulated operator may take over.

    Returns success rate, intervention rate (share of intervened steps) and mean episode length.
    """
    successes, lengths, intervened = [], [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        if human is not None:
            human.reset(env.hole)
        n_int = 0
        for t in range(env.cfg.task.max_episode_steps):
            override = human.step(obs['proprio']) if human is not None else None
            if override is None:
                a = np.asarray(sac.sample_actions(state, feat(obs)[None], key, deterministic=True))[0]
            else:
                a, n_int = override, n_int + 1
            obs, _, term, trunc, info = env.step(a)
            if term or trunc:
                break
        successes.append(info['success'])
        lengths.append(t + 1)
        intervened.append(n_int / (t + 1))
    return {'episodes': episodes, 'success_rate': float(np.mean(successes)),
            'intervention_rate': float(np.mean(intervened)), 'episode_length': float(np.mean(lengths))}


def train(cfg: CellConfig, seed: int = 0, log: Callable[[str], None] = print, env_steps: int | None = None,
          synthetic: Callable[[Learner, list[list[tuple]]], SyntheticLoop] | None = None
          ) -> tuple[sac.SACState, Featurizer, History]:
    """HIL-SERL in one process; with ``synthetic`` (learner, demo episodes -> SyntheticLoop) every
    real step also feeds the real-synthetic loop (world model or oracle + reward model + PPL), or
    the extra-real control (core.rl.extra_real.ExtraReal, the same interface)."""
    tc = cfg.train
    total = env_steps if env_steps is not None else tc.env_steps
    key = jax.random.PRNGKey(seed)
    env = InsertionEnv(cfg)
    eval_env = InsertionEnv(cfg)
    t0 = time.perf_counter()

    demos = collect_demos(env, tc.demo_episodes, seed=10_000 + 1000 * seed)
    learner = Learner.from_dataset(cfg, demos_to_dataset(demos), seed=seed)
    feat = learner.feat
    loop = synthetic(learner, demos) if synthetic is not None else None
    log(f'{len(demos)} demos ({len(learner.demo)} transitions), encoder {feat.encoder.out_dim}-d, '
        f'features {feat.dim}-d, ppl {cfg.ppl.mode}{", real-synthetic loop" if loop else ""}, '
        f'{time.perf_counter() - t0:.0f} s')

    hist = History()
    wall = {'env': 0.0, 'learner': 0.0}
    cell = SimEpisodes(cfg, seed * 100_000, env)
    window = {'success': [], 'interventions': []}
    for step in range(1, total + 1):
        tick = time.perf_counter()
        key, k_act = jax.random.split(key)
        rec, obs, nxt, snapshot = cell.step(learner.state, feat, k_act, snapshot=loop is not None and loop.needs_state)
        wall['env'] += time.perf_counter() - tick
        # HIL-SERL: intervened steps also go to the demo buffer (Learner.add_transition)
        learner.add_transition(_images(obs), obs['proprio'], rec.action, rec.reward, rec.terminated, _images(nxt),
                               nxt['proprio'], intervened=rec.intervened)
        if loop is not None:
            loop.observe(rec, obs, nxt, step, snapshot)
        if rec.done:
            ep = cell.episodes.finished[-1]
            window['success'].append(ep.success)
            window['interventions'].append(ep.interventions / ep.steps)
            tick = time.perf_counter()
            cell.reset()
            wall['env'] += time.perf_counter() - tick
        tick = time.perf_counter()
        if learner.ready():
            for _ in range(tc.updates_per_step):
                learner.step()
        wall['learner'] += time.perf_counter() - tick
        if step % tc.eval_every == 0 or step == total:
            key, k_eval = jax.random.split(key)
            ev = evaluate(eval_env, learner.state, feat, tc.eval_episodes, seed=777_000, key=k_eval)
            hist.env_steps.append(step)
            hist.success_rate.append(ev['success_rate'])
            hist.episode_length.append(ev['episode_length'])
            hist.train_success_rate.append(float(np.mean(window['success'])) if window['success'] else 0.0)
            hist.intervention_rate.append(float(np.mean(window['interventions'])) if window['interventions'] else 0.0)
            hist.wall_s.append(time.perf_counter() - t0)
            hist.wall_split.append(wall | (loop.wall if loop else {'generation': 0.0, 'post_training': 0.0}))
            hist.ppl.append(learner.ppl_stats())
            hist.synthetic.append({**loop.counts, 'label_calibration': loop.label_calibration,
                                   'label_audit': loop.label_audit} if loop else {})
            log(f'step {step}: eval success {ev["success_rate"]:.2f} (len {ev["episode_length"]:.0f}), '
                f'train success {hist.train_success_rate[-1]:.2f}, interventions {hist.intervention_rate[-1]:.2f}, '
                f'{cell.episodes.episode} episodes, {hist.wall_s[-1]:.0f} s'
                + (f'; synthetic {loop.counts["trajectories"]} trajectories ({loop.counts["positive"]} positive, '
                   f'{loop.counts["dropped_ambiguous"]} dropped as ambiguous{_theta(loop)}{_audit(loop)}; '
                   f'{loop.counts["skipped_before_warmup"]} segments skipped before the warm-up), '
                   f'rho {hist.ppl[-1]["rho"]:.3f}, {learner.ppl.synthetic_used} rows used' if loop else ''))
            window = {'success': [], 'interventions': []}
    env.close()
    eval_env.close()
    if loop is not None:
        loop.close()
    return learner.state, feat, hist


def _images(obs: dict) -> dict:
    return {c: obs[c] for c in CAMERAS}


def _audit(loop: SyntheticLoop) -> str:
    """The label audit in the progress line (when the loop has one)."""
    a = loop.label_audit
    return '' if a is None else (f', truly successful: {a["positive_true"]} of {a["positive"]} positives, '
                                 f'{a["negative_truly_successful"]} of {a["negative"]} negatives')


def _theta(loop: SyntheticLoop) -> str:
    """The label threshold in the progress line (learned world models only)."""
    c = loop.label_calibration
    if c is None:
        return ''
    return ', no positive trusted' if c['threshold'] is None else f', theta {c["threshold"]:.3f}'
