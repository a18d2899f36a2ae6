"""Spark for bdlab: per-profile sessions, the pinned jar set, and the batch jobs."""
