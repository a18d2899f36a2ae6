"""The lake ETL: pure transforms on small frames, then raw -> bronze -> silver -> gold on s3a."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark(profile: Any) -> Iterator[Any]:
    from spark import session

    yield session.get_session(profile, app_name="bdlab-etl-tests")


def ev(i: int, **kw: Any) -> str:
    row = {
        "event_id": f"e{i}",
        "event_time": "2026-01-12T10:00:00Z",
        "user_id": i,
        "session_id": f"s{i % 3}",
        "event_type": "purchase",
        "product_id": i % 2,
        "category": "books",
        "price": 10.0,
        "quantity": 1,
        "country": "kr",
        "device": "mobile",
    }
    row.update(kw)
    return json.dumps(row)


def test_parse_quarantines_with_reasons(spark: Any) -> None:
    from spark.jobs.lake_etl import parse

    lines = [
        ev(1),
        "{not json",
        ev(2, price="abc"),
        ev(3, colour="red"),
        json.dumps({"event_id": "e4"}),
        ev(5, event_time="yesterday"),
    ]
    good, bad = parse(spark.createDataFrame([(x,) for x in lines], "value string"))
    assert [r.event_id for r in good.collect()] == ["e1"]
    reasons = sorted(r.reason for r in bad.collect())
    assert reasons == [
        "event_time is not a timestamp",
        "malformed JSON",
        "missing field: event_time",
        "mistyped field: price (expected double)",
        "unexpected fields: colour",
    ]


def test_clean_dedupe_and_gold(spark: Any) -> None:
    from spark.jobs.lake_etl import clean, daily_revenue, dedupe, funnel, parse, top_products

    lines = [
        ev(1),
        ev(1),
        ev(2, quantity=2),
        ev(3, event_type="VIEW "),
        ev(4, event_type="bogus"),
        ev(5, event_type="view", session_id="s2"),
        ev(6, price=-1.0),
    ]
    good, _ = parse(spark.createDataFrame([(x,) for x in lines], "value string"))
    silver = dedupe(clean(good))
    assert silver.count() == 5  # duplicate e1 and unknown type e4 are gone
    rev = {(r.dt, r.country): r.revenue for r in daily_revenue(silver).collect()}
    assert rev == {("2026-01-12", "KR"): 30.0}  # e1 10 + e2 20; e6's negative price dropped
    f = funnel(silver).collect()[0]
    assert f.view == 2 and f.purchase == 3 and f.conversion == 1.5
    assert top_products(silver, 1).collect()[0].rank == 1


def test_raw_to_gold_is_idempotent_and_merges_late_data(
    spark: Any, aws: Callable[[str], Any], bucket: str
) -> None:
    from spark.jobs.lake_etl import run

    s3 = aws("s3")
    day1 = [ev(i) for i in range(1, 21)] + ["{broken"]
    s3.put_object(
        Bucket=bucket, Key="raw/events/dt=2026-01-12/a.json", Body="\n".join(day1).encode()
    )
    lake = f"s3a://{bucket}/lake"
    out = run(spark, f"s3a://{bucket}/raw/events/", lake)
    assert out["quarantined"] == 1 and out["days"] == ["2026-01-12"] and out["silver_rows"] == 20
    gold = spark.read.format("delta").load(f"{lake}/gold/daily_revenue").collect()
    assert [(r.dt, r.revenue) for r in gold] == [("2026-01-12", 200.0)]
    again = run(spark, f"s3a://{bucket}/raw/events/", lake)  # same input: same lake
    assert again["silver_rows"] == 20
    assert spark.read.format("delta").load(f"{lake}/bronze/events").count() == 20
    late = [ev(3), ev(99, event_time="2026-01-12T23:59:00Z", price=5.0)]  # a repeat and a late one
    s3.put_object(
        Bucket=bucket, Key="raw/events/dt=2026-01-13/late.json", Body="\n".join(late).encode()
    )
    out = run(spark, f"s3a://{bucket}/raw/events/", lake)
    assert out["silver_rows"] == 21
    gold = spark.read.format("delta").load(f"{lake}/gold/daily_revenue").collect()
    assert [(r.dt, r.revenue) for r in gold] == [("2026-01-12", 205.0)]
    q = spark.read.format("delta").load(f"{lake}/quarantine/events").collect()
    assert {r.reason for r in q} == {"malformed JSON"}
