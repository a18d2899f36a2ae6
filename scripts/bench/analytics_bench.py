"""Real-time analytics benchmark: the Spark job of spark/jobs/realtime.py (the Kinesis source,
10-second tumbling windows with a 5-second watermark, each micro-batch appended to Delta in the
lake and sent to CloudWatch) on a 2-shard stream fed at --rate events/s for --duration s.

Latency of a micro-batch = when the batch finished (Spark's progress: trigger start + its
triggerExecution time) - when the oldest record in it was acknowledged by PutRecords (the
producer keeps every sequence number it got back; a batch's records are those between its
start and end offsets). Baseline in the same run: a plain GetRecords loop in Python (4 polls/s
per shard, under AWS's limit of 5) measuring the same thing per record, i.e. what Spark adds. Also the
driver JVM's peak RSS.

Run:  python scripts/bench/analytics_bench.py [--rate 1000] [--duration 60]
Writes bench-results/analytics_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Feed:
    """Puts ``rate`` events/s into ``stream`` (100 ms batches) until stopped; keeps
    (shard, sequence number) -> acknowledgement time."""

    def __init__(self, kin: Any, stream: str, rate: int) -> None:
        self.kin, self.stream, self.rate = kin, stream, rate
        self.acked: dict[str, list[tuple[int, float]]] = {}
        self.sent = 0
        self._stop = threading.Event()
        self._rng = random.Random(7)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _event(self, i: int) -> bytes:
        r = self._rng
        return json.dumps(
            {
                "event_id": f"e{i}",
                "event_time": datetime.now(UTC).isoformat(),
                "event_type": "purchase" if r.random() < 0.2 else "view",
                "country": r.choice(["KR", "US", "JP", "DE"]),
                "price": round(r.uniform(5, 200), 2),
                "quantity": r.randint(1, 3),
            }
        ).encode()

    def _run(self) -> None:
        per_tick = max(1, self.rate // 10)
        nxt = time.monotonic()
        while not self._stop.is_set():
            recs = [
                {"Data": self._event(self.sent + k), "PartitionKey": str(self.sent + k)}
                for k in range(per_tick)
            ]
            out = self.kin.put_records(StreamName=self.stream, Records=recs)
            now = time.time()
            for e in out["Records"]:
                if "SequenceNumber" in e:
                    self.acked.setdefault(e["ShardId"], []).append((int(e["SequenceNumber"]), now))
            self.sent += per_tick - out["FailedRecordCount"]
            nxt += 0.1
            time.sleep(max(0.0, nxt - time.monotonic()))

    def start(self) -> Feed:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()

    def oldest_after(self, shard: str, after: int | None, upto: int) -> float | None:
        """Acknowledgement time of the first record of ``shard`` in (after, upto]."""
        for seq, t in self.acked.get(shard, []):
            if (after is None or seq > after) and seq <= upto:
                return t
        return None


def _shards(offset: Any) -> dict[str, Any]:
    """The per-shard positions of a progress report's offset (a JSON string, or null)."""
    parsed = json.loads(offset) if isinstance(offset, str) else offset
    return dict((parsed or {}).get("shards", {}))


def driver_rss_mib() -> float:
    import psutil

    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            if "java" in p.name():
                total = max(total, p.memory_info().rss / 2**20)
        except psutil.Error:
            pass
    return total


