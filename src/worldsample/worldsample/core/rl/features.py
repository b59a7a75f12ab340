"""Observation -> flat feature vector for the agent: frozen image embeddings + scaled proprio."""
from __future__ import annotations

import numpy as np

from ..config import TaskConfig
from ..observation import CAMERAS
from ..vision.encoder import PCAEncoder

# proprio scaling: position offset from the reset pose in 5 cm units, rotation in 0.3 rad, gripper in 5 cm
POS_SCALE, ROT_SCALE, GRIP_SCALE = 0.05, 0.3, 0.05


class Featurizer:
    def __init__(self, encoder: PCAEncoder, task: TaskConfig):
        self.encoder = encoder
        self.offset = np.concatenate([task.reset_pos, np.zeros(4)]).astype(np.float32)
        self.scale = np.array([POS_SCALE] * 3 + [ROT_SCALE] * 3 + [GRIP_SCALE], np.float32)

    @property
    def dim(self) -> int:
        return self.encoder.out_dim + 7

    def proprio(self, proprio: np.ndarray) -> np.ndarray:
        return (np.asarray(proprio, np.float32) - self.offset) / self.scale

    def __call__(self, obs: dict) -> np.ndarray:
        """One observation (images H x W x 3 + proprio) -> (dim,) float32."""
        emb = self.encoder.encode({c: obs[c][None] for c in CAMERAS})[0]
        return np.concatenate([emb, self.proprio(obs['proprio'])]).astype(np.float32)

    def batch(self, images: dict[str, np.ndarray], proprio: np.ndarray) -> np.ndarray:
        emb = self.encoder.encode(images)
        return np.concatenate([emb, (np.asarray(proprio, np.float32) - self.offset) / self.scale], axis=1)
