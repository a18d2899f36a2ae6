"""`bdlab demo`, the main job: sample events -> partitioned S3 lake -> Spark over s3a ->
Delta tables in the lake (daily revenue, and the funnel and top products the BI dashboard
shows) -> a short result table; the same daily revenue as an EMR step (its output is the BI
dashboard's EMR sheet); then Kinesis, Firehose, the real-time job and an alarm on cue."""

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
    status(f"1/7 generating {rows:,} events and uploading them to s3://{bucket}/raw/")
    raw = write_raw(profile, bucket, rows)
    timings["generate+upload"] = time.perf_counter() - t
    say(
        f"[bold]1/7[/] {raw['rows']:,} events -> s3://{bucket}/raw/events/dt=*/ "
        f"({raw['files']} partitions, {timings['generate+upload']:.1f} s)"
    )
    t = time.perf_counter()
    status("2/7 starting Spark (local, s3a -> the profile's S3)")
    spark = get_session(profile, cfg, app_name="bdlab-demo")
    timings["spark start"] = time.perf_counter() - t
    say(
        f"[bold]2/7[/] Spark {spark.version} local session with s3a -> {profile.endpoint_url or 'AWS'}"
        f" ({timings['spark start']:.1f} s)"
    )
    t = time.perf_counter()
    status("3/7 Spark job: raw Parquet -> daily revenue, funnel and top products as Delta tables")
    target = f"s3a://{bucket}/gold/daily_revenue"
    result = daily_revenue.run(spark, f"s3a://{bucket}/raw/events/", target)
    gold = write_gold(spark, bucket)
    rows_out = [
        r.asDict() for r in result.orderBy("dt", "revenue", ascending=[True, False]).collect()
    ]
    timings["spark job"] = time.perf_counter() - t
    history = spark.sql(f"DESCRIBE HISTORY delta.`{target}`").select("version").collect()
    say(
        f"[bold]3/7[/] Delta table {target} ({len(rows_out)} rows, version "
        f"{max(r.version for r in history)}), and {' and '.join(g.split('/', 3)[3] for g in gold)} "
        f"for the BI dashboard ({timings['spark job']:.1f} s)"
    )
    # The EMR step runs while the streaming stages do: it is a separate spark-submit that
    # mostly waits on its JVM's start, and the demo waits for it only at the end.
    t_emr = time.perf_counter()
    # Give the heap the Spark job grew back to the system before a second JVM starts beside
    # this one (G1 returns committed heap after a full collection): the laptop's whole stack,
    # dashboards included, stays under 3 GiB.
    # Only where steps run locally: on AWS a cluster takes ~10 minutes and costs money, and
    # LocalStack's EMR is a paid feature; lab 1.3.5 and `bdlab emr` run steps there.
    emr_run: dict[str, Any] | None = None
    if profile.can("local_emr_steps"):
        jvm = getattr(spark.sparkContext, "_jvm", None)  # a classic (py4j) session
        if jvm is not None:
            jvm.System.gc()
        emr_run = emr_stage_start(profile, bucket)
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
    status(f"4/7 streaming {STREAM_EVENTS:,} events through Kinesis (AWS's per-shard limits on)")
    streaming = stream_stage(profile, STREAM_EVENTS)
    timings["streaming"] = time.perf_counter() - t
    say(
        f"[bold]4/7[/] {streaming['produced']:,} events -> Kinesis stream {streaming['stream']} "
        f"({streaming['shards']} shards; {streaming['throttled']:,} entries over a shard's "
        "1,000 records/s were throttled, as on AWS, and resent) "
        f"-> consumer read {streaming['consumed']:,} ({timings['streaming']:.1f} s)"
    )
    if console:
        counts = Table("event_type", "events", title="events per type (read back from Kinesis)")
        for kind, n in sorted(streaming["by_type"].items(), key=lambda kv: -kv[1]):
            counts.add_row(kind, f"{n:,}")
        console.print(counts)
    t = time.perf_counter()
    status("5/7 Firehose (Kinesis source -> Parquet in S3) and the windowed analytics on Spark")
    windows = analytics_stage(profile, spark, streaming, bucket)
    timings["firehose+analytics"] = time.perf_counter() - t
    say(
        f"[bold]5/7[/] Firehose {streaming['firehose']} delivered {windows['delivered']:,} "
        f"events as Parquet to s3://{bucket}/{FIREHOSE_PREFIX} "
        f"({windows['objects']} object{'s' if windows['objects'] != 1 else ''}) "
        f"-> daily windows on Spark ({timings['firehose+analytics']:.1f} s)"
    )
    if console:
        wt = Table("window (UTC)", "country", "orders", "revenue", title="top country per day "
                   "(tumbling 1-day windows over what Firehose delivered)")  # fmt: skip
        for w in windows["top"]:
            wt.add_row(w["window"], w["country"], f"{w['orders']:,}", f"{w['revenue']:,.2f}")
        console.print(wt)
    t = time.perf_counter()
    status("6/7 fault on cue: a hot shard throttles writes, an alarm goes to ALARM and notifies")
    alerting = alert_stage(profile, streaming["stream"])
    timings["alerting"] = time.perf_counter() - t
    if alerting.get("skipped"):
        say(f"[bold]6/7[/] fault on cue skipped: {alerting['skipped']}")
    else:
        say(
            f"[bold]6/7[/] fault on cue: hot shard on {alerting['stream']} -> alarm "
            f"{alerting['alarm']} {' -> '.join(alerting['states'])}; "
            f"{len(alerting['notifications'])} notifications in SQS (the ALARM one "
            f"{alerting['alarm_notified_s']:.2f} s after the clock passed the fault's minute), "
            f"{alerting['mails']} mails in `bdlab inbox`, {len(alerting['chat'])} lines in "
            f"`bdlab chat oncall` ({timings['alerting']:.1f} s)"
        )
        if console:
            nt = Table(
                "state", "reason (from the SNS notification in SQS)", title="what the on-call saw"
            )
            for n in alerting["notifications"]:
                nt.add_row(n["state"], n["reason"])
            console.print(nt)
    status("7/7 the same daily revenue as an EMR step (spark-submit through the EMR API)")
    if emr_run is None:
        emr_out: dict[str, Any] = {
            "skipped": f"profile {profile.name!r} runs EMR steps on real clusters "
            "(`bdlab emr` or lab 1.3.5 run one)"
        }
        say(f"[bold]7/7[/] EMR step skipped: {emr_out['skipped']}")
    else:
        emr_out = emr_stage_finish(profile, emr_run)
        timings["emr step (overlapped)"] = time.perf_counter() - t_emr
        say(
            f"[bold]7/7[/] EMR cluster {emr_out['cluster']} step {emr_out['step']} "
            f"{emr_out['state']} -> s3://{bucket}/{EMR_OUTPUT} "
            f"({emr_out['objects']} Parquet objects; {timings['emr step (overlapped)']:.1f} s "
            "since it was submitted after 3/7)"
        )
    return {
        "bucket": bucket,
        "raw": raw,
        "gold": gold,
        "emr": emr_out,
        "delta_table": target,
        "result_rows": len(rows_out),
        "rows": rows_out,
        "streaming": streaming,
        "analytics": windows,
        "alerting": alerting,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }


