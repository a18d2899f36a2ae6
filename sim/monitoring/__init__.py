"""Monitoring around the pipeline: Prometheus metrics of the components (``promexport``) and
the bridge that publishes chosen Prometheus series to CloudWatch (``prombridge``).
See docs/monitoring.md."""
