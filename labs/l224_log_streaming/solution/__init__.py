"""Reference solution of lab 2.2.4 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from labs.harness import LabContext
from labs.l224_log_streaming.lab import (
    BEFORE_AGENT,
    TOTAL,
    WHILE_STOPPED,
    WORKER,
    consumer_app,
    counts_table,
    lab_dir,
    log_dir,
    prepare,
    stream_name,
    web_server,
)
from sim.kinesis.consumer import Consumer, Record
from sim.logship import Agent, AgentConfig

APACHE_TIME = "%d/%b/%Y:%H:%M:%S %z"


def agent_config(ctx: LabContext) -> dict[str, Any]:
    return {
        "checkpointFile": str(lab_dir(ctx) / "agent.checkpoints.json"),
        "flows": [
            {
                # access.log* also matches access.log.1: a line the server wrote just before
                # a rotation is still read from the renamed file
                "filePattern": str(log_dir(ctx) / "access.log*"),
                "kinesisStream": stream_name(ctx),
                "initialPosition": "START_OF_FILE",
                "partitionKeyOption": "RANDOM",
                "dataProcessingOptions": [
                    {"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}
                ],
            }
        ],
    }


def ship(ctx: LabContext, config: dict[str, Any]) -> dict[str, Any]:
    agent = Agent(AgentConfig.from_dict(config, lab_dir(ctx)), ctx.client)
    before = agent.status()  # how far behind the agent starts (from its checkpoints)
    print(f"에이전트 시작: {before.summary()}")
    progress = agent.run_once()
    done = agent.stop()  # sends what is buffered, then checkpoints
    return {"sent": progress.records_sent + done.records_sent, "bytes_behind": before.bytes_behind}


def minute_of(apache_time: str) -> str:
    """'09/Mar/2026:09:01:05 +0000' -> '2026-03-09T09:01' (UTC)."""
    return datetime.strptime(apache_time, APACHE_TIME).strftime("%Y-%m-%dT%H:%M")


def count(ctx: LabContext, shard_id: str, records: list[Record]) -> None:
    per: Counter[tuple[str, str]] = Counter()
    for r in records:
        line = json.loads(r["Data"])
        per[(minute_of(line["datetime"]), str(line["response"]))] += 1
    ddb = ctx.client("dynamodb")
    for (minute, status), n in per.items():
        ddb.update_item(
            TableName=counts_table(ctx),
            Key={"minute": {"S": minute}, "status": {"S": status}},
            UpdateExpression="ADD requests :n",
            ExpressionAttributeValues={":n": {"N": str(n)}},
        )


def consume(ctx: LabContext) -> dict[str, int]:
    consumer = Consumer(
        ctx.client("kinesis"),
        ctx.client("dynamodb"),
        stream_name(ctx),
        consumer_app(ctx),
        lambda sid, recs: count(ctx, sid, recs),
        owner=WORKER,
    )
    stats = consumer.run(idle_passes=2, idle_sleep_s=0.2)
    return {"consumed": stats.records, "batches": stats.batches}


def main(ctx: LabContext) -> dict[str, Any]:
    prepare(ctx)
    server = web_server(ctx)
    server.write(BEFORE_AGENT)
    config = agent_config(ctx)
    first = ship(ctx, config)
    server.write(WHILE_STOPPED)
    server.rotate()
    server.write(WHILE_STOPPED)
    server.close()
    second = ship(ctx, config)
    consumed = consume(ctx)
    return {"lines": TOTAL, "first_run": first, "after_restart": second, **consumed}
