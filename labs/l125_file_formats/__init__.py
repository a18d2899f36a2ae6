"""Lab 1.2.5: file format performance comparison on the same data."""
