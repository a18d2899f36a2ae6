"""Kinesis benchmark: PutRecords throughput and read-back, one run, three targets side by side:
a null HTTP server (the ceiling: it answers 200 to everything), stock moto_server (the baseline)
and bdlab's own Kinesis provider (limits relaxed, as the issue's measurement asks), also with
``--fsync`` (target bdlab-fsync: every group commit fsynced, for power-loss durability).

Workloads (each bounded in time): PutRecords of 500 records x 200 B on a 4-shard stream with 1
and 4 client threads (records/s); then, for moto and bdlab, every record read back with
GetRecords (records/s) and the loss check: records read back == records acknowledged.

Run:  python scripts/bench/kinesis_bench.py [--duration 5] [--targets null,moto,bdlab,bdlab-fsync]
      python scripts/bench/kinesis_bench.py --memory 10000000   (RSS of a stream of 10M records)
Writes bench-results/kinesis_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
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
    if target in ("bdlab", "bdlab-fsync"):
        return [
            s3b.PY, "-m", "sim.emulator", "--host", "127.0.0.1", "--port", str(port),
            "--state-dir", str(workdir / "state"), "--no-kinesis-limits",
            *(["--fsync"] if target == "bdlab-fsync" else []),
        ]  # fmt: skip
    return list(_S3_COMMAND(target, port, workdir))


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (Linux /proc; psutil elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil  # type: ignore[import-untyped]

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def memory(n: int) -> dict[str, Any]:
    """Fill a 4-shard stream with ``n`` records of 50 B (4 threads) and report the emulator's
    RSS when empty, when full, and after a restart that reloads the stream from disk."""
    small = [{"Data": b"m" * 50, "PartitionKey": f"key-{i}"} for i in range(500)]
    server = s3b.spawn("bdlab")
    row: dict[str, Any] = {"target": "bdlab", "records": n}
    try:
        s3b.wait_up(server)
        kin = client(server.port)
        kin.create_stream(StreamName=STREAM, ShardCount=4)
        kin.get_waiter("stream_exists").wait(StreamName=STREAM)
        row["rss_empty_mib"] = round(rss_mib(server.proc.pid))
        left = [n // 500 // 4 + 1] * 4
        t0 = time.perf_counter()

        def work(i: int) -> None:
            while left[i] > 0:
                kin.put_records(StreamName=STREAM, Records=small)
                left[i] -= 1

        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        row["fill_s"] = round(time.perf_counter() - t0, 1)
        row["rss_full_mib"] = round(rss_mib(server.proc.pid))
        disk = sum(f.stat().st_size for f in (server.workdir / "state").rglob("*") if f.is_file())
        row["disk_mib"] = round(disk / 2**20)
        # restart on the same state folder: how long the logs take to load, and the memory
        server.proc.terminate()
        server.proc.wait(60)
        t1 = time.perf_counter()
        server.proc = subprocess.Popen(
            command("bdlab", server.port, server.workdir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server.started = t1
        again = server
        row["restart_s"] = round(s3b.wait_up(again, timeout=600), 1)
        kin = client(server.port)
        kin.describe_stream_summary(StreamName=STREAM)  # the stream's logs are loaded now
        row["rss_reloaded_mib"] = round(rss_mib(server.proc.pid))
    finally:
        s3b.stop(server)
    return row


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
    p.add_argument(
        "--memory", type=int, default=0, help="instead: fill a stream with N records, report RSS"
    )
    a = p.parse_args(argv)
    s3b.command = command  # spawn bdlab with its own Kinesis provider
    if a.memory:
        row = memory(a.memory)
        print(json.dumps(row))
        out = Path(a.json).with_name("kinesis_memory.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(row, indent=1))
        return 0
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
