"""Reference solution of lab 2.1.3 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pyarrow as pa

from labs.harness import LabContext
from labs.l213_kinesis_streams.lab import (
    BURST,
    PHASE_BURST,
    PHASE_COUNTRY,
    PHASE_USER,
    SHARDS,
    TAGS,
    TARGET_SHARDS,
    record,
    reset,
    reshard_items,
    sample_events,
    stream_name,
)
from sim.kinesis.producer import Producer

WAIT = {"Delay": 1, "MaxAttempts": 120}


def create_stream(ctx: LabContext) -> str:
    kinesis = ctx.client("kinesis")
    name = stream_name(ctx)
    kinesis.create_stream(
        StreamName=name, ShardCount=SHARDS, StreamModeDetails={"StreamMode": "PROVISIONED"}
    )
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig=WAIT)
    kinesis.add_tags_to_stream(StreamName=name, Tags=TAGS)
    return str(
        kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    )


def _send(ctx: LabContext, items: list[tuple[bytes, str]], ordered: bool = False) -> Producer:
    producer = Producer(ctx.client("kinesis"), stream_name(ctx), ordered=ordered)
    producer.put(items)
    return producer


def hot_key(ctx: LabContext, events: pa.Table) -> Counter[str]:
    rows = events.to_pylist()
    p = _send(ctx, [(record(e, PHASE_COUNTRY), str(e["country"])) for e in rows])
    return Counter(p.stats.shards)


def spread_keys(ctx: LabContext, events: pa.Table) -> Counter[str]:
    rows = events.to_pylist()
    p = _send(ctx, [(record(e, PHASE_USER), str(e["user_id"])) for e in rows])
    return Counter(p.stats.shards)


def reshard_while_producing(ctx: LabContext) -> dict[str, Any]:
    kinesis = ctx.client("kinesis")
    name = stream_name(ctx)
    items = reshard_items()
    first, rest = items[: len(items) // 2], items[len(items) // 2 :]
    _send(ctx, first, ordered=True)  # half before the resharding starts
    done: dict[str, Any] = {}

    def produce() -> None:
        done["stats"] = _send(ctx, rest, ordered=True).stats

    t = threading.Thread(target=produce)
    t.start()
    kinesis.update_shard_count(
        StreamName=name, TargetShardCount=TARGET_SHARDS, ScalingType="UNIFORM_SCALING"
    )
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig=WAIT)
    t.join()
    open_shards = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})
    return {"reshard_records": len(items), "open_shards": len(open_shards["Shards"])}


def burst_with_retry(ctx: LabContext) -> dict[str, int]:
    items = [
        (record({"burst_id": i, "event_time": ""}, PHASE_BURST), f"b{i}") for i in range(BURST)
    ]
    stats = _send(ctx, items).stats
    return {"burst_sent": stats.sent, "throttled": stats.throttled, "calls": stats.calls}


def main(ctx: LabContext) -> dict[str, Any]:
    reset(ctx)  # a fresh stream on every run (the checks count records exactly)
    events = sample_events()
    arn = create_stream(ctx)
    hot = hot_key(ctx, events)
    spread = spread_keys(ctx, events)
    reshard = reshard_while_producing(ctx)
    burst = burst_with_retry(ctx)
    return {"stream": arn, "hot": dict(hot), "spread": dict(spread), **reshard, **burst}
