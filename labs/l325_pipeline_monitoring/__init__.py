"""Lab 3.2.5: integrated pipeline monitoring (custom metrics, a log metric filter, alarms on Kinesis, Firehose and EMR, a CloudWatch dashboard)."""
