"""Lab 1.3.6: S3 read/write optimisation (small files, compaction, pruning, committers)."""
