"""Prometheus: the emulator's /metrics, the components' /metrics, and the bridge that
publishes chosen series to CloudWatch (real boto3, real HTTP, the emulator's clock)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a /metrics page, parsed by prometheus_client."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, lb), v in samples.items() if n == name and want <= set(lb))


def test_emulator_metrics_move_with_requests(
    profile: Any, aws: Callable[[str], Any], bucket: str, unique: Callable[[str], str]
) -> None:
    url = f"{profile.endpoint_url}/metrics"
    before = scrape(url)
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x" * 1000)
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"x" * 1000
    kin = aws("kinesis")
    stream = unique("prom")
    kin.create_stream(StreamName=stream, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    kin.put_records(
        StreamName=stream, Records=[{"Data": b"r%d" % i, "PartitionKey": "k"} for i in range(7)]
    )
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    assert len(kin.get_records(ShardIterator=it)["Records"]) == 7
    cw = aws("cloudwatch")
    alarm = unique("prom-alarm")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="bdlab/prom",
        MetricName="m",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    try:
        after = scrape(url)
    finally:
        cw.delete_alarms(AlarmNames=[alarm])
        kin.delete_stream(StreamName=stream)
    put = {"service": "s3", "operation": "PutObject", "status": "200"}
    assert (
        value(after, "bdlab_requests_total", **put)
        == value(before, "bdlab_requests_total", **put) + 1
    )
    assert value(after, "bdlab_request_duration_seconds_count", service="s3") >= 2
    assert value(after, "bdlab_s3_bytes_in_total", bucket=bucket) == 1000
    assert value(after, "bdlab_s3_bytes_out_total", bucket=bucket) >= 1000
    assert value(after, "bdlab_kinesis_records_in_total", stream=stream) == 7
    assert value(after, "bdlab_kinesis_records_out_total", stream=stream) == 7
    assert value(after, "bdlab_cloudwatch_alarms", state="INSUFFICIENT_DATA") >= 1
    # the admin path serves the same page, and a signed GET /metrics is still S3
    assert "bdlab_requests_total" in {
        n for n, _ in scrape(profile.endpoint_url + "/_bdlab/metrics")
    }
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="metrics")
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"


def test_producer_and_consumer_serve_their_counters(
    profile: Any, aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    from sim.kinesis.consumer import Consumer
    from sim.kinesis.producer import Producer
    from sim.monitoring.promexport import serve_metrics, watch_consumer, watch_producer

    kin = aws("kinesis")
    stream = unique("prom-prod")
    kin.create_stream(StreamName=stream, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    server = serve_metrics(0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        producer = Producer(kin, stream)
        watch_producer(producer, server.registry)
        app = unique("prom-app")
        consumer = Consumer(kin, aws("dynamodb"), stream, app, lambda _sid, _recs: None)
        watch_consumer(consumer, server.registry, app)
        producer.put((b"e%d" % i, f"k{i}") for i in range(40))
        consumer.run_once()
        got = scrape(server.url)
    finally:
        server.close()
        kin.delete_stream(StreamName=stream)
    assert value(got, "bdlab_producer_records_sent_total", stream=stream) == 40
    assert value(got, "bdlab_producer_calls_total", stream=stream) == 1
    assert value(got, "bdlab_producer_records_throttled_total", stream=stream) == 0
    assert value(got, "bdlab_consumer_records_total", stream=stream, application=app) == 40
    lag = [k for k in got if k[0] == "bdlab_consumer_millis_behind_latest"]
    assert lag and dict(lag[0][1])["shard"].startswith("shardId-")


def test_bridge_publishes_a_counter_delta_and_a_gauge_to_cloudwatch(
    profile: Any, aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from prometheus_client import CollectorRegistry, Counter, Gauge

    from sim.admin import Admin
    from sim.monitoring import prombridge
    from sim.monitoring.promexport import serve_metrics

    registry = CollectorRegistry()
    sent = Counter("app_records_sent", "records", ["stream"], registry=registry)
    lag = Gauge("app_lag_seconds", "lag", ["stream", "shard"], registry=registry)
    ns = unique("bdlab/prom")
    mapping = prombridge.Mapping(
        (
            prombridge.Series("app_records_sent_total", "RecordsSent", ("stream",), unit="Count"),
            prombridge.Series(
                "app_lag_seconds", "Lag", ("stream",), unit="Seconds", aggregate="max"
            ),
        ),
        namespace=ns,
    )
    server = serve_metrics(0, registry)
    try:
        bridge = prombridge.Bridge(mapping)
        sent.labels("s1").inc(100)  # before the bridge's first scrape: the baseline
        lag.labels("s1", "a").set(3)
        bridge.observe(prombridge.fetch(server.url))
        sent.labels("s1").inc(25)
        lag.labels("s1", "a").set(9)
        lag.labels("s1", "b").set(4)
        bridge.observe(prombridge.fetch(server.url))
        cw = aws("cloudwatch")
        assert prombridge.publish(cw, ns, bridge.take()) == 2
    finally:
        server.close()
    now = datetime.fromtimestamp(Admin(profile.endpoint_url).clock()["now"], UTC)
    span = {"StartTime": now - timedelta(minutes=5), "EndTime": now + timedelta(minutes=5)}
    dims = [{"Name": "stream", "Value": "s1"}]

    def stat(name: str, statistic: str) -> list[float]:
        pts = cw.get_metric_statistics(
            Namespace=ns,
            MetricName=name,
            Dimensions=dims,
            Period=600,
            Statistics=[statistic],
            **span,
        )["Datapoints"]
        return [p[statistic] for p in pts]

    assert stat("RecordsSent", "Sum") == [25.0]  # the increase, not the counter's value
    assert stat("Lag", "Maximum") == [9.0]  # the highest sample of the period
    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert {m["MetricName"] for m in listed} == {"RecordsSent", "Lag"}


def test_prom_bridge_verb_publishes_from_the_emulator(
    profile: Any, aws: Callable[[str], Any], unique: Callable[[str], str], tmp_path: Any
) -> None:
    from tests.conftest import bdlab_env, run_bdlab

    ns = unique("bdlab/verb")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        f'namespace = "{ns}"\ninterval_s = 1\nperiod_s = 1\n'
        '[[series]]\nmetric = "bdlab_cloudwatch_alarms"\nname = "Alarms"\n'
        'dimensions = ["state"]\n'
    )
    port = int((profile.endpoint_url or "").rsplit(":", 1)[-1])
    env = bdlab_env(tmp_path / "state", port)
    done = run_bdlab(["prom-bridge", "--mapping", str(mapping), "--duration", "0"], env)
    assert done.returncode == 0, done.stderr
    assert f"published 3 values to {ns}" in done.stdout
    names = {
        d["Value"]
        for m in aws("cloudwatch").list_metrics(Namespace=ns)["Metrics"]
        for d in m["Dimensions"]
    }
    assert names == {"OK", "ALARM", "INSUFFICIENT_DATA"}
