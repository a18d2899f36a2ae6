"""Streaming data-quality rules (sim/dataquality.py) on small frames (pandera does the checks)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

import pandas as pd

from sim.dataquality import Rules, check

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()
RULES = Rules(
    required=("event_id", "event_time", "country"),
    types={"price": "float", "event_time": "datetime"},
    ranges={"price": (0, 1000)},
    allowed={"country": ("KR", "US", "JP")},
    freshness_s=3600,
    unique="event_id",
)


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def good(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": f"e{i}",
        "event_time": "2026-03-02T11:59:00Z",
        "country": "KR",
        "price": 10.0,
    }
    return {**row, **over}


def test_each_rule_quarantines_its_rows_with_the_rule_named() -> None:
    rows = [
        good(1),
        good(2, price=-5.0),  # range
        good(3, country="XX"),  # allowed values
        good(4, event_time="2026-03-02T09:00:00Z"),  # 3 h old: freshness
        good(5, country=None),  # required
        good(1),  # duplicate within the batch
        good(6),
    ]
    r = check(frame(rows), RULES, NOW)
    assert list(r.good["event_id"]) == ["e1", "e6"]
    assert dict(zip(r.bad["event_id"], r.bad["dq_rule"], strict=True)) == {
        "e2": "range:price",
        "e3": "allowed:country",
        "e4": "freshness:event_time",
        "e5": "required:country",
        "e1": "unique:event_id",
    }
    assert r.pass_rate == 2 / 7 and r.failures["range:price"] == 1
    assert r.max_age_s == 3 * 3600  # the oldest event's age
    names = {(m["MetricName"], len(m["Dimensions"])) for m in r.metrics("clicks")}
    assert ("PassRate", 1) in names and ("FailedRecords", 2) in names and ("Freshness", 1) in names


def test_duplicates_are_caught_across_batches_within_the_window() -> None:
    seen: OrderedDict[object, None] = OrderedDict()
    first = check(frame([good(1), good(2)]), RULES, NOW, seen)
    second = check(frame([good(2), good(3)]), RULES, NOW, seen)
    assert len(first.good) == 2
    assert list(second.good["event_id"]) == ["e3"]
    assert list(second.bad["dq_rule"]) == ["unique:event_id"]
    small: OrderedDict[object, None] = OrderedDict()
    check(frame([good(i) for i in range(5)]), RULES, NOW, small, window=3)
    assert list(small) == ["e2", "e3", "e4"]  # the window forgets the oldest


def test_a_wrong_type_and_a_missing_column_fail_with_their_rule() -> None:
    r = check(frame([good(1, price="ten"), good(2)]), RULES, NOW)
    assert list(r.bad["dq_rule"]) == ["type:price"] and list(r.good["event_id"]) == ["e2"]
    no_country = frame([{k: v for k, v in good(1).items() if k != "country"}])
    r = check(no_country, RULES, NOW)
    assert r.pass_rate == 0.0 and list(r.bad["dq_rule"]) == ["required:country"]


def test_a_value_that_cannot_be_coerced_does_not_hide_the_columns_other_failures() -> None:
    """pandera skips a column's checks when one of its values cannot be coerced: the rows are
    checked again without it, so a price out of range beside a price "free" is still caught."""
    r = check(frame([good(1), good(2, price="free"), good(3, price=-5.0)]), RULES, NOW)
    assert dict(zip(r.bad["event_id"], r.bad["dq_rule"], strict=True)) == {
        "e2": "type:price",
        "e3": "range:price",
    }
    assert list(r.good["event_id"]) == ["e1"]


def test_good_rows_have_the_rules_types_whether_or_not_their_batch_had_bad_rows() -> None:
    clean = check(frame([good(1, price=10)]), RULES, NOW).good
    mixed = check(frame([good(2, price=10), good(3, price=-1)]), RULES, NOW).good
    assert list(mixed["event_id"]) == ["e2"]
    assert clean.dtypes.to_dict() == mixed.dtypes.to_dict()
    assert str(mixed["event_time"].dtype) == "datetime64[ns, UTC]" and mixed["price"].dtype == float
