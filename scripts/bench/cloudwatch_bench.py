"""CloudWatch benchmark (issue 15, "Measure"), one run, targets one after another:

1. PutMetricData calls/s with 1 and with 20 metric values a call (20 MetricDatum members of one
   Value each), 1 and 4 client threads, on a null HTTP server (the ceiling: it answers 200 to
   everything), stock moto_server (the baseline) and bdlab's own CloudWatch provider.
2. GetMetricData latency over 1,000,000 stored datapoints (bdlab only): one metric, the last
   24 hours, 6,667 high-resolution MetricDatum members of 150 Values each; one query for a day
   of 1-minute Averages (1,440 datapoints), one for p99 (every raw value read), median and
   p95 of 10 calls each.
3. Fault -> alarm -> notification (bdlab only), the clock at x60: a client reports an error
   count each 0.1 s wall (0 while healthy); the fault makes it 5; the alarm (Sum > 0, Period
   60, 1 of 1) goes to ALARM and its SNS notification lands in an SQS queue subscribed to the
   topic. Wall seconds from the first faulty datapoint to the message, median of 3 (goal 5 s).

boto3 speaks JSON 1.0 to CloudWatch (botocore's protocol priority), so that is measured.
Run:  python scripts/bench/cloudwatch_bench.py [--duration 3] [--targets null,moto,bdlab]
Writes bench-results/cloudwatch_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_S3 = Path(__file__).with_name("s3_bench.py")
_spec = importlib.util.spec_from_file_location("s3_bench", _S3)
assert _spec and _spec.loader
s3b = importlib.util.module_from_spec(_spec)
sys.modules["s3_bench"] = s3b
_spec.loader.exec_module(s3b)

GOAL_MS = 100.0
ALARM_GOAL_S = 5.0
CEILING_SHARE = 0.75


def client(port: int) -> Any:
    import boto3
    import botocore.config

    return boto3.session.Session(  # noqa: TID251 (a benchmark, apart from the product)
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        "cloudwatch",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=16),
    )


def put_cell(port: int, values: int, threads: int, duration: float) -> tuple[float, int]:
    """(calls/s, errors) of PutMetricData with ``values`` datums a call."""
    cws = [client(port) for _ in range(threads)]
    done, errors = [0] * threads, [0] * threads
    data = [
        {"MetricName": f"m{i}", "Value": float(i), "Dimensions": [{"Name": "Host", "Value": "h1"}]}
        for i in range(values)
    ]
    for cw in cws:  # warm the connection and the client
        try:
            cw.put_metric_data(Namespace="bench", MetricData=data)
        except Exception:
            pass
    stop = time.perf_counter() + duration

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            try:
                cws[i].put_metric_data(Namespace="bench", MetricData=data)
                done[i] += 1
            except Exception:
                errors[i] += 1

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.perf_counter() - t0), sum(errors)


def load_million(port: int) -> tuple[float, datetime]:
    """1,000,000 values into one metric over the last day; returns (seconds, end time)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_bdlab/clock") as r:
        now = datetime.fromtimestamp(json.loads(r.read())["now"], UTC)
    cw = client(port)
    datums, per = 6667, 150
    step = 86_400 / datums
    t0 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(datums):
        n = per if i < datums - 1 else 1_000_000 - per * (datums - 1)
        batch.append(
            {
                "MetricName": "latency",
                "Timestamp": now - timedelta(seconds=86_400 - i * step),
                "Values": [float((i * per + j) % 1000) for j in range(n)],
                "StorageResolution": 1,
                "Unit": "Milliseconds",
            }
        )
        if len(batch) == 200 or i == datums - 1:  # 200 x 150 values: under 1 MB
            cw.put_metric_data(Namespace="bench/million", MetricData=batch)
            batch = []
    return time.perf_counter() - t0, now


def gmd_latency(port: int, end: datetime, stat: str, reps: int = 10) -> tuple[float, float, int]:
    """(median ms, p95 ms, datapoints) of GetMetricData for a day of ``stat`` per minute."""
    cw = client(port)
    query = [
        {
            "Id": "q",
            "MetricStat": {
                "Metric": {"Namespace": "bench/million", "MetricName": "latency"},
                "Period": 60,
                "Stat": stat,
            },
        }
    ]
    times, n = [], 0
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        out = cw.get_metric_data(
            MetricDataQueries=query,
            StartTime=end - timedelta(days=1, minutes=1),
            EndTime=end + timedelta(minutes=1),
        )
        times.append((time.perf_counter() - t0) * 1000)
        n = len(out["MetricDataResults"][0]["Values"])
    times = times[1:]  # the first call warms caches
    return statistics.median(times), sorted(times)[int(0.95 * (len(times) - 1))], n


