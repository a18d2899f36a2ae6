"""Kinesis Data Streams: bdlab's own provider (issue 13). model.py holds the rules, store.py the
per-shard logs; the gateway still serves Kinesis from moto until api.py lands."""
