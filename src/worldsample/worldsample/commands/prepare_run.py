"""Prepare everything a simulated WorldSample run needs in one run folder, with progress output.

    ./ws run prepare_run [--task insertion] [--out runs/worldsample] [--world-model-steps 1500]

Runs the three documented steps in order and skips a step whose output is already there:
``record_demos`` (20 scripted demonstrations: ``<out>/demos/demos.npz`` and the bag),
``train_reward`` (the reward classifier with held-out precision/recall: ``<out>/reward_model``)
and ``train_world_model`` on the demos (``<out>/world_model/world_model.safetensors``, the tiny
size by default so a CPU finishes in minutes; ``--size default`` on a GPU). Then prints the
launch commands of the full WorldSample loop and of the HIL-SERL baseline.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import record_demos, train_reward, train_world_model
from ..core.worldmodel.model import SIZES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--out', type=Path, default=Path('runs/worldsample'))
    p.add_argument('--demos', type=int, default=20, help='demonstrations to record')
    p.add_argument('--reward-episodes', type=int, default=60, help='labelled episodes for the reward model')
    p.add_argument('--world-model-steps', type=int, default=1500)
    p.add_argument('--size', choices=sorted(SIZES), default='tiny', help='world model size (tiny: CPU)')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    out = a.out
    demos = out / 'demos' / 'demos.npz'
    reward = out / 'reward_model'
    weights = out / 'world_model' / train_world_model.WEIGHTS
    steps = [
        ('1/3 demonstrations', demos, lambda: record_demos.main(
            ['--task', a.task, '--episodes', str(a.demos), '--out', str(demos.parent), '--seed', str(a.seed)])),
        ('2/3 reward model', reward / 'held_out.json', lambda: train_reward.main(
            ['--task', a.task, '--episodes', str(a.reward_episodes), '--seed', str(a.seed), '--out', str(reward)])),
        ('3/3 world model on the demos', weights, lambda: train_world_model.main(
            ['--task', a.task, '--demos', str(demos), '--steps', str(a.world_model_steps), '--size', a.size,
             '--seed', str(a.seed), '--out', str(weights.parent)])),
    ]
    for name, product, run in steps:
        if product.exists():
            print(f'== {name}: {product} exists, skipped', flush=True)
            continue
        print(f'== {name}', flush=True)
        code = run()
        if code:
            print(f'prepare_run: step "{name}" failed (exit {code})', file=sys.stderr)
            return code
    common = f'actor:=sac task:={a.task} demos:={demos} reward_model:={reward}'
    print(f'\nready in {out}. The full WorldSample loop (learner with PPL, world-model worker, post-training):\n'
          f'  ./ws launch insertion.launch.py {common} world_model:={weights} world_model_size:={a.size} '
          f'run_dir:={out / "learner_worldsample"}\n'
          f'The HIL-SERL baseline (no world model):\n'
          f'  ./ws launch insertion.launch.py {common} run_dir:={out / "learner_baseline"}\n'
          '(ros2 launch worldsample insertion.launch.py takes the same arguments.)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
