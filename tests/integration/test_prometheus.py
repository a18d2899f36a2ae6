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
