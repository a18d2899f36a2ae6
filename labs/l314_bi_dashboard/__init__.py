"""Lab 3.1.4: a BI dashboard on S3/EMR data (QuickSight stand-in)."""
