"""bdlab's own EMR provider: clusters and steps that really run Spark locally."""
