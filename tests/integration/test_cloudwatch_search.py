"""SEARCH() in GetMetricData (issue 15, item 1) over HTTP with real boto3, on an emulator of the
module's own: the search-expression syntax of the CloudWatch user guide
(search-expression-syntax.html): metric schema, partial and exact terms, property terms,
boolean operators, the statistic and period arguments, labels, and SEARCH refused in alarms.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def cw(private_profile: profiles.Profile) -> Any:
    return clients.client("cloudwatch", private_profile, retries=False)


@pytest.fixture(scope="module")
def ns(cw: Any) -> str:
    """A namespace with CPUUtilization for i-1, i-2 (InstanceId) and i-3 (InstanceId, Role),
    plus DiskReadOps for i-1."""
    name = f"Search/{uuid.uuid4().hex[:8]}"
    t = NOW - timedelta(minutes=5)

    def put(metric: str, dims: dict[str, str], values: list[float]) -> None:
        cw.put_metric_data(
            Namespace=name,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    "Timestamp": t,
                    "Values": values,
                }
            ],
        )

    put("CPUUtilization", {"InstanceId": "i-1"}, [10, 20])
    put("CPUUtilization", {"InstanceId": "i-2"}, [30])
    put("CPUUtilization", {"InstanceId": "i-3", "Role": "web"}, [50])
    put("DiskReadOps", {"InstanceId": "i-1"}, [7])
    return name


def query(cw: Any, expr: str, label: str | None = None) -> list[dict[str, Any]]:
    q: dict[str, Any] = {"Id": "e1", "Expression": expr, "Period": 300}
    if label is not None:
        q["Label"] = label
    out = cw.get_metric_data(
        MetricDataQueries=[q],
        StartTime=NOW - timedelta(minutes=30),
        EndTime=NOW + timedelta(minutes=5),
    )
    return list(out["MetricDataResults"])


def labels(results: list[dict[str, Any]]) -> list[str]:
    return sorted(r["Label"] for r in results)


def test_schema_and_metric_name(cw: Any, ns: str) -> None:
    res = query(cw, f"SEARCH('{{{ns},InstanceId}} MetricName=\"CPUUtilization\"', 'Average', 300)")
    # exactly the InstanceId-only metrics: i-3 has a second dimension
    assert labels(res) == ["i-1 CPUUtilization", "i-2 CPUUtilization"]
    assert {r["Id"] for r in res} == {"e1"}
    by = {r["Label"]: r["Values"] for r in res}
    assert by["i-1 CPUUtilization"] == [15.0]
    assert by["i-2 CPUUtilization"] == [30.0]


def test_statistic_argument(cw: Any, ns: str) -> None:
    res = query(cw, f"SEARCH('{{{ns},InstanceId}} CPUUtilization', 'Sum', 300)")
    assert {r["Label"]: r["Values"] for r in res}["i-1 CPUUtilization"] == [30.0]


def test_partial_term_matches_a_word_of_a_camel_case_name(cw: Any, ns: str) -> None:
    res = query(cw, f"SEARCH('Namespace=\"{ns}\" Utilization', 'Maximum', 300)")
    assert labels(res) == ["i-1 CPUUtilization", "i-2 CPUUtilization", "i-3 web CPUUtilization"]


def test_exact_term_and_dimension_term(cw: Any, ns: str) -> None:
    res = query(cw, f"SEARCH('{{{ns},InstanceId,Role}} Role=\"web\"', 'Average', 300)")
    assert labels(res) == ["i-3 web CPUUtilization"]
    assert query(cw, f"SEARCH('{{{ns},InstanceId}} \"Utilization\"', 'Average', 300)") == []


def test_boolean_operators(cw: Any, ns: str) -> None:
    res = query(cw, f"SEARCH('{{{ns},InstanceId}} DiskReadOps OR i-2', 'Average', 300)")
    assert labels(res) == ["i-1 DiskReadOps", "i-2 CPUUtilization"]
    res = query(cw, f"SEARCH('{{{ns},InstanceId}} CPUUtilization AND NOT i-1', 'Average', 300)")
    assert labels(res) == ["i-2 CPUUtilization"]
    res = query(cw, f"SEARCH('{{{ns},InstanceId}} (i-1 OR i-2) NOT DiskReadOps', 'Average', 300)")
    assert labels(res) == ["i-1 CPUUtilization", "i-2 CPUUtilization"]


def test_math_over_a_search_and_the_query_label(cw: Any, ns: str) -> None:
    res = query(
        cw, f"SUM(SEARCH('{{{ns},InstanceId}} MetricName=\"CPUUtilization\"', 'Average', 300))"
    )
    assert len(res) == 1 and res[0]["Values"] == [45.0]
    res = query(cw, f"SEARCH('{{{ns},InstanceId}} DiskReadOps', 'Average', 300)", label="Disk")
    assert labels(res) == ["Disk i-1 DiskReadOps"]


def test_malformed_search_and_bad_statistic(cw: Any, ns: str) -> None:
    for expr in (
        f"SEARCH('{{{ns},InstanceId CPU', 'Average', 300)",
        f"SEARCH('{{{ns}}} (CPU', 'Average', 300)",
        f"SEARCH('{{{ns}}} CPU', 'Avg', 300)",
        f"SEARCH('{{{ns}}} CPU', 'Average', 7)",
    ):
        with pytest.raises(ClientError) as exc:
            query(cw, expr)
        assert exc.value.response["Error"]["Code"] == "ValidationError", expr
        assert "Error in expression 'e1'" in exc.value.response["Error"]["Message"]


def test_search_refused_in_an_alarm(cw: Any, ns: str) -> None:
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(
            AlarmName=f"search-{uuid.uuid4().hex[:6]}",
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[
                {
                    "Id": "e1",
                    "Expression": f"MAX(SEARCH('{{{ns},InstanceId}} CPU', 'Average', 300))",
                    "Period": 300,
                    "ReturnData": True,
                }
            ],
        )
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    assert "SEARCH" in exc.value.response["Error"]["Message"]
