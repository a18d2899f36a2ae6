"""Firehose benchmark, one run, targets one after another:

1. DirectPut: PutRecordBatch of 500 records x 200 B with 1 and 4 client threads, on a null
   HTTP server (the ceiling: it answers 200 to everything) and on bdlab's own Firehose (its
   records/s, then every acknowledged record counted in the objects it delivered to S3).
2. End to end (bdlab only): a generator puts events into a 4-shard Kinesis stream (limits
   relaxed, as the Kinesis benchmark does) for --e2e seconds; a Firehose with that stream as
   its source converts them to Parquet (Glue schema) with a 1 s buffer; afterwards every
   generated id is looked for in the Parquet files (zero loss) and DataFreshness is the age of
   each object's oldest record when the object was written (p50 / p99).

Run:  python scripts/bench/firehose_bench.py [--duration 5] [--e2e 60]
Writes bench-results/firehose_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_S3 = Path(__file__).with_name("s3_bench.py")
_spec = importlib.util.spec_from_file_location("s3_bench", _S3)
assert _spec and _spec.loader
s3b = importlib.util.module_from_spec(_spec)
sys.modules["s3_bench"] = s3b
_spec.loader.exec_module(s3b)

RECORDS = [{"Data": b"x" * 199 + b"\n"} for _ in range(500)]
ROLE = "arn:aws:iam::123456789012:role/firehose"
_S3_COMMAND = s3b.command


def command(target: str, port: int, workdir: Path) -> list[str]:
    if target == "bdlab":
        return [
            s3b.PY, "-m", "sim.emulator", "--host", "127.0.0.1", "--port", str(port),
            "--state-dir", str(workdir / "state"), "--no-kinesis-limits",
        ]  # fmt: skip
    return list(_S3_COMMAND(target, port, workdir))


def client(service: str, port: int) -> Any:
    import boto3
    import botocore.config

    return boto3.session.Session(  # noqa: TID251 (a benchmark, apart from the product)
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        config=botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=16),
    )


def put_cell(fh: Any, stream: str, threads: int, duration: float) -> tuple[float, int, int]:
    acked, failed = [0] * threads, [0] * threads
    stop = time.perf_counter() + duration

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            r = fh.put_record_batch(DeliveryStreamName=stream, Records=RECORDS)
            bad = int(r.get("FailedPutCount", 0))
            acked[i] += (len(r.get("RequestResponses", [])) or 500) - bad
            failed[i] += bad

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(acked) / (time.perf_counter() - t0), sum(acked), sum(failed)


def delivered_lines(s3: Any, bucket: str) -> int:
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            n += s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().count(b"\n")
    return n


def wait_delivered(s3: Any, bucket: str, want: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    got = 0
    while time.monotonic() < deadline:
        got = delivered_lines(s3, bucket)
        if got >= want:
            return got
        time.sleep(1)
    return got


def direct_put(target: str, duration: float) -> dict[str, Any]:
    server = s3b.spawn(target)
    row: dict[str, Any] = {"target": target}
    try:
        s3b.wait_up(server)
        fh = client("firehose", server.port)
        if target != "null":
            s3 = client("s3", server.port)
            s3.create_bucket(Bucket="bench")
            fh.create_delivery_stream(
                DeliveryStreamName="bench",
                ExtendedS3DestinationConfiguration={
                    "RoleARN": ROLE,
                    "BucketARN": "arn:aws:s3:::bench",
                    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
                },
            )
        acked_total = 0
        for threads in (1, 4):
            rate, acked, failed = put_cell(fh, "bench", threads, duration)
            row[f"put_t{threads}"] = round(rate)
            row[f"failed_t{threads}"] = failed
            acked_total += acked
        if target != "null":
            got = wait_delivered(s3, "bench", acked_total)
            row.update(acked=acked_total, delivered=got, lost=acked_total - got)
    finally:
        s3b.stop(server)
    return row


def end_to_end(seconds: float) -> dict[str, Any]:
    import pyarrow.parquet as pq

    server = s3b.spawn("bdlab")
    row: dict[str, Any] = {"target": "bdlab", "seconds": seconds}
    try:
        s3b.wait_up(server)
        kin, fh = client("kinesis", server.port), client("firehose", server.port)
        s3, glue = client("s3", server.port), client("glue", server.port)
        s3.create_bucket(Bucket="lake")
        glue.create_database(DatabaseInput={"Name": "bench"})
        glue.create_table(
            DatabaseName="bench",
            TableInput={
                "Name": "events",
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": "id", "Type": "bigint"},
                        {"Name": "user", "Type": "string"},
                        {"Name": "amount", "Type": "double"},
                    ]
                },
            },
        )
        kin.create_stream(StreamName="events", ShardCount=4)
        arn = kin.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"][
            "StreamARN"
        ]
        fh.create_delivery_stream(
            DeliveryStreamName="events",
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE,
                "BucketARN": "arn:aws:s3:::lake",
                "Prefix": "events/",
                "ErrorOutputPrefix": "errors/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
                "DataFormatConversionConfiguration": {
                    "Enabled": True,
                    "SchemaConfiguration": {
                        "RoleARN": ROLE,
                        "DatabaseName": "bench",
                        "TableName": "events",
                    },
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
                },
            },
        )
        sent = [0]
        stop = time.perf_counter() + seconds

        def produce(first: int) -> None:
            i = first
            while time.perf_counter() < stop:
                batch = [
                    {
                        "Data": json.dumps(
                            {"id": i + j, "user": f"u{(i + j) % 97}", "amount": 1.5}
                        ).encode(),
                        "PartitionKey": f"u{(i + j) % 97}",
                    }
                    for j in range(0, 500 * 2, 2)
                ]
                r = kin.put_records(StreamName="events", Records=batch)
                assert r["FailedRecordCount"] == 0
                sent[0] += len(batch)
                i += 1000

        ts = [threading.Thread(target=produce, args=(k,)) for k in (0, 1)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        row["produced"] = sent[0]
        row["produce_rps"] = round(sent[0] / (time.perf_counter() - t0))
        # every id in the Parquet files, and each object's age when it was written
        deadline = time.monotonic() + 120
        ids: set[int] = set()
        ages: list[float] = []
        while time.monotonic() < deadline:
            ids, ages = set(), []
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket="lake", Prefix="events/"
            ):
                for o in page.get("Contents", []):
                    body = s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read()
                    ids.update(pq.read_table(io.BytesIO(body), columns=["id"])["id"].to_pylist())
                    # the key's suffix dates the oldest record (1 s resolution); LastModified
                    # is when the object was written: the difference is the data's freshness
                    oldest = datetime.strptime(
                        o["Key"].split("events-1-", 1)[1][:19], "%Y-%m-%d-%H-%M-%S"
                    ).replace(tzinfo=UTC)
                    ages.append((o["LastModified"] - oldest).total_seconds())
            if len(ids) >= sent[0]:
                break
            time.sleep(1)
        row["delivered_ids"] = len(ids)
        row["lost"] = sent[0] - len(ids)
        row["e2e_rps"] = round(len(ids) / max(seconds, 1e-9))
        points = client("cloudwatch", server.port).get_metric_statistics(
            Namespace="AWS/Firehose",
            MetricName="DeliveryToS3.DataFreshness",
            Dimensions=[{"Name": "DeliveryStreamName", "Value": "events"}],
            StartTime=time.time() - 3600,
            EndTime=time.time() + 3600,
            Period=60,
            Statistics=["Maximum", "Average"],
        )["Datapoints"]
        row["freshness_max_s"] = round(max((p["Maximum"] for p in points), default=0.0), 2)
        ages.sort()
        if ages:
            row["objects"] = len(ages)
            row["object_age_p50_s"] = round(ages[len(ages) // 2], 2)
            row["object_age_p99_s"] = round(ages[min(len(ages) - 1, int(len(ages) * 0.99))], 2)
    finally:
        s3b.stop(server)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--e2e", type=float, default=60.0, help="end-to-end seconds (0: skip)")
    p.add_argument("--json", default="bench-results/firehose_bench.json")
    a = p.parse_args(argv)
    s3b.command = command
    rows = [direct_put(t, a.duration) for t in ("null", "bdlab")]
    for r in rows:
        print(json.dumps(r), flush=True)
    ceiling = rows[0]
    print(
        f"\n{'target':8} {'put t1 rec/s':>13} {'put t4 rec/s':>13} {'% ceiling':>10} {'acked':>9} {'lost':>6}"
    )
    for r in rows:
        pct = (
            ""
            if r is ceiling
            else (
                f"{100 * r['put_t1'] / ceiling['put_t1']:.0f}/{100 * r['put_t4'] / ceiling['put_t4']:.0f}"
            )
        )
        print(f"{r['target']:8} {r['put_t1']:>13,} {r['put_t4']:>13,} {pct:>10} "
              f"{r.get('acked', 0):>9,} {r.get('lost', ''):>6}")  # fmt: skip
    out: dict[str, Any] = {"direct_put": rows}
    if a.e2e:
        e2e = end_to_end(a.e2e)
        print(json.dumps(e2e), flush=True)
        out["end_to_end"] = e2e
    path = Path(a.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
