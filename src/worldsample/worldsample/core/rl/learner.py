"""The learner's state and persistence, ROS-free: agent, buffers, versioned actor parameters.

Transitions arrive as images + proprio and are embedded once, on arrival (frozen encoder).
Intervened steps go to the online buffer and are copied to the demo buffer (HIL-SERL).
A checkpoint is a folder with the full agent state (flax msgpack: networks, target critics,
temperature, optimiser states, step), both buffers (.npz) and the encoder; it is written to a
temporary folder and swapped in by rename, so a crash mid-save keeps the previous checkpoint.
``Learner.resume`` restores all of it: training continues exactly where it stopped.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from ..config import CellConfig
from ..observation import CAMERAS
from ..recording.dataset import IMAGE_FIELDS
from ..vision.encoder import EncoderConfig, PCAEncoder
from . import sac
from .features import Featurizer
from .replay import ReplayBuffer, mixed_batch

AGENT_FIELDS = ('actor', 'critic', 'target_critic', 'log_alpha', 'actor_opt', 'critic_opt', 'alpha_opt', 'step')


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated or does not match this configuration."""


class Learner:
    def __init__(self, cfg: CellConfig, encoder: PCAEncoder, seed: int = 0):
        self.cfg = cfg
        self.feat = Featurizer(encoder, cfg.task)
        self.key = jax.random.PRNGKey(seed)
        self.key, k = jax.random.split(self.key)
        self.state = sac.create(cfg.agent, self.feat.dim, cfg.task.action.active, k)
        self.online = ReplayBuffer(cfg.train.online_capacity, self.feat.dim)
        self.demo = ReplayBuffer(cfg.train.demo_capacity, self.feat.dim)
        self.rng = np.random.default_rng(seed)
        self.received = 0    # online transitions stored over the whole run (restarts included)

    @classmethod
    def from_dataset(cls, cfg: CellConfig, data: dict[str, np.ndarray], seed: int = 0) -> 'Learner':
        """A fresh learner from a demo dataset (core.recording.dataset layout): the frozen encoder
        is fitted on its frames (``train.encoder_size``/``encoder_dim``) and every row goes to the
        demo buffer."""
        n = len(data['action'])
        frames = {c: np.concatenate([data[IMAGE_FIELDS[c]], data['next_' + IMAGE_FIELDS[c]]]) for c in CAMERAS}
        encoder = PCAEncoder.fit(frames, EncoderConfig(cfg.train.encoder_size, cfg.train.encoder_dim))
        learner = cls(cfg, encoder, seed)
        f = learner.feat.batch({c: frames[c][:n] for c in CAMERAS}, data['proprio'])
        f_next = learner.feat.batch({c: frames[c][n:] for c in CAMERAS}, data['next_proprio'])
        for i in range(n):
            learner.demo.add(f[i], data['action'][i], float(data['reward'][i]), f_next[i], bool(data['terminated'][i]))
        return learner

    # -- data ----------------------------------------------------------------------------
    def embed(self, images: dict, proprio) -> np.ndarray:
        """Features of one observation (camera name -> H x W x 3 uint8, proprio (7,))."""
        return self.feat.batch({c: np.asarray(v)[None] for c, v in images.items()}, np.asarray(proprio)[None])[0]

    def store(self, f, action, reward: float, f_next, terminated: bool, intervened: bool = False,
              demo: bool = False) -> None:
        """Store one embedded transition; intervened steps are also copied to the demo buffer
        (HIL-SERL). Raises BufferError for unusable data, storing nothing."""
        if demo:
            self.demo.add(f, action, reward, f_next, terminated)
            return
        self.online.add(f, action, reward, f_next, terminated)
        self.received += 1
        if intervened:
            self.demo.add(f, action, reward, f_next, terminated)

    def add_transition(self, images, proprio, action, reward: float, terminated: bool, next_images,
                       next_proprio, intervened: bool = False, demo: bool = False) -> None:
        """Embed and store one transition (raises BufferError/EncoderError for unusable data)."""
        self.store(self.embed(images, proprio), action, reward, self.embed(next_images, next_proprio), terminated,
                   intervened, demo)

    def ready(self) -> bool:
        return len(self.online) >= self.cfg.train.learning_starts and len(self.demo) > 0

    # -- training ------------------------------------------------------------------------
    def sample(self):
        """``cta_ratio`` stacked RLPD batches for one update step (reads the buffers only)."""
        a = self.cfg.agent
        batches = [mixed_batch(self.online, self.demo, a.batch_size, self.rng) for _ in range(a.cta_ratio)]
        return jax.tree_util.tree_map(lambda *x: np.stack(x), *batches)

    def update(self, batches) -> dict:
        """One SAC update step on batches from :meth:`sample` (touches the agent state only)."""
        self.key, k = jax.random.split(self.key)
        self.state, info = sac.update(self.state, batches, k)
        return {k: float(v) for k, v in info.items()}

    def step(self) -> dict:
        return self.update(self.sample())

    @property
    def version(self) -> int:
        return int(self.state.step)

    # -- persistence -----------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        tmp = folder.with_name(folder.name + '.tmp')
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        agent = {f: getattr(self.state, f) for f in AGENT_FIELDS}
        (tmp / 'agent.msgpack').write_bytes(serialization.to_bytes(agent))   # whole folder is swapped in below
        self.online.save(tmp / 'online.npz')
        self.demo.save(tmp / 'demo.npz')
        self.feat.encoder.save(tmp / 'encoder.npz')
        rng_state = self.rng.bit_generator.state
        (tmp / 'meta.json').write_text(json.dumps({'key': np.asarray(self.key).tolist(), 'rng': rng_state,
                                                   'version': self.version, 'received': self.received}))
        old = folder.with_name(folder.name + '.old')
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old.exists():
            shutil.rmtree(old)
        return folder

    @classmethod
    def resume(cls, cfg: CellConfig, folder: str | os.PathLike) -> 'Learner':
        folder = Path(folder)
        if not (folder / 'meta.json').is_file():
            raise CheckpointError(f'no checkpoint in {folder} (meta.json missing)')
        try:
            learner = cls(cfg, PCAEncoder.load(folder / 'encoder.npz'))
            template = {f: getattr(learner.state, f) for f in AGENT_FIELDS}
            agent = serialization.from_bytes(template, (folder / 'agent.msgpack').read_bytes())
            learner.state = learner.state.replace(**agent)
            learner.online = ReplayBuffer.load(folder / 'online.npz')
            learner.demo = ReplayBuffer.load(folder / 'demo.npz')
            meta = json.loads((folder / 'meta.json').read_text())
            learner.key = jax.numpy.asarray(meta['key'], dtype=jax.numpy.uint32)
            learner.rng.bit_generator.state = meta['rng']
            learner.received = int(meta['received'])
        except CheckpointError:
            raise
        except Exception as e:   # truncated msgpack/npz, shape mismatches, bad JSON
            raise CheckpointError(f'cannot resume from {folder}: {type(e).__name__}: {e}') from None
        if learner.online.obs_dim != learner.feat.dim:
            raise CheckpointError(f'{folder}: buffers hold {learner.online.obs_dim}-d features, '
                                  f'this configuration makes {learner.feat.dim}-d')
        return learner
