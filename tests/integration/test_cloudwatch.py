"""bdlab's own CloudWatch metrics provider over HTTP (issue 15, item 1): each protocol botocore
knows for CloudWatch (its model lists smithy-rpc-v2-cbor, json, query), AWS's limits and error
codes, statistics and percentiles, GetMetricData paging, ListMetrics filters, dashboards, and
nothing acknowledged lost on kill -9. The module has its own emulator, so its clock is ours.

boto3 1.44 picks JSON 1.0 for CloudWatch (botocore's protocol priority puts json before
CBOR); the other two protocols are spoken with botocore's own serializers and parsers.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.parsers
import botocore.serialize
import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from tests.integration.test_firehose import Spawned

pytestmark = pytest.mark.integration

PROTOCOLS = ("smithy-rpc-v2-cbor", "json", "query")
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/monitoring/aws4_request, "
    "SignedHeaders=host, Signature=x"
)


@pytest.fixture(scope="module")
def cprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


@pytest.fixture()
def cw(cprofile: profiles.Profile) -> Any:
    return clients.client("cloudwatch", cprofile, retries=False)


@pytest.fixture()
def admin(cprofile: profiles.Profile) -> Admin:
    return Admin.of(cprofile)


def call(
    prof: profiles.Profile, protocol: str, op: str, compress: bool = False, **params: Any
) -> dict[str, Any]:
    """``op`` serialised and parsed by botocore in ``protocol``; ClientError on errors."""
    model = clients.client("cloudwatch", prof, retries=False).meta.service_model
    om = model.operation_model(op)
    req = botocore.serialize.create_serializer(protocol, False).serialize_to_request(params, om)
    body = req["body"]
    headers = {k: str(v) for k, v in req["headers"].items()}
    if isinstance(body, dict):  # query: botocore form-encodes later
        from urllib.parse import urlencode

        body = urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    headers["Authorization"] = AUTH
    url = prof.endpoint_url.rstrip("/") + req["url_path"]
    http = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(http) as r:
            status, rh, out = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, rh, out = e.code, dict(e.headers), e.read()
    rh = {k.lower(): v for k, v in rh.items()}
    parser = botocore.parsers.create_parser(protocol)
    parsed = parser.parse({"status_code": status, "headers": rh, "body": out}, om.output_shape)
    if status >= 300:
        parsed["ResponseMetadata"]["HTTPStatusCode"] = status
        raise ClientError(parsed, op)
    return dict(parsed)


def now(admin: Admin) -> datetime:
    return datetime.fromtimestamp(admin.clock()["now"], UTC)


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


# ---------------------------------------------------------------------- protocols
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_puts_reads_lists_and_keeps_types(
    cprofile: profiles.Profile, admin: Admin, unique: Any, protocol: str
) -> None:
    ns = unique("bdlab/proto")
    t = now(admin).replace(second=0, microsecond=0) - timedelta(minutes=1)
    dims = [{"Name": "Stream", "Value": "clicks"}]
    call(
        cprofile,
        protocol,
        "PutMetricData",
        Namespace=ns,
        MetricData=[
            {"MetricName": "lag", "Dimensions": dims, "Timestamp": t, "Value": 7, "Unit": "Count"},
            {
                "MetricName": "lag",
                "Dimensions": dims,
                "Timestamp": t + timedelta(seconds=5),
                "Values": [1.5, 2.5],
                "Counts": [2, 1],
                "Unit": "Count",
            },
            {
                "MetricName": "lag",
                "Dimensions": dims,
                "Timestamp": t + timedelta(seconds=10),
                "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 4, "Maximum": 6},
                "Unit": "Count",
            },
        ],
    )
    got = call(
        cprofile,
        protocol,
        "GetMetricStatistics",
        Namespace=ns,
        MetricName="lag",
        Dimensions=dims,
        StartTime=t - timedelta(minutes=5),
        EndTime=t + timedelta(minutes=5),
        Period=60,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"],
    )
    (point,) = got["Datapoints"]
    assert point["Timestamp"] == t
    assert point["SampleCount"] == 6.0 and point["Sum"] == 22.5
    assert (point["Minimum"], point["Maximum"], point["Average"]) == (1.5, 7.0, 3.75)
    assert point["Unit"] == "Count" and got["Label"] == "lag"
    data = call(
        cprofile,
        protocol,
        "GetMetricData",
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "lag", "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Maximum",
                },
                "Label": "max lag",
            }
        ],
        StartTime=t - timedelta(minutes=5),
        EndTime=t + timedelta(minutes=5),
    )
    (res,) = data["MetricDataResults"]
    assert (res["Id"], res["Label"], res["StatusCode"]) == ("m1", "max lag", "Complete")
    assert res["Timestamps"] == [t] and res["Values"] == [7.0]
    listed = call(cprofile, protocol, "ListMetrics", Namespace=ns)["Metrics"]
    assert listed == [{"Namespace": ns, "MetricName": "lag", "Dimensions": dims}]
    with pytest.raises(ClientError) as err:
        call(cprofile, protocol, "PutMetricData", Namespace=ns, MetricData=[{"MetricName": "x"}])
    assert code_of(err)[0] == "MissingParameter"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        call(cprofile, protocol, "DescribeAnomalyDetectors")
    assert code_of(err)[0] == "NotImplemented"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_cbor_answers_use_the_encodings_botocore_parses(
    cprofile: profiles.Profile, admin: Admin, unique: Any
) -> None:
    """Integers as major type 0/1, doubles as CBOR floats, timestamps as tag 1 seconds: the
    answer that once failed with "Invalid CBOR integer" is read by botocore's own parser."""
    import cbor2

    ns = unique("bdlab/cbor")
    t = now(admin).replace(second=0, microsecond=0)
    call(
        cprofile,
        "smithy-rpc-v2-cbor",
        "PutMetricData",
        Namespace=ns,
        MetricData=[{"MetricName": "big", "Timestamp": t, "Value": 2.0**52 + 1}],
    )
    call(
        cprofile,
        "smithy-rpc-v2-cbor",
        "PutDashboard",
        DashboardName=ns.replace("/", "-"),
        DashboardBody='{"widgets": []}',
    )
    entries = call(
        cprofile, "smithy-rpc-v2-cbor", "ListDashboards", DashboardNamePrefix=ns.replace("/", "-")
    )["DashboardEntries"]
    assert entries[0]["Size"] == len('{"widgets": []}')  # a Long, as an integer
    req = urllib.request.Request(
        cprofile.endpoint_url.rstrip("/")
        + "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics",
        data=cbor2.dumps(
            {
                "Namespace": ns,
                "MetricName": "big",
                "StartTime": cbor2.CBORTag(1, int(t.timestamp()) - 60),
                "EndTime": cbor2.CBORTag(1, int(t.timestamp()) + 60),
                "Period": 60,
                "Statistics": ["Sum"],
            }
        ),
        headers={
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "Authorization": AUTH,
        },
        method="POST",
    )
    with urllib.request.urlopen(req) as r:
        raw = r.read()
        assert r.headers["smithy-protocol"] == "rpc-v2-cbor"
    decoded = cbor2.loads(raw, semantic_decoders={1: lambda v, immutable=False: ("tag1", v)})
    point = decoded["Datapoints"][0]
    assert point["Timestamp"] == ("tag1", t.timestamp()) and point["Sum"] == 2.0**52 + 1


