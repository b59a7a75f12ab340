"""Evaluate a trained actor on the simulated cell: N seeded episodes, deterministic actor.

    ./ws run evaluate_sim runs/train_sim_insertion_seed0_... --episodes 50 [--human]

Reports success rate, intervention rate (with --human: the simulated human may take over) and
mean episode length. Loads ``encoder.npz`` and ``agent.msgpack`` written by ``train_sim``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
from flax import serialization

from ..core.config import load_config
from ..core.rl import sac
from ..core.rl.features import Featurizer
from ..core.rl.trainer import evaluate
from ..core.sim.env import InsertionEnv
from ..core.sim_human import SimulatedHuman
from ..core.vision.encoder import PCAEncoder


def load_agent(cfg, run: Path) -> tuple[sac.SACState, Featurizer]:
    for name in ('encoder.npz', 'agent.msgpack'):
        if not (run / name).is_file():
            raise FileNotFoundError(f'{run} lacks {name} (expected the output folder of train_sim)')
    feat = Featurizer(PCAEncoder.load(run / 'encoder.npz'), cfg.task)
    state = sac.create(cfg.agent, feat.dim, cfg.task.action.active, jax.random.PRNGKey(0))
    template = {'actor': state.actor, 'critic': state.critic, 'log_alpha': state.log_alpha}
    try:
        saved = serialization.from_bytes(template, (run / 'agent.msgpack').read_bytes())
    except Exception as e:
        raise ValueError(f'{run / "agent.msgpack"}: damaged or from another configuration ({e})') from None
    return state.replace(**saved), feat


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('run', type=Path, help='output folder of train_sim')
    p.add_argument('--task', default='insertion')
    p.add_argument('--episodes', type=int, default=50)
    p.add_argument('--seed', type=int, default=500_000)
    p.add_argument('--human', action='store_true', help='let the simulated human intervene')
    a = p.parse_args(argv)
    cfg = load_config(a.task)
    try:
        state, feat = load_agent(cfg, a.run)
    except (FileNotFoundError, ValueError) as e:
        print(f'evaluate_sim: {e}', file=sys.stderr)
        return 2
    env = InsertionEnv(cfg)
    result = evaluate(env, state, feat, a.episodes, a.seed, jax.random.PRNGKey(a.seed),
                      human=SimulatedHuman(cfg) if a.human else None)
    env.close()
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
