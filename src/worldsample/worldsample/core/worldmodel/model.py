"""The action-conditioned video world model: EDM next-frame diffusion, autoregressive rollout.

``WorldModel.predict(o_0, actions) -> frames`` is the interface the generator uses; a large
pretrained backbone can stand behind the same call later (:class:`VideoWorldModel`).
Training keeps an exponential moving average of the weights (used for prediction, with a
warm-up); sampling runs the network under bf16 autocast where the device has native bf16; context
frames are noise-augmented (sigma_c ~ U(0, context_noise_max), embedded), the anchor never.
Weights are saved as safetensors (network + EMA, with the config, the step count and the number
of those steps trained on real rollouts in the header); nothing is unpickled when loading.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors, save as save_tensors

from .. import atomic
from ..config import WorldModelConfig
from . import edm
from .data import SegmentError, model_frames, split_views
from .network import Denoiser


# Named sizes: 'default' is the task YAML's world_model section; 'tiny' is the CPU test size;
# 'tiny64' is the tiny U-Net on 4 x 4 patches of 64 x 64 views (the default's resolution on the
# tiny one's 16 x 16 grid per view).
SIZES = {'default': {}, 'tiny': {'view_size': 32, 'patch': 2, 'channels': (32, 32), 'layers_per_block': 1},
         'tiny64': {'view_size': 64, 'patch': 4, 'channels': (32, 32), 'layers_per_block': 1}}


def sized(cfg: WorldModelConfig, size: str) -> WorldModelConfig:
    if size not in SIZES:
        raise ValueError(f'unknown world model size {size!r}; choose one of {sorted(SIZES)}')
    return dataclasses.replace(cfg, **SIZES[size])


def native_bf16(device: torch.device) -> bool:
    """Whether this device does bf16 matrix work natively: a GPU that supports it, or a CPU with
    AVX512-BF16 or AMX (elsewhere bf16 autocast would be emulated, slower than float32)."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in ('_is_avx512_bf16_supported',
                                                                         '_is_amx_tile_supported'))


def ema_decay(decay: float, step: int) -> float:
    """EMA decay at update ``step`` with warm-up, min(decay, (1 + n) / (10 + n)) (the num_updates
    rule of TensorFlow's ExponentialMovingAverage): a constant 0.999 would still hold
    0.999^1500 = 22% of the random initial weights after 1500 steps, which is what a short
    (CPU) training run then samples with."""
    return min(decay, (1.0 + step) / (10.0 + step))


class WorldModelError(ValueError):
    """A weights file that is unreadable or does not match the configuration."""


class VideoWorldModel(Protocol):
    def predict(self, anchor: dict[str, np.ndarray], actions: np.ndarray, act=None) -> dict[str, np.ndarray]:
        """{view: (B, H, W, 3) uint8} real o_0 and (B, T, 7) actions -> {view: (B, T, S, S, 3) uint8} o_{1:T}.
        ``act(t, {view: (B, S, S, 3)} o_t)``, if given, returns step t's (B, 7) actions (closed loop)."""


def to_tensor(frames: np.ndarray, device) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    t = torch.as_tensor(np.ascontiguousarray(frames), device=device).movedim(-1, -3)
    return t.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()


