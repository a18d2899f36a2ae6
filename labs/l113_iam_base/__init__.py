"""Lab 1.1.3: IAM roles and least-privilege policies for the pipeline."""
