"""Kinesis benchmark: PutRecords throughput and read-back, one run, three targets side by side:
a null HTTP server (the ceiling: it answers 200 to everything), stock moto_server (the baseline)
and bdlab's own Kinesis provider (limits relaxed, as the issue's measurement asks).

Workloads (each bounded in time): PutRecords of 500 records x 200 B on a 4-shard stream with 1
and 4 client threads (records/s); then, for moto and bdlab, every record read back with
GetRecords (records/s) and the loss check: records read back == records acknowledged.

Run:  python scripts/bench/kinesis_bench.py [--duration 5] [--targets null,moto,bdlab]
Writes bench-results/kinesis_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

_S3 = Path(__file__).with_name("s3_bench.py")
_spec = importlib.util.spec_from_file_location("s3_bench", _S3)
assert _spec and _spec.loader
s3b = importlib.util.module_from_spec(_spec)
sys.modules["s3_bench"] = s3b
_spec.loader.exec_module(s3b)

RECORDS = [{"Data": b"x" * 200, "PartitionKey": f"key-{i}"} for i in range(500)]
STREAM = "bench"
_S3_COMMAND = s3b.command


def command(target: str, port: int, workdir: Path) -> list[str]:
    if target == "bdlab":
        return [
            s3b.PY, "-m", "sim.emulator", "--host", "127.0.0.1", "--port", str(port),
            "--state-dir", str(workdir / "state"), "--no-kinesis-limits",
        ]  # fmt: skip
    return list(_S3_COMMAND(target, port, workdir))


def client(port: int) -> Any:
    import boto3
    import botocore.config

    return boto3.session.Session(  # noqa: TID251 (a benchmark, apart from the product)
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        "kinesis",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=botocore.config.Config(
            retries={"max_attempts": 1}, max_pool_connections=16, tcp_keepalive=True
        ),
    )


def put_cell(kin: Any, threads: int, duration: float) -> tuple[float, int, int]:
    """(records/s, acknowledged, failed) over ``duration`` s with ``threads`` threads."""
    acked = [0] * threads
    failed = [0] * threads
    stop = time.perf_counter() + duration

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            r = kin.put_records(StreamName=STREAM, Records=RECORDS)
            bad = int(r.get("FailedRecordCount", 0))
            got = len(r.get("Records", [])) or 500  # the null server answers {}
            acked[i] += got - bad
            failed[i] += bad

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(acked) / (time.perf_counter() - t0), sum(acked), sum(failed)


def read_back(kin: Any) -> tuple[int, float]:
    t0 = time.perf_counter()
    total = 0
    for shard in kin.list_shards(StreamName=STREAM)["Shards"]:
        it = kin.get_shard_iterator(
            StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            r = kin.get_records(ShardIterator=it, Limit=10_000)
            total += len(r["Records"])
            if not r["Records"]:
                break
            it = r.get("NextShardIterator")
    return total, total / max(time.perf_counter() - t0, 1e-9)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--targets", default="null,moto,bdlab")
    p.add_argument("--json", default="bench-results/kinesis_bench.json")
    a = p.parse_args(argv)
    s3b.command = command  # spawn bdlab with its own Kinesis provider
    rows: list[dict[str, Any]] = []
    for target in a.targets.split(","):
        server = s3b.spawn(target)
        try:
            s3b.wait_up(server)
            kin = client(server.port)
            if target != "null":
                kin.create_stream(StreamName=STREAM, ShardCount=4)
                kin.get_waiter("stream_exists").wait(StreamName=STREAM)
            row: dict[str, Any] = {"target": target}
            acked_total = 0
            for threads in (1, 4):
                rate, acked, failed = put_cell(kin, threads, a.duration)
                row[f"put_t{threads}"] = round(rate)
                row[f"failed_t{threads}"] = failed
                acked_total += acked
            if target != "null":
                got, rate = read_back(kin)
                row.update(acked=acked_total, read_back=got, lost=acked_total - got)
                row["read_rps"] = round(rate)
            rows.append(row)
            print(json.dumps(row), flush=True)
        finally:
            s3b.stop(server)
    ceiling = next((r for r in rows if r["target"] == "null"), None)
    print(f"\n{'target':8} {'put t1 rec/s':>13} {'put t4 rec/s':>13} {'% ceiling':>10} "
          f"{'read rec/s':>11} {'acked':>10} {'lost':>6}")  # fmt: skip
    for r in rows:
        pct = ""
        if ceiling and r is not ceiling:
            pct = f"{100 * r['put_t1'] / ceiling['put_t1']:.0f}/{100 * r['put_t4'] / ceiling['put_t4']:.0f}"
        print(
            f"{r['target']:8} {r['put_t1']:>13,} {r['put_t4']:>13,} {pct:>10} "
            f"{r.get('read_rps', 0):>11,} {r.get('acked', 0):>10,} {r.get('lost', ''):>6}"
        )
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
