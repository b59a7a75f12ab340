"""Observation -> flat feature vector for the agent: frozen image embeddings + scaled proprio."""
from __future__ import annotations

import numpy as np

from ..config import TaskConfig
from ..observation import CAMERAS
from ..vision.encoder import PCAEncoder

# proprio scaling: position offset from the reset pose in 5 cm units, rotation in 0.3 rad, gripper in 5 cm
POS_SCALE, ROT_SCALE, GRIP_SCALE = 0.05, 0.3, 0.05


class FeatureError(ValueError):
    """An observation that does not fit the feature layout (e.g. a proprio vector of the wrong length)."""


class Featurizer:
    def __init__(self, encoder: PCAEncoder, task: TaskConfig):
        self.encoder = encoder
        self.offset = np.concatenate([task.reset_pos, np.zeros(4)]).astype(np.float32)
        self.scale = np.array([POS_SCALE] * 3 + [ROT_SCALE] * 3 + [GRIP_SCALE], np.float32)

    @property
    def dim(self) -> int:
        return self.encoder.out_dim + 7

    def __call__(self, obs: dict) -> np.ndarray:
        """One observation (images H x W x 3 + proprio) -> (dim,) float32."""
        return self.batch({c: obs[c][None] for c in CAMERAS}, np.asarray(obs['proprio'])[None])[0]

    def batch(self, images: dict[str, np.ndarray], proprio: np.ndarray) -> np.ndarray:
        proprio = np.asarray(proprio, np.float32)
        if proprio.ndim != 2 or proprio.shape[1] != len(self.offset):
            raise FeatureError(f'proprio must have {len(self.offset)} values per observation, got shape {proprio.shape}')
        emb = self.encoder.encode(images)
        return np.concatenate([emb, (proprio - self.offset) / self.scale], axis=1)
