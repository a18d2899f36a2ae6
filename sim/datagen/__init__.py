"""Synthetic datasets for the labs and the demo (vectorised, deterministic by seed)."""
