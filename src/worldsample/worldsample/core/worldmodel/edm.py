"""EDM diffusion math (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
Generative Models"), as DIAMOND uses it for next-frame prediction. Pure torch functions.

Denoiser (Eq. 7 and Table 1, "preconditioning"):
    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x; c_noise(sigma))
    c_skip = sigma_d^2 / (sigma^2 + sigma_d^2),  c_out = sigma sigma_d / sqrt(sigma^2 + sigma_d^2),
    c_in = 1 / sqrt(sigma^2 + sigma_d^2),        c_noise = ln(sigma) / 4
Training: ln(sigma) ~ N(P_mean, P_std^2); with the loss weight lambda = 1 / c_out^2 the loss
is || F - (x_0 - c_skip x) / c_out ||^2 with unit weight.
Sampling schedule (Eq. 5): sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
sigma_N = 0; Euler steps x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (x_i - D(x_i; sigma_i)) / sigma_i.
"""
from __future__ import annotations

import torch


def preconditioning(sigma: torch.Tensor, sigma_data: float):
    """(c_skip, c_out, c_in, c_noise), each shaped like ``sigma``."""
    s2 = sigma ** 2 + sigma_data ** 2
    return sigma_data ** 2 / s2, sigma * sigma_data / s2.sqrt(), 1.0 / s2.sqrt(), sigma.log() / 4.0


def training_sigmas(n: int, mean: float, std: float, generator: torch.Generator, device) -> torch.Tensor:
    return (mean + std * torch.randn(n, generator=generator, device=device)).exp()


def sampling_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float, device=None) -> torch.Tensor:
    """steps + 1 noise levels from sigma_max down to sigma_min, then 0."""
    i = torch.arange(steps, dtype=torch.float32, device=device) / max(steps - 1, 1)
    sigmas = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([sigmas, torch.zeros(1, device=device)])
