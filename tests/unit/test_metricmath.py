"""CloudWatch metric math (sim/emulator/providers/cloudwatch/metricmath.py).

Vectors come from the CloudWatch user guide, "Use metric math" (using-metric-math.html):
the comparison-operator table, the three IF tables, and the examples column of the function
table. Where the guide gives no numbers, the expected values are computed by hand below.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from sim.emulator.providers.cloudwatch.metricmath import (
    MetricMathError,
    NeedsSearch,
    evaluate,
    evaluate_expression,
    evaluate_queries,
    parse,
    referenced_ids,
)

P = 60
T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary


def ts(*values: float | None, start: float = T0, period: int = P) -> list[tuple[float, float]]:
    """A series from values per period; None = no datapoint."""
    return [(start + i * period, float(v)) for i, v in enumerate(values) if v is not None]


def vals(points: list[tuple[float, float]], n: int, start: float = T0) -> list[float | None]:
    """Values per period slot, None where the result has no datapoint."""
    d = dict(points)
    return [d.get(start + i * P) for i in range(n)]


# --- The guide's comparison table: metric1 [30, 20, 0, 0], metric2 [20, -, 20, -] ----------

COMPARE = {"metric1": ts(30, 20, 0, 0), "metric2": ts(20, None, 20, None)}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("(metric1 < metric2)", [0, 0, 1, 0]),
        ("(metric1 >= 30)", [1, 0, 0, 0]),
        ("(metric1 > 15 AND metric2 > 15)", [1, 0, 0, 0]),
        ("(metric1 > 15 && metric2 > 15)", [1, 0, 0, 0]),
        ("(metric1 > 15 OR metric2 > 15)", [1, 1, 1, 0]),
        ("metric1 > 15 || metric2 > 15", [1, 1, 1, 0]),
        ("metric1 == 0", [0, 0, 1, 1]),
        ("metric1 != 0", [1, 1, 0, 0]),
        ("metric1 <= 20", [0, 1, 1, 1]),
    ],
)
def test_comparison_table(expr: str, expected: list[float]) -> None:
    assert vals(evaluate_expression(expr, COMPARE, P), 4) == expected


# --- The guide's IF tables ------------------------------------------------------------------

IF_DATA = {
    "metric1": ts(1, 1, 0, 0, None),
    "metric2": ts(30, None, 0, 0, 30),
    "metric3": ts(0, 0, 20, None, 20),
}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("IF(metric1, metric2, metric3)", [30, 0, 20, None, None]),
        ("IF(metric1, 5, metric3)", [5, 5, 20, None, None]),
        ("IF(metric1, metric2, 5)", [30, 0, 5, 5, None]),
        ("IF(metric1, metric2)", [30, 0, None, None, None]),
    ],
)
def test_if_tables(expr: str, expected: list[float | None]) -> None:
    assert vals(evaluate_expression(expr, IF_DATA, P), 5) == expected


def test_if_with_scalar_condition_picks_a_whole_series() -> None:
    assert evaluate_expression("IF(1, metric2, metric3)", IF_DATA, P) == IF_DATA["metric2"]
    assert evaluate_expression("IF(0, metric2, metric3)", IF_DATA, P) == IF_DATA["metric3"]
    assert evaluate_expression("IF(0, metric2)", IF_DATA, P) == []


def test_if_use_cases_from_the_guide() -> None:
    data = {"metric1": ts(100, 500, 300), "latency": ts(5, 50, 9), "threshold": ts(10, 10, 10)}
    assert vals(evaluate_expression("IF(metric1<400, metric1)", data, P), 3) == [100, None, 300]
    assert vals(evaluate_expression("IF(metric1<400, 10, 2)", data, P), 3) == [10, 2, 10]
    assert vals(evaluate_expression("IF(latency>threshold, 1, 0)", data, P), 3) == [0, 1, 0]


# --- Arithmetic --------------------------------------------------------------------------------

AB = {"m1": ts(1, 2, 3, None), "m2": ts(10, None, 30, 40)}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("5 * m1", [5, 10, 15, None]),
        ("m1 * 5", [5, 10, 15, None]),
        # Series-series: union of timestamps, a missing side counts as 0 (the guide's rule).
        ("m1 + m2", [11, 2, 33, 40]),
        ("m2 - m1", [9, -2, 27, 40]),
        # Division by zero drops the datapoint.
        ("m1 / m2", [0.1, None, 0.1, 0]),
        ("m2 / m1", [10, 0, 10, None]),
        ("m1 ^ 2", [1, 4, 9, None]),
        ("2 ^ m1", [2, 4, 8, None]),
        ("-m1", [-1, -2, -3, None]),
        ("-5*m1", [-5, -10, -15, None]),
        ("m1 + 2 * 3", [7, 8, 9, None]),
        ("(m1 + 2) * 3", [9, 12, 15, None]),
        ("m1 - 1 - 1", [-1, 0, 1, None]),
        ("m1 / 2 / 2", [0.25, 0.5, 0.75, None]),
        ("2 ^ 3 ^ m1 / 64", [0.125, 8, 2**21, None]),  # ^ is right-associative
        ("-m1 ^ 2", [-1, -4, -9, None]),  # unary minus binds looser than ^
        ("m1 - AVG(m1)", [-1, 0, 1, None]),
        ("m1 - MIN(m1)", [0, 1, 2, None]),
        ("MAX(m1)/m1", [3, 1.5, 1, None]),
        ("SUM(m1) / DATAPOINT_COUNT(m1) + m1 * 0", [2, 2, 2, None]),
        ("m1/PERIOD(m1)", [1 / 60, 2 / 60, 3 / 60, None]),
        ("PERIOD(m1)/60 * m1", [1, 2, 3, None]),
        ("m1/STDDEV(m1)", [1 / math.sqrt(2 / 3), 2 / math.sqrt(2 / 3), 3 / math.sqrt(2 / 3), None]),
        ("1.5e1 + m1 * 0", [15, 15, 15, None]),
    ],
)
def test_arithmetic(expr: str, expected: list[float | None]) -> None:
    got = vals(evaluate_expression(expr, AB, P), 4)
    assert got == pytest.approx(expected)


def test_arrays_and_metrics_function() -> None:
    data = {"m1": ts(1, 2), "m2": ts(10, 20)}
    assert vals(evaluate_expression("SUM([m1, m2])", data, P), 2) == [11, 22]
    assert vals(evaluate_expression("SUM(100/[m1, m2])", data, P), 2) == [110, 55]
    assert vals(evaluate_expression("SUM(-[m1, m2])", data, P), 2) == [-11, -22]
    assert vals(evaluate_expression("AVG(METRICS())", data, P), 2) == [5.5, 11]
    assert vals(evaluate_expression("MIN(ABS([m1, m2]))", data, P), 2) == [1, 2]
    assert vals(evaluate_expression("SUM(METRICS())/SUM(m1)", data, P), 2) == [11 / 3, 22 / 3]
    res = evaluate("METRICS()*100", data, P)
    assert [(s.id, s.label, s.points) for s in res] == [
        ("m1", "m1", ts(100, 200)),
        ("m2", "m2", ts(1000, 2000)),
    ]
    res = evaluate("ABS(METRICS())", data, P, labels={"m1": "Errors", "m2": "Requests"})
    assert [s.label for s in res] == ["Errors", "Requests"]


def test_metrics_excludes_expressions_and_filters_on_id() -> None:
    data = {
        "errors4xx": ts(1, 1),
        "errors5xx": ts(2, 2),
        "requests": ts(100, 50),
        "e1": ts(7, 7),  # an earlier expression's result
    }
    ids = ["errors4xx", "errors5xx", "requests"]
    assert len(evaluate("METRICS()", data, P, metric_ids=ids)) == 3
    assert vals(evaluate_expression('SUM(METRICS("errors"))', data, P, metric_ids=ids), 2) == [3, 3]
    expr = 'SUM(METRICS("errors"))/SUM(METRICS("requests"))*100'
    assert vals(evaluate_expression(expr, data, P, metric_ids=ids), 2) == [3, 6]
    # The guide writes this example with typographic quotes; both kinds are accepted.
    expr = "SUM([METRICS(\u201c4xx\u201d), METRICS(\u201c5xx\u201d)])"
    assert vals(evaluate_expression(expr, data, P, metric_ids=ids), 2) == [3, 3]
    assert vals(evaluate_expression("m1/METRIC_COUNT(METRICS())", {"m1": ts(6)}, P), 1) == [6]


def test_avg_of_array_counts_missing_as_zero() -> None:
    data = {"m1": ts(2, 4), "m2": ts(6, None)}
    assert vals(evaluate_expression("AVG([m1, m2])", data, P), 2) == [4, 2]
    assert vals(evaluate_expression("MAX([m1, m2])", data, P), 2) == [6, 4]
    assert vals(evaluate_expression("DATAPOINT_COUNT([m1, m2])", data, P), 2) == [2, 1]


# --- Functions ---------------------------------------------------------------------------------


def test_elementwise_functions() -> None:
    data = {"m1": ts(-1.5, 2.25, 100)}
    assert vals(evaluate_expression("ABS(m1)", data, P), 3) == [1.5, 2.25, 100]
    assert vals(evaluate_expression("CEIL(m1)", data, P), 3) == [-1, 3, 100]
    assert vals(evaluate_expression("FLOOR(m1)", data, P), 3) == [-2, 2, 100]
    # LOG of a non-positive value has no real result: the datapoint is dropped.
    assert vals(evaluate_expression("LOG10(m1)", data, P), 3) == pytest.approx(
        [None, math.log10(2.25), 2]
    )
    assert vals(evaluate_expression("LOG(m1)", data, P), 3) == pytest.approx(
        [None, math.log(2.25), math.log(100)]
    )
    assert len(evaluate("LOG(METRICS())", data, P)) == 1
    two = {"m1": ts(1.2, 2.7), "m2": ts(3.5, 4.1)}
    assert vals(evaluate_expression("SUM(CEIL(METRICS()))", two, P), 2) == [6, 8]
    assert [s.points for s in evaluate("FLOOR(METRICS())", two, P)] == [ts(1, 2), ts(3, 4)]


def test_diff_rate_running_sum() -> None:
    data = {"m1": ts(10, 15, None, 30)}
    assert vals(evaluate_expression("DIFF(m1)", data, P), 4) == [None, 5, None, 15]
    assert vals(evaluate_expression("DIFF_TIME(m1)", data, P), 4) == [None, 60, None, 120]
    assert vals(evaluate_expression("RATE(m1)", data, P), 4) == [None, 5 / 60, None, 15 / 120]
    assert vals(evaluate_expression("RUNNING_SUM(m1)", data, P), 4) == [10, 25, None, 55]
    two = {"m1": ts(1, 2), "m2": ts(3, 4)}
    assert [s.points for s in evaluate("RUNNING_SUM([m1,m2])", two, P)] == [ts(1, 3), ts(3, 7)]
    assert [s.points for s in evaluate("DIFF_TIME(METRICS())", two, P)] == [
        ts(None, 60),
        ts(None, 60),
    ]
    assert len(evaluate("RATE(METRICS())", two, P)) == 2


FILL_DATA = {"m1": ts(None, 10, None, None, 40, None), "m2": ts(1, 2, 3, 4, 5, 6)}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("FILL(m1, 10)", [10, 10, 10, 10, 40, 10]),
        ("FILL(m1, 0)", [0, 10, 0, 0, 40, 0]),
        ("FILL(m1, MIN(m1))", [10, 10, 10, 10, 40, 10]),
        ("FILL(m1, m2)", [1, 10, 3, 4, 40, 6]),
        # REPEAT: the most recent actual value; nothing to repeat before the first one.
        ("FILL(m1, REPEAT)", [None, 10, 10, 10, 40, 40]),
        # LINEAR: interpolation between both ends of a gap; open-ended gaps stay missing.
        ("FILL(m1, LINEAR)", [None, 10, 20, 30, 40, None]),
    ],
)
def test_fill(expr: str, expected: list[float | None]) -> None:
    assert vals(evaluate_expression(expr, FILL_DATA, P), 6) == expected


def test_fill_over_an_explicit_query_range_and_arrays() -> None:
    data = {"m1": ts(None, 5), "m2": ts(7)}
    end = T0 + 3 * P
    res = evaluate("FILL(METRICS(), 0)", data, P, start=T0, end=end)
    assert [s.points for s in res] == [ts(0, 5, 0), ts(7, 0, 0)]
    res = evaluate("FILL(METRICS(), m2)", data, P, start=T0, end=end)
    assert [s.points for s in res] == [ts(7, 5), ts(7)]
    res = evaluate("FILL(METRICS(), LINEAR)", {"m1": ts(0, None, 4)}, P)
    assert res[0].points == ts(0, 2, 4)


def test_sort_slice_first_last() -> None:
    data = {"a": ts(1, 1), "b": ts(50, 300), "c": ts(10, 10), "d": ts()}
    by_avg_desc = [s.id for s in evaluate("SORT(METRICS(), AVG, DESC)", data, P)]
    assert by_avg_desc == ["b", "c", "a", "d"]
    assert [s.id for s in evaluate("SORT(METRICS(), MAX, ASC)", data, P)] == ["d", "a", "c", "b"]
    assert [s.id for s in evaluate("SORT(METRICS(), AVG, DESC, 2)", data, P)] == ["b", "c"]
    assert [s.id for s in evaluate("SLICE(SORT(METRICS(), SUM, DESC), 0, 10)", data, P)] == [
        "b",
        "c",
        "a",
        "d",
    ]
    assert [s.id for s in evaluate("SLICE(SORT(METRICS(), AVG, ASC), 2)", data, P)] == ["c", "b"]
    assert [s.id for s in evaluate("REMOVE_EMPTY(METRICS())", data, P)] == ["a", "b", "c"]
    expr = "IF(FIRST(SORT(METRICS(), AVG, DESC))>100, 1, 0)"
    assert vals(evaluate_expression(expr, data, P), 2) == [0, 1]
    assert evaluate_expression("LAST(SORT(METRICS(), MIN, DESC))", data, P) == []
    assert evaluate_expression("FIRST([c, a])", data, P) == data["c"]


def test_time_series_and_calendar_functions() -> None:
    # 2024-04-05 is a Friday; 2024-04-06 a Saturday.
    fri = datetime(2024, 4, 5, 16, 59, tzinfo=UTC).timestamp()
    data = {"m1": [(fri, 1.0), (fri + 60, 2.0), (fri + 86400, 3.0)]}
    rng = {"start": fri, "end": fri + 120}
    assert evaluate_expression("MINUTE(m1)", data, P, **rng) == [(fri, 59), (fri + 60, 0)]
    assert evaluate_expression("HOUR(m1)", data, P, **rng) == [(fri, 16), (fri + 60, 17)]
    assert evaluate_expression("DAY(m1)", data, P, **rng) == [(fri, 5), (fri + 60, 5)]
    assert evaluate_expression("DATE(m1)", data, P, **rng) == [(fri, 5), (fri + 60, 5)]
    assert evaluate_expression("MONTH(m1)", data, P, **rng) == [(fri, 4), (fri + 60, 4)]
    assert evaluate_expression("YEAR(m1)", data, P, **rng) == [(fri, 2024), (fri + 60, 2024)]
    assert evaluate_expression("EPOCH(m1)", data, P, **rng) == [(fri, fri), (fri + 60, fri + 60)]
    # Weekdays only (daily datapoints Thursday..Sunday): Saturday and Sunday are filtered out.
    thu = fri - 86400
    daily = {"m1": [(thu + i * 86400, float(i)) for i in range(4)]}
    assert evaluate_expression("IF(DAY(m1)<6,m1)", daily, 86400) == daily["m1"][:2]
    assert evaluate_expression("IF(MONTH(m1) == 4,m1)", daily, 86400) == daily["m1"]
    # The AWS blog's business-hours example: 16:59 passes, 17:00 does not.
    expr = "IF((DAY(m1)<6 AND (HOUR(m1)>=9 AND HOUR(m1)<17)),m1)"
    assert evaluate_expression(expr, {"m1": data["m1"][:2]}, P) == [(fri, 1.0)]
    assert evaluate_expression("TIME_SERIES(10)", data, P, **rng) == [(fri, 10), (fri + 60, 10)]
    assert evaluate_expression("TIME_SERIES(MAX(m1))", data, P, **rng) == [(fri, 3), (fri + 60, 3)]
    assert evaluate_expression("TIME_SERIES(5*AVG(m1))", data, P, **rng) == [
        (fri, 10),
        (fri + 60, 10),
    ]


# --- Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("m1 +", "Syntax error"),
        ("(m1", "Syntax error"),
        ("m1 m2", "Syntax error"),
        ("m1 $ 2", "Syntax error"),
        ("", "Syntax error"),
        ("abs(m1)", "Syntax error"),  # functions are upper case
        ("FOO(m1)", "Function 'FOO' not found"),
        ("FILL(m1, BACKWARDS)", "Unrecognized identifier 'BACKWARDS'"),
    ],
)
def test_syntax_errors(expr: str, fragment: str) -> None:
    with pytest.raises(MetricMathError) as exc:
        parse(expr, "e1")
    assert exc.value.message.startswith("Error in expression 'e1': ")
    assert fragment in exc.value.message
    assert exc.value.code == "ValidationError"


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("m1 + m9", "Unknown metric or expression id 'm9'"),
        ("ABS(m1, m1)", "Function 'ABS' expects 1 argument(s) but got 2"),
        ("IF(m1)", "Function 'IF' expects 2 to 3 argument(s) but got 1"),
        ("SORT(METRICS(), MEDIAN, DESC)", "Unrecognized identifier 'MEDIAN'"),
        ("SORT(METRICS(), AVG, UP)", "Unrecognized identifier 'UP'"),
        ("PERIOD(m1 * 2) * m1", "Invalid arguments for function 'PERIOD'"),
        ("AVG(m1)", "returns a scalar"),
        ("42", "returns a scalar"),
        ("[m1, m1] + [m1]", "cannot combine two arrays"),
        ("ANOMALY_DETECTION_BAND(m1, 2)", "Function 'ANOMALY_DETECTION_BAND' is not supported"),
        ('INSIGHT_RULE_METRIC("rule", "Sum")', "Function 'INSIGHT_RULE_METRIC' is not supported"),
    ],
)
def test_evaluation_errors(expr: str, fragment: str) -> None:
    with pytest.raises(MetricMathError) as exc:
        evaluate(expr, {"m1": ts(1, 2)}, P, query_id="q1")
    assert exc.value.message.startswith("Error in expression 'q1': ")
    assert fragment in exc.value.message


def test_evaluate_expression_needs_exactly_one_series() -> None:
    with pytest.raises(MetricMathError, match="returns 2 time series"):
        evaluate_expression("METRICS()", {"m1": ts(1), "m2": ts(2)}, P)
    assert evaluate_expression("SUM(METRICS())", {"m1": ts(1), "m2": ts(2)}, P) == ts(3)


def test_search_is_handed_to_the_provider() -> None:
    expr = "SUM(SEARCH('{AWS/Kinesis,StreamName} MetricName=\"IncomingRecords\"', 'Sum', 60))"
    with pytest.raises(NeedsSearch) as full:  # SEARCH('search', 'Stat', Period)
        evaluate(expr, {}, P)
    assert (full.value.stat, full.value.period) == ("Sum", 60)
    with pytest.raises(MetricMathError, match="expects 1 to 3 argument"):
        evaluate("SEARCH('x', 'Sum', 60, 1)", {}, P)
    expr = "SUM(SEARCH('{AWS/Kinesis,StreamName} IncomingRecords'))"
    with pytest.raises(NeedsSearch) as exc:
        evaluate(expr, {}, P)
    assert exc.value.search == "{AWS/Kinesis,StreamName} IncomingRecords"
    data = {"s1": ts(1, 2), "s2": ts(10, 20)}
    resolved = {exc.value.search: ["s1", "s2"]}
    assert evaluate_expression(expr, data, P, search_results=resolved) == ts(11, 22)


def test_queries_refer_to_each_other_in_dependency_order() -> None:
    out = evaluate_queries(
        {"e2": "e1 * 100", "e1": "errors / requests"},
        {"errors": ts(1, 3), "requests": ts(10, 10)},
        P,
    )
    assert out["e1"][0].points == ts(0.1, 0.3)
    assert vals(out["e2"][0].points, 2) == pytest.approx([10, 30])
    # METRICS() in an expression never includes expressions.
    out = evaluate_queries({"e1": "SUM(METRICS())", "e2": "e1 + 1"}, {"m1": ts(1)}, P)
    assert out["e2"][0].points == ts(2)
    with pytest.raises(MetricMathError, match="Circular dependency"):
        evaluate_queries({"e1": "e2 + 1", "e2": "e1 + 1"}, {}, P)
    with pytest.raises(MetricMathError, match="Unknown metric or expression id 'm7'"):
        evaluate_queries({"e1": "m7 + 1"}, {}, P)


def test_referenced_ids() -> None:
    assert referenced_ids("IF(m1 > 2, m2, FILL(m3, REPEAT)) + SUM(METRICS())") == {
        "m1",
        "m2",
        "m3",
    }