class WorldModel:
    def __init__(self, cfg: WorldModelConfig, seed: int = 0, device: str | None = None):
        self.cfg = cfg
        self.device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        with torch.random.fork_rng(devices=[]):   # explicit seed for the initial weights, global state untouched
            torch.manual_seed(seed)
            # channels-last convolutions: about 20% faster sampling on CPU
            self.net = Denoiser(cfg).to(self.device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr)
        self.gen = torch.Generator(self.device).manual_seed(seed)
        self.steps = 0
        self.rollout_steps = 0     # of those, updates on data that held real rollouts (post-training)
        # sampling precision: bf16 autocast where native (1.5x faster at the default size on an AVX512-BF16 CPU)
        self.sample_dtype = (torch.bfloat16 if cfg.sampling_precision == 'bfloat16' and native_bf16(self.device)
                             else torch.float32)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    # -- diffusion -----------------------------------------------------------------------
    def _denoise(self, net: Denoiser, x: torch.Tensor, sigma: torch.Tensor, cond: dict) -> torch.Tensor:
        c_skip, c_out, c_in, c_noise = (c.view(-1, 1, 1, 1) if c.ndim else c
                                        for c in edm.preconditioning(sigma, self.cfg.sigma_data))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.sample_dtype == torch.bfloat16):
            f = net(c_in * x, c_noise.flatten(), **cond)
        return c_skip * x + c_out * f.float()

    def _cond(self, batch: dict[str, np.ndarray], context_sigma: torch.Tensor) -> dict:
        b = len(batch['anchor'])
        context = to_tensor(batch['context'], self.device).reshape(b, -1, *batch['anchor'].shape[1:3])
        context = context + context_sigma.view(-1, 1, 1, 1) * torch.randn(context.shape, generator=self.gen,
                                                                            device=self.device)
        return {'anchor': to_tensor(batch['anchor'], self.device), 'context': context,
                'actions': torch.as_tensor(batch['actions'], dtype=torch.float32, device=self.device),
                'context_sigma': context_sigma}

    def loss(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
        """EDM loss on a batch from data.training_batch: || F - (x0 - c_skip x) / c_out ||^2."""
        cfg, b = self.cfg, len(batch['target'])
        x0 = to_tensor(batch['target'], self.device)
        sigma = edm.training_sigmas(b, cfg.train_sigma_mean, cfg.train_sigma_std, self.gen, self.device)
        context_sigma = cfg.context_noise_max * torch.rand(b, generator=self.gen, device=self.device)
        x = x0 + sigma.view(-1, 1, 1, 1) * torch.randn(x0.shape, generator=self.gen, device=self.device)
        c_skip, c_out, c_in, c_noise = (c.view(-1, 1, 1, 1) for c in edm.preconditioning(sigma, cfg.sigma_data))
        f = self.net(c_in * x, c_noise.flatten(), **self._cond(batch, context_sigma))
        return ((f - (x0 - c_skip * x) / c_out) ** 2).mean()

    def train_step(self, batch: dict[str, np.ndarray]) -> float:
        self.net.train()
        loss = self.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            decay = ema_decay(self.cfg.ema_decay, self.steps)
            for e, p in zip(self.ema.parameters(), self.net.parameters()):
                e.lerp_(p, 1.0 - decay)
        self.steps += 1
        return loss.item()

    # -- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def sample_next(self, anchor: torch.Tensor, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """One frame by Euler steps with the EMA network; inputs as tensors in [-1, 1]."""
        cfg = self.cfg
        sigmas = edm.sampling_sigmas(cfg.sampling_steps, cfg.sigma_min, cfg.sigma_max, cfg.rho, self.device)
        cond = {'anchor': anchor, 'context': context.flatten(1, 2), 'actions': actions,
                'context_sigma': torch.zeros(len(anchor), device=self.device)}
        x = sigmas[0] * torch.randn(anchor.shape, generator=self.gen, device=self.device)
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            d = (x - self._denoise(self.ema, x, s.expand(len(x)), cond)) / s
            x = x + (s_next - s) * d
        return x.clamp(-1, 1)

    @torch.no_grad()
    def rollout(self, anchor: np.ndarray, actions: np.ndarray, act=None) -> np.ndarray:
        """(B, S, S*n, 3) uint8 model frames o_0 and (B, T, 7) actions -> (B, T, S, S*n, 3) o_{1:T}.
        With ``act``, step t's actions are ``act(t, o_t)`` instead ((B, 7) from the (B, S, S*n, 3)
        uint8 frame reached, o_0 the anchor): a closed-loop rollout, the policy acting on predictions."""
        k = self.cfg.context_frames
        actions = np.asarray(actions, np.float32)
        if anchor.ndim != 4 or actions.ndim != 3 or actions.shape[2] != 7 or len(actions) != len(anchor):
            raise SegmentError(f'need anchors (B, H, W, 3) and actions (B, T, 7), got {anchor.shape} / {actions.shape}')
        a0 = to_tensor(anchor, self.device)
        acts = torch.as_tensor(actions, device=self.device)
        frames = [a0] * k                                 # context before o_0 repeats it
        past = [torch.zeros_like(acts[:, 0])] * k          # with zero actions
        out, last = [], anchor
        for t in range(actions.shape[1]):
            a_t = (acts[:, t] if act is None
                   else torch.as_tensor(np.asarray(act(t, last), np.float32), device=self.device))
            past = past[1:] + [a_t]
            nxt = self.sample_next(a0, torch.stack(frames[-k:], 1), torch.stack(past, 1))
            nxt = torch.round((nxt + 1.0) * 127.5) / 127.5 - 1.0   # quantised to uint8 levels, as a real frame
            frames.append(nxt)
            out.append(nxt)
            if act is not None:
                last = to_uint8(nxt)
        return to_uint8(torch.stack(out, 1))

    def predict(self, anchor: dict[str, np.ndarray], actions: np.ndarray, act=None) -> dict[str, np.ndarray]:
        """VideoWorldModel: camera images of o_0 (any size) and actions -> predicted views."""
        self.ema.eval()
        step = None if act is None else (lambda t, o: act(t, split_views(o, self.cfg)))
        return split_views(self.rollout(model_frames(anchor, self.cfg), actions, step), self.cfg)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        tensors = {f'net.{k}': v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        tensors |= {f'ema.{k}': v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}
        meta = {'config': json.dumps(dataclasses.asdict(self.cfg)), 'steps': str(self.steps),
                'rollout_steps': str(self.rollout_steps)}
        return atomic.write_bytes(path, save_tensors(tensors, metadata=meta))

    @classmethod
    def load(cls, path: str | os.PathLike, cfg: WorldModelConfig, device: str | None = None,
             seed: int = 0) -> 'WorldModel':
        """Weights from :meth:`save`; the file's architecture must match ``cfg``. The optimizer starts
        fresh and the sampling noise from ``seed``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'world model weights not found: {path}')
        data = path.read_bytes()
        try:
            tensors = load_tensors(data)
            header = json.loads(data[8:8 + int.from_bytes(data[:8], 'little')])
            saved = json.loads(header['__metadata__']['config'])
            steps = int(header['__metadata__']['steps'])
            rollout_steps = int(header['__metadata__'].get('rollout_steps', 0))   # files before it was recorded: 0
        except (SafetensorError, ValueError, KeyError, TypeError) as e:
            raise WorldModelError(f'{path}: not a readable world model file ({type(e).__name__}: {e})') from None
        arch = ('views', 'view_size', 'context_frames', 'patch', 'channels', 'layers_per_block')
        want = dataclasses.asdict(cfg)
        diff = {k: (saved.get(k), want[k]) for k in arch if _plain(saved.get(k)) != _plain(want[k])}
        if diff:
            raise WorldModelError(f'{path}: saved for a different architecture (saved, configured): {diff}')
        model = cls(cfg, seed=seed, device=device)
        for prefix, net in (('net.', model.net), ('ema.', model.ema)):
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                net.load_state_dict(state)
            except RuntimeError as e:
                raise WorldModelError(f'{path}: weights do not fit the network ({e})') from None
        model.steps, model.rollout_steps = steps, rollout_steps
        return model


def _plain(v):
    return list(v) if isinstance(v, (list, tuple)) else v
