"""Train in one process on the simulated cell (no ROS): HIL-SERL, or WorldSample with a world model.

    ./ws run train_sim --seed 0 [--env-steps 6000] [--out runs/train_sim_seed0]
    ./ws run train_sim --task insertion_vision --synthetic model --world-model W.safetensors \
        --world-model-size tiny --reward-model runs/worldsample/reward_model [--ppl full]
    ./ws run train_sim --task insertion_vision --synthetic oracle --reward-model DIR

Prints progress (eval success, intervention rate; with ``--synthetic`` also the synthetic
trajectories, rho and the synthetic rows used) every ``train.eval_every`` steps and writes
``history.json`` and the final actor/critic parameters (flax msgpack) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from flax import serialization

from ..core import atomic
from ..core.config import PPL_MODES, load_config
from ..core.reward.classifier import RewardModel
from ..core.rl.synthetic_loop import build_loop, reward_scorer
from ..core.rl.trainer import demos_to_dataset, train
from ..core.worldmodel.data import episodes_from_dataset
from ..core.worldmodel.model import SIZES, WorldModel, sized


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--env-steps', type=int, default=None, help='default: train.env_steps of the task YAML')
    p.add_argument('--out', type=Path, default=None)
    p.add_argument('--ppl', choices=PPL_MODES, default=None, help="default: the task YAML's ppl.mode")
    p.add_argument('--synthetic', choices=('none', 'model', 'oracle'), default='none',
                   help='the real-synthetic loop: a learned world model, the simulator as oracle, or none (HIL-SERL)')
    p.add_argument('--world-model', type=Path, help='world model weights (train_world_model) for --synthetic model')
    p.add_argument('--world-model-size', choices=sorted(SIZES), default='tiny')
    p.add_argument('--reward-model', type=Path, help='reward model folder (train_reward) labelling synthetic frames')
    a = p.parse_args(argv)
    cfg = load_config(a.task)
    if a.ppl:
        cfg = replace(cfg, ppl=replace(cfg.ppl, mode=a.ppl))
    factory = None
    if a.synthetic != 'none':
        if a.reward_model is None or (a.synthetic == 'model' and a.world_model is None):
            p.error('--synthetic needs --reward-model, and --synthetic model also --world-model')
        cfg = replace(cfg, world_model=sized(cfg.world_model, a.world_model_size))
        try:
            scorer = reward_scorer(RewardModel.load(a.reward_model))
            model = WorldModel.load(a.world_model, cfg.world_model, 'cpu') if a.synthetic == 'model' else None
        except (FileNotFoundError, ValueError) as e:
            print(f'train_sim: {e}', file=sys.stderr)
            return 2

        def factory(learner, demos):
            episodes = episodes_from_dataset(demos_to_dataset(demos), cfg.world_model)
            return build_loop(cfg, learner, a.synthetic, scorer, a.seed, model, episodes)
    out = a.out or Path(f'runs/train_sim_{cfg.task.name}_seed{a.seed}_{time.strftime("%Y%m%d_%H%M%S")}')
    out.mkdir(parents=True, exist_ok=True)
    state, feat, hist = train(cfg, seed=a.seed, log=lambda m: print(m, flush=True), env_steps=a.env_steps,
                              synthetic=factory)
    (out / 'history.json').write_text(json.dumps(asdict(hist), indent=1))
    feat.encoder.save(out / 'encoder.npz')
    atomic.write_bytes(out / 'agent.msgpack', serialization.to_bytes(
        {'actor': state.actor, 'critic': state.critic, 'log_alpha': state.log_alpha}))
    print(f'final eval success {hist.success_rate[-1]:.2f}; results in {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
