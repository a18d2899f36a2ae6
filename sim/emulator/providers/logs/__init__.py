"""CloudWatch Logs: moto's Logs backend for storage, bdlab's filter patterns for searching."""
