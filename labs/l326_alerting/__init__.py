"""Lab 3.2.6: failure detection and automatic alerting."""
