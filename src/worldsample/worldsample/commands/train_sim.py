"""Train the HIL-SERL baseline in one process on the simulated cell (no ROS), then evaluate.

    ./ws run train_sim --seed 0 [--env-steps 6000] [--out runs/train_sim_seed0]

Prints progress (eval success, intervention rate) every ``train.eval_every`` steps and writes
``history.json`` and the final actor/critic parameters (flax msgpack) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from flax import serialization

from ..core import atomic
from ..core.config import load_config
from ..core.rl.trainer import train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--env-steps', type=int, default=None, help='default: train.env_steps of the task YAML')
    p.add_argument('--out', type=Path, default=None)
    a = p.parse_args(argv)
    cfg = load_config(a.task)
    out = a.out or Path(f'runs/train_sim_{cfg.task.name}_seed{a.seed}_{time.strftime("%Y%m%d_%H%M%S")}')
    out.mkdir(parents=True, exist_ok=True)
    state, feat, hist = train(cfg, seed=a.seed, log=lambda m: print(m, flush=True), env_steps=a.env_steps)
    (out / 'history.json').write_text(json.dumps(asdict(hist), indent=1))
    feat.encoder.save(out / 'encoder.npz')
    atomic.write_bytes(out / 'agent.msgpack', serialization.to_bytes(
        {'actor': state.actor, 'critic': state.critic, 'log_alpha': state.log_alpha}))
    print(f'final eval success {hist.success_rate[-1]:.2f}; results in {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
