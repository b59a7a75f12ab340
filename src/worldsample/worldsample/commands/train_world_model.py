"""Train the action-conditioned world model on demos, rollouts, or both.

    ./ws run train_world_model --demos runs/demos/demos.npz --steps 20000 --out runs/world_model
    ./ws run train_world_model --rollouts runs/bags/insertion_<time> --init runs/world_model/world_model.safetensors

Sources are dataset ``.npz`` files (record_demos) or rosbag2 folders (the recorder's bags).
With both, ``world_model.demo_share`` of the samples come from demos; rollout episodes are
weighted by recency (``rollout_half_life``). ``--init`` continues from saved weights (e.g. a
demo-trained model adapted to rollouts; the optimiser starts fresh). Writes
``<out>/world_model.safetensors`` and ``<out>/train.json`` (loss curve, sources, config).
Uses a GPU when torch sees one.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import progress_bar
from ..core import atomic
from ..core.config import load_config
from ..core.worldmodel.model import SIZES, WorldModel, sized
from ..core.worldmodel.training import load_episodes, mix, train

WEIGHTS = 'world_model.safetensors'


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--demos', nargs='*', default=[], help='demo datasets (.npz) or bag folders')
    p.add_argument('--rollouts', nargs='*', default=[], help='rollout datasets (.npz) or bag folders, oldest first')
    p.add_argument('--steps', type=int, default=20000)
    p.add_argument('--size', choices=sorted(SIZES), default='default')
    p.add_argument('--init', type=Path, help='weights to start from')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', help='torch device (default: cuda if available, else cpu)')
    p.add_argument('--out', type=Path, default=Path('runs/world_model'))
    a = p.parse_args(argv)
    if not a.demos and not a.rollouts:
        p.error('give --demos, --rollouts or both')
    cfg = sized(load_config(a.task).world_model, a.size)
    try:
        demos = [e for path in a.demos for e in load_episodes(path, cfg)]
        rollouts = [e for path in a.rollouts for e in load_episodes(path, cfg)]
        model = WorldModel.load(a.init, cfg, a.device) if a.init else WorldModel(cfg, a.seed, a.device)
    except (FileNotFoundError, ValueError) as e:     # missing/corrupt data or weights: say which
        print(f'error: {e}', file=sys.stderr)
        return 2
    episodes, weights = mix(demos, rollouts, cfg)
    print(f'{len(demos)} demo and {len(rollouts)} rollout episodes ({sum(len(e.actions) for e in episodes)} steps); '
          f'model {model.n_params / 1e6:.2f}M parameters on {model.device}, '
          f'frames {cfg.view_size} x {cfg.view_size * len(cfg.views)}')
    t0 = time.perf_counter()
    with progress_bar(total=a.steps, desc='world model', unit='step') as bar:
        def progress(step, loss):
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f'{loss:.4f}')
        losses = train(model, episodes, weights, a.steps, np.random.default_rng(a.seed), progress)
    curve = [float(np.mean(losses[i:i + 100])) for i in range(0, len(losses), 100)]
    path = model.save(a.out / WEIGHTS)
    atomic.write_bytes(a.out / 'train.json', json.dumps({
        'demos': [str(x) for x in a.demos], 'rollouts': [str(x) for x in a.rollouts], 'steps': a.steps,
        'total_steps': model.steps, 'init': str(a.init) if a.init else None, 'wall_s': time.perf_counter() - t0,
        'loss_per_100_steps': curve, 'config': dataclasses.asdict(cfg)}, indent=1).encode())
    print(f'saved {path} (loss {curve[-1]:.4f} over the last 100 steps)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
