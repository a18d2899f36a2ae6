"""CloudWatch alarm evaluation: metric alarms (static threshold, M of N, missing data), metric-math
alarms and composite alarms. Pure Python: the provider fetches data, stores state, sends actions.

AWS documents followed (CloudWatch user guide, AlarmThatSendsEmail.html at awsdocs commit
b355497, now alarm-evaluation.html and alarms-and-missing-data.html):
- "Evaluating an alarm": Period, EvaluationPeriods (N), DatapointsToAlarm (M, default N); periods
  of 60 s or more are evaluated every minute over a sliding window, 10/20/30 s periods every 10 s.
- "How alarm state is evaluated when data is missing": CloudWatch retrieves an *evaluation range*
  longer than N; when fewer than N real datapoints exist it fills as few missing ones as
  possible with TreatMissingData (missing | notBreaching | breaching | ignore).
- "Avoiding premature transitions to alarm state".
- Create_Composite_Alarm.html and the PutCompositeAlarm API reference for AlarmRule.

Evaluation of a metric alarm, for the provider
1. ``w = window(alarm, now)``: ``w.periods`` are the period start times (epoch seconds, oldest
   first) of the evaluation range; each covers ``[t, t + alarm.period)``.
2. Aggregate the metric with ``alarm.statistic`` per period (or evaluate the alarm's metric math:
   ``math_datapoints``), giving ``(t, value)`` or ``(t, value, sample_count)``; a period without
   data is simply absent (or has value None).
3. ``evaluate(alarm, datapoints, now, current_state)`` -> ``Evaluation(state, changed, reason,
   reason_data, ...)``. Actions run only when ``changed`` is True (AWS: "the actions happen only
   on state transitions").
``is_due(alarm, last_evaluated, now)`` / ``next_evaluation(alarm, after)`` give the cadence.

Deliberate decisions where the guide is silent (also listed in the module's tests):
- The evaluation range is N + 2 periods (the guide's tables: N = 3 -> "5 is the evaluation range").
- Under ``missing``, fewer than N real datapoints that are all breaching but too recent for the
  premature-alarm rule keep the current state (the guide: the alarm "does not go immediately into
  ALARM"); under ``ignore`` a premature ALARM is not taken either (the tables' "Retain current
  state").
- Reason texts copy the forms AWS writes (seen in real alarm histories): "Threshold Crossed: 3
  datapoints [2.0 (19/08/26 05:50:00), ...] were greater than the threshold (0.0).", the M-of-N
  form "... 2 out of the last 3 datapoints [...] were ... (minimum 2 datapoints for OK -> ALARM
  transition).", "... and 7 missing datapoints were treated as [Breaching].", "Threshold
  Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as
  [NonBreaching].", "Insufficient Data: 5 datapoints were unknown.".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sim.emulator.providers.cloudwatch import metricmath

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")

# ComparisonOperator -> (test, wording in reasons)
_COMPARE = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
ANOMALY_OPERATORS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)

HIGH_RESOLUTION_PERIODS = (10, 20, 30)
INITIAL_REASON = "Unchecked: Initial alarm creation"


class AlarmError(Exception):
    """An alarm definition CloudWatch would reject or bdlab cannot evaluate.

    ``code`` is the AWS error code (ValidationError for PutMetricAlarm / PutCompositeAlarm)."""

    def __init__(self, message: str, code: str = "ValidationError") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------------------------
# Metric alarms


@dataclass(frozen=True)
class MetricQuery:
    """One entry of a metric-math alarm's Metrics list (PutMetricAlarm ``Metrics``)."""

    id: str
    expression: str | None = None
    return_data: bool = False
    period: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class AlarmSpec:
    """What evaluation needs of a metric alarm (PutMetricAlarm's fields, snake_case).

    ``period`` seconds (for a metric-math alarm: the period of its metrics); ``datapoints_to_alarm``
    None means N; ``statistic`` is the Statistic or ExtendedStatistic (only echoed in the reason
    data); ``namespace`` matters for AWS/DynamoDB, whose alarms always ignore missing data.
    """

    name: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    statistic: str | None = "Average"
    unit: str | None = None
    namespace: str | None = None
    metrics: tuple[MetricQuery, ...] = ()

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def n(self) -> int:
        return self.evaluation_periods

    @property
    def is_math(self) -> bool:
        return any(q.expression for q in self.metrics)

    @classmethod
    def from_api(cls, req: Mapping[str, Any]) -> AlarmSpec:
        """Build from a PutMetricAlarm request / DescribeAlarms MetricAlarm dict (AWS casing).

        Raises AlarmError for what PutMetricAlarm rejects here (see ``validate``)."""
        metrics = tuple(
            MetricQuery(
                id=q["Id"],
                expression=q.get("Expression"),
                return_data=bool(q.get("ReturnData", True)),
                period=(q.get("MetricStat") or {}).get("Period") or q.get("Period"),
                label=q.get("Label"),
            )
            for q in req.get("Metrics") or ()
        )
        period = req.get("Period")
        if period is None and metrics:
            periods = {q.period for q in metrics if q.period}
            period = min(periods) if periods else None
        if period is None:
            raise AlarmError("Period must be specified")
        statistic = req.get("Statistic") or req.get("ExtendedStatistic")
        namespace = req.get("Namespace")
        if metrics:
            stats = [q for q in req.get("Metrics") or () if q.get("MetricStat")]
            if len(stats) == 1 and not any(q.expression for q in metrics):
                statistic = stats[0]["MetricStat"].get("Stat")
                namespace = stats[0]["MetricStat"]["Metric"].get("Namespace")
        spec = cls(
            name=req["AlarmName"],
            period=int(period),
            evaluation_periods=int(req["EvaluationPeriods"]),
            threshold=float(req.get("Threshold", 0.0)),
            comparison_operator=req["ComparisonOperator"],
            datapoints_to_alarm=req.get("DatapointsToAlarm"),
            treat_missing_data=req.get("TreatMissingData") or "missing",
            statistic=statistic if not any(q.expression for q in metrics) else None,
            unit=req.get("Unit"),
            namespace=namespace,
            metrics=metrics,
        )
        validate(spec)
        return spec


