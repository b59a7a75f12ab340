"""Frozen image encoders: embeddings are computed once, when a frame enters a buffer."""
