"""Reinforcement learning core: SAC/RLPD agent (JAX/Flax) and replay buffers."""