def validate(alarm: AlarmSpec) -> None:
    """PutMetricAlarm's checks on the fields evaluation uses; AlarmError(ValidationError).

    Periods 10, 20, 30 or a multiple of 60; M <= N; Period x N at most one day below an hour's
    period and seven days otherwise (PutMetricAlarm API reference); a known TreatMissingData; a
    static-threshold operator (anomaly-detection operators: AlarmError, not modelled); metric-math
    alarms: exactly one ReturnData entry, at most 10 metrics (AlarmThatSendsEmail.html)."""
    p = alarm.period
    if not (p in HIGH_RESOLUTION_PERIODS or (p >= 60 and p % 60 == 0)):
        raise AlarmError(
            f"The parameter Period must be 10, 20, 30, or a multiple of 60, but {p} was specified."
        )
    if alarm.evaluation_periods < 1:
        raise AlarmError("The parameter EvaluationPeriods must be greater than or equal to 1.")
    if alarm.datapoints_to_alarm is not None and not (
        1 <= alarm.datapoints_to_alarm <= alarm.evaluation_periods
    ):
        raise AlarmError(
            "DatapointsToAlarm must be greater than 0 and less than or equal to EvaluationPeriods"
        )
    total = p * alarm.evaluation_periods
    limit = 86_400 if p < 3600 else 604_800
    if total > limit:
        raise AlarmError(
            "The evaluation period (Period multiplied by EvaluationPeriods) can't exceed "
            f"{limit // 86_400} day{'s' if limit > 86_400 else ''} for this period."
        )
    if alarm.treat_missing_data not in TREAT_MISSING:
        raise AlarmError(
            f"1 validation error detected: Value '{alarm.treat_missing_data}' at "
            "'treatMissingData' failed to satisfy constraint: Member must satisfy enum value set: "
            "[breaching, notBreaching, ignore, missing]"
        )
    if alarm.comparison_operator in ANOMALY_OPERATORS:
        raise AlarmError(
            f"ComparisonOperator {alarm.comparison_operator} needs an anomaly detection band, "
            "which bdlab does not model",
            code="UnsupportedOperation",
        )
    if alarm.comparison_operator not in _COMPARE:
        raise AlarmError(
            f"1 validation error detected: Value '{alarm.comparison_operator}' at "
            "'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set"
        )
    if alarm.metrics:
        returning = [q for q in alarm.metrics if q.return_data]
        if len(returning) != 1:
            raise AlarmError("Exactly one element of the metrics list should return data.")
        if sum(1 for q in alarm.metrics if not q.expression) > 10:
            raise AlarmError("A metric math alarm can include at most 10 metrics.")
        expressions = {q.id: q.expression for q in alarm.metrics if q.expression}
        for qid, expr in expressions.items():
            node = metricmath.parse(expr, qid)
            if re.search(r"\bSEARCH\s*\(", expr, re.I):
                # "A search expression cannot be used within an Alarm" (CloudWatch user guide)
                raise AlarmError(
                    f"Error in expression '{qid}': SEARCH expressions are not supported in alarms"
                )
            known = {q.id for q in alarm.metrics}
            for ref in metricmath.referenced_ids(node):
                if ref not in known:
                    raise AlarmError(
                        f"Error in expression '{qid}': Unknown metric or expression id '{ref}'"
                    )


