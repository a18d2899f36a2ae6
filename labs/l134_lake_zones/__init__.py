"""Lab 1.3.4: the lake's zones (raw, bronze, silver, gold, quarantine) by a batch ETL."""