GOLD_PREFIX = "lake/gold/"
EMR_OUTPUT = "emr/output/daily_revenue/"


def write_gold(spark: Any, bucket: str) -> list[str]:
    """The lake's gold funnel and top products (lake ETL's own functions, lab 1.3.4) over the
    raw events, as Delta tables under ``lake/gold/`` partitioned by dt: the tables the BI
    dashboard's funnel and top-products sheets read. Built concurrently (much of each is
    driver work); returns the tables' S3 paths."""
    from concurrent.futures import ThreadPoolExecutor

    from spark.jobs import lake_etl

    events = spark.read.parquet(f"s3a://{bucket}/raw/events/")

    def write(name: str) -> str:
        path = f"s3a://{bucket}/{GOLD_PREFIX}{name}"
        table = lake_etl.GOLD[name](events)
        table.write.format("delta").mode("overwrite").partitionBy("dt").save(path)
        return path.replace("s3a://", "s3://")

    names = ("funnel", "top_products")
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="gold") as pool:
        return list(pool.map(write, names))


def emr_stage_start(profile: profiles.Profile, bucket: str) -> dict[str, Any]:
    """Upload ``spark/jobs/daily_revenue.py``, create a self-terminating cluster and add the
    step writing Parquet to ``emr/output/daily_revenue/``; returns the ids to wait on."""
    from pathlib import Path

    from spark import emr
    from spark.jobs import daily_revenue

    s3 = clients.client("s3", profile)
    # A previous run's output would be read as this one's (the step overwrites it, but the
    # dashboard could import the old files while the step still writes)
    s3util.delete_prefix(s3, bucket, EMR_OUTPUT)
    script = emr.upload(Path(daily_revenue.__file__), f"s3://{bucket}/emr/jobs/", profile)
    spec = emr.ClusterSpec(
        name="bdlab-demo", log_uri=f"s3://{bucket}/emr/logs/", keep_alive=False, core_count=1
    )
    cluster = emr.create_cluster(spec, profile)
    step = emr.SparkStep(
        name="daily-revenue",
        script=script,
        args=[f"s3://{bucket}/raw/events/", f"s3://{bucket}/{EMR_OUTPUT}", "parquet"],
        # a week of events needs little heap; on a laptop this JVM runs beside the demo's
        # own Spark and the dashboards (the whole stack stays under 3 GiB)
        spark_args=["--driver-memory", "512m"],
    )
    return {"cluster": cluster, "step": emr.submit(cluster, [step], profile)[0], "bucket": bucket}


