"""Streaming verbs: ``bdlab weblogs`` (a web server's access log, written at a rate and
rotated), ``bdlab agent`` (the Kinesis-Agent-style shipper of such logs), ``bdlab produce``
(records into a Kinesis stream at a rate) and ``bdlab consume`` (the KCL-style consumer,
counting what it reads); the last two serve Prometheus metrics with ``--metrics-port``."""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from sim import clients
from sim.cli import common
from sim.cli.common import app, console, err_console, guard

# Everything after the verb, --help included, goes to the tool's own argument parser.
_PASS_THROUGH = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}


@app.command(context_settings=_PASS_THROUGH)
@guard
def weblogs(ctx: typer.Context) -> None:
    """Write web-server access logs at a rate, with rotation (python -m sim.datagen.logwriter):
    bdlab weblogs logs/access.log --rate 100 --duration 60 --rotate-every 20"""
    from sim.datagen.logwriter import main

    raise typer.Exit(main(list(ctx.args)))


@app.command(context_settings=_PASS_THROUGH)
@guard
def agent(ctx: typer.Context) -> None:
    """Ship log files into a Kinesis stream or Firehose, Kinesis Agent style, on the active
    profile (python -m sim.logship): bdlab agent --config agent.json [--once | --status]"""
    from sim.logship.__main__ import main

    raise typer.Exit(main(list(ctx.args), profile=common.prof()))


