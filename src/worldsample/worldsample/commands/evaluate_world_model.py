"""Fidelity of a world model on held-out real segments: replay their actions from o_0.

    ./ws run evaluate_world_model runs/world_model/world_model.safetensors --data runs/heldout.npz

PSNR, SSIM and moving-region PSNR per predicted frame (o_0 excluded), per view and for the
side-by-side image, next to the copy-last-frame baseline (o_0 repeated); conventions in
``core/worldmodel/metrics.py``. LPIPS only with ``--alexnet <torchvision AlexNet .pth>``
(nothing is downloaded). The last line is the result as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.config import load_config
from ..core.worldmodel.metrics import LPIPS
from ..core.worldmodel.model import SIZES, WorldModel, sized
from ..core.worldmodel.training import evaluate, load_episodes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('weights', type=Path)
    p.add_argument('--data', nargs='+', required=True, help='held-out datasets (.npz) or bag folders')
    p.add_argument('--task', default='insertion')
    p.add_argument('--size', choices=sorted(SIZES), default='default')
    p.add_argument('--segments', type=int, default=0, help='at most this many segments (0: all)')
    p.add_argument('--alexnet', type=Path, help='torchvision AlexNet weights for LPIPS')
    p.add_argument('--device')
    a = p.parse_args(argv)
    cfg = sized(load_config(a.task).world_model, a.size)
    try:
        model = WorldModel.load(a.weights, cfg, a.device)
        episodes = [e for path in a.data for e in load_episodes(path, cfg)]
        lpips = LPIPS(a.alexnet) if a.alexnet else None
        result = {'model': evaluate(model, episodes, cfg, a.segments, lpips),
                  'copy_last_frame': evaluate(None, episodes, cfg, a.segments, lpips)}
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if lpips is None:
        print('LPIPS: not computed (no local AlexNet weights; pass --alexnet <alexnet-owt-7be5be79.pth>)')
    print(f"{result['model']['segments']} segments x {cfg.segment_length} frames")
    print('| predictor | view | PSNR (dB) | moving-region PSNR (dB) | SSIM |' + (' LPIPS |' if lpips else ''))
    for name, r in result.items():
        for view, m in r['metrics'].items():
            print(f"| {name} | {view} | {m['psnr']:.2f} | {m.get('psnr_moving', float('nan')):.2f} | {m['ssim']:.3f} |"
                  + (f" {m['lpips']:.3f} |" if lpips else ''))
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
