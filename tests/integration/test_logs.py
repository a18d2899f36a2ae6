"""CloudWatch Logs over HTTP with real boto3: FilterLogEvents with every pattern kind, paging,
stream selection and time ranges, malformed patterns refused with AWS's code and message,
TestMetricFilter with extracted values, PutMetricFilter/PutSubscriptionFilter validation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

# ms; recent, since Logs rejects events older than 14 days
T0 = (int(time.time()) - 3600) * 1000

APP = [
    "ERROR disk full on /data",
    "WARN slow request 900 ms",
    "INFO request ok",
    "ERROR DEBUG retry scheduled",
    json.dumps({"level": "error", "latency": 1200, "path": "/a"}),
    json.dumps({"level": "info", "latency": 80, "path": "/b"}),
    '10.0.0.1 - alice [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    '10.0.0.2 - bob [10/Oct/2000:13:25:16 -0700] "GET /a.gif HTTP/1.0" 200 99',
]


@pytest.fixture()
def logs(aws: Callable[[str], Any]) -> Any:
    return aws("logs")


@pytest.fixture()
def group(logs: Any, unique: Callable[[str], str]) -> Iterator[str]:
    """A log group with two streams: 'app-1' holds APP at T0 + 10 s * i, 'app-2' the same
    messages 5 s later (so the two interleave)."""
    name = f"/bdlab/test/{unique('g')}"
    logs.create_log_group(logGroupName=name)
    for k, stream in enumerate(("app-1", "app-2")):
        logs.create_log_stream(logGroupName=name, logStreamName=stream)
        logs.put_log_events(
            logGroupName=name,
            logStreamName=stream,
            logEvents=[
                {"timestamp": T0 + 10_000 * i + 5_000 * k, "message": m} for i, m in enumerate(APP)
            ],
        )
    yield name
    logs.delete_log_group(logGroupName=name)


def messages(logs: Any, group: str, **kw: Any) -> list[str]:
    out = logs.filter_log_events(logGroupName=group, logStreamNames=["app-1"], **kw)
    return [e["message"] for e in out["events"]]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", list(range(8))),
        ("?ERROR ?WARN", [0, 1, 3]),
        ("ERROR -DEBUG", [0]),
        ('"request ok"', [2]),
        ('{ $.level = "error" }', [4]),
        ('{ $.latency > 100 && $.path = "/*" }', [4]),
        (r"%^[EW][A-Z]+\s%", [0, 1, 3]),
        ("[ip, dash, user, ts, request = *html*, status = 4*, bytes > 1000]", [6]),
        ("[..., status = 200, bytes]", [7]),
    ],
)
def test_filter_log_events_each_pattern_kind(
    logs: Any, group: str, pattern: str, expected: list[int]
) -> None:
    assert messages(logs, group, filterPattern=pattern) == [APP[i] for i in expected]


def test_events_are_interleaved_across_streams_with_stream_names(logs: Any, group: str) -> None:
    out = logs.filter_log_events(logGroupName=group, filterPattern="ERROR -DEBUG")
    assert [(e["logStreamName"], e["timestamp"]) for e in out["events"]] == [
        ("app-1", T0),
        ("app-2", T0 + 5_000),
    ]
    assert {s["logStreamName"] for s in out["searchedLogStreams"]} == {"app-1", "app-2"}
    assert "nextToken" not in out


def test_stream_prefix_and_time_range(logs: Any, group: str) -> None:
    out = logs.filter_log_events(
        logGroupName=group,
        logStreamNamePrefix="app-2",
        startTime=T0 + 15_000,
        endTime=T0 + 35_000,  # inclusive
    )
    assert [e["timestamp"] for e in out["events"]] == [T0 + 15_000, T0 + 25_000, T0 + 35_000]
    assert {e["logStreamName"] for e in out["events"]} == {"app-2"}
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(
            logGroupName=group, logStreamNames=["app-1"], logStreamNamePrefix="app"
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_paging_with_limit_and_next_token(logs: Any, group: str) -> None:
    seen: list[tuple[str, int]] = []
    kw: dict[str, Any] = {"logGroupName": group, "limit": 3}
    pages = 0
    while True:
        out = logs.filter_log_events(**kw)
        pages += 1
        assert len(out["events"]) <= 3
        seen += [(e["logStreamName"], e["timestamp"]) for e in out["events"]]
        if "nextToken" not in out:
            break
        kw["nextToken"] = out["nextToken"]
        assert pages < 20
    assert len(seen) == 16 and len(set(seen)) == 16
    assert [t for _, t in seen] == sorted(t for _, t in seen)
    # boto3's paginator walks the same pages
    paginated = [
        e["eventId"]
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern="?ERROR ?WARN", PaginationConfig={"PageSize": 2}
        )
        for e in page["events"]
    ]
    assert len(paginated) == 6 and len(set(paginated)) == 6


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ('{ $.level = "error"', "Invalid filter pattern"),
        ("[a, b", "Invalid filter pattern"),
        ("%(x)%", "Invalid filter pattern"),
        ("ERROR:", "Invalid character(s) in term 'ERROR:'"),
    ],
)
def test_malformed_pattern_is_refused(logs: Any, group: str, pattern: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, filterPattern=pattern)
    err = exc.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("InvalidParameterException", message)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_missing_group_and_bad_token(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group + "-nope")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, nextToken="garbage")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_test_metric_filter_results_and_extracted_values(logs: Any) -> None:
    out = logs.test_metric_filter(
        filterPattern="[ip, dash, user, ts, request, status_code = 4*, bytes]",
        logEventMessages=APP,
    )
    assert out["matches"] == [
        {
            "eventNumber": 7,
            "eventMessage": APP[6],
            "extractedValues": {
                "$ip": "10.0.0.1",
                "$dash": "-",
                "$user": "alice",
                "$ts": "10/Oct/2000:13:25:15 -0700",
                "$request": "GET /index.html HTTP/1.0",
                "$status_code": "404",
                "$bytes": "1534",
            },
        }
    ]
    out = logs.test_metric_filter(filterPattern="?ERROR ?WARN", logEventMessages=APP)
    assert [m["eventNumber"] for m in out["matches"]] == [1, 2, 4]
    assert all(m["extractedValues"] == {} for m in out["matches"])
    with pytest.raises(ClientError) as exc:
        logs.test_metric_filter(filterPattern="{ $.a = ", logEventMessages=["x"])
    err = exc.value.response["Error"]
    assert (err["Code"], err["Message"]) == (
        "InvalidParameterException",
        "Invalid metric filter pattern",
    )


def test_put_metric_filter_validates_pattern_and_transformation(logs: Any, group: str) -> None:
    def put(pattern: str, **transformation: Any) -> None:
        logs.put_metric_filter(
            logGroupName=group,
            filterName="f",
            filterPattern=pattern,
            metricTransformations=[
                {"metricName": "m", "metricNamespace": "bdlab/test", **transformation}
            ],
        )

    put("{ $.latency = * }", metricValue="$.latency", dimensions={"Path": "$.path"})
    stored = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [f["filterPattern"] for f in stored] == ["{ $.latency = * }"]
    cases = [
        ("{ $.latency = ", {"metricValue": "1"}, "Invalid metric filter pattern"),
        (
            "ERROR",
            {"metricValue": "1", "dimensions": {"Path": "$.path"}},
            "The specified filter pattern does not support dimensions",
        ),
    ]
    for pattern, transformation, message in cases:
        with pytest.raises(ClientError) as exc:
            put(pattern, **transformation)
        err = exc.value.response["Error"]
        assert (err["Code"], err["Message"]) == ("InvalidParameterException", message)


def test_put_subscription_filter_refuses_a_malformed_pattern(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.put_subscription_filter(
            logGroupName=group,
            filterName="s",
            filterPattern="[timestamp=*Z && request_id=“*-*“]",
            destinationArn="arn:aws:kinesis:us-east-1:000000000000:stream/nope",
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