def emr_stage_finish(profile: profiles.Profile, run: dict[str, Any]) -> dict[str, Any]:
    """Wait for the step (EmrError with EMR's reason if it failed); count its output."""
    from spark import emr

    step = emr.wait_step(run["cluster"], run["step"], profile, timeout=900, poll=0.5)
    s3 = clients.client("s3", profile)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=run["bucket"], Prefix=EMR_OUTPUT)
    objects = sum(
        1 for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")
    )
    return {
        "cluster": run["cluster"],
        "step": run["step"],
        "state": step["Status"]["State"],
        "objects": objects,
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
    # Firehose reads the stream from LATEST: it is there before the first event
    firehose = delivery_stream(profile, stream, demo_bucket(profile))
    table = clickstream.generate(events, START, DAYS, seed=11)
    cols = ["event_id", "user_id", "event_time", "event_type", "country", "price", "quantity"]
    rows = table.select(cols).to_pylist()
    for r in rows:
        r["event_time"] = r["event_time"].isoformat()
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
        "firehose": firehose,
        "shards": STREAM_SHARDS,
        "produced": stats.sent,
        "throttled": stats.throttled,
        "consumed": read.records,
        "by_type": by_type,
    }


FIREHOSE_PREFIX = "streaming/clicks/"
_COLUMNS = [
    {"Name": "event_id", "Type": "string"},
    {"Name": "user_id", "Type": "bigint"},
    {"Name": "event_time", "Type": "timestamp"},
    {"Name": "event_type", "Type": "string"},
    {"Name": "country", "Type": "string"},
    {"Name": "price", "Type": "double"},
    {"Name": "quantity", "Type": "int"},
]