def _aws_errors(fn: Any) -> Any:
    """An AWS error (a missing stream, a refused call) as one line: code and message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            hint = ""
            if err.get("Code") == "ResourceNotFoundException":
                hint = " (create the stream first, e.g. with boto3's create_stream or its lab)"
            common.fail(f"{err.get('Code')}: {err.get('Message')}{hint}")

    return wrapper


@contextmanager
def _metrics_endpoint(port: int | None, linger_s: float) -> Iterator[Any]:
    """A /metrics server on 127.0.0.1:``port`` (None: no server, yields None), closed
    ``linger_s`` seconds after the block so a last scrape sees the final counts."""
    if port is None:
        yield None
        return
    from sim.monitoring.promexport import serve_metrics

    try:
        server = serve_metrics(port)
    except OSError as exc:
        common.fail(str(exc))
    common.note(f"metrics on {server.url}")
    try:
        yield server
        if linger_s > 0:
            time.sleep(linger_s)
    finally:
        server.close()


def _progress(total: float | None, what: str) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [TextColumn(what)]
    columns += [BarColumn(), MofNCompleteColumn()] if total else [SpinnerColumn()]
    columns += [TextColumn("{task.fields[note]}"), TimeElapsedColumn()]
    return Progress(*columns, console=err_console, transient=True)


_METRICS_PORT = typer.Option(
    None, "--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:P/metrics (0: any)."
)
_METRICS_LINGER = typer.Option(
    0.0, "--metrics-linger", help="Keep /metrics up S seconds after finishing (last scrape)."
)


@app.command()
@guard
@_aws_errors
def produce(
    stream: str = typer.Argument(..., help="The Kinesis stream (it must exist)."),
    rate: float = typer.Option(100.0, "--rate", help="Records per second."),
    seconds: float = typer.Option(
        10.0, "--seconds", help="Stop after S seconds (0: when the file ends or on Ctrl-C)."
    ),
    source: str = typer.Option("clickstream", "--source", help="clickstream | file"),
    file: str | None = typer.Option(
        None, "--file", help="With --source file: one record per line ('-': standard input)."
    ),
    aggregate: bool = typer.Option(False, "--aggregate", help="Pack records as KPL aggregates."),
    seed: int = typer.Option(42, "--seed", help="Seed of the clickstream generator."),
    metrics_port: int | None = _METRICS_PORT,
    metrics_linger: float = _METRICS_LINGER,
    as_json: bool = typer.Option(False, "--json", help="The summary as JSON."),
) -> None:
    """Put records into a Kinesis stream at a steady rate with bdlab's producer (batched
    PutRecords, throttled entries resent): clickstream events as JSON (event_time = when sent,
    keyed by user_id) or the lines of a file. Exactly rate x seconds records unless the file
    ends first. Metrics: bdlab_producer_* (docs/monitoring.md)."""
    from sim.kinesis import replay
    from sim.kinesis.producer import Producer, ProducerError

    if rate <= 0 or seconds < 0:
        common.fail("--rate must be above 0 and --seconds at least 0")
    if source not in ("clickstream", "file"):
        common.fail(f"--source must be clickstream or file, not {source!r}")
    if (source == "file") != (file is not None):
        common.fail("--file goes with --source file (and --source file needs --file)")
    note = "until Ctrl-C" if source == "clickstream" and seconds == 0 else ""
    if file is not None and file != "-" and not Path(file).is_file():
        common.fail(f"no such file: {file}")
    profile = common.prof()
    clients.check_access(profile)
    # the producer resends throttled entries itself: botocore's retries would hide them
    kin = clients.client("kinesis", profile, retries=False)
    kin.describe_stream_summary(StreamName=stream)  # a missing stream: one line, now
    producer = Producer(kin, stream, aggregate=aggregate)
    records = replay.clickstream_records(seed) if file is None else replay.file_records(file)
    limit = seconds or None
    total = round(rate * seconds) if limit else None
    t0 = time.monotonic()
    sent = 0
    with _metrics_endpoint(metrics_port, metrics_linger) as server:
        if server is not None:
            from sim.monitoring.promexport import watch_producer

            watch_producer(producer, server.registry)
        with _progress(total, f"producing into {stream}") as bar:
            task = bar.add_task("", total=total, note=note)

            def send(batch: list[tuple[bytes, str]]) -> None:
                nonlocal sent
                producer.put(batch)
                sent += len(batch)
                st = producer.stats
                bar.update(task, completed=sent, note=f"{st.throttled} throttled")

            try:
                replay.paced(records, rate, limit, send)
            except KeyboardInterrupt:
                common.note("interrupted: what was sent so far is below")
            except ProducerError as exc:
                common.fail(f"{exc} (after {sent} records were sent)", 1)
    st = producer.stats
    out: dict[str, Any] = {
        "stream": stream,
        "records": sent,
        "kinesis_records": st.sent,
        "calls": st.calls,
        "retried": st.retried,
        "throttled": st.throttled,
        "seconds": round(time.monotonic() - t0, 3),
        "shards": dict(sorted(st.shards.items())),
    }
    if as_json:
        print(json.dumps(out, indent=1))
        return
    packed = f" in {st.sent} KPL aggregates" if aggregate else ""
    console.print(
        f"sent {sent} records{packed} to {stream} in {st.calls} calls, {out['seconds']:.1f} s "
        f"({st.retried} resent, {st.throttled} throttled)"
    )
    for shard, n in out["shards"].items():
        console.print(f"  {shard}: {n}")


@app.command()
@guard
@_aws_errors
def consume(
    stream: str = typer.Argument(..., help="The Kinesis stream."),
    application: str = typer.Option(
        ..., "--app", help="Application name: the DynamoDB lease table keeping checkpoints."
    ),
    idle_passes: int = typer.Option(
        3, "--idle-passes", help="Stop after N passes in a row that found nothing new."
    ),
    idle_sleep: float = typer.Option(1.0, "--idle-sleep", help="Seconds between idle passes."),
    metrics_port: int | None = _METRICS_PORT,
    metrics_linger: float = _METRICS_LINGER,
    as_json: bool = typer.Option(False, "--json", help="The counts as JSON."),
) -> None:
    """Read a Kinesis stream with bdlab's KCL-style consumer (leases and checkpoints in the
    DynamoDB table named by --app: a second run goes on where the first stopped) and print
    the counts per shard and per event_type (JSON records). Metrics: bdlab_consumer_*."""
    from sim.kinesis.consumer import Consumer

    if idle_passes < 1 or idle_sleep < 0:
        common.fail("--idle-passes must be at least 1 and --idle-sleep at least 0")
    profile = common.prof()
    clients.check_access(profile)
    kin = clients.client("kinesis", profile, retries=False)
    kin.describe_stream_summary(StreamName=stream)
    by_shard: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    t0 = time.monotonic()
    with _metrics_endpoint(metrics_port, metrics_linger) as server:
        with _progress(None, f"consuming {stream} as {application}") as bar:
            task = bar.add_task("", total=None, note="")

            def count(shard: str, records: list[dict[str, Any]]) -> None:
                by_shard[shard] += len(records)
                for rec in records:
                    try:
                        kind = json.loads(rec["Data"]).get("event_type")
                    except (ValueError, AttributeError):
                        kind = None
                    if isinstance(kind, str):
                        by_type[kind] += 1
                bar.update(task, note=f"{sum(by_shard.values())} records")

            consumer = Consumer(
                kin, clients.client("dynamodb", profile), stream, application, count
            )
            if server is not None:
                from sim.monitoring.promexport import watch_consumer

                watch_consumer(consumer, server.registry, application)
            try:
                stats = consumer.run(idle_passes=idle_passes, idle_sleep_s=idle_sleep)
            except KeyboardInterrupt:  # checkpoints are per batch: a rerun goes on from there
                common.note("interrupted: what was read so far is below")
                stats = consumer.stats
    out: dict[str, Any] = {
        "stream": stream,
        "application": application,
        "records": stats.records,
        "batches": stats.batches,
        "throttled": stats.throttled,
        "seconds": round(time.monotonic() - t0, 3),
        "shards": dict(sorted(by_shard.items())),
        "event_types": dict(by_type.most_common()),
    }
    if as_json:
        print(json.dumps(out, indent=1))
        return
    console.print(
        f"read {stats.records} records in {stats.batches} batches from {stream} as "
        f"{application}, {out['seconds']:.1f} s ({stats.throttled} throttled reads)"
    )
    for shard, n in out["shards"].items():
        console.print(f"  {shard}: {n}")
    for kind, n in out["event_types"].items():
        console.print(f"  event_type={kind}: {n}")