def test_default_client_compresses_a_full_request_and_it_is_stored(
    cw: Any, admin: Admin, unique: Any
) -> None:
    """1,000 metrics of 20 values each (about 200 KB): botocore gzips PutMetricData bodies
    over 10 KB (the operation's requestcompression trait)."""
    ns = unique("bdlab/gzip")
    t = now(admin)
    data = [
        {
            "MetricName": f"m{i}",
            "Timestamp": t,
            "Values": [float(v) for v in range(20)],
            "Dimensions": [{"Name": "Shard", "Value": f"s{i % 7}"}],
        }
        for i in range(1000)
    ]
    cw.put_metric_data(Namespace=ns, MetricData=data)
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace=ns))
    assert [len(p["Metrics"]) for p in pages] == [500, 500]
    pts = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="m999",
        Dimensions=[{"Name": "Shard", "Value": f"s{999 % 7}"}],
        StartTime=t - timedelta(minutes=2),
        EndTime=t + timedelta(minutes=2),
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    assert [(p["Sum"], p["SampleCount"]) for p in pts] == [(190.0, 20.0)]


# ---------------------------------------------------------------------- validation
def _datum(**kw: Any) -> dict[str, Any]:
    return {"MetricName": "m", **kw}


PUT_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "nan",
        {"MetricData": [_datum(Value=float("nan"))]},
        "InvalidParameterValue",
        "The value NaN for parameter MetricData.member.1.Value is invalid.",
    ),
    (
        "inf",
        {"MetricData": [_datum(Value=float("inf"))]},
        "InvalidParameterValue",
        "The value Infinity for parameter MetricData.member.1.Value is invalid.",
    ),
    (
        "too large",
        {"MetricData": [_datum(Value=2.0**361)]},
        "InvalidParameterValue",
        "MetricData.member.1.Value is invalid",
    ),
    (
        "nan in values",
        {"MetricData": [_datum(Values=[1.0, float("-inf")])]},
        "InvalidParameterValue",
        "parameter MetricData.member.1.Values.member.2 is invalid",
    ),
    (
        "value and values",
        {"MetricData": [_datum(Value=1.0, Values=[1.0])]},
        "InvalidParameterCombination",
        "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually "
        "exclusive and you have specified both.",
    ),
    (
        "value and statistic values",
        {
            "MetricData": [
                _datum(
                    Value=1.0,
                    StatisticValues={"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1},
                )
            ]
        },
        "InvalidParameterCombination",
        "are mutually exclusive",
    ),
    (
        "counts size",
        {"MetricData": [_datum(Values=[1.0, 2.0], Counts=[1.0])]},
        "InvalidParameterValue",
        "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the "
        "same size.",
    ),
    (
        "151 values",
        {"MetricData": [_datum(Values=[1.0] * 151)]},
        "InvalidParameterValue",
        "The collection MetricData.member.1.Values must not have a size greater than 150.",
    ),
    (
        "31 dimensions",
        {
            "MetricData": [
                _datum(Value=1.0, Dimensions=[{"Name": f"d{i}", "Value": "v"} for i in range(31)])
            ]
        },
        "InvalidParameterValue",
        "The collection MetricData.member.1.Dimensions must not have a size greater than 30.",
    ),
    (
        "1001 metrics",
        {"MetricData": [_datum(Value=1.0)] * 1001},
        "InvalidParameterValue",
        "The collection MetricData must not have a size greater than 1000.",
    ),
    (
        "statistic values incomplete",
        {"MetricData": [_datum(StatisticValues={"SampleCount": 1, "Sum": 1, "Minimum": 1})]},
        "MissingParameter",
        "The parameter MetricData.member.1.StatisticValues.Maximum is required.",
    ),
    (
        "storage resolution",
        {"MetricData": [_datum(Value=1.0, StorageResolution=5)]},
        "InvalidParameterValue",
        "The value 5 for parameter MetricData.member.1.StorageResolution is invalid.",
    ),
    (
        "unit",
        {"MetricData": [_datum(Value=1.0, Unit="Parsecs")]},
        "InvalidParameterValue",
        "The value Parsecs for parameter MetricData.member.1.Unit is invalid.",
    ),
    (
        "no value",
        {"MetricData": [_datum()]},
        "MissingParameter",
        "The parameter MetricData.member.1.Value is required.",
    ),
    (
        "no metric name",
        {"MetricData": [{"Value": 1.0}]},
        "MissingParameter",
        "The parameter MetricData.member.1.MetricName is required.",
    ),
    (
        "AWS namespace",
        {"Namespace": "AWS/Kinesis", "MetricData": [_datum(Value=1.0)]},
        "InvalidParameterValue",
        "The value AWS/Kinesis for parameter Namespace is invalid",
    ),
    (
        "no namespace",
        {"Namespace": None, "MetricData": [_datum(Value=1.0)]},
        "MissingParameter",
        "The parameter Namespace is required.",
    ),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_metric_data_rejects_what_aws_rejects(
    cprofile: profiles.Profile, admin: Admin, unique: Any, protocol: str
) -> None:
    ns = unique("bdlab/bad")
    for label, params, code, message in PUT_ERRORS:
        kw = {"Namespace": ns, **params}
        if kw["Namespace"] is None:
            del kw["Namespace"]
        with pytest.raises(ClientError) as err:
            call(cprofile, protocol, "PutMetricData", **kw)
        assert code_of(err)[0] == code, label
        assert message in code_of(err)[1], (label, code_of(err)[1])
    t = now(admin)
    for ts, message in (
        (t - timedelta(days=14, minutes=1), "no more than two weeks in the past"),
        (t + timedelta(hours=2, minutes=1), "no more than two hours in the future"),
    ):
        with pytest.raises(ClientError) as err:
            call(
                cprofile,
                protocol,
                "PutMetricData",
                Namespace=ns,
                MetricData=[_datum(Value=1.0, Timestamp=ts)],
            )
        assert code_of(err) == (
            "InvalidParameterValue",
            f"The parameter MetricData.member.1.Timestamp must specify a time {message}.",
        )
    # nothing of a rejected request was stored
    assert call(cprofile, protocol, "ListMetrics", Namespace=ns)["Metrics"] == []


def test_request_over_one_megabyte_is_refused(cprofile: profiles.Profile, unique: Any) -> None:
    big = [
        _datum(
            MetricName="x" * 255,
            Values=[float(v) for v in range(150)],
            Dimensions=[{"Name": f"d{i}", "Value": "v" * 1000} for i in range(30)],
        )
        for _ in range(40)
    ]
    with pytest.raises(ClientError) as err:
        call(
            cprofile, "json", "PutMetricData", compress=True, Namespace=unique("b"), MetricData=big
        )
    assert code_of(err)[0] == "RequestEntityTooLarge"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_get_metric_statistics_rejects_what_aws_rejects(cw: Any, admin: Admin) -> None:
    t = now(admin)
    base = {
        "Namespace": "n",
        "MetricName": "m",
        "StartTime": t - timedelta(hours=1),
        "EndTime": t,
        "Period": 60,
    }
    cases = [
        ({}, "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics"),
        (
            {"Statistics": ["Sum"], "ExtendedStatistics": ["p99"]},
            "InvalidParameterCombination",
            "but not both",
        ),
        ({"Statistics": ["Sum"], "Period": 45}, "InvalidParameterValue", "Period"),
        (
            {"ExtendedStatistics": ["p101"]},
            "InvalidParameterValue",
            "The value p101 for parameter ExtendedStatistics.member.1 is invalid.",
        ),
        ({"Statistics": ["Median"]}, "InvalidParameterValue", "Statistics.member.1"),
        (
            {"Statistics": ["Sum"], "StartTime": t, "EndTime": t - timedelta(hours=1)},
            "InvalidParameterValue",
            "The parameter StartTime must be less than the parameter EndTime.",
        ),
        (
            {"Statistics": ["Sum"], "StartTime": t - timedelta(days=2)},
            "InvalidParameterCombination",
            "You have requested up to 2880 datapoints, which exceeds the limit of 1440.",
        ),
    ]
    for extra, code, message in cases:
        with pytest.raises(ClientError) as err:
            cw.get_metric_statistics(**{**base, **extra})
        assert code_of(err)[0] == code and message in code_of(err)[1], (extra, code_of(err))


# ---------------------------------------------------------------------- statistics
def test_statistics_and_percentiles_are_right(cw: Any, admin: Admin, unique: Any) -> None:
    ns = unique("bdlab/stats")
    t = now(admin).replace(second=0, microsecond=0) - timedelta(minutes=2)
    values = [float(v) for v in range(1, 101)]  # 1..100 in one minute
    for i in range(0, 100, 25):
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[
                {
                    "MetricName": "lat",
                    "Timestamp": t + timedelta(seconds=i // 5),
                    "Values": values[i : i + 25],
                    "Unit": "Milliseconds",
                }
            ],
        )
    # the next minute: a statistic set of one repeated value (percentiles known) ...
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "lat",
                "Timestamp": t + timedelta(minutes=1),
                "Unit": "Milliseconds",
                "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 5, "Maximum": 5},
            }
        ],
    )

    def get(**kw: Any) -> list[dict[str, Any]]:
        return list(
            cw.get_metric_statistics(
                Namespace=ns,
                MetricName="lat",
                StartTime=t,
                EndTime=t + timedelta(minutes=3),
                Period=60,
                **kw,
            )["Datapoints"]
        )

    first, second = get(
        ExtendedStatistics=[
            "p50",
            "p90",
            "p99",
            "p100",
            "p0",
            "tm90",
            "tc90",
            "ts90",
            "IQM",
            "tm(10%:90%)",
        ]
    )
    ext = first["ExtendedStatistics"]
    assert (ext["p50"], ext["p90"], ext["p99"], ext["p100"], ext["p0"]) == (50, 90, 99, 100, 1)
    assert ext["tm90"] == pytest.approx(45.5) and ext["tc90"] == 90 and ext["ts90"] == 4095
    assert ext["IQM"] == pytest.approx(50.5) and ext["tm(10%:90%)"] == pytest.approx(50.5)
    assert second["ExtendedStatistics"] == {
        "p50": 5,
        "p90": 5,
        "p99": 5,
        "p100": 5,
        "p0": 5,
        "tm90": 5,
        "tc90": 3.6,
        "ts90": 18,
        "IQM": 5,
        "tm(10%:90%)": 5,
    }
    first, second = get(Statistics=["Sum", "Average", "SampleCount", "Minimum", "Maximum"])
    assert (first["Sum"], first["Average"], first["SampleCount"]) == (5050, 50.5, 100)
    assert (second["Sum"], second["Minimum"], second["Unit"]) == (20, 5, "Milliseconds")
    assert get(Statistics=["Sum"], Unit="Seconds") == []  # a unit that was never put
    # ... and a statistic set of different values has no percentiles (user guide)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "lat",
                "Timestamp": t + timedelta(minutes=2),
                "Unit": "Milliseconds",
                "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2},
            }
        ],
    )
    assert get(ExtendedStatistics=["p50"])[2]["ExtendedStatistics"] == {}


