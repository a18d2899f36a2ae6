"""Lab 2.2.5: Kinesis -> Firehose -> S3 (Hive-style partitions) -> an EMR step aggregates what arrived."""