def evaluation_interval(period: int) -> int:
    """Seconds between evaluations: 60 for periods of a minute or more, 10 for 10/20/30 s."""
    return 10 if period < 60 else 60


def evaluation_range(alarm: AlarmSpec) -> int:
    """Number of periods retrieved at each evaluation (N + 2; see the module docstring)."""
    return alarm.evaluation_periods + 2


@dataclass(frozen=True)
class Window:
    """The evaluation range: ``periods`` are the period starts (epoch s, oldest first), each
    covering ``[t, t + period)``; ``start`` = periods[0], ``end`` = periods[-1] + period."""

    start: float
    end: float
    periods: tuple[float, ...]


def window(alarm: AlarmSpec, now: float) -> Window:
    """The periods to aggregate for an evaluation at ``now`` (epoch seconds).

    The window slides with the evaluation cadence rather than snapping to multiples of the period:
    it ends at ``now`` rounded down to the minute (10 s for high-resolution alarms). That matches
    the guide's example (Period 5 min, N = 1: at the end of minute 6 data from minutes 2 to 6)
    and the timestamps in real StateReasonData (a 300 s period starting at 20:44:00)."""
    step = evaluation_interval(alarm.period)
    end = math.floor(now / step) * step
    count = evaluation_range(alarm)
    periods = tuple(float(end - (count - i) * alarm.period) for i in range(count))
    return Window(start=periods[0], end=float(end), periods=periods)


def is_due(alarm: AlarmSpec, last_evaluated: float | None, now: float) -> bool:
    """True when an evaluation tick lies in (last_evaluated, now] (or never evaluated)."""
    if last_evaluated is None:
        return True
    step = evaluation_interval(alarm.period)
    return math.floor(now / step) > math.floor(last_evaluated / step)


def next_evaluation(alarm: AlarmSpec, after: float) -> float:
    """The first evaluation tick strictly after ``after`` (epoch seconds)."""
    step = evaluation_interval(alarm.period)
    return float((math.floor(after / step) + 1) * step)


def math_datapoints(
    alarm: AlarmSpec,
    series: Mapping[str, Sequence[tuple[float, float]]],
    win: Window,
) -> list[tuple[float, float]]:
    """The datapoints of a metric-math alarm: evaluates its Metrics list over the window.

    ``series``: metric query Id -> per-period values (timestamps = the window's period starts).
    Returns the ReturnData entry's series restricted to the window. MetricMathError as
    metricmath raises it (the provider records it as the alarm's evaluation error)."""
    expressions = {q.id: q.expression for q in alarm.metrics if q.expression}
    target = next(q for q in alarm.metrics if q.return_data)
    if target.expression is None:
        return [(t, v) for t, v in series.get(target.id, ()) if win.start <= t < win.end]
    out = metricmath.evaluate_queries(
        expressions, series, alarm.period, start=win.start, end=win.end
    )[target.id]
    if len(out) != 1:
        raise metricmath.MetricMathError(
            f"Error in expression '{target.id}': an alarm's expression must return exactly one "
            f"time series, this one returns {len(out)}"
        )
    return [(t, v) for t, v in out[0].points if win.start <= t < win.end]