def test_high_resolution_data_is_answered_per_second_for_three_hours(
    cw: Any, admin: Admin, unique: Any
) -> None:
    ns = unique("bdlab/hires")
    t = now(admin).replace(second=0, microsecond=0)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "rps",
                "Timestamp": t + timedelta(seconds=s),
                "Value": float(s),
                "StorageResolution": 1,
            }
            for s in (1, 2, 11, 12, 13)
        ],
    )
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "rps", "Timestamp": t + timedelta(seconds=45), "Value": 100.0}],
    )

    def sums(period: int) -> list[tuple[int, float]]:
        pts = cw.get_metric_statistics(
            Namespace=ns,
            MetricName="rps",
            StartTime=t,
            EndTime=t + timedelta(minutes=1),
            Period=period,
            Statistics=["Sum"],
        )["Datapoints"]
        return [(int((p["Timestamp"] - t).total_seconds()), p["Sum"]) for p in pts]

    # standard-resolution data is kept per minute: it lands in the minute's first bucket
    assert sums(10) == [(0, 103.0), (10, 36.0)]
    assert sums(1) == [(0, 100.0), (1, 1.0), (2, 2.0), (11, 11.0), (12, 12.0), (13, 13.0)]
    assert sums(60) == [(0, 139.0)]
    admin.set_clock(advance=3 * 3600 + 60)
    assert sums(10) == []  # sub-minute periods only for the last 3 hours
    assert sums(60) == [(0, 139.0)]


