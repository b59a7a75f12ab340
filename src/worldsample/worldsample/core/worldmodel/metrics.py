"""Fidelity metrics for predicted frames (the paper's Table 2a: PSNR, SSIM, LPIPS).

Conventions, fixed here: RGB uint8 frames, metrics per predicted frame o_1..o_T (never o_0,
which is given), averaged over frames and segments; per view and on the dual-view image.
- PSNR: 10 log10(255^2 / MSE) over all pixels and channels of a frame.
- SSIM: scikit-image, Gaussian window sigma 1.5 (11 x 11), population covariance,
  data_range 255, computed per channel and averaged (the settings of torchmetrics and
  pytorch-msssim).
- Moving-region PSNR: only pixels that change by more than ``MOVING_THRESHOLD`` grey levels
  (any channel) somewhere in the real segment relative to o_0; a static background would
  otherwise flatter PSNR.
- LPIPS (AlexNet, v0.1 linear heads shipped with torchmetrics): only with a local
  torchvision-format AlexNet weight file (``alexnet-owt-7be5be79.pth``); nothing is downloaded.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch import nn

from .model import to_tensor

MOVING_THRESHOLD = 8
SSIM_SETTINGS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)


def psnr(pred: np.ndarray, real: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = (pred.astype(np.float64) - real.astype(np.float64)) ** 2
    mse = err[mask].mean() if mask is not None else err.mean()
    return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def ssim(pred: np.ndarray, real: np.ndarray) -> float:
    return float(structural_similarity(pred, real, **SSIM_SETTINGS))


def moving_mask(real: np.ndarray) -> np.ndarray:
    """(T+1, H, W, 3) real segment -> (H, W) bool: pixels that move relative to o_0."""
    diff = np.abs(real[1:].astype(np.int16) - real[:1].astype(np.int16)).max(axis=(0, 3))
    return diff > MOVING_THRESHOLD


class LPIPS(nn.Module):
    """Learned perceptual distance (Zhang et al. 2018) with an AlexNet backbone from a local file."""

    TAPS = (1, 4, 7, 9, 11)    # after each ReLU of torchvision's alexnet.features
    SHIFT = (-0.030, -0.088, -0.188)
    SCALE = (0.458, 0.448, 0.450)

    def __init__(self, alexnet_path: str | os.PathLike):
        super().__init__()
        path = Path(alexnet_path)
        if not path.is_file():
            raise FileNotFoundError(f'AlexNet weight file not found: {path}')
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU())
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)   # tensors only, no code
            self.features.load_state_dict({k[len('features.'):]: v for k, v in state.items()
                                           if k.startswith('features.')})
        except Exception as e:
            raise ValueError(f'{path}: not a torchvision AlexNet weight file ({type(e).__name__}: {e})') from None
        heads_file = (Path(importlib.util.find_spec('torchmetrics').origin).parent
                      / 'functional' / 'image' / 'lpips_models' / 'alex.pth')
        heads = torch.load(heads_file, map_location='cpu', weights_only=True)
        self.heads = [heads[f'lin{i}.model.1.weight'] for i in range(5)]
        self.register_buffer('shift', torch.tensor(self.SHIFT).view(1, 3, 1, 1))
        self.register_buffer('scale', torch.tensor(self.SCALE).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, pred: np.ndarray, real: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 pairs -> (N,) distances."""
        def feats(x):
            x = (to_tensor(x, 'cpu') - self.shift) / self.scale
            out = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in self.TAPS:
                    out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
            return out
        d = 0.0
        for fa, fb, w in zip(feats(pred), feats(real), self.heads):
            d = d + nn.functional.conv2d((fa - fb) ** 2, w).mean((1, 2, 3))
        return d.numpy()


def segment_scores(pred: np.ndarray, real: np.ndarray, lpips: LPIPS | None = None) -> dict[str, list[float]]:
    """Per-frame scores of predictions (T, H, W, 3) against the real segment (T+1, H, W, 3) incl. o_0."""
    mask = moving_mask(real)
    target = real[1:]
    out = {'psnr': [psnr(p, r) for p, r in zip(pred, target)],
           'ssim': [ssim(p, r) for p, r in zip(pred, target)],
           'psnr_moving': [psnr(p, r, mask) for p, r in zip(pred, target)] if mask.any() else []}
    if lpips is not None:
        out['lpips'] = lpips(pred, target).tolist()
    return out
