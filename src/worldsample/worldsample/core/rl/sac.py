"""Soft Actor-Critic with RLPD-style updates, pure and functional (JAX/Flax/optax).

Defaults follow HIL-SERL (``config/insertion.yaml`` section ``agent``): batch 256, discount
0.97, 256-256 MLPs with LayerNorm, Adam 3e-4, target update tau 0.005, target entropy
-|A_active|/2, initial temperature 0.01, 2 critic updates per actor update (``cta_ratio``).

The actor acts on the task's active action dimensions only; :func:`embed_action` places them
into the 7-D command with the inactive dimensions exactly zero. Random keys are explicit.

Losses (Haarnoja et al. 2018, SAC):
  critic:      L_Q  = E[(Q_i(s,a) - y)^2],  y = r + gamma (1 - d) (min_i Qbar_i(s',a') - alpha log pi(a'|s'))
  actor:       L_pi = E[alpha log pi(a|s) - mean_i Q_i(s,a)],  a ~ pi(.|s)
  temperature: L_alpha = E[-alpha (log pi(a|s) + H_target)]

Policy-Paced Learning (:func:`update_ppl`, WorldSample Eq. 4) mixes synthetic rows into the
critic batch: each row i carries a weight w_i (1 for real rows, w_Q for synthetic ones), so
  L_Q = (1/B) sum_i w_i (Q(s_i,a_i) - y_i)^2 = (1 - rho) E_real[l_Q] + rho E_syn[w_Q l_Q]
with rho the synthetic share of the batch. The actor loss is a mean over the rows of an
``actor_rows`` mask (the real rows, or every row with ``ppl.actor_synthetic``); the entropy and
so the temperature and H_t (Eq. 6) are always measured on the real rows (``real`` mask).
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from ..config import AgentConfig
from .networks import CriticEnsemble, TanhGaussianActor, sample_tanh_gaussian


SACConfig = AgentConfig   # hyper-parameters live with the task config (config/<task>.yaml: agent)


class Batch(NamedTuple):
    obs: jnp.ndarray          # (B, obs_dim) float32: frozen image embeddings + proprio
    action: jnp.ndarray       # (B, 7) float32 in [-1, 1]
    reward: jnp.ndarray       # (B,)
    next_obs: jnp.ndarray     # (B, obs_dim)
    done: jnp.ndarray         # (B,) 1.0 where the episode terminated (not on time-outs)


class SACState(struct.PyTreeNode):
    actor: Any
    critic: Any
    target_critic: Any
    log_alpha: jnp.ndarray
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    step: jnp.ndarray
    active: tuple[int, ...] = struct.field(pytree_node=False)  # indices of active action dims
    cfg: SACConfig = struct.field(pytree_node=False)
    actor_def: TanhGaussianActor = struct.field(pytree_node=False)
    critic_def: CriticEnsemble = struct.field(pytree_node=False)
    tx: Any = struct.field(pytree_node=False)

    @property
    def target_entropy(self) -> float:
        return -len(self.active) / 2.0


def create(cfg: SACConfig, obs_dim: int, active_mask, key: jax.Array) -> SACState:
    active = tuple(int(i) for i in np.flatnonzero(np.asarray(active_mask, dtype=bool)))
    if not active:
        raise ValueError('the task has no active action dimension')
    actor_def = TanhGaussianActor(cfg.hidden, len(active))
    critic_def = CriticEnsemble(cfg.hidden, cfg.n_critics)
    k_actor, k_critic = jax.random.split(key)
    obs = jnp.zeros((1, obs_dim), jnp.float32)
    act = jnp.zeros((1, len(active)), jnp.float32)
    actor = actor_def.init(k_actor, obs)['params']
    critic = critic_def.init(k_critic, obs, act)['params']
    tx = optax.adam(cfg.lr)
    log_alpha = jnp.log(jnp.asarray(cfg.init_temperature, jnp.float32))
    return SACState(actor=actor, critic=critic, target_critic=critic, log_alpha=log_alpha,
                    actor_opt=tx.init(actor), critic_opt=tx.init(critic), alpha_opt=tx.init(log_alpha),
                    step=jnp.zeros((), jnp.int32), active=active, cfg=cfg, actor_def=actor_def,
                    critic_def=critic_def, tx=tx)


def embed_action(active: tuple[int, ...], a_active: jnp.ndarray) -> jnp.ndarray:
    """Active-dimension action (..., |A|) -> 7-D command with inactive dims exactly zero."""
    out = jnp.zeros(a_active.shape[:-1] + (7,), a_active.dtype)
    return out.at[..., np.asarray(active)].set(a_active)


@partial(jax.jit, static_argnames=('actor_def', 'active', 'deterministic'))
def actor_actions(actor_def: TanhGaussianActor, active: tuple[int, ...], params, obs: jnp.ndarray, key: jax.Array,
                  deterministic: bool = False):
    """7-D actions for a batch of observations from actor parameters alone (inactive dims exactly zero)."""
    mean, log_std = actor_def.apply({'params': params}, obs)
    a = jnp.tanh(mean) if deterministic else sample_tanh_gaussian(mean, log_std, key)[0]
    return embed_action(active, a)


def sample_actions(state: SACState, obs: jnp.ndarray, key: jax.Array, deterministic: bool = False):
    """:func:`actor_actions` with the agent's current actor."""
    return actor_actions(state.actor_def, state.active, state.actor, obs, key, deterministic)