# ---------------------------------------------------------------------- GetMetricData
def test_get_metric_data_pages_scans_and_labels(cw: Any, admin: Admin, unique: Any) -> None:
    ns = unique("bdlab/gmd")
    t = now(admin).replace(second=0, microsecond=0) - timedelta(minutes=30)
    for name, scale in (("a", 1.0), ("b", 10.0), ("hidden", 100.0)):
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[
                {"MetricName": name, "Timestamp": t + timedelta(minutes=m), "Value": scale * m}
                for m in range(10)
            ],
        )

    def q(qid: str, name: str, **kw: Any) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": name},
                "Period": 60,
                "Stat": "Sum",
            },
            **kw,
        }

    queries = [q("qa", "a"), q("qb", "b", Label="bees"), q("qh", "hidden", ReturnData=False)]
    window = {"StartTime": t, "EndTime": t + timedelta(minutes=10)}
    whole = cw.get_metric_data(MetricDataQueries=queries, **window)
    assert [r["Id"] for r in whole["MetricDataResults"]] == ["qa", "qb"]
    a, b = whole["MetricDataResults"]
    assert a["Label"] == "a" and b["Label"] == "bees" and "NextToken" not in whole
    assert a["Values"] == [float(m) for m in range(9, -1, -1)]  # TimestampDescending default
    assert a["Timestamps"][0] == t + timedelta(minutes=9)
    asc = cw.get_metric_data(MetricDataQueries=queries, ScanBy="TimestampAscending", **window)
    assert asc["MetricDataResults"][1]["Values"] == [10.0 * m for m in range(10)]
    pages, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = cw.get_metric_data(
            MetricDataQueries=queries, MaxDatapoints=7, ScanBy="TimestampAscending", **window, **kw
        )
        pages.append({r["Id"]: (r["Values"], r["StatusCode"]) for r in page["MetricDataResults"]})
        token = page.get("NextToken")
        if not token:
            break
    assert len(pages) == 3
    assert pages[0]["qa"] == ([float(m) for m in range(7)], "PartialData")
    assert pages[1]["qa"] == ([7.0, 8.0, 9.0], "Complete")
    assert pages[1]["qb"] == ([0.0, 10.0, 20.0, 30.0], "PartialData")
    assert pages[2]["qb"] == ([10.0 * m for m in range(4, 10)], "Complete")
    paginated = cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, PaginationConfig={"PageSize": 4}, **window
    )
    assert sum(len(p["MetricDataResults"][0]["Values"]) for p in paginated) == 10
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(MetricDataQueries=queries, NextToken="garbage", **window)
    assert code_of(err)[0] == "InvalidNextToken"
    for bad in (
        [q("Bad", "a")],
        [q("qa", "a"), q("qa", "b")],
        [{"Id": "e1"}],
        [q("qa", "a", ReturnData=False)],
        [
            {
                "Id": "p",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "a"},
                    "Period": 45,
                    "Stat": "Sum",
                },
            }
        ],
        [
            {
                "Id": "p",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "a"},
                    "Period": 60,
                    "Stat": "p200",
                },
            }
        ],
    ):
        with pytest.raises(ClientError) as err:
            cw.get_metric_data(MetricDataQueries=bad, **window)
        assert code_of(err)[0] == "ValidationError", bad


