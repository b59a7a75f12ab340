"""The SAC actor as the robot side runs it, built from the learner's parameter broadcast.

The learner sends versioned actor parameters (flax msgpack) together with the frozen image
encoder (npz); neither format can execute code when read. :class:`ActorLoader` checks both
against the task configuration (feature size, network shapes) before anything is swapped in,
so a damaged or mismatched message is refused with a message naming the problem and the
policy keeps acting on the parameters it has.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import numpy as np
from flax import serialization

from ..config import CellConfig
from ..vision.encoder import EncoderError, PCAEncoder
from . import sac
from .features import Featurizer


class ParamsError(ValueError):
    """Actor parameters or encoder bytes that cannot be used with this configuration."""


@partial(jax.jit, static_argnames=('actor_def', 'active', 'deterministic'))
def _act(actor_def, active, params, obs, key, step, deterministic):
    # the step's key is derived inside the compiled call: one dispatch per control step
    return sac.actor_actions(actor_def, active, params, obs, jax.random.fold_in(key, step), deterministic)


@dataclass(frozen=True)
class LoadedActor:
    version: int
    feat: Featurizer
    state: sac.SACState

    def act(self, obs: dict, key: jax.Array, step: int = 0, deterministic: bool = False) -> np.ndarray:
        """One observation (camera images + ``proprio``) -> 7-D action, inactive dims exactly zero.
        The sample uses ``fold_in(key, step)``."""
        s = self.state
        return np.asarray(_act(s.actor_def, s.active, s.actor, self.feat(obs)[None], key, step, deterministic))[0]


def export_actor(state: sac.SACState) -> tuple[int, bytes]:
    """(version, actor msgpack): what the learner broadcasts, with its encoder's ``to_bytes()``."""
    return int(state.step), serialization.to_bytes(state.actor)


class ActorLoader:
    def __init__(self, cfg: CellConfig):
        self.cfg = cfg
        self._templates: dict[int, sac.SACState] = {}
        self._encoder: tuple[bytes, Featurizer] | None = None   # the last encoder bytes, read

    def _template(self, obs_dim: int) -> sac.SACState:
        # Shapes and static structure only: the parameters are replaced by the received ones. One
        # template per feature size, so the jitted actor compiles once and later swaps reuse it.
        if obs_dim not in self._templates:
            self._templates[obs_dim] = sac.create(self.cfg.agent, obs_dim, self.cfg.task.action.active,
                                                  jax.random.PRNGKey(0))
        return self._templates[obs_dim]

    def _featurizer(self, encoder: bytes, what: str) -> Featurizer:
        # The encoder is frozen for a run, so every broadcast carries the same 1.6 MB: it is read
        # when it changes only, which keeps the loader thread's hold on the GIL (and with it the
        # control step's wait) short.
        if self._encoder is None or self._encoder[0] != encoder:
            try:
                self._encoder = (encoder, Featurizer(PCAEncoder.load(encoder), self.cfg.task))
            except EncoderError as e:
                raise ParamsError(f'{what}: {e}') from None
        return self._encoder[1]

    def load(self, version: int, obs_dim: int, actor: bytes, encoder: bytes) -> LoadedActor:
        what = f'actor parameters v{version}'
        feat = self._featurizer(bytes(encoder), what)
        if feat.dim != obs_dim:
            raise ParamsError(f'{what}: the encoder makes {feat.dim}-d features but the actor takes {obs_dim}-d')
        template = self._template(obs_dim)
        try:
            params = serialization.from_bytes(template.actor, bytes(actor))
        except Exception as e:   # truncated or foreign msgpack
            raise ParamsError(f'{what}: not readable actor parameters ({type(e).__name__}: {e})') from None
        want = jax.tree_util.tree_map(np.shape, template.actor)
        got = jax.tree_util.tree_map(np.shape, params)
        if jax.tree_util.tree_structure(want) != jax.tree_util.tree_structure(got) or want != got:
            raise ParamsError(f'{what}: network shapes {got} do not match this configuration {want} '
                              '(agent.hidden, task.action.active)')
        loaded = LoadedActor(version, feat, template.replace(actor=params))
        zeros = {c: np.zeros((8, 8, 3), np.uint8) for c in feat.encoder.cameras}
        loaded.act({**zeros, 'proprio': np.zeros(7)}, jax.random.PRNGKey(0))   # compile/warm before use
        return loaded
