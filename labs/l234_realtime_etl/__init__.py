"""Lab 2.3.4: real-time ETL with Firehose: Lambda transform, Parquet conversion, dynamic partitioning."""
