"""CloudWatch alarm evaluation (sim/emulator/providers/cloudwatch/alarms.py).

Truth tables: CloudWatch user guide, "Configuring how CloudWatch alarms treat missing data" ->
"How alarm state is evaluated when data is missing" (AlarmThatSendsEmail.md in
awsdocs/amazon-cloudwatch-user-guide at b355497, 2023-05-17; now alarms-and-missing-data.html).
In those tables the most recent datapoint is on the right, "0" is a NON-breaching datapoint, "X" a
breaching one and "-" a missing one; the evaluation range is 5 and Evaluation Periods is 3.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sim.emulator.providers.cloudwatch.alarms import (
    ALARM,
    INITIAL_REASON,
    INSUFFICIENT_DATA,
    OK,
    AlarmError,
    AlarmSpec,
    ChildState,
    _java_double,
    check_rule_alarms_exist,
    eval_rule,
    evaluate,
    evaluate_composite,
    is_due,
    math_datapoints,
    next_evaluation,
    parse_rule,
    rule_alarms,
    validate,
    window,
)

NOW = datetime(2024, 4, 23, 20, 50, 27, tzinfo=UTC).timestamp()
RETAIN = "retain"


def spec(m: int | None, treat: str, *, n: int = 3, period: int = 300) -> AlarmSpec:
    return AlarmSpec(
        name="a",
        period=period,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        threshold=10.0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data=treat,
        statistic="Average",
    )


def row_points(alarm: AlarmSpec, row: str) -> list[tuple[float, float | None]]:
    """The guide's notation -> datapoints on the alarm's window (most recent on the right)."""
    marks = row.split()
    periods = window(alarm, NOW).periods
    assert len(marks) == len(periods)
    value = {"0": 5.0, "X": 20.0, "-": None}
    return [(t, value[c]) for t, c in zip(periods, marks, strict=True)]


COLUMNS = ("missing", "ignore", "breaching", "notBreaching")

# First table: Datapoints to Alarm = Evaluation Periods = 3.
TABLE_3_OF_3 = [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT_DATA, RETAIN, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - X - -", (ALARM, RETAIN, ALARM, OK)),
]
# Second table: Datapoints to Alarm = 2, Evaluation Periods = 3.
TABLE_2_OF_3 = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - X -", (ALARM, RETAIN, ALARM, OK)),
]

CASES = [
    pytest.param(m, row, treat, expected, id=f"{m}of3[{row}]-{treat}")
    for m, table in ((3, TABLE_3_OF_3), (2, TABLE_2_OF_3))
    for row, results in table
    for treat, expected in zip(COLUMNS, results, strict=True)
]


@pytest.mark.parametrize("m, row, treat, expected", CASES)
@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT_DATA])
def test_missing_data_truth_tables(
    m: int, row: str, treat: str, expected: str, current: str
) -> None:
    alarm = spec(m, treat)
    ev = evaluate(alarm, row_points(alarm, row), NOW, current)
    want = current if expected == RETAIN else expected
    assert ev.state == want
    assert ev.changed == (want != current)
    assert ev.retained == (expected == RETAIN)


def test_premature_transition_examples() -> None:
    # "- - - - X" and "- - - X -" with M = 3 must not go to ALARM immediately.
    for row in ("- - - - X", "- - - X -"):
        alarm = spec(3, "missing")
        ev = evaluate(alarm, row_points(alarm, row), NOW, OK)
        assert ev.state == OK and ev.retained
    # ... and the following non-breaching datapoint keeps it OK.
    for row in ("- - - X 0", "- - X - 0"):
        alarm = spec(3, "missing")
        assert evaluate(alarm, row_points(alarm, row), NOW, OK).state == OK
    # Row 2 of the first table, one evaluation later, with missing data as breaching: ALARM.
    alarm = spec(3, "breaching")
    assert evaluate(alarm, row_points(alarm, "- - - - -"), NOW, OK).state == ALARM


@pytest.mark.parametrize(
    "m, row, expected",
    [
        (3, "X X X X X", ALARM),
        (3, "X X X X 0", OK),
        (2, "0 0 X 0 X", ALARM),  # M of N: the breaching datapoints need not be consecutive
        (2, "X X 0 0 X", OK),
        (1, "0 0 0 0 X", ALARM),
        (4, "0 X X X X", ALARM),
        (4, "X X X 0 X", OK),
    ],
)
def test_m_out_of_n(m: int, row: str, expected: str) -> None:
    alarm = spec(m, "missing", n=4 if m == 4 else 3)
    marks = row.split()
    if alarm.n == 4:
        marks = ["0", *marks]  # the range is N + 2 = 6 periods
    ev = evaluate(alarm, row_points(alarm, " ".join(marks)), NOW, INSUFFICIENT_DATA)
    assert ev.state == expected


def test_dynamodb_alarms_always_ignore_missing_data() -> None:
    alarm = AlarmSpec(
        name="ddb",
        period=60,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="breaching",
        namespace="AWS/DynamoDB",
    )
    ev = evaluate(alarm, [], NOW, OK)
    assert ev.state == OK and not ev.changed and ev.retained


# --- The issue's example: Average > 15 over datapoints 10, 20, 30 -----------------------------

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()
ISSUE_POINTS = [(T, 10.0, 1.0), (T + 60, 20.0, 1.0), (T + 120, 30.0, 1.0)]
ISSUE_NOW = T + 180 + 7  # the evaluation after the third minute


def issue_alarm(n: int = 1, m: int | None = None) -> AlarmSpec:
    return AlarmSpec(
        name="issue",
        period=60,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        threshold=15.0,
        comparison_operator="GreaterThanThreshold",
        statistic="Average",
    )


def test_issue_example_one_evaluation_period_the_last_minute_decides() -> None:
    alarm = issue_alarm()
    assert window(alarm, ISSUE_NOW).periods == (T, T + 60, T + 120)
    ev = evaluate(alarm, ISSUE_POINTS, ISSUE_NOW, INSUFFICIENT_DATA)
    assert (ev.state, ev.changed) == (ALARM, True)
    assert ev.reason == (
        "Threshold Crossed: 1 datapoint [30.0 (01/05/24 12:02:00)] was greater than the "
        "threshold (15.0)."
    )
    assert json.loads(ev.reason_data) == {
        "version": "1.0",
        "queryDate": "2024-05-01T12:03:07.000+0000",
        "startDate": "2024-05-01T12:02:00.000+0000",
        "statistic": "Average",
        "period": 60,
        "recentDatapoints": [30.0],
        "threshold": 15.0,
        "evaluatedDatapoints": [
            {"timestamp": "2024-05-01T12:02:00.000+0000", "sampleCount": 1.0, "value": 30.0}
        ],
    }
    # Java-style numbers in the JSON text, as CloudWatch writes it.
    assert '"threshold":15.0' in ev.reason_data
    # The state persists at the next evaluation: no transition, so no action.
    again = evaluate(alarm, ISSUE_POINTS, ISSUE_NOW, ALARM)
    assert (again.state, again.changed) == (ALARM, False)


def test_issue_example_three_of_three_stays_ok() -> None:
    ev = evaluate(issue_alarm(3), ISSUE_POINTS, ISSUE_NOW + 120, INSUFFICIENT_DATA)
    # The window at 12:05 is 12:00..12:04; the three real datapoints are the most recent three.
    assert ev.state == OK
    assert ev.reason.startswith("Threshold Crossed: 1 datapoint [10.0 (01/05/24 12:00:00)]")
    assert "was not greater than the threshold (15.0)." in ev.reason


def test_issue_example_two_of_three_alarms_with_the_m_of_n_reason() -> None:
    ev = evaluate(issue_alarm(3, 2), ISSUE_POINTS, ISSUE_NOW, INSUFFICIENT_DATA)
    assert ev.state == ALARM
    assert ev.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [30.0 (01/05/24 12:02:00), "
        "20.0 (01/05/24 12:01:00)] were greater than the threshold (15.0) "
        "(minimum 2 datapoints for OK -> ALARM transition)."
    )
    data = json.loads(ev.reason_data)
    assert data["recentDatapoints"] == [10.0, 20.0, 30.0]
    assert [d["value"] for d in data["evaluatedDatapoints"]] == [30.0, 20.0, 10.0]


def test_issue_example_all_three_values_in_one_minute() -> None:
    # PutMetricData of 10, 20, 30 in the same minute: Average 20 > 15.
    ev = evaluate(issue_alarm(), [(T + 120, 20.0, 3.0)], ISSUE_NOW, INSUFFICIENT_DATA)
    assert ev.state == ALARM


def test_new_alarm_without_data_is_insufficient_data() -> None:
    alarm = issue_alarm()
    assert INITIAL_REASON == "Unchecked: Initial alarm creation"
    ev = evaluate(alarm, [], ISSUE_NOW, INSUFFICIENT_DATA)
    assert (ev.state, ev.changed) == (INSUFFICIENT_DATA, False)
    assert ev.reason == "Insufficient Data: 3 datapoints were unknown."
    data = json.loads(ev.reason_data)
    assert data["recentDatapoints"] == [] and "startDate" not in data
    assert [d["timestamp"] for d in data["evaluatedDatapoints"]] == [
        "2024-05-01T12:02:00.000+0000",
        "2024-05-01T12:01:00.000+0000",
        "2024-05-01T12:00:00.000+0000",
    ]
    # Data stops after an ALARM: back to INSUFFICIENT_DATA once the range holds nothing.
    ev = evaluate(alarm, ISSUE_POINTS, ISSUE_NOW + 300, ALARM)
    assert (ev.state, ev.changed) == (INSUFFICIENT_DATA, True)


def test_reasons_for_filled_missing_datapoints() -> None:
    alarm = spec(None, "notBreaching", n=3)
    ev = evaluate(alarm, [], NOW, ALARM)
    assert ev.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints "
        "were treated as [NonBreaching]."
    )
    one = AlarmSpec("b", 60, 1, 0.0, "GreaterThanThreshold", treat_missing_data="breaching")
    assert evaluate(one, [], NOW, OK).reason == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was "
        "treated as [Breaching]."
    )
    alarm = spec(None, "breaching", n=3)
    periods = window(alarm, NOW).periods
    ev = evaluate(alarm, [(periods[-2], 2.0)], NOW, ALARM)
    assert ev.state == OK
    assert ev.reason.startswith("Threshold Crossed: 1 datapoint [2.0 (23/04/24 20:40:00)] was not")
    assert ev.reason.endswith("and 2 missing datapoints were treated as [Breaching].")


# --- Cadence and window ----------------------------------------------------------------------


def test_cadence_every_minute_or_every_ten_seconds() -> None:
    slow = spec(None, "missing", period=300)
    fast = spec(None, "missing", period=10)
    assert next_evaluation(slow, 125.0) == 180.0
    assert next_evaluation(fast, 125.0) == 130.0
    assert is_due(slow, None, 0.0)
    assert not is_due(slow, 120.0, 179.9)
    assert is_due(slow, 120.0, 180.0)
    assert is_due(fast, 120.0, 130.0)
    assert not is_due(fast, 121.0, 129.0)


def test_window_slides_with_the_minute_not_the_period() -> None:
    # A real 180 s alarm evaluated at 02:56:32 used the buckets 02:47, 02:50 and 02:53.
    at = datetime(2026, 8, 19, 2, 56, 32, tzinfo=UTC).timestamp()
    w = window(spec(None, "missing", period=180), at)
    got = [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in w.periods]
    assert got == ["02:41", "02:44", "02:47", "02:50", "02:53"]
    assert w.end == datetime(2026, 8, 19, 2, 56, tzinfo=UTC).timestamp()
    hi = window(spec(None, "missing", period=30, n=2), at)
    assert hi.end == datetime(2026, 8, 19, 2, 56, 30, tzinfo=UTC).timestamp()
    assert len(hi.periods) == 4 and hi.periods[-1] == hi.end - 30


# --- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"Period": 45}, "must be 10, 20, 30, or a multiple of 60"),
        ({"Period": 90}, "must be 10, 20, 30, or a multiple of 60"),
        ({"DatapointsToAlarm": 4}, "DatapointsToAlarm must be"),
        ({"EvaluationPeriods": 1441}, "can't exceed 1 day"),
        ({"TreatMissingData": "sometimes"}, "treatMissingData"),
        ({"ComparisonOperator": "Bigger"}, "comparisonOperator"),
    ],
)
def test_validation(changes: dict[str, object], fragment: str) -> None:
    req = {
        "AlarmName": "a",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "Statistic": "Sum",
        **changes,
    }
    with pytest.raises(AlarmError) as exc:
        AlarmSpec.from_api(req)
    assert fragment in exc.value.message
    assert exc.value.code == "ValidationError"


def test_anomaly_detection_operators_are_unsupported() -> None:
    alarm = replace(
        spec(None, "missing"), comparison_operator="LessThanLowerOrGreaterThanUpperThreshold"
    )
    with pytest.raises(AlarmError) as exc:
        validate(alarm)
    assert exc.value.code == "UnsupportedOperation"


def test_high_resolution_and_long_periods_are_valid() -> None:
    for period, n in ((10, 3), (20, 3), (30, 2880), (3600, 168)):
        validate(spec(None, "missing", period=period, n=n))


# --- Metric-math alarms ----------------------------------------------------------------------


def math_alarm() -> AlarmSpec:
    return AlarmSpec.from_api(
        {
            "AlarmName": "error-rate",
            "EvaluationPeriods": 2,
            "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [
                {
                    "Id": "e1",
                    "Expression": "m1 / m2 * 100",
                    "Label": "ErrorRate",
                    "ReturnData": True,
                },
                {
                    "Id": "m1",
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {"Namespace": "App", "MetricName": "Errors"},
                        "Period": 60,
                        "Stat": "Sum",
                    },
                },
                {
                    "Id": "m2",
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {"Namespace": "App", "MetricName": "Requests"},
                        "Period": 60,
                        "Stat": "Sum",
                    },
                },
            ],
        }
    )


def test_metric_math_alarm() -> None:
    alarm = math_alarm()
    assert alarm.period == 60 and alarm.is_math
    w = window(alarm, ISSUE_NOW)
    p = w.periods
    series = {
        "m1": [(p[0], 1.0), (p[1], 1.0), (p[2], 8.0), (p[3], 9.0)],
        "m2": [(p[0], 100.0), (p[1], 100.0), (p[2], 100.0), (p[3], 100.0)],
    }
    points = math_datapoints(alarm, series, w)
    assert [v for _, v in points] == pytest.approx([1.0, 1.0, 8.0, 9.0])
    ev = evaluate(alarm, points, ISSUE_NOW, OK)
    assert (ev.state, ev.changed) == (ALARM, True)
    assert "statistic" not in json.loads(ev.reason_data)


def test_metric_math_alarm_validation() -> None:
    bad = {
        "AlarmName": "x",
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "Metrics": [
            {"Id": "e1", "Expression": "m1 * 2", "ReturnData": True},
            {"Id": "e2", "Expression": "m1 * 3", "ReturnData": True},
            {
                "Id": "m1",
                "ReturnData": False,
                "MetricStat": {"Metric": {}, "Period": 60, "Stat": "Sum"},
            },
        ],
    }
    with pytest.raises(AlarmError, match="Exactly one element of the metrics list should return"):
        AlarmSpec.from_api(bad)
    bad["Metrics"] = [bad["Metrics"][0], {**bad["Metrics"][2], "Id": "m2"}]  # type: ignore[index]
    with pytest.raises(AlarmError, match="Unknown metric or expression id 'm1'"):
        AlarmSpec.from_api(bad)


# --- Numbers as CloudWatch prints them -----------------------------------------------------------


@pytest.mark.parametrize(
    "x, text",
    [
        (15, "15.0"),
        (0.0, "0.0"),
        (0.01758096118768056, "0.01758096118768056"),
        (3.4666088898518357, "3.4666088898518357"),
        (1e7, "1.0E7"),
        (12345678.0, "1.2345678E7"),
        (0.0001, "1.0E-4"),
        (-2.5, "-2.5"),
    ],
)
def test_java_double(x: float, text: str) -> None:
    assert _java_double(x) == text


# --- Composite alarms ----------------------------------------------------------------------------

STATES = {
    "CPUUtilizationTooHigh": ALARM,
    "DiskReadOpsTooHigh": OK,
    "NetworkOutTooHigh": OK,
    "DeploymentInProgress": INSUFFICIENT_DATA,
}


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("ALARM(CPUUtilizationTooHigh) AND ALARM(DiskReadOpsTooHigh)", False),
        ("ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)", True),
        ("ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)", True),
        (
            "(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)",
            True,
        ),
        (
            '(ALARM("CPUUtilizationTooHigh") OR \nALARM("DiskReadOpsTooHigh")) AND \nOK("NetworkOutTooHigh")',
            True,
        ),
        ("INSUFFICIENT_DATA(DeploymentInProgress)", True),
        ("OK(CPUUtilizationTooHigh)", False),
        ('ALARM("arn:aws:cloudwatch:us-east-1:000000000000:alarm:CPUUtilizationTooHigh")', True),
        ("TRUE", True),
        ("FALSE", False),
        ("False", False),
        ("NOT NOT TRUE", True),
        ("TRUE OR FALSE AND FALSE", True),  # AND binds tighter than OR
        ("(TRUE OR FALSE) AND FALSE", False),
        ("NOT ALARM(CPUUtilizationTooHigh) OR OK(DiskReadOpsTooHigh)", True),
        ("ALARM(Deleted)", False),
        ("NOT ALARM(Deleted)", True),
    ],
)
def test_composite_rules(rule: str, expected: bool) -> None:
    assert eval_rule(rule, STATES) is expected


@pytest.mark.parametrize(
    "rule, message",
    [
        (
            "()",
            "Error in AlarmRule [Unsupported token ')' at char 1, must be: '(', 'NOT', AT_LEAST",
        ),
        (
            "ALARM(SampleQueue Oldest Age Alarm)",
            "Error in AlarmRule [Unsupported token 'Oldest' at char 18, must be: ')']",
        ),
        ("ALARM(a) AND", "Error in AlarmRule [Unexpected end of rule at char 12"),
        (
            "ALARM(a) ALARM(b)",
            "Error in AlarmRule [Unsupported token 'ALARM' at char 9, must be: 'AND', 'OR']",
        ),
        ("ALARM a", "Error in AlarmRule [Unsupported token 'a' at char 6, must be: '(']"),
        ("alarm(a)", "Error in AlarmRule [Unsupported token 'alarm' at char 0"),
        ("(ALARM(a)", "Error in AlarmRule [Unexpected end of rule at char 9, must be: ')']"),
        ("ALARM()", "Error in AlarmRule [Unsupported token ')' at char 6, must be: an alarm name"),
        ('ALARM("a)', "Error in AlarmRule [Unterminated quoted alarm name at char 6]"),
        ("", "Member must have length greater than or equal to 1"),
        ("TRUE OR " * 1300 + "TRUE", "Member must have length less than or equal to 10240"),
    ],
)
def test_composite_rule_errors(rule: str, message: str) -> None:
    with pytest.raises(AlarmError) as exc:
        parse_rule(rule)
    assert message in exc.value.message
    assert exc.value.code == "ValidationError"


def test_composite_rule_limits_and_references() -> None:
    rule = " OR ".join(f"ALARM(a{i})" for i in range(101))
    with pytest.raises(AlarmError, match="at most 100 alarms"):
        parse_rule(rule)
    parse_rule(" OR ".join(f"ALARM(a{i})" for i in range(100)))
    node = parse_rule('ALARM(x) AND OK("arn:aws:cloudwatch:eu-west-1:1:alarm:y") OR ALARM(x)')
    assert rule_alarms(node) == ["x", "y"]
    check_rule_alarms_exist(node, {"x", "y"})
    with pytest.raises(AlarmError, match=r"alarms \[y\] in the alarm rule do not exist"):
        check_rule_alarms_exist(node, ["x"])
    with pytest.raises(AlarmError) as exc:
        parse_rule("AT_LEAST(2, ALARM, (a, b))")
    assert exc.value.code == "UnsupportedOperation"


def test_composite_evaluation_and_transitions() -> None:
    rule = "ALARM(cpu) AND NOT ALARM(deploy)"
    t1 = datetime(2020, 10, 23, 17, 18, 46, tzinfo=UTC).timestamp()
    children = {
        "cpu": ChildState("arn:aws:cloudwatch:us-east-1:000000000000:alarm:cpu", ALARM, t1),
        "deploy": ChildState("arn:aws:cloudwatch:us-east-1:000000000000:alarm:deploy", OK, t1 - 60),
    }
    ev = evaluate_composite(rule, children, t1 + 30, INSUFFICIENT_DATA)
    assert (ev.state, ev.changed) == (ALARM, True)
    assert ev.reason == (
        "arn:aws:cloudwatch:us-east-1:000000000000:alarm:cpu transitioned to ALARM at "
        "Friday 23 October, 2020 17:18:46 UTC"
    )
    assert json.loads(ev.reason_data)["triggeringAlarms"][0]["state"]["value"] == ALARM
    # Same inputs again: no transition, so no second notification.
    assert not evaluate_composite(rule, children, t1 + 90, ALARM).changed
    children["deploy"] = ChildState(children["deploy"].arn, ALARM, t1 + 100)
    ev = evaluate_composite(rule, children, t1 + 120, ALARM)
    assert (ev.state, ev.changed) == (OK, True)
    assert "alarm:deploy transitioned to ALARM" in ev.reason
    assert evaluate_composite("FALSE", {}, t1, INSUFFICIENT_DATA).state == OK
