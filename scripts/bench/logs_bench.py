"""CloudWatch Logs FilterLogEvents benchmark: bdlab vs stock moto_server in the same run.

One log group of --events events (default 1,000,000) in 4 interleaved streams, half plain text
("... INFO GET /p17 200 512 latency=734", one in 1,000 an ERROR, one in 500 a WARN), half JSON
({"level": ..., "latency": ...}), loaded with PutLogEvents in batches of 5,000. Then, per
pattern kind, one complete search: FilterLogEvents pages (limit 10,000) until no nextToken,
timed from the first request to the last answer. Matches are counted and compared with what
the pattern should find (computed here from the generated data): stock moto answers most
patterns with every event, so its "complete" time is capped by --budget seconds.

Goal (issue 15): a FilterLogEvents search over 1M events in <= 1 s.

Run:  python scripts/bench/logs_bench.py [--events 1000000] [--budget 30] [--targets bdlab,moto]
Writes bench-results/logs_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

_S3 = Path(__file__).with_name("s3_bench.py")
_spec = importlib.util.spec_from_file_location("s3_bench", _S3)
assert _spec and _spec.loader
s3b = importlib.util.module_from_spec(_spec)
sys.modules["s3_bench"] = s3b
_spec.loader.exec_module(s3b)

GROUP = "/bench/app"
STREAMS = 4
BATCH = 5_000
PATTERNS = [
    ("term", "ERROR"),
    ("or", "?ERROR ?WARN"),
    ("exclusion", "ERROR -p7"),
    ("regex", r"%latency=99\d$%"),
    ("json", '{ $.level = "error" }'),
    ("json-num", "{ $.latency > 995 && $.status = 5* }"),
    ("delimited", "[..., status = 5*, bytes, latency]"),
]


def message(i: int) -> str:
    j = i // 2  # the same mix of levels in both formats
    level = "ERROR" if j % 1000 == 7 else "WARN" if j % 500 == 3 else "INFO"
    status = 500 if level == "ERROR" else 200
    if i % 2:
        return json.dumps(
            {"level": level.lower(), "path": f"/p{i % 50}", "status": status, "latency": i % 997}
        )
    return f"10.0.{i % 256}.{i % 199} {level} GET /p{i % 50} {status} {i % 4096} latency={i % 997}"


def expected(events: int) -> dict[str, int]:
    """What each pattern must find (the same rules, written out plainly)."""
    from sim.emulator.providers.logs.filterpattern import compile_pattern

    pats = {name: compile_pattern(p) for name, p in PATTERNS}
    counts = dict.fromkeys(pats, 0)
    for i in range(events):
        m = message(i)
        for name, p in pats.items():
            counts[name] += p.matches(m)
    return counts


def client(port: int) -> Any:
    import boto3
    import botocore.config

    return boto3.session.Session(  # noqa: TID251 (a benchmark, apart from the product)
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        "logs",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=600),
    )


def load(logs: Any, events: int, t0_ms: int) -> float:
    logs.create_log_group(logGroupName=GROUP)
    for s in range(STREAMS):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=f"s{s}")
    start = time.perf_counter()
    per_stream = [list(range(s, events, STREAMS)) for s in range(STREAMS)]
    for s, ids in enumerate(per_stream):
        for k in range(0, len(ids), BATCH):
            r = logs.put_log_events(
                logGroupName=GROUP,
                logStreamName=f"s{s}",
                logEvents=[
                    {"timestamp": t0_ms + i, "message": message(i)} for i in ids[k : k + BATCH]
                ],
            )
            assert not r.get("rejectedLogEventsInfo"), r["rejectedLogEventsInfo"]
    return time.perf_counter() - start


def search(logs: Any, pattern: str, budget: float) -> dict[str, Any]:
    kw: dict[str, Any] = {"logGroupName": GROUP, "filterPattern": pattern, "limit": 10_000}
    t0 = time.perf_counter()
    first = None
    found = pages = 0
    complete = True
    while True:
        try:
            out = logs.filter_log_events(**kw)
        except Exception as exc:  # e.g. stock moto refusing nothing but failing somewhere
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}
        pages += 1
        found += len(out["events"])
        first = first if first is not None else time.perf_counter() - t0
        if "nextToken" not in out:
            break
        if time.perf_counter() - t0 > budget:
            complete = False
            break
        kw["nextToken"] = out["nextToken"]
    return {
        "first_page_s": round(first or 0.0, 3),
        "complete_s": round(time.perf_counter() - t0, 3) if complete else None,
        "pages": pages,
        "found": found,
        "complete": complete,
    }


def run_target(target: str, events: int, budget: float, want: dict[str, int]) -> dict[str, Any]:
    server = s3b.spawn(target)
    row: dict[str, Any] = {"target": target}
    try:
        s3b.wait_up(server)
        logs = client(server.port)
        t0_ms = (int(time.time()) - 7200) * 1000
        row["load_s"] = round(load(logs, events, t0_ms), 1)
        print(f"{target}: loaded {events:,} events in {row['load_s']} s", flush=True)
        for name, pattern in PATTERNS:
            cell = search(logs, pattern, budget)
            if "found" in cell:
                cell["correct"] = cell["complete"] and cell["found"] == want[name]
            row[name] = cell
            print(f"{target} {name:10} {json.dumps(cell)}", flush=True)
    finally:
        s3b.stop(server)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--budget", type=float, default=30.0, help="seconds per search before giving up")
    p.add_argument("--targets", default="bdlab,moto")
    p.add_argument("--json", default="bench-results/logs_bench.json")
    a = p.parse_args(argv)
    want = expected(a.events)
    rows = [run_target(t, a.events, a.budget, want) for t in a.targets.split(",")]
    print(f"\nFilterLogEvents over {a.events:,} events ({STREAMS} streams), complete search in s")
    head = f"{'pattern':11} {'matches':>8}"
    for r in rows:
        head += f" {r['target'] + ' s':>10} {'ok':>3}"
    print(head)
    for name, _ in PATTERNS:
        line = f"{name:11} {want[name]:>8,}"
        for r in rows:
            c = r.get(name, {})
            t = c.get("complete_s")
            shown = f"{t:.3f}" if t is not None else (f">{a.budget:.0f}" if "found" in c else "err")
            line += f" {shown:>10} {'yes' if c.get('correct') else 'NO':>3}"
        print(line)
    print("(goal: <= 1 s; patterns: " + "; ".join(f"{n} = {p}" for n, p in PATTERNS) + ")")
    path = Path(a.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"events": a.events, "expected": want, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