def test_expression_queries_use_metric_math(cw: Any, admin: Admin, unique: Any) -> None:
    """Expressions go to metricmath.evaluate_expression (another part of issue 15); until it
    exists they answer 501 NotImplemented."""
    ns = unique("bdlab/math")
    t = now(admin).replace(second=0, microsecond=0) - timedelta(minutes=5)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "a", "Timestamp": t + timedelta(minutes=m), "Value": float(m + 1)}
            for m in range(3)
        ],
    )
    queries = [
        {
            "Id": "m1",
            "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": "a"},
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {"Id": "e1", "Expression": "m1 * 2", "Label": "double"},
    ]
    window = {"StartTime": t, "EndTime": t + timedelta(minutes=3), "ScanBy": "TimestampAscending"}
    if importlib.util.find_spec("sim.emulator.providers.cloudwatch.metricmath") is None:
        with pytest.raises(ClientError) as err:
            cw.get_metric_data(MetricDataQueries=queries, **window)
        assert code_of(err)[0] == "NotImplemented"
        pytest.skip("metricmath is not there yet: expressions answer 501")
    (res,) = cw.get_metric_data(MetricDataQueries=queries, **window)["MetricDataResults"]
    assert (res["Id"], res["Label"], res["Values"]) == ("e1", "double", [2.0, 4.0, 6.0])


