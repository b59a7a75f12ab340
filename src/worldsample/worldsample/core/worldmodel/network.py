"""The denoiser network F of the world model: a diffusers U-Net with DIAMOND-style conditioning.

Input channels: the noisy next frame (scaled by c_in), the real anchor frame o_0 and the
``context_frames`` previous frames, stacked along channels (each 3 x H x W, both views side
by side). With ``patch`` p > 1 the stack is folded into p x p patches (pixel unshuffle) before
the U-Net and the output unfolded after it, so the U-Net runs at 1/p of the resolution (about
p^2 times cheaper; what makes CPU sampling affordable). Conditioning vector (added to the noise-level embedding, then driving adaptive
group norm, i.e. scale and shift, in every ResNet block): an MLP of the last
``context_frames`` actions (normalised to [-1, 1]; the last one is the action that leads to
the predicted frame) plus an embedding of the context frames' augmentation noise level.
"""
from __future__ import annotations

import torch
from diffusers import UNet2DModel
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn

from ..config import WorldModelConfig

NORM_GROUPS = 8
NOISE_EMBED_SCALE = 1000.0    # c_noise = ln(sigma)/4 in about [-1.6, 0.4]: spread it for the sinusoids


class Denoiser(nn.Module):
    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        bad = [c for c in cfg.channels if c % NORM_GROUPS]
        if bad:
            raise ValueError(f'world_model.channels must be multiples of {NORM_GROUPS}, got {list(cfg.channels)}')
        levels, p = len(cfg.channels), cfg.patch
        if cfg.view_size % (p * 2 ** (levels - 1)):
            raise ValueError(f'world_model.view_size {cfg.view_size} must be divisible by patch x 2^(levels-1) = '
                             f'{p * 2 ** (levels - 1)}')
        self.cfg = cfg
        emb = cfg.channels[0] * 4          # UNet2DModel's time-embedding width
        self.unet = UNet2DModel(
            in_channels=3 * (cfg.context_frames + 2) * p * p, out_channels=3 * p * p,
            block_out_channels=tuple(cfg.channels),
            layers_per_block=cfg.layers_per_block, down_block_types=('DownBlock2D',) * levels,
            up_block_types=('UpBlock2D',) * levels, norm_num_groups=NORM_GROUPS, attention_head_dim=8,
            class_embed_type='identity', resnet_time_scale_shift='scale_shift')
        self.action_mlp = nn.Sequential(nn.Linear(7 * cfg.context_frames, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.context_noise_proj = Timesteps(cfg.channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.context_noise_mlp = TimestepEmbedding(cfg.channels[0], emb)

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor, anchor: torch.Tensor, context: torch.Tensor,
                actions: torch.Tensor, context_sigma: torch.Tensor) -> torch.Tensor:
        """x_in (B,3,H,W) = c_in x; anchor (B,3,H,W); context (B,3k,H,W); actions (B,k,7); -> F (B,3,H,W)."""
        cond = self.action_mlp(actions.flatten(1))
        cond = cond + self.context_noise_mlp(self.context_noise_proj(NOISE_EMBED_SCALE * context_sigma.log1p()))
        x = nn.functional.pixel_unshuffle(torch.cat([x_in, anchor, context], dim=1), self.cfg.patch)
        out = self.unet(x, NOISE_EMBED_SCALE * c_noise, class_labels=cond).sample
        return nn.functional.pixel_shuffle(out, self.cfg.patch)