def _masked_mean(x, mask):
    return (x * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def _critic_loss(critic, state: SACState, batch: Batch, key, weight=None, real=None):
    mean, log_std = state.actor_def.apply({'params': state.actor}, batch.next_obs)
    next_a, next_logp = sample_tanh_gaussian(mean, log_std, key)
    next_q = state.critic_def.apply({'params': state.target_critic}, batch.next_obs, next_a).min(0)
    if state.cfg.backup_entropy:
        next_q = next_q - jnp.exp(state.log_alpha) * next_logp
    target = jax.lax.stop_gradient(batch.reward + state.cfg.discount * (1.0 - batch.done) * next_q)
    q = state.critic_def.apply({'params': critic}, batch.obs, batch.action[:, np.asarray(state.active)])
    if weight is None:
        loss = ((q - target[None]) ** 2).mean()
        return loss, {'critic_loss': loss, 'q_mean': q.mean(), 'target_mean': target.mean()}
    loss = ((q - target[None]) ** 2 * weight[None]).mean()                  # Eq. 4 on one mixed batch
    q_row = q.mean(0)
    return loss, {'critic_loss': loss, 'q_mean': _masked_mean(q_row, real), 'target_mean': _masked_mean(target, real),
                  'q_synthetic': _masked_mean(q_row, 1.0 - real)}


def _actor_loss(actor, state: SACState, batch: Batch, key, real=None, actor_rows=None):
    mean, log_std = state.actor_def.apply({'params': actor}, batch.obs)
    a, logp = sample_tanh_gaussian(mean, log_std, key)
    q = state.critic_def.apply({'params': state.critic}, batch.obs, a).mean(0)
    alpha = jnp.exp(state.log_alpha)
    if real is None:
        loss = (alpha * logp - q).mean()
        return loss, {'actor_loss': loss, 'entropy': -logp.mean()}
    loss = _masked_mean(alpha * logp - q, actor_rows)
    return loss, {'actor_loss': loss, 'entropy': -_masked_mean(logp, real)}   # H_t on real states (Eq. 6)


def _update_critic(state: SACState, batch: Batch, key, weight=None, real=None):
    (_, info), grads = jax.value_and_grad(_critic_loss, has_aux=True)(state.critic, state, batch, key, weight, real)
    updates, critic_opt = state.tx.update(grads, state.critic_opt, state.critic)
    critic = optax.apply_updates(state.critic, updates)
    target = optax.incremental_update(critic, state.target_critic, state.cfg.tau)
    return state.replace(critic=critic, critic_opt=critic_opt, target_critic=target), info


def _update_actor_and_temperature(state: SACState, batch: Batch, key, real=None, actor_rows=None):
    (_, info), grads = jax.value_and_grad(_actor_loss, has_aux=True)(state.actor, state, batch, key, real, actor_rows)
    updates, actor_opt = state.tx.update(grads, state.actor_opt, state.actor)
    actor = optax.apply_updates(state.actor, updates)
    entropy = jax.lax.stop_gradient(info['entropy'])

    def alpha_loss(log_alpha):
        return -(jnp.exp(log_alpha) * (state.target_entropy - entropy))   # = E[-alpha (log pi + H_target)]

    grad_alpha = jax.grad(alpha_loss)(state.log_alpha)
    updates, alpha_opt = state.tx.update(grad_alpha, state.alpha_opt, state.log_alpha)
    log_alpha = optax.apply_updates(state.log_alpha, updates)
    info = {**info, 'temperature': jnp.exp(log_alpha)}
    return state.replace(actor=actor, actor_opt=actor_opt, log_alpha=log_alpha, alpha_opt=alpha_opt), info


def _update(state: SACState, batches: Batch, key: jax.Array, weights=None, real=None, actor_rows=None):
    keys = jax.random.split(key, state.cfg.cta_ratio + 1)
    info = {}
    for i in range(state.cfg.cta_ratio):
        batch = jax.tree_util.tree_map(lambda x: x[i], batches)
        w, r = (None, None) if weights is None else (weights[i], real[i])
        state, info = _update_critic(state, batch, keys[i], w, r)
    state, actor_info = _update_actor_and_temperature(state, batch, keys[-1], r,
                                                      None if actor_rows is None else actor_rows[i])
    return state.replace(step=state.step + 1), {**info, **actor_info}


@jax.jit
def update(state: SACState, batches: Batch, key: jax.Array):
    """One actor update with ``cta_ratio`` critic updates; ``batches`` stacks cta_ratio batches."""
    return _update(state, batches, key)


@jax.jit
def update_ppl(state: SACState, batches: Batch, weights: jnp.ndarray, real: jnp.ndarray, actor_rows: jnp.ndarray,
               key: jax.Array):
    """:func:`update` on mixed real + synthetic batches: ``weights`` (cta_ratio, B) per-row critic
    weights (1 real, w_Q synthetic), ``real`` (cta_ratio, B) 1.0 on real rows, ``actor_rows``
    (cta_ratio, B) 1.0 on the rows the actor loss averages over. The actor trains on the last
    critic batch; the temperature follows the entropy on its real rows."""
    return _update(state, batches, key, weights, real, actor_rows)


@jax.jit
def q_values(state: SACState, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
    """Ensemble-mean Q(s, a) of stored 7-D actions, (B,): the value PPL's selection compares."""
    return state.critic_def.apply({'params': state.critic}, obs, action[:, np.asarray(state.active)]).mean(0)
