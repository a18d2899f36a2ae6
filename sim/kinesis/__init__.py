"""Kinesis producer and consumer helpers for labs and learners' own code (every profile)."""
