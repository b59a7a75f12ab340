"""Train the reward model (success classifier on both views) from labelled frames.

    ./ws run train_reward --bags runs/operator/labels_bag [more bags ...] --out runs/reward_model
    ./ws run train_reward --episodes 60 --out runs/reward_model        # simulation, ground-truth labels

From bags (the operator's ``collect:=labels`` sessions, or demonstration bags): every
transition's o_{t+1} frame pair with its ``success`` flag, the operator's live mark. Without
bags: frames of noisy-expert sim episodes labelled by ground truth. Fits the frozen encoder
(the policy's size and dimension from the task, or ``--encoder-size`` / ``--encoder-dim``: the
reward model need not see what the policy sees, and a finer one tells an insertion from a near
miss better), trains the classifier on 80% of the episodes and reports precision/recall/accuracy at the
threshold on the held-out 20% (every fifth episode, so all noise levels and sessions are
represented); ``held_out.json`` in the output folder keeps the report.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import numpy as np

from ..core.config import load_config
from ..core.recording.bag import BagError
from ..core.recording.dataset import concat_episodes, transitions_from_bag
from ..core.reward.classifier import RewardModel, RewardModelError, precision_recall, train_classifier
from ..core.reward.data import collect_labelled_frames, labelled_frames_from_dataset
from ..core.sim.env import InsertionEnv
from ..core.vision.encoder import EncoderConfig, EncoderError, PCAEncoder


def build(task: str, episodes: int, seed: int, threshold: float, steps: int,
          encoder_size: int | None = None, encoder_dim: int | None = None) -> tuple[RewardModel, dict]:
    """From simulated episodes labelled by ground truth."""
    cfg = load_config(task)
    env = InsertionEnv(cfg)
    data = collect_labelled_frames(env, episodes, seed)
    env.close()
    return fit(cfg, data.frames, data.labels, data.ids, seed, threshold, steps, encoder_size, encoder_dim)


def build_from_bags(task: str, bags: list[Path], seed: int, threshold: float, steps: int,
                    encoder_size: int | None = None, encoder_dim: int | None = None) -> tuple[RewardModel, dict]:
    """From the operator's labelled bags (every episode of every bag, numbered in order)."""
    cfg = load_config(task)
    data = concat_episodes([transitions_from_bag(b) for b in bags])
    frames, labels, ids = labelled_frames_from_dataset(data)
    for cam, f in frames.items():
        want = (cfg.camera(cam).height, cfg.camera(cam).width, 3)
        if f.shape[1:] != want:
            raise RewardModelError(f'{cam} frames in the bags are {f.shape[1:]}, the task {task} expects {want}')
    n_ep = int(ids.max()) + 1
    if n_ep < 5:
        raise RewardModelError(f'{n_ep} episodes in the bags: need at least 5 (every fifth is held out)')
    held = ids % 5 == 4
    if not labels[held].any():
        raise RewardModelError(f'the held-out episodes (every fifth of {n_ep}) hold no success frame: mark '
                               'success in more episodes')
    model, report = fit(cfg, frames, labels, ids, seed, threshold, steps, encoder_size, encoder_dim)
    return model, report | {'bags': [str(b) for b in bags], 'episodes': n_ep}


def fit(cfg, frames: dict[str, np.ndarray], labels: np.ndarray, ids: np.ndarray, seed: int, threshold: float,
        steps: int, encoder_size: int | None = None, encoder_dim: int | None = None) -> tuple[RewardModel, dict]:
    """The encoder's size and dimension where None: the task's (``train.encoder_size`` /
    ``encoder_dim``, the policy's)."""
    held_out = ids % 5 == 4
    train_frames = {c: f[~held_out] for c, f in frames.items()}
    encoder_cfg = EncoderConfig(encoder_size or cfg.train.encoder_size, encoder_dim or cfg.train.encoder_dim)
    encoder = PCAEncoder.fit(train_frames, encoder_cfg)
    params = train_classifier(encoder.encode(train_frames), labels[~held_out], jax.random.PRNGKey(seed), steps=steps)
    model = RewardModel(encoder, params, threshold)
    test = {c: f[held_out] for c, f in frames.items()}
    report = precision_recall(model.label(test), labels[held_out])
    report |= {'threshold': threshold, 'train_frames': int((~held_out).sum()),
               'train_positives': int(labels[~held_out].sum()),
               'encoder': {'size': encoder_cfg.size, 'dim': encoder_cfg.dim}}
    return model, report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--bags', type=Path, nargs='+', default=[],
                   help='labelled bags (collect:=labels); without: simulated episodes with ground-truth labels')
    p.add_argument('--episodes', type=int, default=60, help='simulated episodes (without --bags)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threshold', type=float, default=0.7, help='delta_R (HIL-SERL uses 0.7-0.85)')
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--encoder-size', type=int, default=None,
                   help="side of the downsampled views the encoder sees (default: the task's train.encoder_size)")
    p.add_argument('--encoder-dim', type=int, default=None,
                   help="principal components per camera (default: the task's train.encoder_dim)")
    p.add_argument('--out', type=Path, default=Path('runs/reward_model'))
    a = p.parse_args(argv)
    if a.episodes < 5:
        p.error('--episodes must be at least 5 (20% are held out)')
    for flag, v in (('--encoder-size', a.encoder_size), ('--encoder-dim', a.encoder_dim)):
        if v is not None and v < 1:
            p.error(f'{flag} must be positive, got {v}')
    try:
        if a.bags:
            model, report = build_from_bags(a.task, a.bags, a.seed, a.threshold, a.steps, a.encoder_size,
                                            a.encoder_dim)
        else:
            model, report = build(a.task, a.episodes, a.seed, a.threshold, a.steps, a.encoder_size, a.encoder_dim)
    except (BagError, RewardModelError, EncoderError, FileNotFoundError) as e:
        print(f'train_reward: {e}', file=sys.stderr)
        return 1
    model.save(a.out)
    (a.out / 'held_out.json').write_text(json.dumps(report, indent=1))
    print(f"held-out ({report['n']} frames, {report['positives']} successes) at R_hat >= {a.threshold}: "
          f"precision {report['precision']:.3f}, recall {report['recall']:.3f}, "
          f"balanced accuracy {report['balanced_accuracy']:.3f}")
    print(f'reward model saved to {a.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
