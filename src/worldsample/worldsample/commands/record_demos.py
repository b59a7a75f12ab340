"""Record N scripted-expert demonstrations in simulation into a rosbag2 bag plus a dataset.

    ./ws run record_demos --episodes 20 --out runs/demos

Writes ``<out>/bag`` (mcap, the transition stream as on the robot: /worldsample/transitions)
and ``<out>/demos.npz`` converted from that bag (the demo buffer later stages load).
Only successful episodes are kept unless --keep-failures is given.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..core.config import load_config
from ..core.expert import InsertionExpert
from ..core.recording.bag import BagWriter
from ..core.recording.dataset import TRANSITION_TOPIC, save_dataset, transitions_from_bag
from ..core.sim.env import InsertionEnv
from . import progress_bar

TRANSITION_TYPE = 'worldsample_msgs/msg/Transition'


def _image(store, img: np.ndarray, stamp):
    Image = store.types['sensor_msgs/msg/Image']
    Header = store.types['std_msgs/msg/Header']
    h, w = img.shape[:2]
    return Image(header=Header(stamp=stamp, frame_id=''), height=h, width=w, encoding='rgb8',
                 is_bigendian=0, step=w * 3, data=np.ascontiguousarray(img).reshape(-1))


def record(task: str, episodes: int, out: Path, seed: int, keep_failures: bool) -> dict:
    cfg = load_config(task)
    env = InsertionEnv(cfg)
    expert = InsertionExpert(cfg)
    bag = BagWriter(out / 'bag')
    store = bag.typestore
    bag.add_topic(TRANSITION_TOPIC, TRANSITION_TYPE)
    Transition, Time = store.types[TRANSITION_TYPE], store.types['builtin_interfaces/msg/Time']
    Header = store.types['std_msgs/msg/Header']
    t_ns, kept, attempts = 0, 0, 0
    dt_ns = int(1e9 / cfg.task.control_hz)
    bar = progress_bar(total=episodes, desc='demos', unit='ep')
    while kept < episodes:
        obs, _ = env.reset(seed=seed + attempts)
        attempts += 1
        steps = []
        for step in range(cfg.task.max_episode_steps):
            action = expert.act(obs['proprio'], env.hole).astype(np.float32)
            nxt, reward, term, trunc, info = env.step(action)
            steps.append((step, obs, action, reward, term, trunc, info['success'], nxt))
            obs = nxt
            if term or trunc:
                break
        if not (steps[-1][6] or keep_failures):
            continue
        for step, o, a, r, term, trunc, succ, n in steps:
            t_ns += dt_ns
            stamp = Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9)
            msg = Transition(header=Header(stamp=stamp, frame_id=''), origin=0, episode=kept, step=step,
                             wrist=_image(store, o['wrist_camera'], stamp), side=_image(store, o['side_camera'], stamp),
                             proprio=o['proprio'], action=a, intervened=False, reward=np.float32(r),
                             terminated=bool(term), truncated=bool(trunc), success=bool(succ),
                             next_wrist=_image(store, n['wrist_camera'], stamp),
                             next_side=_image(store, n['side_camera'], stamp), next_proprio=n['proprio'])
            bag.write(TRANSITION_TOPIC, t_ns, msg)
        kept += 1
        bar.update(1)
    bar.close()
    bag_path = bag.close()
    env.close()
    data = transitions_from_bag(bag_path)
    dataset = save_dataset(data, out / 'demos.npz')
    return {'episodes': kept, 'attempts': attempts, 'transitions': int(len(data['action'])),
            'bag': str(bag_path), 'dataset': str(dataset)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--episodes', type=int, default=20)
    p.add_argument('--out', type=Path, default=Path(f'runs/demos_{time.strftime("%Y%m%d_%H%M%S")}'))
    p.add_argument('--seed', type=int, default=1000, help='seed of the first episode (episode k: seed + k)')
    p.add_argument('--keep-failures', action='store_true')
    a = p.parse_args(argv)
    if a.episodes < 1:
        p.error('--episodes must be at least 1')
    result = record(a.task, a.episodes, a.out, a.seed, a.keep_failures)
    print(f"recorded {result['episodes']} demos ({result['transitions']} transitions, "
          f"{result['attempts']} attempts): bag {result['bag']}, dataset {result['dataset']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