@dataclass(frozen=True)
class Datapoint:
    timestamp: float
    value: float | None
    sample_count: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation.

    ``state``: OK | ALARM | INSUFFICIENT_DATA; ``changed``: state != current_state (the caller
    records history and runs actions only then); ``reason``/``reason_data``: StateReason and
    StateReasonData (a JSON string) for this outcome; ``retained``: the state was kept because of
    TreatMissingData ignore or the premature-alarm rule (the stored reason should stay)."""

    state: str
    changed: bool
    reason: str
    reason_data: str
    retained: bool = False
    evaluated: tuple[Datapoint, ...] = field(default=())


def _java_double(x: float) -> str:
    """A double the way Java's Double.toString (and so CloudWatch's texts) prints it."""
    if x == 0:
        return "0.0" if math.copysign(1, x) > 0 else "-0.0"
    a = abs(x)
    if 1e-3 <= a < 1e7:
        s = repr(float(x))
        return s if ("." in s or "e" in s) else s + ".0"
    sign, digits, exp = Decimal(repr(float(x))).normalize().as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    e10 = len(ds) - 1 + exp
    mant = ds[0] + "." + (ds[1:] or "0")
    return f"{'-' if sign else ''}{mant}E{e10}"


def _iso(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def _short(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%d/%m/%y %H:%M:%S")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _json(obj: Any) -> str:
    # CloudWatch writes numbers as Java doubles ("threshold":15.0), so they are rendered here.
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_json(v) for v in obj) + "]"
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return _java_double(obj)
    return json.dumps(obj)


def _normalize(
    datapoints: Sequence[Datapoint | tuple[float, float | None] | tuple[float, float | None, Any]],
) -> dict[float, Datapoint]:
    out: dict[float, Datapoint] = {}
    for dp in datapoints:
        if not isinstance(dp, Datapoint):
            sc = dp[2] if len(dp) > 2 else None  # type: ignore[misc]
            dp = Datapoint(float(dp[0]), None if dp[1] is None else float(dp[1]), sc)
        if dp.value is not None and (math.isnan(dp.value) or math.isinf(dp.value)):
            dp = Datapoint(dp.timestamp, None, dp.sample_count)
        out[float(dp.timestamp)] = dp
    return out


def evaluate(
    alarm: AlarmSpec,
    datapoints: Sequence[Datapoint | tuple[float, float | None] | tuple[float, float | None, Any]],
    now: float,
    current_state: str = INSUFFICIENT_DATA,
) -> Evaluation:
    """Evaluate a metric alarm at ``now`` (epoch seconds) from per-period aggregated values.

    ``datapoints``: ``(period start, value)`` or ``(period start, value, sample_count)`` or
    Datapoint, for the periods of ``window(alarm, now)``; absent or None = missing; others ignored.
    ``current_state``: the stored StateValue (a new alarm is INSUFFICIENT_DATA).
    Implements the guide's rules; see the module docstring. Never raises for data; AlarmError for
    an operator it cannot evaluate."""
    if alarm.comparison_operator not in _COMPARE:
        validate(alarm)
    test, wording = _COMPARE[alarm.comparison_operator]
    win = window(alarm, now)
    by_ts = _normalize(datapoints)
    slots = [by_ts.get(t) or Datapoint(t, None) for t in win.periods]
    n, m = alarm.n, alarm.m
    treat = alarm.treat_missing_data
    if alarm.namespace == "AWS/DynamoDB":
        # The guide: AWS/DynamoDB alarms always ignore missing data.
        treat = "ignore"

    def breaching(dp: Datapoint) -> bool:
        assert dp.value is not None
        return bool(test(dp.value, alarm.threshold))

    real = [dp for dp in slots if dp.value is not None]

    # Enough real datapoints: the most recent N of them decide, missing data plays no part.
    if len(real) >= n:
        used = real[-n:]
        n_breach = sum(1 for dp in used if breaching(dp))
        state = ALARM if n_breach >= m else OK
        return _outcome(alarm, now, current_state, state, slots, used, {}, wording)

    n_fill = n - len(real)
    if treat in ("breaching", "notBreaching"):
        # Fill as few missing datapoints as possible, the most recent ones (guide: "the two most
        # recent missing data points are both treated as breaching").
        missing_slots = [dp.timestamp for dp in slots if dp.value is None]
        filled = sorted(missing_slots[-n_fill:])
        as_breach = treat == "breaching"
        n_breach = sum(1 for dp in real if breaching(dp)) + (n_fill if as_breach else 0)
        state = ALARM if n_breach >= m else OK
        used = sorted([*real, *(Datapoint(t, None) for t in filled)], key=lambda d: d.timestamp)
        fills = {t: as_breach for t in filled}
        return _outcome(alarm, now, current_state, state, slots, used, fills, wording)

    # missing / ignore: only real datapoints count.
    if not real:
        if treat == "ignore":
            return _retained(alarm, now, current_state, slots)
        return _insufficient(alarm, now, current_state, slots)
    n_breach = sum(1 for dp in real if breaching(dp))
    if n_breach >= m:
        return _outcome(alarm, now, current_state, ALARM, slots, real, {}, wording)
    if n_breach == len(real):
        # All real datapoints breach but fewer than M exist. Premature-alarm rule: ALARM when the
        # oldest breaching datapoint is at least M periods old and everything newer is breaching
        # or missing; otherwise wait ("does not go immediately into ALARM"). With ignore, the
        # guide's tables retain the current state in both cases.
        age = len(slots) - slots.index(real[0])
        if treat == "missing" and age >= m:
            return _outcome(alarm, now, current_state, ALARM, slots, real, {}, wording)
        return _retained(alarm, now, current_state, slots)
    return _outcome(alarm, now, current_state, OK, slots, real, {}, wording)


def _reason_data(
    alarm: AlarmSpec, now: float, used: Sequence[Datapoint], evaluated: Sequence[Datapoint]
) -> str:
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now)}
    real = [dp for dp in used if dp.value is not None]
    if real:
        data["startDate"] = _iso(real[0].timestamp)
    if alarm.unit:
        data["unit"] = alarm.unit
    if alarm.statistic and not alarm.is_math:
        data["statistic"] = alarm.statistic
    data["period"] = int(alarm.period)
    data["recentDatapoints"] = [float(dp.value) for dp in real if dp.value is not None]
    data["threshold"] = float(alarm.threshold)
    items: list[dict[str, Any]] = []
    for dp in sorted(evaluated, key=lambda d: d.timestamp, reverse=True):
        item: dict[str, Any] = {"timestamp": _iso(dp.timestamp)}
        if dp.value is not None:
            if dp.sample_count is not None:
                item["sampleCount"] = float(dp.sample_count)
            item["value"] = float(dp.value)
        items.append(item)
    data["evaluatedDatapoints"] = items
    return _json(data)


def _outcome(
    alarm: AlarmSpec,
    now: float,
    current: str,
    state: str,
    slots: Sequence[Datapoint],
    used: Sequence[Datapoint],
    fills: Mapping[float, bool],
    wording: str,
) -> Evaluation:
    test, _ = _COMPARE[alarm.comparison_operator]
    real = [dp for dp in used if dp.value is not None]
    want_breach = state == ALARM
    agreeing = [
        dp for dp in real if dp.value is not None and test(dp.value, alarm.threshold) == want_breach
    ]
    listed = sorted(agreeing or real, key=lambda d: d.timestamp, reverse=True)
    phrase = wording if want_breach else f"not {wording}"
    thr = _java_double(float(alarm.threshold))
    values = ", ".join(
        f"{_java_double(float(dp.value or 0.0))} ({_short(dp.timestamp)})" for dp in listed
    )
    verb = "was" if len(listed) == 1 else "were"
    if fills:
        k = len(fills)
        kind = "Breaching" if next(iter(fills.values())) else "NonBreaching"
        treated = (
            f"{_plural(k, 'missing datapoint')} {'was' if k == 1 else 'were'} treated as [{kind}]"
        )
        if not real:
            reason = f"Threshold Crossed: no datapoints were received for {_plural(k, 'period')} and {treated}."
        else:
            reason = (
                f"Threshold Crossed: {_plural(len(listed), 'datapoint')} [{values}] {verb} {phrase} "
                f"the threshold ({thr}) and {treated}."
            )
    elif alarm.datapoints_to_alarm is not None:
        need = alarm.m if want_breach else alarm.n - alarm.m + 1
        transition = "OK -> ALARM" if want_breach else "ALARM -> OK"
        reason = (
            f"Threshold Crossed: {len(listed)} out of the last {alarm.n} datapoints [{values}] "
            f"{verb} {phrase} the threshold ({thr}) "
            f"(minimum {_plural(need, 'datapoint')} for {transition} transition)."
        )
    else:
        reason = (
            f"Threshold Crossed: {_plural(len(listed), 'datapoint')} [{values}] {verb} {phrase} "
            f"the threshold ({thr})."
        )
    evaluated = [Datapoint(dp.timestamp, dp.value, dp.sample_count) for dp in used]
    return Evaluation(
        state=state,
        changed=state != current,
        reason=reason,
        reason_data=_reason_data(alarm, now, used, evaluated),
        evaluated=tuple(evaluated),
    )


def _insufficient(
    alarm: AlarmSpec, now: float, current: str, slots: Sequence[Datapoint]
) -> Evaluation:
    k = len(slots)
    reason = f"Insufficient Data: {_plural(k, 'datapoint')} {'was' if k == 1 else 'were'} unknown."
    return Evaluation(
        state=INSUFFICIENT_DATA,
        changed=current != INSUFFICIENT_DATA,
        reason=reason,
        reason_data=_reason_data(alarm, now, [], slots),
        evaluated=tuple(slots),
    )


def _retained(alarm: AlarmSpec, now: float, current: str, slots: Sequence[Datapoint]) -> Evaluation:
    return Evaluation(
        state=current,
        changed=False,
        reason="",
        reason_data=_reason_data(alarm, now, [], slots),
        retained=True,
        evaluated=tuple(slots),
    )


# --------------------------------------------------------------------------------------------
# Composite alarms: the AlarmRule language (Create_Composite_Alarm.html, PutCompositeAlarm)
#
#   rule    := or
#   or      := and ("OR" and)*
#   and     := not ("AND" not)*
#   not     := "NOT" not | primary
#   primary := "(" rule ")" | TRUE | FALSE | STATE "(" alarm ")"
#   STATE   := ALARM | OK | INSUFFICIENT_DATA
#   alarm   := "name or ARN in double quotes" | a bare name without spaces or parentheses

MAX_RULE_LENGTH = 10240  # PutCompositeAlarm: AlarmRule length 1..10240
MAX_RULE_ALARMS = 100  # "A single composite alarm can monitor 100 underlying alarms"
_RULE_START = "'(', 'NOT', AT_LEAST, TRUE or FALSE, ALARM, OK, or INSUFFICIENT_DATA"


@dataclass(frozen=True)
class RuleConst:
    value: bool


@dataclass(frozen=True)
class RuleState:
    state: str  # ALARM | OK | INSUFFICIENT_DATA
    alarm: str  # name or ARN as written


@dataclass(frozen=True)
class RuleNot:
    operand: RuleNode


@dataclass(frozen=True)
class RuleOp:
    op: str  # AND | OR
    left: RuleNode
    right: RuleNode


RuleNode = RuleConst | RuleState | RuleNot | RuleOp


def _rule_error(detail: str) -> AlarmError:
    return AlarmError(f"Error in AlarmRule [{detail}]")


class _RuleParser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def word(self) -> tuple[str, int]:
        """The next token (a word, a parenthesis or a quoted string) without consuming it."""
        self.ws()
        start = self.i
        if start >= len(self.s):
            return "", start
        c = self.s[start]
        if c in "()":
            return c, start
        if c == '"':
            end = self.s.find('"', start + 1)
            return (self.s[start:] if end < 0 else self.s[start : end + 1]), start
        j = start
        while j < len(self.s) and not self.s[j].isspace() and self.s[j] not in '()"':
            j += 1
        return self.s[start:j], start

    def unsupported(self, tok: str, pos: int, must: str | None) -> AlarmError:
        if not tok:
            detail = f"Unexpected end of rule at char {pos}"
            return _rule_error(detail + (f", must be: {must}" if must else ""))
        detail = f"Unsupported token '{tok}' at char {pos}"
        return _rule_error(detail + (f", must be: {must}" if must else ""))

    def parse(self) -> RuleNode:
        node = self.or_()
        tok, pos = self.word()
        if tok:
            raise self.unsupported(tok, pos, "'AND', 'OR'")
        return node

    def or_(self) -> RuleNode:
        node = self.and_()
        while self.word()[0] == "OR":
            self.i = self.word()[1] + 2
            node = RuleOp("OR", node, self.and_())
        return node

    def and_(self) -> RuleNode:
        node = self.not_()
        while self.word()[0] == "AND":
            self.i = self.word()[1] + 3
            node = RuleOp("AND", node, self.not_())
        return node

    def not_(self) -> RuleNode:
        tok, pos = self.word()
        if tok == "NOT":
            self.i = pos + 3
            return RuleNot(self.not_())
        return self.primary()

    def primary(self) -> RuleNode:
        tok, pos = self.word()
        if tok == "(":
            self.i = pos + 1
            node = self.or_()
            close, cpos = self.word()
            if close != ")":
                raise self.unsupported(close, cpos, "')'")
            self.i = cpos + 1
            return node
        if tok.upper() in ("TRUE", "FALSE"):
            self.i = pos + len(tok)
            return RuleConst(tok.upper() == "TRUE")
        if tok in STATES:
            self.i = pos + len(tok)
            paren, ppos = self.word()
            if paren != "(":
                raise self.unsupported(paren, ppos, "'('")
            self.i = ppos + 1
            name, npos = self.word()
            if name in ("", "(", ")"):
                raise self.unsupported(name, npos, "an alarm name or ARN")
            self.i = npos + len(name)
            if name.startswith('"'):
                if len(name) < 2 or not name.endswith('"'):
                    raise _rule_error(f"Unterminated quoted alarm name at char {npos}")
                name = name[1:-1]
                if not name:
                    raise self.unsupported('""', npos, "an alarm name or ARN")
            close, cpos = self.word()
            if close != ")":
                raise self.unsupported(close, cpos, "')'")
            self.i = cpos + 1
            return RuleState(tok, name)
        if tok == "AT_LEAST":
            raise AlarmError(
                "AT_LEAST in AlarmRule is not supported by bdlab", code="UnsupportedOperation"
            )
        raise self.unsupported(tok, pos, _RULE_START)


def parse_rule(rule: str) -> RuleNode:
    """Parse and validate an AlarmRule; AlarmError(ValidationError) as PutCompositeAlarm answers.

    Messages follow AWS's "Error in AlarmRule [Unsupported token 'x' at char N, must be: ...]"
    (char N counts from 0). Limits: at most 10240 characters and 100 referenced alarms."""
    if not rule or not rule.strip():
        raise AlarmError(
            "1 validation error detected: Value at 'alarmRule' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(rule) > MAX_RULE_LENGTH:
        raise AlarmError(
            "1 validation error detected: Value at 'alarmRule' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_RULE_LENGTH}"
        )
    node = _RuleParser(rule).parse()
    names = rule_alarms(node)
    if len(names) > MAX_RULE_ALARMS:
        raise AlarmError(
            f"Error in AlarmRule [a composite alarm can reference at most {MAX_RULE_ALARMS} "
            f"alarms, this rule references {len(names)}]"
        )
    return node


def _rule_walk(node: RuleNode):  # type: ignore[no-untyped-def]
    yield node
    if isinstance(node, RuleNot):
        yield from _rule_walk(node.operand)
    elif isinstance(node, RuleOp):
        yield from _rule_walk(node.left)
        yield from _rule_walk(node.right)


def alarm_name(ref: str) -> str:
    """The alarm name of a rule reference (a name, or an ARN arn:aws:cloudwatch:r:a:alarm:NAME)."""
    if ref.startswith("arn:") and ":alarm:" in ref:
        return ref.split(":alarm:", 1)[1]
    return ref


def rule_alarms(rule: str | RuleNode) -> list[str]:
    """Names of the alarms a rule references, in order of first appearance, ARNs resolved."""
    node = _RuleParser(rule).parse() if isinstance(rule, str) else rule
    out: list[str] = []
    for sub in _rule_walk(node):
        if isinstance(sub, RuleState):
            name = alarm_name(sub.alarm)
            if name not in out:
                out.append(name)
    return out


def check_rule_alarms_exist(rule: str | RuleNode, existing: Sequence[str] | set[str]) -> None:
    """PutCompositeAlarm's check that every referenced alarm exists; AlarmError otherwise."""
    missing = [name for name in rule_alarms(rule) if name not in set(existing)]
    if missing:
        raise AlarmError(
            "Could not save the composite alarm as alarms "
            f"[{', '.join(missing)}] in the alarm rule do not exist"
        )