def delivery_stream(profile: profiles.Profile, stream: str, bucket: str) -> str:
    """A Firehose reading ``stream`` into ``bucket`` as Parquet (the Glue table's schema),
    with a 1 s buffer; made afresh (with its role and table) on every run."""
    import json

    iam, glue = clients.client("iam", profile), clients.client("glue", profile)
    fh = clients.client("firehose", profile)
    kin = clients.client("kinesis", profile)
    name = f"{stream}-to-lake"
    role_name = "bdlab-demo-firehose"
    try:
        role = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "firehose.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:*", "kinesis:*", "glue:*"], "Resource": "*"}
            ],
        }
        iam.put_role_policy(
            RoleName=role_name, PolicyName="demo", PolicyDocument=json.dumps(policy)
        )
    try:
        glue.create_database(DatabaseInput={"Name": "bdlab_demo"})
    except glue.exceptions.AlreadyExistsException:
        pass
    try:
        glue.delete_table(DatabaseName="bdlab_demo", Name="clicks")
    except glue.exceptions.EntityNotFoundException:
        pass
    glue.create_table(
        DatabaseName="bdlab_demo",
        TableInput={"Name": "clicks", "StorageDescriptor": {"Columns": _COLUMNS}},
    )
    try:
        fh.delete_delivery_stream(DeliveryStreamName=name)
    except fh.exceptions.ResourceNotFoundException:
        pass
    s3util.delete_prefix(clients.client("s3", profile), bucket, "streaming/")  # earlier runs
    arn = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": role},
        ExtendedS3DestinationConfiguration={
            "RoleARN": role,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": FIREHOSE_PREFIX,
            "ErrorOutputPrefix": "streaming/errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
            "DataFormatConversionConfiguration": {
                "Enabled": True,
                "SchemaConfiguration": {
                    "RoleARN": role,
                    "DatabaseName": "bdlab_demo",
                    "TableName": "clicks",
                },
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
            },
        },
    )
    return name


