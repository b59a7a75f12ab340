"""Turn the operator's demonstration bags into the demo dataset a learner run starts from.

    ./ws run demos_from_bag runs/operator/demos_bag [more bags ...] --out runs/operator/demos

The bags come from ``./ws launch insertion.launch.py collect:=demos ...`` (the operator drives with
the SpaceMouse or the keyboard and marks success, which ends each demonstration) or from
``record_demos``. Only whole episodes that end in success are kept: an episode cut by Ctrl-C, one
with a lost message, and one that ran into the step limit are dropped and named. Writes
``<out>/demos.npz`` (the ``demos`` launch argument and ``train_sim``'s format).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core.recording.bag import BagError
from ..core.recording.dataset import concat_episodes, episode_problem, episode_rows, save_dataset, transitions_from_bag


def convert(bags: list[Path], out: Path, keep_failures: bool = False, log=print) -> dict:
    parts, dropped = [], []
    for bag in bags:
        data = transitions_from_bag(bag)
        keep = []
        for rows in episode_rows(data):
            ep = int(data['episode'][rows[0]])
            why = episode_problem(data, rows)
            if why is None and not (data['success'][rows[-1]] or keep_failures):
                why = f'no success within {len(rows)} steps'
            if why is None:
                keep.append(rows)
            else:
                dropped.append(f'{bag.name} episode {ep}: {why}')
        if keep:
            rows = np.concatenate(keep)
            parts.append({k: v[rows] for k, v in data.items()})
    for line in dropped:
        log(f'dropped {line}')
    if not parts:
        raise BagError(f'no usable demonstration in {[str(b) for b in bags]} ({len(dropped)} episodes dropped)')
    data = concat_episodes(parts)
    path = save_dataset(data, out / 'demos.npz')
    return {'episodes': int(data['episode'][-1]) + 1, 'transitions': int(len(data['action'])),
            'successes': int(data['success'].sum()), 'dropped': dropped, 'dataset': str(path)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('bags', nargs='+', type=Path, help='rosbag2 folders with /worldsample/transitions')
    p.add_argument('--out', type=Path, required=True, help='output folder (demos.npz is written there)')
    p.add_argument('--keep-failures', action='store_true', help='keep whole episodes that did not succeed too')
    a = p.parse_args(argv)
    try:
        result = convert(a.bags, a.out, a.keep_failures)
    except (BagError, FileNotFoundError, ValueError) as e:
        print(f'demos_from_bag: {e}', file=sys.stderr)
        return 1
    print(f"{result['episodes']} demonstrations ({result['transitions']} transitions, {len(result['dropped'])} "
          f"episodes dropped) -> {result['dataset']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
