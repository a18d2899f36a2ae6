"""Durability of Kinesis records: one append-only log per shard (``sim.emulator.recordlog``).

Layout under the provider's folder::

    meta.json                          streams and shards (written atomically on change)
    <stream>/<shard-id>/<first>.log    records numbered <first>, <first>+1, ... (a segment)

Retention deletes whole segments whose newest record is older than the stream keeps.
"""

from sim.emulator.recordlog import ShardLog, StoredRecord, load_meta, save_meta

__all__ = ["ShardLog", "StoredRecord", "load_meta", "save_meta"]
