"""Reward model: a binary success classifier on both camera views."""