def aws_client(service: str, port: int) -> Any:
    import boto3

    return boto3.session.Session(  # noqa: TID251 (a benchmark, apart from the product)
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(service, endpoint_url=f"http://127.0.0.1:{port}")


def alarm_latency(port: int, run_no: int) -> tuple[float, float]:
    """Wall seconds from the fault's first datapoint to the ALARM notification in SQS, and to
    the ALARM mail in the emulator's mailbox (the issue's goal names the mailbox)."""
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/_bdlab/clock",
        data=json.dumps({"speed": 60}).encode(),
        method="POST",
    )
    urllib.request.urlopen(req).read()
    cw, sns, sqs = client(port), aws_client("sns", port), aws_client("sqs", port)
    url = sqs.create_queue(QueueName=f"bench-alarm-{run_no}")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=f"bench-alarm-{run_no}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=f"oncall{run_no}@example.com")
    ns = f"bench/app{run_no}"

    def alarm_mail() -> bool:
        inbox = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/_bdlab/inbox").read())[
            "messages"
        ]
        return any(
            m["to"] == f"oncall{run_no}@example.com" and m["subject"].startswith("ALARM:")
            for m in inbox
        )

    cw.put_metric_alarm(
        AlarmName=f"bench-errors-{run_no}",
        Namespace=ns,
        MetricName="errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    errors = [0.0]
    stop = threading.Event()

    def report() -> None:  # the application's own error metric, every 0.1 s wall
        while not stop.is_set():
            cw.put_metric_data(
                Namespace=ns, MetricData=[{"MetricName": "errors", "Value": errors[0]}]
            )
            time.sleep(0.1)

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    time.sleep(2.5)  # healthy for two emulator minutes: the alarm settles in OK
    t0 = time.perf_counter()
    errors[0] = 5.0  # the fault
    sqs_s = mail_s = float("inf")
    try:
        while time.perf_counter() - t0 < 30 and (sqs_s == float("inf") or mail_s == float("inf")):
            if mail_s == float("inf") and alarm_mail():
                mail_s = time.perf_counter() - t0
            if sqs_s == float("inf"):
                for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []):
                    if json.loads(json.loads(m["Body"])["Message"])["NewStateValue"] == "ALARM":
                        sqs_s = time.perf_counter() - t0
            time.sleep(0.05)
        return sqs_s, mail_s
    finally:
        stop.set()
        reporter.join()


def run(targets: list[str], duration: float, log: Any) -> dict[str, Any]:
    results: dict[str, Any] = {"put": {}, "get_metric_data": {}}
    for target in targets:
        server = s3b.spawn(target)
        try:
            s3b.wait_up(server)
            for values in (1, 20):
                for threads in (1, 4):
                    rate, errors = put_cell(server.port, values, threads, duration)
                    results["put"].setdefault(target, {})[f"{values}v/{threads}t"] = {
                        "calls_per_s": rate,
                        "errors": errors,
                    }
                    log(
                        f"{target:5} {values:2} values {threads} threads: {rate:8.1f} calls/s"
                        f"{f'  ({errors} errors)' if errors else ''}"
                    )
            if target == "bdlab":
                secs, end = load_million(server.port)
                log(f"bdlab loaded 1,000,000 datapoints in {secs:.1f} s")
                results["get_metric_data"]["load_s"] = secs
                for stat in ("Average", "p99"):
                    med, p95, n = gmd_latency(server.port, end, stat)
                    results["get_metric_data"][stat] = {
                        "median_ms": med,
                        "p95_ms": p95,
                        "datapoints": n,
                    }
                    log(
                        f"bdlab GetMetricData {stat}: median {med:.1f} ms, p95 {p95:.1f} ms, "
                        f"{n} datapoints"
                    )
                pairs = [alarm_latency(server.port, i) for i in range(3)]
                runs, mails = [p[0] for p in pairs], [p[1] for p in pairs]
                results["alarm"] = {"wall_s": runs, "median_s": statistics.median(runs)}
                results["alarm_mail"] = {"wall_s": mails, "median_s": statistics.median(mails)}
                log(f"bdlab fault -> ALARM -> SQS at x60: {', '.join(f'{r:.2f}' for r in runs)} s")
                log(
                    f"bdlab fault -> ALARM -> mailbox at x60: {', '.join(f'{r:.2f}' for r in mails)} s"
                )
        finally:
            s3b.stop(server)
    return results


def render(results: dict[str, Any]) -> str:
    put = results["put"]
    cells = ["1v/1t", "1v/4t", "20v/1t", "20v/4t"]
    lines = [f"{'PutMetricData calls/s':24}" + "".join(f"{c:>10}" for c in cells)]
    for target, row in put.items():
        lines.append(f"{target:24}" + "".join(f"{row[c]['calls_per_s']:10.1f}" for c in cells))
    if "bdlab" in put and "null" in put:
        lines.append(
            f"{'bdlab % of null':24}"
            + "".join(
                f"{100 * put['bdlab'][c]['calls_per_s'] / put['null'][c]['calls_per_s']:9.0f}%"
                for c in cells
            )
        )
    gmd = results["get_metric_data"]
    for stat in ("Average", "p99"):
        if stat in gmd:
            g = gmd[stat]
            ok = "meets" if g["median_ms"] <= GOAL_MS else "misses"
            lines.append(
                f"GetMetricData over 1M datapoints, {stat}: median {g['median_ms']:.1f} ms, "
                f"p95 {g['p95_ms']:.1f} ms ({g['datapoints']} datapoints; {ok} the "
                f"{GOAL_MS:.0f} ms goal)"
            )
    if "alarm" in results:
        med = results["alarm"]["median_s"]
        ok = "meets" if med <= ALARM_GOAL_S else "misses"
        lines.append(
            f"Fault -> alarm in ALARM -> notification in SQS, clock x60: median {med:.2f} s wall "
            f"({ok} the {ALARM_GOAL_S:.0f} s goal)"
        )
    if "alarm_mail" in results:
        med = results["alarm_mail"]["median_s"]
        ok = "meets" if med <= ALARM_GOAL_S else "misses"
        lines.append(
            f"Fault -> alarm in ALARM -> mail in the mailbox, clock x60: median {med:.2f} s "
            f"wall ({ok} the {ALARM_GOAL_S:.0f} s goal)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--duration", type=float, default=3.0, help="seconds per put cell")
    p.add_argument("--targets", default="null,moto,bdlab")
    p.add_argument("--json", type=Path, default=Path("bench-results/cloudwatch_bench.json"))
    args = p.parse_args(argv)
    machine = s3b.machine()
    results = run(args.targets.split(","), args.duration, lambda s: print(s, flush=True))
    print()
    print(render(results))
    results["machine"] = machine
    results["machine"]["loadavg_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