def analytics_stage(
    profile: profiles.Profile, spark: Any, streaming: dict[str, Any], bucket: str
) -> dict[str, Any]:
    """Wait until Firehose has delivered every produced event as Parquet, then compute the
    real-time job's windows (1 day, tumbling) over it on Spark."""
    import io

    import pyarrow.parquet as pq

    from spark.jobs import realtime

    s3 = clients.client("s3", profile)
    deadline = time.monotonic() + 120  # Firehose's 1 s buffer; on AWS about a minute
    delivered, objects = 0, 0
    while time.monotonic() < deadline:
        found = s3util.list_objects(s3, bucket, FIREHOSE_PREFIX)
        delivered = sum(
            pq.read_metadata(
                io.BytesIO(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            ).num_rows
            for o in found
        )
        objects = len(found)
        if delivered >= streaming["produced"]:
            break
        time.sleep(0.5)
    # Firehose's default layout (yyyy/MM/dd/HH/) is not key=value: read every file under it
    events = spark.read.option("recursiveFileLookup", "true").parquet(
        f"s3a://{bucket}/{FIREHOSE_PREFIX}"
    )
    out = realtime.windowed_revenue(events, window="1 day")
    best: dict[str, dict[str, Any]] = {}
    for r in out.collect():
        key = r["window_start"].strftime("%Y-%m-%d")
        if key not in best or r["revenue"] > best[key]["revenue"]:
            best[key] = {"window": key, "country": r["country"], "orders": r["orders"],
                         "revenue": r["revenue"]}  # fmt: skip
    return {"delivered": delivered, "objects": objects, "top": [best[k] for k in sorted(best)]}


ALARM_NAME = "bdlab-demo-kinesis-throttled"


def alert_stage(profile: profiles.Profile, stream: str) -> dict[str, Any]:
    """Part 3's loop on cue: an SNS topic with an SQS queue and an email subscription, a
    CloudWatch alarm on WriteProvisionedThroughputExceeded of a one-shard stream of its own
    (``stream`` + "-orders"; Sum > 0 a minute, missing data not breaching), then a hot-shard
    fault while producing: the alarm goes to ALARM and notifies once; the fault is removed and
    once the breaching minute has left the alarm's evaluation range (N + 2 periods, as
    CloudWatch looks back) it returns to OK with one more notification. Needs an emulator that
    takes faults and a clock to advance (it moves the clock by five minutes); elsewhere it is
    skipped."""
    import json

    from sim import admin as admin_mod
    from sim.kinesis.producer import Producer

    if not (profile.can("faults") and profile.can("clock")):
        return {"skipped": f"profile {profile.name!r} cannot inject faults or move the clock"}
    adm = admin_mod.Admin.of(profile, "faults")
    sns, sqs = clients.client("sns", profile), clients.client("sqs", profile)
    cw, kin = clients.client("cloudwatch", profile), clients.client("kinesis", profile)
    stream = f"{stream}-orders"  # quiet until the fault: the demo's click stream was throttled
    if stream not in kin.list_streams()["StreamNames"]:
        kin.create_stream(StreamName=stream, ShardCount=1)
        kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
    topic = sns.create_topic(Name="bdlab-demo-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="bdlab-demo-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # an earlier run's messages (PurgeQueue is allowed once a minute: read them away instead)
    _drain(sqs, queue, want=10_000, timeout_s=1.0)
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    if not any(x["Endpoint"] == qarn for x in subs):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    if not any(x["Protocol"] == "email" for x in subs):
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    chat_url = adm.chat_url("oncall")  # the chat webhook (AWS Chatbot's stand-in)
    if not any(x["Endpoint"] == chat_url for x in subs):
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=chat_url)
    mails_before = len(adm.inbox()["messages"])
    chat_before = max([0] + [x["n"] for x in adm.chat("oncall")])
    if cw.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"]:
        cw.delete_alarms(AlarmNames=[ALARM_NAME])  # an earlier run's, with its state
    cw.put_metric_alarm(
        AlarmName=ALARM_NAME,
        AlarmDescription="Writes to the demo stream are being throttled",
        Namespace="AWS/Kinesis",
        MetricName="WriteProvisionedThroughputExceeded",
        Dimensions=[{"Name": "StreamName", "Value": stream}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )

    def state() -> str:
        return str(cw.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"][0]["StateValue"])

    states = [state()]  # INSUFFICIENT_DATA, as every new alarm
    adm.set_clock(advance=60)  # the first evaluation: a quiet minute, OK
    states.append(state())
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    adm.set_faults(service="kinesis", hot_shard=shard, hot_shard_rate=0.5)
    try:
        events = [(json.dumps({"n": i}).encode(), str(i)) for i in range(400)]
        throttled = Producer(kin, stream).put(events).throttled
    finally:
        adm.reset_faults()
    # AWS/Kinesis metrics reach CloudWatch every 2 wall seconds: wait until the minute shows
    minute = adm.clock()["now"] // 60 * 60
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pts = cw.get_metric_statistics(
            Namespace="AWS/Kinesis",
            MetricName="WriteProvisionedThroughputExceeded",
            Dimensions=[{"Name": "StreamName", "Value": stream}],
            StartTime=datetime.fromtimestamp(minute, UTC),
            EndTime=datetime.fromtimestamp(minute + 60, UTC),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        if sum(p["Sum"] for p in pts) >= throttled:
            break
        time.sleep(0.2)
    t0 = time.perf_counter()
    adm.set_clock(advance=60)  # the minute with the throttling closes: ALARM
    states.append(state())
    notes = _drain(sqs, queue, want=2, timeout_s=10)  # OK (armed), then ALARM
    alarm_s = time.perf_counter() - t0
    adm.set_clock(advance=180)  # quiet minutes until the breach leaves the evaluation range
    states.append(state())
    notes += _drain(sqs, queue, want=1, timeout_s=10)
    mails = len(adm.inbox()["messages"]) - mails_before
    deadline = time.monotonic() + 10  # the chat webhook is an HTTP delivery: off the request
    chat = [x for x in adm.chat("oncall", since=chat_before) if x["kind"] == "alarm"]
    while len(chat) < len(notes) and time.monotonic() < deadline:
        time.sleep(0.1)
        chat = [x for x in adm.chat("oncall", since=chat_before) if x["kind"] == "alarm"]
    return {
        "alarm": ALARM_NAME,
        "stream": stream,
        "topic": topic,
        "throttled": throttled,
        "states": states,
        "notifications": notes,
        "alarm_notified_s": alarm_s,
        "mails": mails,
        "chat": [x["title"] for x in chat],
    }


def _drain(sqs: Any, queue: str, want: int, timeout_s: float) -> list[dict[str, str]]:
    """Up to ``want`` alarm notifications from the SQS queue (SNS envelopes), in order."""
    import json

    out: list[dict[str, str]] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < want and time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for m in msgs:
            envelope = json.loads(m["Body"])
            alarm = json.loads(envelope["Message"])
            out.append(
                {
                    "subject": envelope.get("Subject", ""),
                    "state": alarm["NewStateValue"],
                    "reason": alarm["NewStateReason"],
                }
            )
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return out
