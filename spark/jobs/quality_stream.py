"""Streaming data-quality monitoring: each micro-batch of a Kinesis stream is checked with
``sim.dataquality`` rules; good records go on (Parquet or Delta in the lake), bad ones to a
quarantine prefix in S3 as JSON lines with the rule they broke, and the batch's quality
(PassRate, FailedRecords by Rule, Freshness) to CloudWatch (namespace ``bdlab/quality``),
stamped with the batch's time at one-second resolution (high-resolution custom metrics).

Records that are not JSON fail rule ``json``. Duplicates are caught within a batch and across
the batches of one run (the window of recent ids lives in the driver); a caller that runs the
query again (``available_now``, one run per micro-batch) passes the same ``seen`` window to each
run, as one long-running query would keep it.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from sim.dataquality import NAMESPACE, Rules, check


def start(
    spark: Any,
    profile: Any,
    stream: str,
    good_path: str,
    quarantine: tuple[str, str],
    checkpoint: str,
    rules: Rules,
    *,
    pipeline: str = "clicks",
    good_format: str = "parquet",
    available_now: bool = False,
    starting_position: str = "TRIM_HORIZON",
    namespace: str = NAMESPACE,
    seen: OrderedDict[Any, None] | None = None,
    metrics: Any = None,
) -> Any:
    """Start the query; ``quarantine`` is (bucket, prefix). Returns the StreamingQuery.

    ``pipeline`` is the metrics' Pipeline dimension and ``namespace`` their CloudWatch
    namespace. ``seen`` is the window of recent ``rules.unique`` values: pass the same
    OrderedDict to the next run to catch a duplicate of a record an earlier run took (a new
    window per run when None). ``metrics``: a ``JobMetrics`` recording each micro-batch's
    progress and quality (the caller detaches it)."""
    import pandas as pd

    from sim import clients
    from spark.kinesis_source import options_for, register

    register(spark)
    raw = (
        spark.readStream.format("kinesis")
        .options(**options_for(profile, stream, startingPosition=starting_position))
        .load()
        .selectExpr("sequenceNumber", "cast(data as string) as json")
    )
    window: OrderedDict[Any, None] = OrderedDict() if seen is None else seen
    bucket, prefix = quarantine

    def sink(batch: Any, batch_id: int) -> None:
        now = time.time()
        docs, not_json = [], []
        for r in batch.collect():
            try:
                doc = json.loads(r["json"])
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
                docs.append(doc)
            except ValueError:
                not_json.append(r["json"])
        result = check(pd.DataFrame(docs), rules, now, window)
        if len(result.good):
            good = spark.createDataFrame(
                result.good.astype(object).where(result.good.notna(), None)
            )
            good.write.format(good_format).mode("append").save(good_path)
        bad_lines = [
            json.dumps({**{k: _plain(v) for k, v in row.items()}}, default=str)
            for row in result.bad.to_dict(orient="records")
        ] + [
            json.dumps({"raw": raw_text, "dq_rule": "json", "dq_detail": "not a JSON object"})
            for raw_text in not_json
        ]
        if bad_lines:
            clients.client("s3", profile).put_object(
                Bucket=bucket,
                Key=f"{prefix}batch={batch_id:06d}/part-0.jsonl",
                Body=("\n".join(bad_lines) + "\n").encode(),
            )
        result.total += len(not_json)
        if not_json:
            result.failures["json"] += len(not_json)
        # Stamped here, once the batch's rows are written, with the driver's clock: the
        # metrics of a batch follow its lake commit in time, whatever the service's clock.
        # One-second resolution keeps micro-batches (and runs) seconds apart apart.
        data = result.metrics(pipeline, timestamp=datetime.now(UTC))
        for m in data:
            m["StorageResolution"] = 1
        if not_json:  # FailedRecords counts the not-JSON rows too
            for m in data:
                if m["MetricName"] == "FailedRecords" and len(m["Dimensions"]) == 1:
                    m["Value"] = float(len(result.bad) + len(not_json))
                if m["MetricName"] == "PassRate":
                    m["Value"] = 100.0 * len(result.good) / max(result.total, 1)
        clients.client("cloudwatch", profile).put_metric_data(Namespace=namespace, MetricData=data)
        if metrics is not None:  # Prometheus
            metrics.quality(result.total, len(result.good), result.failures)

    writer = raw.writeStream.foreachBatch(sink).option("checkpointLocation", checkpoint)
    writer = writer.trigger(availableNow=True) if available_now else writer
    if metrics is not None:  # Prometheus: a listener on this query's progress
        writer = writer.queryName(metrics.attach(spark))
    return writer.start()


def load_rules(path: str | None) -> Rules:
    """:class:`sim.dataquality.Rules` from a JSON object with its fields (``ranges`` as
    ``{"price": [0, 1000]}``); no rules (only ``json``) when ``path`` is None. ValueError
    for an unknown field or text that is not JSON."""
    if path is None:
        return Rules()
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    known = set(Rules.__dataclass_fields__)
    if not isinstance(doc, dict) or set(doc) - known:
        raise ValueError(f"{path}: a JSON object with keys among {', '.join(sorted(known))}")
    doc["required"] = tuple(doc.get("required", ()))
    doc["ranges"] = {k: tuple(v) for k, v in doc.get("ranges", {}).items()}
    doc["allowed"] = {k: tuple(v) for k, v in doc.get("allowed", {}).items()}
    return Rules(**doc)


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring); 0 once the query ended, 2 on a usage error."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m spark.jobs.quality_stream", description=__doc__)
    ap.add_argument("stream", help="the Kinesis stream")
    ap.add_argument("good_path", help="where good records go (Parquet or Delta)")
    ap.add_argument("quarantine", help="s3://bucket/prefix/ for bad records (JSON lines)")
    ap.add_argument("checkpoint", help="the query's checkpoint location")
    ap.add_argument("--rules", default=None, help="rules as JSON (sim.dataquality.Rules' fields)")
    ap.add_argument("--pipeline", default="clicks", help="CloudWatch dimension Pipeline")
    ap.add_argument("--format", default="parquet", choices=("parquet", "delta"))
    ap.add_argument("--available-now", action="store_true", help="what is there, then stop")
    ap.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="P",
        help="serve Prometheus metrics on 127.0.0.1:P/metrics (0: any free port)",
    )
    ap.add_argument(
        "--metrics-linger",
        type=float,
        default=0.0,
        metavar="S",
        help="keep serving them S seconds after the query ends (for the last scrape)",
    )
    a = ap.parse_args(argv)
    bucket, _, prefix = a.quarantine.removeprefix("s3://").removeprefix("s3a://").partition("/")
    try:
        rules = load_rules(a.rules)
    except (OSError, ValueError) as exc:
        ap.error(str(exc))
    from contextlib import nullcontext

    from sim.monitoring.promexport import job_endpoint
    from spark import notebook  # the public entry: settings and profile resolved there

    serving = (
        job_endpoint("quality_stream", a.metrics_port, a.metrics_linger)
        if a.metrics_port is not None
        else nullcontext()
    )
    with serving as metrics:
        q = start(
            notebook.spark,
            notebook.profile,
            a.stream,
            a.good_path,
            (bucket, prefix),
            a.checkpoint,
            rules,
            pipeline=a.pipeline,
            good_format=a.format,
            available_now=a.available_now,
            metrics=metrics,
        )
        try:
            q.awaitTermination()
        finally:
            if metrics is not None:
                metrics.detach(notebook.spark)
    return 0


def _plain(value: Any) -> Any:
    """pandas' values as JSON can write them (NaN as null, timestamps as text)."""
    try:
        import pandas as pd

        if value is None or (not isinstance(value, list | dict | str) and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return value


if __name__ == "__main__":
    raise SystemExit(main())
