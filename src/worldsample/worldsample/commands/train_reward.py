"""Train the reward model (success classifier on both views) from labelled sim frames.

    ./ws run train_reward --episodes 60 --out runs/reward_model

Collects frames with ground-truth labels, fits the frozen encoder, trains the classifier on 80%
of the episodes and reports precision/recall/accuracy at the threshold on the held-out 20%
(every fifth episode, so all noise levels are represented).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax

from ..core.config import load_config
from ..core.reward.classifier import RewardModel, precision_recall, train_classifier
from ..core.reward.data import collect_labelled_frames
from ..core.sim.env import InsertionEnv
from ..core.vision.encoder import EncoderConfig, PCAEncoder


def build(task: str, episodes: int, seed: int, threshold: float, steps: int) -> tuple[RewardModel, dict]:
    cfg = load_config(task)
    env = InsertionEnv(cfg)
    frames, labels, ids = collect_labelled_frames(env, episodes, seed)
    env.close()
    held_out = ids % 5 == 4
    train_frames = {c: f[~held_out] for c, f in frames.items()}
    encoder = PCAEncoder.fit(train_frames, EncoderConfig(cfg.train.encoder_size, cfg.train.encoder_dim))
    params = train_classifier(encoder.encode(train_frames), labels[~held_out], jax.random.PRNGKey(seed), steps=steps)
    model = RewardModel(encoder, params, threshold)
    test = {c: f[held_out] for c, f in frames.items()}
    report = precision_recall(model.label(test), labels[held_out])
    report |= {'threshold': threshold, 'train_frames': int((~held_out).sum()),
               'train_positives': int(labels[~held_out].sum())}
    return model, report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', default='insertion')
    p.add_argument('--episodes', type=int, default=60)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threshold', type=float, default=0.7, help='delta_R (HIL-SERL uses 0.7-0.85)')
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--out', type=Path, default=Path('runs/reward_model'))
    a = p.parse_args(argv)
    if a.episodes < 5:
        p.error('--episodes must be at least 5 (20% are held out)')
    model, report = build(a.task, a.episodes, a.seed, a.threshold, a.steps)
    model.save(a.out)
    (a.out / 'held_out.json').write_text(json.dumps(report, indent=1))
    print(f"held-out ({report['n']} frames, {report['positives']} successes) at R_hat >= {a.threshold}: "
          f"precision {report['precision']:.3f}, recall {report['recall']:.3f}, "
          f"balanced accuracy {report['balanced_accuracy']:.3f}")
    print(f'reward model saved to {a.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
