"""Streaming data quality: rules checked on each micro-batch with pandera (a kept library),
good records passed on, bad ones quarantined with the rule they broke, and the batch's quality
(pass rate, failures by rule, freshness) as CloudWatch metrics.

    rules = Rules(required=("event_id", "event_time"), types={"price": "float"},
                  ranges={"price": (0, 10_000)}, allowed={"country": ("KR", "US")},
                  freshness_s=3600, unique="event_id")
    result = check(batch_df, rules, now=time.time(), seen=recent_ids)
    result.good, result.bad (with columns dq_rule, dq_detail), result.metrics()

Rules are data, so a lab or a pipeline states them without writing pandera itself; pandera
does the checking (``lazy=True``: every failure of every row, not the first).
https://pandera.readthedocs.io/
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

NAMESPACE = "bdlab/quality"
_DTYPES = {
    "str": str,
    "int": "Int64",
    "float": float,
    "bool": bool,
    "datetime": "datetime64[ns, UTC]",
}


@dataclass(frozen=True)
class Rules:
    """What a good record is. ``types`` by column (str, int, float, bool, datetime);
    ``ranges`` inclusive, None for an open end; ``freshness_s``: how old ``time_column`` may
    be; ``unique``: a column whose values must not repeat within a batch or among the
    ``seen`` values a caller keeps across batches (duplicates within a window)."""

    required: tuple[str, ...] = ()
    types: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    allowed: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    freshness_s: float | None = None
    time_column: str = "event_time"
    unique: str | None = None


@dataclass
class Result:
    good: pd.DataFrame
    bad: pd.DataFrame  # the failing rows, with dq_rule and dq_detail
    total: int
    failures: Counter[str]  # rule -> rows that broke it
    max_age_s: float | None  # the oldest event's age in the batch (freshness)

    @property
    def pass_rate(self) -> float:
        return 1.0 if self.total == 0 else len(self.good) / self.total

    def metrics(self, pipeline: str, timestamp: Any = None) -> list[dict[str, Any]]:
        """PutMetricData entries (namespace :data:`NAMESPACE`), dimension Pipeline."""
        dims = [{"Name": "Pipeline", "Value": pipeline}]
        at = {"Timestamp": timestamp} if timestamp is not None else {}
        out = [
            {"MetricName": "PassRate", "Dimensions": dims, "Value": self.pass_rate * 100,
             "Unit": "Percent", **at},
            {"MetricName": "Records", "Dimensions": dims, "Value": float(self.total),
             "Unit": "Count", **at},
            {"MetricName": "FailedRecords", "Dimensions": dims, "Value": float(len(self.bad)),
             "Unit": "Count", **at},
        ]  # fmt: skip
        for rule, n in sorted(self.failures.items()):
            out.append(
                {
                    "MetricName": "FailedRecords",
                    "Dimensions": [*dims, {"Name": "Rule", "Value": rule}],
                    "Value": float(n),
                    "Unit": "Count",
                    **at,
                }
            )
        if self.max_age_s is not None:
            out.append(
                {"MetricName": "Freshness", "Dimensions": dims, "Value": self.max_age_s,
                 "Unit": "Seconds", **at}
            )  # fmt: skip
        return out


def _schema(rules: Rules, now: float) -> tuple[pa.DataFrameSchema, dict[tuple[str, int], str]]:
    """The pandera schema of ``rules``, and the rule name of each (column, check number)."""
    columns: dict[str, pa.Column] = {}
    names_of: dict[tuple[str, int], str] = {}
    names = set(rules.required) | set(rules.types) | set(rules.ranges) | set(rules.allowed)
    if rules.freshness_s is not None:
        names.add(rules.time_column)
    for name in sorted(names):
        checks = []
        if name in rules.ranges:
            lo, hi = rules.ranges[name]
            if lo is not None:
                checks.append(pa.Check.ge(lo, name=f"range:{name}"))
            if hi is not None:
                checks.append(pa.Check.le(hi, name=f"range:{name}"))
        if name in rules.allowed:
            checks.append(pa.Check.isin(list(rules.allowed[name]), name=f"allowed:{name}"))
        if name == rules.time_column and rules.freshness_s is not None:
            oldest = pd.Timestamp(now - rules.freshness_s, unit="s", tz="UTC")
            checks.append(pa.Check.ge(oldest, name=f"freshness:{name}"))
        for i, c in enumerate(checks):
            names_of[(name, i)] = str(c.name)
        columns[name] = pa.Column(
            _DTYPES.get(rules.types.get(name, ""), None),
            checks=checks,
            nullable=name not in rules.required,
            required=name in rules.required,
            coerce=name in rules.types,
        )
    return pa.DataFrameSchema(columns, strict=False), names_of


def _validate(
    df: pd.DataFrame,
    schema: pa.DataFrameSchema,
    names_of: dict[tuple[str, int], str],
    reasons: dict[int, tuple[str, str]],
) -> pd.DataFrame:
    """The rows of ``df`` that pass ``schema``, coerced to its types; each failing row's
    (rule, detail) into ``reasons``. Validated again without the rows that failed until
    nothing new fails: pandera skips a column's checks when a value of it cannot be coerced
    (a range check must still see the other rows), and only a frame that passes comes back
    coerced (so good rows have the rules' types whether or not their batch held a bad row)."""
    rest = df
    while True:
        try:
            return schema.validate(rest, lazy=True)
        except pa.errors.SchemaErrors as exc:
            failed = set()
            for _, case in exc.failure_cases.iterrows():
                idx = case.get("index")
                if idx is None or pd.isna(idx):
                    continue
                check_text = str(case.get("check") or "schema")
                col = str(case.get("column"))
                number = case.get("check_number")
                if check_text.startswith("not_nullable") or check_text == "column_in_dataframe":
                    rule = f"required:{col}"
                elif check_text.startswith(("coerce_dtype", "dtype")):
                    rule = f"type:{col}"
                elif number is not None and not pd.isna(number):
                    rule = names_of.get((col, int(number)), check_text)
                else:
                    rule = check_text
                reasons.setdefault(int(idx), (rule, f"{col}={case.get('failure_case')!r}"))
                failed.add(int(idx))
            if not failed & set(rest.index):  # a failure of no row: not the data's fault
                raise
            rest = rest.drop(index=sorted(failed & set(rest.index)))


def check(
    batch: pd.DataFrame, rules: Rules, now: float, seen: OrderedDict[Any, None] | None = None,
    window: int = 100_000,
) -> Result:  # fmt: skip
    """Check one micro-batch. ``seen`` (kept by the caller across batches, at most ``window``
    values) catches duplicates of ``rules.unique`` between batches too."""
    df = batch.reset_index(drop=True)
    reasons: dict[int, tuple[str, str]] = {}
    missing = [c for c in rules.required if c not in df.columns]
    if missing:  # a column the whole batch lacks: every row fails that rule
        for i in range(len(df)):
            reasons[i] = ("required:" + missing[0], f"column {missing[0]} is missing")
        df_checked = df
    else:
        schema, names_of = _schema(rules, now)
        df_checked = _validate(df, schema, names_of, reasons)
    if rules.unique and rules.unique in df.columns:
        recent = seen if seen is not None else OrderedDict()
        for i, value in enumerate(df[rules.unique]):
            if i in reasons or value is None:
                continue
            if value in recent:
                reasons[i] = (f"unique:{rules.unique}", f"{rules.unique}={value!r} seen before")
            else:
                recent[value] = None
                while len(recent) > window:
                    recent.popitem(last=False)
    bad_idx = sorted(reasons)
    good = df_checked.drop(index=[i for i in bad_idx if i in df_checked.index])
    bad = df.loc[bad_idx].copy()
    bad["dq_rule"] = [reasons[i][0] for i in bad_idx]
    bad["dq_detail"] = [reasons[i][1] for i in bad_idx]
    age = None
    if rules.time_column in df.columns and len(df):
        times = pd.to_datetime(df[rules.time_column], utc=True, errors="coerce").dropna()
        if len(times):
            age = max(0.0, now - times.min().timestamp())
    return Result(good, bad, len(df), Counter(reasons[i][0] for i in bad_idx), age)