def eval_rule(rule: str | RuleNode, states: Mapping[str, str]) -> bool:
    """Truth of a rule given ``states``: alarm name -> StateValue. An alarm absent from
    ``states`` (deleted since) matches no state function."""
    node = parse_rule(rule) if isinstance(rule, str) else rule

    def ev(n: RuleNode) -> bool:
        if isinstance(n, RuleConst):
            return n.value
        if isinstance(n, RuleState):
            return states.get(alarm_name(n.alarm)) == n.state
        if isinstance(n, RuleNot):
            return not ev(n.operand)
        if n.op == "AND":
            return ev(n.left) and ev(n.right)
        return ev(n.left) or ev(n.right)

    return ev(node)


@dataclass(frozen=True)
class ChildState:
    """A referenced alarm as the composite sees it: ``arn``, StateValue and when it changed."""

    arn: str
    state: str
    transitioned: float


def evaluate_composite(
    rule: str | RuleNode,
    children: Mapping[str, ChildState],
    now: float,
    current_state: str = INSUFFICIENT_DATA,
) -> Evaluation:
    """Evaluate a composite alarm: ALARM when the rule is true, OK otherwise.

    ``children``: alarm name -> ChildState. The reason names the most recently transitioned
    referenced alarm, as AWS writes it ("arn:...:alarm:cpu transitioned to ALARM at Friday 23
    October, 2020 17:18:46 UTC"); reason_data is {"triggeringAlarms": [...]}."""
    node = parse_rule(rule) if isinstance(rule, str) else rule
    true = eval_rule(node, {name: c.state for name, c in children.items()})
    state = ALARM if true else OK
    refs = [children[n] for n in rule_alarms(node) if n in children]
    trigger = max(refs, key=lambda c: c.transitioned, default=None)
    if trigger is None:
        reason = f"Rule evaluated to {'TRUE' if true else 'FALSE'}"
        triggering: list[dict[str, Any]] = []
    else:
        when = datetime.fromtimestamp(trigger.transitioned, UTC)
        stamp = when.strftime("%A %d %B, %Y %H:%M:%S UTC")
        reason = f"{trigger.arn} transitioned to {trigger.state} at {stamp}"
        triggering = [
            {
                "arn": trigger.arn,
                "state": {"value": trigger.state, "timestamp": _iso(trigger.transitioned)},
            }
        ]
    return Evaluation(
        state=state,
        changed=state != current_state,
        reason=reason,
        reason_data=_json({"triggeringAlarms": triggering}),
    )
