"""bdlab's own CloudWatch provider (metrics and dashboards; alarms still served by moto)."""
