"""CloudWatch Logs' cross-service payloads as plain data: metric filter datapoints (per minute,
default value once per minute without a match), subscription messages split to fit a record,
export objects' keys and lines."""

from __future__ import annotations

import gzip
import json
import random

from sim.emulator.providers.logs import deliver
from sim.emulator.providers.logs.deliver import DefaultMinutes, Event

M = 1_800_000_000_000  # ms, a minute boundary


def test_metric_data_counts_values_per_minute_and_the_default_once() -> None:
    f = {
        "filterName": "f",
        "filterPattern": "[ip, status, bytes]",
        "metricTransformations": [
            {
                "metricName": "Bytes",
                "metricNamespace": "ns",
                "metricValue": "$bytes",
                "defaultValue": 0,
                "unit": "Bytes",
            }
        ],
    }
    minutes = DefaultMinutes()
    events = [
        Event(1, M + 1, "1.1.1.1 200 10"),
        Event(2, M + 2, "1.1.1.1 200 10"),
        Event(3, M + 3, "1.1.1.1 404 7"),
        Event(4, M + 60_000, "not three fields here at all"),
    ]
    (data,) = deliver.metric_data("g", [f], events, minutes).values()
    assert data == [
        {
            "MetricName": "Bytes",
            "Timestamp": M / 1000,
            "Values": [7.0, 10.0],
            "Counts": [1.0, 2.0],
            "Unit": "Bytes",
        },
        {
            "MetricName": "Bytes",
            "Timestamp": M / 1000 + 60,
            "Values": [0.0],
            "Counts": [1.0],
            "Unit": "Bytes",
        },
    ]
    # the same minutes again without a match: nothing more (the minute already reported)
    again = [Event(5, M + 5, "nope"), Event(6, M + 60_001, "nope")]
    assert deliver.metric_data("g", [f], again, minutes) == {}


def test_metric_data_splits_more_than_150_distinct_values() -> None:
    f = {
        "filterName": "f",
        "filterPattern": "{ $.v = * }",
        "metricTransformations": [
            {"metricName": "V", "metricNamespace": "ns", "metricValue": "$.v"}
        ],
    }
    events = [Event(i, M + i, json.dumps({"v": i})) for i in range(200)]
    (data,) = deliver.metric_data("g", [f], events, DefaultMinutes()).values()
    assert [len(d["Values"]) for d in data] == [150, 50]


def test_data_messages_split_to_fit_a_record() -> None:
    rnd = random.Random(0)  # incompressible messages: 40 x ~30 KB of gzip
    noise = [Event(i, M + i, rnd.randbytes(30_000).hex()) for i in range(40)]
    parts = deliver.data_messages("123456789012", "g", "s", "f", noise)
    assert len(parts) > 1 and all(len(p) <= deliver.MAX_RECORD for p in parts)
    docs = [json.loads(gzip.decompress(p)) for p in parts]
    assert [e["id"] for d in docs for e in d["logEvents"]] == [str(i) for i in range(40)]
    assert {d["messageType"] for d in docs} == {"DATA_MESSAGE"}


def test_export_objects_layout_and_lines() -> None:
    objs = deliver.export_objects(
        "exp", "t1", {"a/b": [Event(1, M + 5, "x"), Event(2, M + 61_250, "y")]}
    )
    assert [k for k, _ in objs] == ["exp/t1/a/b/000000.gz"]
    assert gzip.decompress(objs[0][1]).decode().splitlines() == [
        "2027-01-15T08:00:00.005Z x",
        "2027-01-15T08:01:01.250Z y",
    ]
