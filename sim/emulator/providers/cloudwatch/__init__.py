"""bdlab's own CloudWatch provider: metrics, dashboards and alarms (evaluated, notifying)."""