# ---------------------------------------------------------------------- ListMetrics
def test_list_metrics_filters_by_namespace_name_and_dimensions(
    cw: Any, admin: Admin, unique: Any
) -> None:
    ns = unique("bdlab/list")
    data = [
        {
            "MetricName": "IncomingRecords",
            "Value": 1.0,
            "Dimensions": [{"Name": "StreamName", "Value": "s1"}],
        },
        {
            "MetricName": "IncomingRecords",
            "Value": 1.0,
            "Dimensions": [
                {"Name": "StreamName", "Value": "s1"},
                {"Name": "ShardId", "Value": "x"},
            ],
        },
        {
            "MetricName": "IncomingRecords",
            "Value": 1.0,
            "Dimensions": [{"Name": "StreamName", "Value": "s2"}],
        },
        {"MetricName": "IncomingBytes", "Value": 1.0},
    ]
    cw.put_metric_data(Namespace=ns, MetricData=data)

    def names(**kw: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
        return sorted(
            (m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
            for m in cw.list_metrics(Namespace=ns, **kw)["Metrics"]
        )

    assert len(names()) == 4
    assert names(MetricName="IncomingBytes") == [("IncomingBytes", ())]
    assert len(names(Dimensions=[{"Name": "StreamName"}])) == 3  # a name-only filter
    assert names(Dimensions=[{"Name": "StreamName", "Value": "s1"}]) == [
        ("IncomingRecords", (("ShardId", "x"), ("StreamName", "s1"))),
        ("IncomingRecords", (("StreamName", "s1"),)),
    ]
    assert names(Dimensions=[{"Name": "ShardId"}, {"Name": "StreamName", "Value": "s1"}]) == [
        ("IncomingRecords", (("ShardId", "x"), ("StreamName", "s1")))
    ]
    assert names(Dimensions=[{"Name": "Nope"}]) == []
    assert cw.list_metrics(Namespace=ns + "x")["Metrics"] == []
    assert len(names(RecentlyActive="PT3H")) == 4
    admin.set_clock(advance=3 * 3600 + 120)
    assert names(RecentlyActive="PT3H") == []
    assert len(names()) == 4  # still listed: a datapoint in the last two weeks
    cw.put_metric_data(Namespace=ns, MetricData=[data[3]])
    assert names(RecentlyActive="PT3H") == [("IncomingBytes", ())]
    with pytest.raises(ClientError) as err:
        cw.list_metrics(Namespace=ns, NextToken="nope")
    assert code_of(err)[0] == "InvalidParameterValue"


# ---------------------------------------------------------------------- dashboards
def test_dashboards_are_stored_as_sent_and_validated(cw: Any, unique: Any) -> None:
    name = unique("ops")
    body = json.dumps(
        {
            "widgets": [
                {
                    "type": "metric",
                    "x": 0,
                    "y": 0,
                    "width": 12,
                    "height": 6,
                    "properties": {
                        "metrics": [["AWS/Kinesis", "IncomingRecords", "StreamName", "s1"]],
                        "region": "us-east-1",
                        "stat": "Sum",
                    },
                },
                {"type": "text", "properties": {"markdown": "# hi"}},
            ]
        },
        indent=1,
    )
    assert (
        cw.put_dashboard(DashboardName=name, DashboardBody=body)["DashboardValidationMessages"]
        == []
    )
    got = cw.get_dashboard(DashboardName=name)
    assert got["DashboardBody"] == body and got["DashboardName"] == name
    assert got["DashboardArn"].startswith("arn:aws:cloudwatch::") and got["DashboardArn"].endswith(
        f":dashboard/{name}"
    )
    cw.put_dashboard(DashboardName=name + "-2", DashboardBody='{"widgets": []}')
    entries = cw.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
    assert [(e["DashboardName"], e["Size"]) for e in entries] == [
        (name, len(body)),
        (name + "-2", 15),
    ]
    for bad, message in (
        ("not json", "The field DashboardBody must be a valid JSON object"),
        ('{"widgets": {}}', '"dataPath": "/widgets"'),
        ('{"widgets": [{"type": "chart", "properties": {}}]}', "/widgets/0/type"),
        ('{"widgets": [{"type": "metric", "properties": {}, "width": 30}]}', "/widgets/0/width"),
    ):
        with pytest.raises(ClientError) as err:
            cw.put_dashboard(DashboardName=name, DashboardBody=bad)
        assert code_of(err)[0] == "InvalidParameterInput" and message in code_of(err)[1]
    with pytest.raises(ClientError) as err:
        cw.put_dashboard(DashboardName=name, DashboardBody='{"widgets": [{"type": "text"}]}')
    assert err.value.response["dashboardValidationMessages"] == [
        {"DataPath": "/widgets/0", "Message": "Should have required property 'properties'"}
    ]
    with pytest.raises(ClientError) as err:
        cw.put_dashboard(DashboardName="bad name!", DashboardBody='{"widgets": []}')
    assert code_of(err)[0] == "InvalidParameterInput"
    assert cw.get_dashboard(DashboardName=name)["DashboardBody"] == body  # unchanged
    with pytest.raises(ClientError) as err:
        cw.delete_dashboards(DashboardNames=[name, "missing-one"])
    assert code_of(err)[0] == "ResourceNotFound"
    assert len(cw.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]) == 2
    cw.delete_dashboards(DashboardNames=[name, name + "-2"])
    with pytest.raises(ClientError) as err:
        cw.get_dashboard(DashboardName=name)
    assert code_of(err)[0] == "ResourceNotFound"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_alarm_operations_are_served_by_bdlab(cw: Any, unique: Any) -> None:
    # the full alarm tests are in test_cloudwatch_alarms.py
    alarm = unique("lag-high")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="n",
        MetricName="m",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    (found,) = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert (found["AlarmName"], found["StateValue"]) == (alarm, "INSUFFICIENT_DATA")
    cw.delete_alarms(AlarmNames=[alarm])


# ---------------------------------------------------------------------- durability
def test_kill_9_loses_no_acknowledged_datapoint_or_dashboard(tmp_path: Path) -> None:
    emu = Spawned(tmp_path / "state").start()
    try:
        cw = clients.client("cloudwatch", emu.profile, retries=False)
        t = datetime.fromtimestamp(emu.admin.clock()["now"], UTC).replace(second=0, microsecond=0)
        for i in range(50):
            cw.put_metric_data(
                Namespace="crash",
                MetricData=[
                    {
                        "MetricName": "n",
                        "Timestamp": t,
                        "Values": [float(i), 1.0],
                        "StorageResolution": 1,
                    }
                ],
            )
        cw.put_dashboard(DashboardName="crash", DashboardBody='{"widgets": []}')
        emu.kill_9()
        emu.start()
        cw = clients.client("cloudwatch", emu.profile, retries=False)
        (p,) = cw.get_metric_statistics(
            Namespace="crash",
            MetricName="n",
            StartTime=t,
            EndTime=t + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum", "SampleCount"],
        )["Datapoints"]
        assert (p["Sum"], p["SampleCount"]) == (sum(range(50)) + 50.0, 100.0)
        assert cw.list_metrics(Namespace="crash")["Metrics"][0]["MetricName"] == "n"
        assert cw.get_dashboard(DashboardName="crash")["DashboardBody"] == '{"widgets": []}'
    finally:
        emu.stop()
