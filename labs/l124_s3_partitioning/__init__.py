"""Lab 1.2.4: S3 bucket creation and partitioned data storage."""
