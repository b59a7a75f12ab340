"""The learner's state and persistence, ROS-free: agent, buffers, versioned actor parameters.

Transitions arrive as images + proprio and are embedded once, on arrival (frozen encoder).
Intervened steps go to the online buffer and are copied to the demo buffer (HIL-SERL).
Synthetic trajectories (world model + reward model labels) go, embedded the same way, to a
positive or a negative buffer (paper B.1, B.4) with the real buffers' structure; Policy-Paced
Learning (core.rl.ppl) decides how many of them each critic batch gets and from which queue.
A checkpoint is a folder with the full agent state (flax msgpack: networks, target critics,
temperature, optimiser states, step), all four buffers (.npz), the PPL state and the encoder; it is written to a
temporary folder and swapped in by rename, so a crash mid-save keeps the previous checkpoint.
``Learner.resume`` restores all of it: training continues exactly where it stopped.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
from flax import serialization

from ..config import CellConfig
from ..observation import CAMERAS
from ..recording.dataset import IMAGE_FIELDS
from ..vision.encoder import EncoderConfig, PCAEncoder
from . import ppl, sac
from .features import Featurizer
from .replay import FIELDS, BufferError, ReplayBuffer, mixed_batch

AGENT_FIELDS = ('actor', 'critic', 'target_critic', 'log_alpha', 'actor_opt', 'critic_opt', 'alpha_opt', 'step')
SYNTHETIC = ('syn_positive', 'syn_negative')   # buffer attributes and checkpoint file stems


def fit_encoder(cfg: CellConfig, data: dict[str, np.ndarray]) -> PCAEncoder:
    """The frozen encoder of a run: PCA (``train.encoder_size``/``encoder_dim``) on every frame of a
    demo dataset (core.recording.dataset layout), observations and next observations."""
    frames = {c: np.concatenate([data[IMAGE_FIELDS[c]], data['next_' + IMAGE_FIELDS[c]]]) for c in CAMERAS}
    return PCAEncoder.fit(frames, EncoderConfig(cfg.train.encoder_size, cfg.train.encoder_dim))


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
        self.syn_positive = ReplayBuffer(cfg.ppl.synthetic_capacity, self.feat.dim)
        self.syn_negative = ReplayBuffer(cfg.ppl.synthetic_capacity, self.feat.dim)
        self.ppl = ppl.PPLState()
        self.rng = np.random.default_rng(seed)
        self.received = 0    # online transitions stored over the whole run (restarts included)
        self.log_position = (0, 0)   # (generation, records) of the node's transition log this state holds
        self.last_real_id = (-1, -1)  # (episode, step) of the newest real transition stored (stream order)

    @classmethod
    def from_dataset(cls, cfg: CellConfig, data: dict[str, np.ndarray], seed: int = 0) -> 'Learner':
        """A fresh learner from a demo dataset (core.recording.dataset layout): the frozen encoder
        is fitted on its frames (``train.encoder_size``/``encoder_dim``) and every row goes to the
        demo buffer."""
        learner = cls(cfg, fit_encoder(cfg, data), seed)
        f = learner.feat.batch({c: data[IMAGE_FIELDS[c]] for c in CAMERAS}, data['proprio'])
        f_next = learner.feat.batch({c: data['next_' + IMAGE_FIELDS[c]] for c in CAMERAS}, data['next_proprio'])
        for i in range(len(data['action'])):
            learner.demo.add(f[i], data['action'][i], float(data['reward'][i]), f_next[i], bool(data['terminated'][i]))
        return learner

    # -- data ----------------------------------------------------------------------------
    def embed(self, images: dict, proprio) -> np.ndarray:
        """Features of one observation (camera name -> H x W x 3 uint8, proprio (7,))."""
        return self.feat.batch({c: np.asarray(v)[None] for c, v in images.items()}, np.asarray(proprio)[None])[0]

    def check(self, f, action, reward: float, f_next) -> None:
        """BufferError if ``store`` would refuse this embedded transition (nothing is stored)."""
        self.online.check(np.asarray(f)[None], np.asarray(action)[None], np.asarray([reward]),
                          np.asarray(f_next)[None], np.asarray([0.0]))

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

    def store_synthetic(self, f, actions, f_next, success) -> bool:
        """Store one labelled synthetic trajectory, embedded: features (n, dim) of o'_0..o'_{n-1} and
        of o'_1..o'_n, actions (n, 7), reward-model labels y_hat (n,). A trajectory ends at its first
        success (reward 1, terminal) and is then positive; otherwise it is negative and ends
        truncated (bootstrapped). Returns whether it was positive; BufferError stores nothing."""
        success = np.asarray(success, bool)
        if success.ndim != 1 or len(success) == 0:
            raise BufferError(f'a synthetic trajectory needs at least one labelled step, got labels {success.shape}')
        if success[:-1].any():
            raise BufferError('a synthetic trajectory must end at its first success; labels '
                              f'{success.astype(int).tolist()}')
        positive = bool(success[-1])
        reward = success.astype(np.float32)
        (self.syn_positive if positive else self.syn_negative).add_many(f, actions, reward, f_next, reward)
        return positive

    def add_synthetic(self, images: dict, proprio, actions, success) -> bool:
        """Embed and store one synthetic trajectory (core.worldmodel.generator.SyntheticTrajectory:
        camera -> (n+1, H, W, 3) frames, (n+1, 7) proprio, (n, 7) actions, (n,) labels)."""
        f = self.feat.batch({c: np.asarray(v) for c, v in images.items()}, np.asarray(proprio))
        return self.store_synthetic(f[:-1], actions, f[1:], success)

    def ready(self) -> bool:
        return len(self.online) >= self.cfg.train.learning_starts and len(self.demo) > 0

    # -- training ------------------------------------------------------------------------
    def rho(self) -> float:
        """The synthetic share of the next critic batches (Eq. 8; 0 with ``ppl.mode: baseline``)."""
        return ppl.schedule(ppl.normalised_entropy(self.ppl.entropy, len(self.state.active)), self.cfg.ppl)

    def sample(self):
        """``cta_ratio`` stacked batches for one update step (reads the buffers only): RLPD's 50/50
        real batches, or, when PPL admits synthetic rows, :class:`MixedBatches`."""
        a, p = self.cfg.agent, self.cfg.ppl
        n_syn = int(round(self.rho() * a.batch_size)) if len(self.syn_positive) + len(self.syn_negative) else 0
        if n_syn == 0:   # exactly the HIL-SERL learner (ppl.mode: baseline always comes here)
            batches = [mixed_batch(self.online, self.demo, a.batch_size, self.rng) for _ in range(a.cta_ratio)]
            return jax.tree_util.tree_map(lambda *x: np.stack(x), *batches)
        if self.ppl.selected_at < 0 or self.version - self.ppl.selected_at >= p.select_every:
            if p.mode in ppl.Q_SELECTED:
                self._select()
            else:   # Q-bar for the stats only (Fig. 9 without PPL), on draws that leave self.rng untouched
                self._measure_q(np.random.default_rng(self.version))
        n_pos, n_neg = ppl.split_counts(n_syn, (len(self.syn_positive), len(self.syn_negative)), p, self.ppl)
        weight = self.ppl.weight if p.mode in ppl.Q_SELECTED else 1.0
        batches = []
        for _ in range(a.cta_ratio):
            parts = [mixed_batch(self.online, self.demo, a.batch_size - n_syn, self.rng)._asdict()]
            parts += [buf.sample(self.rng, n) for buf, n in ((self.syn_positive, n_pos), (self.syn_negative, n_neg)) if n]
            batches.append(sac.Batch(**{k: np.concatenate([part[k] for part in parts]) for k in FIELDS}))
        w = np.concatenate([np.ones(a.batch_size - n_syn, np.float32), np.full(n_syn, weight, np.float32)])
        real = np.concatenate([np.ones(a.batch_size - n_syn, np.float32), np.zeros(n_syn, np.float32)])
        return MixedBatches(jax.tree_util.tree_map(lambda *x: np.stack(x), *batches),
                            np.stack([w] * a.cta_ratio), np.stack([real] * a.cta_ratio), n_pos, n_neg)

    def _measure_q(self, rng: np.random.Generator) -> tuple[float, float | None, float | None]:
        """Q-bar of the current critic on fresh real, synthetic-positive and synthetic-negative
        samples (None for an empty queue); recorded in the PPL state for the stats."""
        n = self.cfg.ppl.select_samples

        def q_mean(b) -> float:
            return float(np.mean(sac.q_values(self.state, b['obs'], b['action'])))

        q_real = q_mean(mixed_batch(self.online, self.demo, n, rng)._asdict())
        q_pos = q_mean(self.syn_positive.sample(rng, n)) if len(self.syn_positive) else None
        q_neg = q_mean(self.syn_negative.sample(rng, n)) if len(self.syn_negative) else None
        nan = float('nan')
        self.ppl.q_real, self.ppl.q_positive = q_real, nan if q_pos is None else q_pos
        self.ppl.q_negative = nan if q_neg is None else q_neg
        self.ppl.selected_at = self.version
        return q_real, q_pos, q_neg

    def _select(self) -> None:
        """Q-aware selection (Eq. 5, core.rl.ppl.select) from the current critic on fresh samples."""
        sel = ppl.select(*self._measure_q(self.rng), self.cfg.ppl)
        self.ppl.positive_share, self.ppl.weight, self.ppl.gap = sel.positive_share, sel.weight, sel.gap

    def update(self, batches) -> dict:
        """One SAC update step on batches from :meth:`sample` (touches the agent and PPL state only).
        Returns the losses and diagnostics with the PPL quantities (:meth:`ppl_stats`)."""
        self.key, k = jax.random.split(self.key)
        if isinstance(batches, MixedBatches):
            actor_rows = np.ones_like(batches.real) if self.cfg.ppl.actor_synthetic else batches.real
            self.state, info = sac.update_ppl(self.state, batches.batches, batches.weights, batches.real, actor_rows, k)
            rows = (batches.positive + batches.negative) * self.cfg.agent.cta_ratio
        else:
            self.state, info = sac.update(self.state, batches, k)
            rows = 0
        info = {k: float(v) for k, v in info.items()}
        self.ppl.synthetic_used += rows
        self.ppl.observe_entropy(info['entropy'], self.cfg.ppl.entropy_ema)
        return info | self.ppl_stats() | {'synthetic_rows': float(rows)}

    def ppl_stats(self) -> dict[str, float]:
        """H_t (EMA), its normalisation, rho, the last selection (pi, w_Q, Q-bar of real, positive and
        negative samples), synthetic buffer sizes and the synthetic rows used so far."""
        s = self.ppl
        return {'entropy_ema': float('nan') if s.entropy is None else s.entropy,
                'entropy_norm': ppl.normalised_entropy(s.entropy, len(self.state.active)), 'rho': self.rho(),
                'positive_share': s.positive_share, 'w_q': s.weight, 'q_real': s.q_real, 'q_positive': s.q_positive,
                'q_negative': s.q_negative, 'syn_positive_size': float(len(self.syn_positive)),
                'syn_negative_size': float(len(self.syn_negative)), 'synthetic_used': float(s.synthetic_used)}

    def step(self) -> dict:
        return self.update(self.sample())

    def warm_up(self) -> None:
        """Compile every update this configuration runs (the plain one; with PPL the mixed one and
        the Q-bar evaluation) on zeros of the shapes :meth:`sample` produces, so no later
        update stops for a compile: on one CPU at niceness 10 that takes tens of seconds, which
        would otherwise hold the first update after ``learning_starts`` and a Ctrl-C arriving
        during it. Results are discarded: the agent, the keys and the sampling rng are untouched."""
        a, p = self.cfg.agent, self.cfg.ppl
        dim, rows = self.feat.dim, (a.cta_ratio, a.batch_size)
        zeros = sac.Batch(obs=np.zeros((*rows, dim), np.float32), action=np.zeros((*rows, 7), np.float32),
                          reward=np.zeros(rows, np.float32), next_obs=np.zeros((*rows, dim), np.float32),
                          done=np.zeros(rows, np.float32))
        key = jax.random.PRNGKey(0)
        jax.block_until_ready(sac.update(self.state, zeros, key))
        if p.mode == 'baseline':
            return
        ones = np.ones(rows, np.float32)
        jax.block_until_ready(sac.update_ppl(self.state, zeros, ones, ones, ones, key))
        n = p.select_samples   # the Q-bar measurement: selection, or the stats where there is none
        jax.block_until_ready(sac.q_values(self.state, np.zeros((n, dim), np.float32), np.zeros((n, 7), np.float32)))

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
        for name in ('online', 'demo', *SYNTHETIC):
            getattr(self, name).save(tmp / f'{name}.npz')
        self.feat.encoder.save(tmp / 'encoder.npz')
        rng_state = self.rng.bit_generator.state
        (tmp / 'meta.json').write_text(json.dumps({'key': np.asarray(self.key).tolist(), 'rng': rng_state,
                                                   'version': self.version, 'received': self.received,
                                                   'log_position': list(self.log_position),
                                                   'last_real_id': list(self.last_real_id),
                                                   'ppl': self.ppl.to_dict()}))
        old = folder.with_name(folder.name + '.old')
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old.exists():
            shutil.rmtree(old)
        return folder

    @staticmethod
    def checkpoint_exists(folder: str | os.PathLike) -> bool:
        folder = Path(folder)
        return any((f / 'meta.json').is_file() for f in (folder, folder.with_name(folder.name + '.old')))

    @classmethod
    def resume(cls, cfg: CellConfig, folder: str | os.PathLike) -> 'Learner':
        folder = Path(folder)
        old = folder.with_name(folder.name + '.old')
        if not (folder / 'meta.json').is_file() and (old / 'meta.json').is_file():
            folder = old     # killed between save()'s two renames: the previous checkpoint is whole
        if not (folder / 'meta.json').is_file():
            raise CheckpointError(f'no checkpoint in {folder} (meta.json missing)')
        try:
            learner = cls(cfg, PCAEncoder.load(folder / 'encoder.npz'))
            template = {f: getattr(learner.state, f) for f in AGENT_FIELDS}
            agent = serialization.from_bytes(template, (folder / 'agent.msgpack').read_bytes())
            learner.state = learner.state.replace(**agent)
            meta = json.loads((folder / 'meta.json').read_text())
            # checkpoints from before PPL hold no synthetic buffers: those start empty
            for name in ('online', 'demo', *(SYNTHETIC if 'ppl' in meta else ())):
                setattr(learner, name, ReplayBuffer.load(folder / f'{name}.npz'))
            learner.key = jax.numpy.asarray(meta['key'], dtype=jax.numpy.uint32)
            learner.rng.bit_generator.state = meta['rng']
            learner.received = int(meta['received'])
            learner.log_position = tuple(int(v) for v in meta.get('log_position', (0, 0)))   # from before the log
            learner.last_real_id = tuple(int(v) for v in meta.get('last_real_id', (-1, -1)))
            if 'ppl' in meta:
                learner.ppl = ppl.PPLState.from_dict(meta['ppl'])
        except CheckpointError:
            raise
        except Exception as e:   # truncated msgpack/npz, shape mismatches, bad JSON
            raise CheckpointError(f'cannot resume from {folder}: {type(e).__name__}: {e}') from None
        dims = {b.obs_dim for b in (learner.online, learner.demo, learner.syn_positive, learner.syn_negative)}
        if dims != {learner.feat.dim}:
            raise CheckpointError(f'{folder}: buffers hold {sorted(dims)}-d features, '
                                  f'this configuration makes {learner.feat.dim}-d')
        return learner


class MixedBatches(NamedTuple):
    """One update step's critic batches with synthetic rows (Eq. 4): real rows first, then
    ``positive`` rows from the positive and ``negative`` from the negative buffer."""
    batches: sac.Batch        # stacked (cta_ratio, B, ...)
    weights: np.ndarray       # (cta_ratio, B): 1 on real rows, w_Q on synthetic ones
    real: np.ndarray          # (cta_ratio, B): 1.0 on real rows
    positive: int
    negative: int
