"""Read a whole stream back, every shard from TRIM_HORIZON, parents before children: for
checks, tests and small tools (a consumer application wants ``sim.kinesis.consumer``).

Works against any profile. Read throttling (5 calls/s and 2 MB/s per shard) is waited out.
https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamRecord:
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: Any  # ApproximateArrivalTimestamp as boto3 returns it (datetime)


def shards_in_lineage_order(client: Any, stream: str) -> list[dict[str, Any]]:
    """Every shard of ``stream`` (ListShards, paged), parents before their children."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        page = client.list_shards(**kwargs)
        shards += page["Shards"]
        if not page.get("NextToken"):
            break
        kwargs = {"NextToken": page["NextToken"]}
    known = {s["ShardId"] for s in shards}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    while len(ordered) < len(shards):
        for s in shards:
            parents = {
                p
                for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))
                if p and p in known
            }
            if s["ShardId"] not in done and parents <= done:
                ordered.append(s)
                done.add(s["ShardId"])
    return ordered


def read_all(
    client: Any,
    stream: str,
    *,
    limit: int = 10_000,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_s: float = 60.0,
) -> list[StreamRecord]:
    """Every record now in ``stream``, shard by shard in lineage order, each shard in
    sequence order. Stops a shard at its end (closed) or when it is caught up."""
    out: list[StreamRecord] = []
    for shard in shards_in_lineage_order(client, stream):
        sid = shard["ShardId"]
        it = client.get_shard_iterator(
            StreamName=stream, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        waited = 0.0
        while it:
            try:
                page = client.get_records(ShardIterator=it, Limit=limit)
            except client.exceptions.ProvisionedThroughputExceededException:
                if waited >= max_wait_s:
                    raise
                sleep(0.25)  # 5 reads a second per shard: wait a slot
                waited += 0.25
                continue
            out += [
                StreamRecord(
                    sid,
                    r["SequenceNumber"],
                    r["PartitionKey"],
                    r["Data"],
                    r.get("ApproximateArrivalTimestamp"),
                )
                for r in page["Records"]
            ]
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            it = page.get("NextShardIterator")
    return out
