"""Lab 2.1.3: Kinesis Data Streams creation: shards, keys, resharding, throttling."""
