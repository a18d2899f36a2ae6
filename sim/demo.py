"""`bdlab demo`, the main job: sample events -> partitioned S3 lake -> Spark over s3a ->
Delta table in the lake -> a short result table."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from sim import clients, profiles, progress, s3util, settings

START = datetime(2026, 1, 12, tzinfo=UTC)
DAYS = 7


def demo_bucket(profile: profiles.Profile) -> str:
    account = clients.client("sts", profile).get_caller_identity()["Account"]
    return f"bdlab-{account}-demo-lake"


def write_raw(profile: profiles.Profile, bucket: str, rows: int) -> dict[str, Any]:
    """Generate events and store them as Parquet, one Hive partition (dt=...) per day."""
    s3 = clients.client("s3", profile)
    s3util.ensure_bucket(s3, bucket, profile.region)
    keys = s3util.put_daily_parquet(s3, bucket, "raw/events/", rows, START, DAYS, seed=7)
    return {"rows": rows, "files": len(keys)}


def run(
    profile: profiles.Profile,
    cfg: settings.Settings,
    rows: int = 200_000,
    console: Console | None = None,
) -> dict[str, Any]:
    """The demo; with ``console`` it shows live progress and prints a result table."""
    say = console.print if console else (lambda *a, **k: None)
    live = progress.LiveReporter(console) if console else None
    status = live.step if live else (lambda name: None)
    timings: dict[str, float] = {}
    bucket = demo_bucket(profile)
    if live:
        live.__enter__()
    try:
        return _run(profile, cfg, rows, console, say, status, timings, bucket)
    finally:
        if live:
            live.__exit__(None, None, None)


def _run(
    profile: profiles.Profile,
    cfg: settings.Settings,
    rows: int,
    console: Console | None,
    say: Any,
    status: Any,
    timings: dict[str, float],
    bucket: str,
) -> dict[str, Any]:
    from spark.jobs import daily_revenue
    from spark.session import get_session

    t = time.perf_counter()
    status(f"1/4 generating {rows:,} events and uploading them to s3://{bucket}/raw/")
    raw = write_raw(profile, bucket, rows)
    timings["generate+upload"] = time.perf_counter() - t
    say(
        f"[bold]1/4[/] {raw['rows']:,} events -> s3://{bucket}/raw/events/dt=*/ "
        f"({raw['files']} partitions, {timings['generate+upload']:.1f} s)"
    )
    t = time.perf_counter()
    status("2/4 starting Spark (local, s3a -> the profile's S3)")
    spark = get_session(profile, cfg, app_name="bdlab-demo")
    timings["spark start"] = time.perf_counter() - t
    say(
        f"[bold]2/4[/] Spark {spark.version} local session with s3a -> {profile.endpoint_url or 'AWS'}"
        f" ({timings['spark start']:.1f} s)"
    )
    t = time.perf_counter()
    status("3/4 Spark job: raw Parquet -> daily revenue Delta table")
    target = f"s3a://{bucket}/gold/daily_revenue"
    result = daily_revenue.run(spark, f"s3a://{bucket}/raw/events/", target)
    rows_out = [
        r.asDict() for r in result.orderBy("dt", "revenue", ascending=[True, False]).collect()
    ]
    timings["spark job"] = time.perf_counter() - t
    history = spark.sql(f"DESCRIBE HISTORY delta.`{target}`").select("version").collect()
    say(
        f"[bold]3/4[/] Delta table {target} ({len(rows_out)} rows, version "
        f"{max(r.version for r in history)}, {timings['spark job']:.1f} s)"
    )
    if console:
        totals: dict[str, dict[str, float]] = {}
        for r in rows_out:
            tot = totals.setdefault(r["dt"], {"orders": 0, "revenue": 0.0})
            tot["orders"] += r["orders"]
            tot["revenue"] += r["revenue"]
        table = Table(
            "dt",
            "orders",
            "revenue",
            "top country",
            title="daily revenue (Delta, read back through s3a)",
        )
        for dt in sorted(totals):
            top = next(r for r in rows_out if r["dt"] == dt)
            table.add_row(
                dt,
                f"{int(totals[dt]['orders']):,}",
                f"{totals[dt]['revenue']:,.2f}",
                f"{top['country']} ({top['revenue']:,.2f})",
            )
        console.print(table)
    t = time.perf_counter()
    status(f"4/4 streaming {STREAM_EVENTS:,} events through Kinesis (AWS's per-shard limits on)")
    streaming = stream_stage(profile, STREAM_EVENTS)
    timings["streaming"] = time.perf_counter() - t
    say(
        f"[bold]4/4[/] {streaming['produced']:,} events -> Kinesis stream {streaming['stream']} "
        f"({streaming['shards']} shards; {streaming['throttled']:,} entries over a shard's "
        "1,000 records/s were throttled, as on AWS, and resent) "
        f"-> consumer read {streaming['consumed']:,} ({timings['streaming']:.1f} s)"
    )
    if console:
        counts = Table("event_type", "events", title="events per type (read back from Kinesis)")
        for kind, n in sorted(streaming["by_type"].items(), key=lambda kv: -kv[1]):
            counts.add_row(kind, f"{n:,}")
        console.print(counts)
    return {
        "bucket": bucket,
        "raw": raw,
        "delta_table": target,
        "result_rows": len(rows_out),
        "rows": rows_out,
        "streaming": streaming,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }


STREAM_EVENTS = 6_000
STREAM_SHARDS = 4


def stream_stage(profile: profiles.Profile, events: int) -> dict[str, Any]:
    """Clickstream events as JSON into a Kinesis stream with the producer (batching, resend of
    throttled entries), then read back with the KCL-style consumer (checkpoints in DynamoDB)."""
    import json

    from sim.datagen import clickstream
    from sim.kinesis.consumer import Consumer
    from sim.kinesis.producer import Producer

    kin = clients.client("kinesis", profile, retries=False)
    account = clients.client("sts", profile).get_caller_identity()["Account"]
    stream = f"bdlab-{account}-demo-clicks"
    try:
        kin.delete_stream(StreamName=stream)
        kin.get_waiter("stream_not_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
    except kin.exceptions.ResourceNotFoundException:
        pass
    tags = {"Tags": {"bdlab": "true"}} if profile.tag_resources else {}
    kin.create_stream(StreamName=stream, ShardCount=STREAM_SHARDS, **tags)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
    table = clickstream.generate(events, START, DAYS, seed=11)
    rows = table.select(["event_id", "user_id", "event_type", "country"]).to_pylist()
    producer = Producer(kin, stream)
    stats = producer.put((json.dumps(r).encode(), str(r["user_id"])) for r in rows)
    by_type: dict[str, int] = {}

    def count(_shard: str, records: list[dict[str, Any]]) -> None:
        for rec in records:
            kind = json.loads(rec["Data"])["event_type"]
            by_type[kind] = by_type.get(kind, 0) + 1

    app = f"{stream}-counter"  # the stream is new each run: so is its lease table
    ddb = clients.client("dynamodb", profile)
    try:
        ddb.delete_table(TableName=app)
        ddb.get_waiter("table_not_exists").wait(TableName=app, WaiterConfig={"Delay": 1})
    except ddb.exceptions.ResourceNotFoundException:
        pass
    consumer = Consumer(kin, ddb, stream, app, count)
    read = consumer.run(idle_passes=2, idle_sleep_s=0.5)
    return {
        "stream": stream,
        "shards": STREAM_SHARDS,
        "produced": stats.sent,
        "throttled": stats.throttled,
        "consumed": read.records,
        "by_type": by_type,
    }
