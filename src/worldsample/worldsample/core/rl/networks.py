"""Flax networks of the SAC agent: MLP trunk, tanh-Gaussian actor, critic ensemble.

HIL-SERL's defaults: 256-256 MLPs with tanh activations and LayerNorm, an ensemble of 2 critics.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class MLP(nn.Module):
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.Dense(width, kernel_init=nn.initializers.xavier_uniform())(x)
            x = nn.LayerNorm()(x)
            x = nn.tanh(x)
        return x


class TanhGaussianActor(nn.Module):
    """pi(a|s) = tanh(N(mu(s), sigma(s))) over the task's active action dimensions."""
    hidden: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, obs):
        h = MLP(self.hidden)(obs)
        mean = nn.Dense(self.action_dim, kernel_init=nn.initializers.xavier_uniform())(h)
        log_std = nn.Dense(self.action_dim, kernel_init=nn.initializers.xavier_uniform())(h)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class Critic(nn.Module):
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs, action):
        h = MLP(self.hidden)(jnp.concatenate([obs, action], axis=-1))
        return nn.Dense(1, kernel_init=nn.initializers.xavier_uniform())(h)[..., 0]


class CriticEnsemble(nn.Module):
    """``n`` independent critics (vmapped parameters); returns Q of shape (n, batch)."""
    hidden: Sequence[int]
    n: int = 2

    @nn.compact
    def __call__(self, obs, action):
        ensemble = nn.vmap(Critic, variable_axes={'params': 0}, split_rngs={'params': True},
                           in_axes=None, out_axes=0, axis_size=self.n)
        return ensemble(self.hidden)(obs, action)


def sample_tanh_gaussian(mean, log_std, key):
    """Reparameterised sample a = tanh(u), u ~ N(mean, std), and log pi(a) with the tanh
    change of variables: log pi(a) = log N(u) - sum log(1 - tanh(u)^2)."""
    std = jnp.exp(log_std)
    u = mean + std * jax.random.normal(key, mean.shape)
    log_prob = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi)).sum(-1)
    # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), numerically stable
    log_prob -= (2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))).sum(-1)
    return jnp.tanh(u), log_prob
