"""A record processor for the KCL interop test, written as amazon_kclpy's v3 interface asks:
each batch is appended to ``KCL_OUT`` (one JSON line per record, fsynced) before the
checkpoint, so a checkpoint never runs ahead of durable output."""

from __future__ import annotations

import json
import os

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor

OUT = os.environ["KCL_OUT"]


class Processor(processor.RecordProcessorBase):
    def initialize(self, initialize_input):  # type: ignore[no-untyped-def]
        self.shard = initialize_input.shard_id

    def process_records(self, process_records_input):  # type: ignore[no-untyped-def]
        records = process_records_input.records
        if not records:
            return
        with open(OUT, "a", encoding="utf-8") as f:
            for r in records:
                line = {
                    "shard": self.shard,
                    "seq": r.sequence_number,
                    "key": r.partition_key,
                    "data": r.binary_data.decode(),
                }
                f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        process_records_input.checkpointer.checkpoint(records[-1].sequence_number)

    def lease_lost(self, lease_lost_input):  # type: ignore[no-untyped-def]
        pass

    def shard_ended(self, shard_ended_input):  # type: ignore[no-untyped-def]
        shard_ended_input.checkpointer.checkpoint()

    def shutdown_requested(self, shutdown_requested_input):  # type: ignore[no-untyped-def]
        shutdown_requested_input.checkpointer.checkpoint()


if __name__ == "__main__":
    kcl.KCLProcess(Processor()).run()
