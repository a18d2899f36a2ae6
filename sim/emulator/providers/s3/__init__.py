"""bdlab's own S3 provider (speed and durability goals moto cannot meet)."""