def spark_run(profile: Any, cfg: Any, kin: Any, rate: int, duration: float) -> dict[str, Any]:
    from sim import clients
    from spark.jobs import realtime
    from spark.session import get_session

    stream = "bench-analytics"
    kin.create_stream(StreamName=stream, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    s3 = clients.client("s3", profile)
    s3.create_bucket(Bucket="bench-analytics")
    spark = get_session(profile, cfg, app_name="analytics-bench")
    ckpt = tempfile.mkdtemp(prefix="analytics-bench-")
    q = realtime.start(
        spark,
        profile,
        stream,
        "s3a://bench-analytics/gold/realtime_revenue",
        ckpt,
        window="10 seconds",
        watermark="5 seconds",
    )
    feed = Feed(kin, stream, rate).start()
    rss: list[float] = []
    t_end = time.monotonic() + duration
    while time.monotonic() < t_end:
        time.sleep(1.0)
        rss.append(driver_rss_mib())
    feed.stop()
    last = {sid: max(s for s, _ in acks) for sid, acks in feed.acked.items()}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # let it catch up with the last record
        prog = q.lastProgress
        end = _shards(prog["sources"][0]["endOffset"]) if prog else {}
        if all(int(end.get(sid, {}).get("after", 0)) >= seq for sid, seq in last.items()):
            break
        time.sleep(0.5)
    progress = list(q.recentProgress)
    q.stop()
    latencies, rows, durations = [], [], []
    for p in progress:
        n = p["numInputRows"]
        if not n:
            continue
        src = p["sources"][0]
        start = _shards(src.get("startOffset"))
        end = _shards(src.get("endOffset"))
        finished = (
            datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).timestamp()
            + p["durationMs"]["triggerExecution"] / 1000
        )
        oldest = [
            feed.oldest_after(
                sid,
                int(start[sid]["after"]) if "after" in start.get(sid, {}) else None,
                int(pos["after"]),
            )
            for sid, pos in end.items()
            if "after" in pos
        ]
        ts = [t for t in oldest if t is not None]
        if ts:
            latencies.append(finished - min(ts))
            rows.append(n)
            durations.append(p["durationMs"]["triggerExecution"] / 1000)
    return {
        "events": feed.sent,
        "batches": len(latencies),
        "rows_per_batch": statistics.mean(rows) if rows else 0,
        "batch_s_p50": pct(durations, 0.5),
        "latency_s_p50": pct(latencies, 0.5),
        "latency_s_p95": pct(latencies, 0.95),
        "latency_s_max": max(latencies) if latencies else float("nan"),
        # after the first micro-batch (JIT, the Delta table's creation) and the catch-up
        # it causes: the last half of the batches
        "steady_latency_s_p50": pct(latencies[len(latencies) // 2 :], 0.5),
        "steady_batch_s_p50": pct(durations[len(durations) // 2 :], 0.5),
        "driver_rss_mib_peak": max(rss) if rss else float("nan"),
    }


def poller_run(kin: Any, rate: int, duration: float) -> dict[str, Any]:
    """Baseline: GetRecords every 0.25 s per shard; latency per record = read - acknowledged."""
    stream = "bench-analytics-poller"
    kin.create_stream(StreamName=stream, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    shards = [s["ShardId"] for s in kin.list_shards(StreamName=stream)["Shards"]]
    its = {
        s: kin.get_shard_iterator(StreamName=stream, ShardId=s, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        for s in shards
    }
    feed = Feed(kin, stream, rate).start()
    acked_at: dict[tuple[str, int], float] = {}
    lat: list[float] = []
    pending: list[tuple[str, int, float]] = []
    t_end = time.monotonic() + duration
    while time.monotonic() < t_end + 2:
        if time.monotonic() >= t_end and feed.thread.is_alive():
            feed.stop()
        for s in shards:
            out = kin.get_records(ShardIterator=its[s], Limit=10_000)
            its[s] = out["NextShardIterator"]
            now = time.time()
            pending += [(s, int(r["SequenceNumber"]), now) for r in out["Records"]]
        for sid, acks in list(feed.acked.items()):
            for seq, t in acks:
                acked_at[(sid, seq)] = t
        keep = []
        for s, seq, t in pending:
            a = acked_at.get((s, seq))
            if a is None:
                keep.append((s, seq, t))
            else:
                lat.append(t - a)
        pending = keep
        time.sleep(0.25)  # under AWS's 5 GetRecords calls/s per shard
    if feed.thread.is_alive():
        feed.stop()
    return {
        "events": feed.sent,
        "latency_s_p50": pct(lat, 0.5),
        "latency_s_p95": pct(lat, 0.95),
        "latency_s_max": max(lat) if lat else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--json", type=Path, default=ROOT / "bench-results" / "analytics_bench.json")
    a = ap.parse_args()

    import sys

    sys.path.insert(0, str(ROOT))
    from sim import clients, profiles
    from sim.emulator.server import ThreadedEmulator
    from tests.conftest import settings_for

    state = Path(tempfile.mkdtemp(prefix="analytics-bench-state-"))
    emu = ThreadedEmulator(state).start()
    try:
        cfg = settings_for(state, port=emu.port)
        profile = profiles.resolve(cfg, "embedded")
        kin = clients.client("kinesis", profile)
        base = poller_run(kin, a.rate, min(a.duration, 30))
        spark = spark_run(profile, cfg, kin, a.rate, a.duration)
    finally:
        emu.stop()
    result = {"rate": a.rate, "duration_s": a.duration, "poller": base, "spark": spark}
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(result, indent=2))
    print(f"{'':28}{'p50 s':>8}{'p95 s':>8}{'max s':>8}")
    for name, r in (("GetRecords loop (baseline)", base), ("Spark realtime job", spark)):
        print(
            f"{name:28}{r['latency_s_p50']:8.2f}{r['latency_s_p95']:8.2f}{r['latency_s_max']:8.2f}"
        )
    print(
        f"Spark, last half of the micro-batches: latency p50 {spark['steady_latency_s_p50']:.2f} s, "
        f"batch p50 {spark['steady_batch_s_p50']:.2f} s"
    )
    print(
        f"Spark: {spark['events']:,} events in {spark['batches']} micro-batches "
        f"({spark['rows_per_batch']:.0f} rows each, {spark['batch_s_p50']:.2f} s p50 per batch), "
        f"driver RSS peak {spark['driver_rss_mib_peak']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
