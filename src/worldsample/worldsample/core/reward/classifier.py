"""Binary success classifier on the two camera views (after HIL-SERL's reward classifier).

Frozen per-camera embeddings (core.vision.encoder) -> Dense 256 -> Dropout 0.1 -> LayerNorm ->
ReLU -> 1 logit, trained with binary cross-entropy on class-balanced batches. ``R_hat`` is the
sigmoid of the logit; a frame is labelled successful when ``R_hat >= threshold`` (delta_R).
Saved as encoder ``.npz`` + flax msgpack parameters + a small JSON (no pickle).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from .. import atomic
from ..vision.encoder import PCAEncoder


class RewardModelError(ValueError):
    """Missing or damaged reward-model files, or unusable training data."""


class ClassifierHead(nn.Module):
    hidden: int = 256
    dropout: float = 0.1

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(self.hidden)(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.LayerNorm()(x)
        return nn.Dense(1)(nn.relu(x))[..., 0]


@dataclass
class RewardModel:
    encoder: PCAEncoder
    params: dict
    threshold: float

    def score(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """R_hat in [0, 1] for N frame pairs ({camera: (N, H, W, 3) uint8})."""
        logits = _logits(self.params, jnp.asarray(self.encoder.encode(frames)))
        return np.asarray(jax.nn.sigmoid(logits))

    def label(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """y_hat = 1[R_hat >= delta_R]."""
        return self.score(frames) >= self.threshold

    def save(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.save(folder / 'encoder.npz')
        atomic.write_bytes(folder / 'classifier.msgpack', serialization.to_bytes(self.params))
        (folder / 'reward_model.json').write_text(json.dumps({'threshold': self.threshold}))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> 'RewardModel':
        folder = Path(folder)
        for name in ('encoder.npz', 'classifier.msgpack', 'reward_model.json'):
            if not (folder / name).is_file():
                raise RewardModelError(f'reward model folder {folder} lacks {name}')
        encoder = PCAEncoder.load(folder / 'encoder.npz')
        template = ClassifierHead().init(jax.random.PRNGKey(0), jnp.zeros((1, encoder.out_dim)))['params']
        try:
            params = serialization.from_bytes(template, (folder / 'classifier.msgpack').read_bytes())
            threshold = float(json.loads((folder / 'reward_model.json').read_text())['threshold'])
        except Exception as e:   # msgpack, shape and JSON errors of damaged files
            raise RewardModelError(f'{folder}: damaged reward model ({type(e).__name__}: {e})') from None
        return cls(encoder, params, threshold)


@jax.jit
def _logits(params, x):
    return ClassifierHead().apply({'params': params}, x)


def train_classifier(features: np.ndarray, labels: np.ndarray, key: jax.Array, steps: int = 300,
                     batch_size: int = 256, lr: float = 1e-3) -> dict:
    """BCE on class-balanced batches (half positives, half negatives), Adam."""
    labels = np.asarray(labels, bool)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    if len(pos) == 0 or len(neg) == 0:
        raise RewardModelError(f'need both successful and failed frames, got {len(pos)} / {len(neg)}')
    head = ClassifierHead()
    key, k_init = jax.random.split(key)
    params = head.init(k_init, jnp.zeros((1, features.shape[1])))['params']
    tx = optax.adam(lr)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, x, y, key):
        def loss_fn(p):
            logits = head.apply({'params': p}, x, train=True, rngs={'dropout': key})
            return optax.sigmoid_binary_cross_entropy(logits, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))
    for _ in range(steps):
        idx = np.concatenate([rng.choice(pos, batch_size // 2), rng.choice(neg, batch_size - batch_size // 2)])
        key, k = jax.random.split(key)
        params, opt, _ = step(params, opt, jnp.asarray(features[idx]), jnp.asarray(labels[idx], jnp.float32), k)
    return params


def precision_recall(pred: np.ndarray, labels: np.ndarray) -> dict:
    pred, labels = np.asarray(pred, bool), np.asarray(labels, bool)
    tp = int(np.sum(pred & labels))
    fp = int(np.sum(pred & ~labels))
    fn = int(np.sum(~pred & labels))
    tn = int(np.sum(~pred & ~labels))
    recall, specificity = tp / max(tp + fn, 1), tn / max(tn + fp, 1)
    return {'precision': tp / max(tp + fp, 1), 'recall': recall, 'accuracy': float(np.mean(pred == labels)),
            'balanced_accuracy': (recall + specificity) / 2,   # chance = 0.5 whatever the class balance
            'positives': int(labels.sum()), 'n': int(len(labels))}
