"""The lake ETL: pure transforms on small frames, then raw -> bronze -> silver -> gold on s3a."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark(profile: Any, cfg: Any) -> Iterator[Any]:
    from spark import session

    yield session.get_session(profile, cfg, app_name="bdlab-etl-tests")


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


def lines_df(spark: Any, lines: list[str]) -> Any:
    from spark.jobs.lake_etl import read_events, with_reason

    return with_reason(
        read_events(spark, spark.createDataFrame([(x,) for x in lines], "value string"))
    )


def test_bad_lines_get_a_reason(spark: Any) -> None:
    from pyspark.sql import functions as F

    from spark.jobs.lake_etl import quarantined

    lines = [
        ev(1),
        "{not json",
        ev(2, price="abc"),
        json.dumps({"event_id": "e4"}),
        ev(5, event_time="yesterday"),
        ev(6, user_id=None),
    ]
    df = lines_df(spark, lines).withColumn("_source", F.lit(None).cast("string"))
    good = df.where("_reason IS NULL").collect()
    assert [r.event_id for r in good] == ["e1"]
    bad = {r.reason: r.line for r in quarantined(df).collect()}
    assert sorted(bad) == [
        "malformed JSON",
        "missing field: event_time",
        "missing field: user_id",
        "mistyped field: event_time (expected timestamp)",
        "mistyped field: price (expected double)",
    ]
    assert bad["malformed JSON"] == "{not json"  # the line as it came
    assert json.loads(bad["missing field: user_id"])["event_id"] == "e6"


def test_clean_dedupe_and_gold(spark: Any) -> None:
    from spark.jobs.lake_etl import clean, daily_revenue, dedupe, funnel, top_products

    lines = [
        ev(1),
        ev(1),
        ev(2, quantity=2),
        ev(3, event_type="VIEW "),
        ev(4, event_type="bogus"),
        ev(5, event_type="view", session_id="s2"),
        ev(6, price=-1.0),
    ]
    silver = dedupe(clean(lines_df(spark, lines).where("_reason IS NULL")))
    assert silver.count() == 5  # duplicate e1 and unknown type e4 are gone
    rev = {(str(r.dt), r.country): r.revenue for r in daily_revenue(silver).collect()}
    assert rev == {("2026-01-12", "KR"): 30.0}  # e1 10 + e2 20; e6's negative price dropped
    f = funnel(silver).collect()[0]
    assert f.view == 2 and f.purchase == 3 and f.conversion == 1.5
    assert top_products(silver, 1).collect()[0].rank == 1


# window on all rows / on the repeats only; the same when the order identifies a row
@pytest.mark.parametrize("max_repeated", [0, 10])
@pytest.mark.parametrize("unique", [False, True])
def test_dedupe_keeps_the_first_copy_by_order(spark: Any, max_repeated: int, unique: bool) -> None:
    from spark.jobs.lake_etl import dedupe

    rows = [("e1", 2, "b"), ("e1", 1, "z"), ("e1", 1, "a"), ("e2", 3, "c"), ("e3", 1, "d")]
    rows += [("e2", 1, "y")]
    df = spark.createDataFrame(rows, "event_id string, _batch int, _source string")
    got = dedupe(df, ["_batch", "_source"], max_repeated, order_is_unique=unique).collect()
    assert [c for c in got[0].asDict()] == ["event_id", "_batch", "_source"]
    assert sorted((r.event_id, r._batch, r._source) for r in got) == [
        ("e1", 1, "a"),
        ("e2", 1, "y"),
        ("e3", 1, "d"),
    ]


def test_raw_to_gold_is_idempotent_and_merges_late_data(
    spark: Any, aws: Callable[[str], Any], bucket: str
) -> None:
    from spark.jobs.lake_etl import run

    s3 = aws("s3")
    day1 = [ev(i) for i in range(1, 21)] + [ev(5), "{broken"]  # e5 delivered twice
    s3.put_object(
        Bucket=bucket, Key="raw/events/dt=2026-01-12/a.json", Body="\n".join(day1).encode()
    )
    lake = f"s3a://{bucket}/lake"
    out = run(spark, f"s3a://{bucket}/raw/events/", lake)
    assert out["quarantined"] == 1 and out["days"] == ["2026-01-12"] and out["silver_rows"] == 20
    gold = spark.read.format("delta").load(f"{lake}/gold/daily_revenue").collect()
    assert [(str(r.dt), r.revenue) for r in gold] == [("2026-01-12", 200.0)]
    again = run(spark, f"s3a://{bucket}/raw/events/", lake)  # same input: same lake
    assert again["silver_rows"] == 20 and again["new_files"] == 0 and again["days"] == []
    # bronze keeps every line once (the repeat and the broken one too, with its reason)
    assert spark.read.format("delta").load(f"{lake}/bronze/events").count() == 22
    late = [ev(3), ev(99, event_time="2026-01-12T23:59:00Z", price=5.0)]  # a repeat and a late one
    s3.put_object(
        Bucket=bucket, Key="raw/events/dt=2026-01-13/late.json", Body="\n".join(late).encode()
    )
    out = run(spark, f"s3a://{bucket}/raw/events/", lake)
    assert out["silver_rows"] == 21
    gold = spark.read.format("delta").load(f"{lake}/gold/daily_revenue").collect()
    assert [(str(r.dt), r.revenue) for r in gold] == [("2026-01-12", 205.0)]
    q = spark.read.format("delta").load(f"{lake}/quarantine/events").collect()
    assert {r.reason for r in q} == {"malformed JSON"}


@pytest.mark.slow  # edge cases of a resolved part; the default suite keeps its core
def test_corrupt_and_drifting_files_are_quarantined_whole(
    spark: Any, aws: Callable[[str], Any], bucket: str
) -> None:
    import gzip

    from spark.jobs.lake_etl import run

    s3 = aws("s3")
    put = lambda key, body: s3.put_object(Bucket=bucket, Key=f"raw/{key}", Body=body)  # noqa: E731
    put("ok.json", "\n".join(ev(i) for i in range(5)).encode())
    put("ok.json.gz", gzip.compress("\n".join(ev(i) for i in range(5, 8)).encode()))
    put("cut.json.gz", gzip.compress("\n".join(ev(i) for i in range(9, 99)).encode())[:-40])
    put("image.json", bytes(range(256)) * 4)
    put("drift.json", "\n".join(ev(i, colour="red") for i in range(100, 110)).encode())
    put("renamed.json", "\n".join(ev(i, price="12.5") for i in range(200, 210)).encode())
    put("_SUCCESS", b"")  # hidden, as for Spark
    lake = f"s3a://{bucket}/lake"
    out = run(spark, f"s3a://{bucket}/raw/", lake)
    assert out["new_files"] == 6 and out["files_quarantined"] == 4
    assert out["parsed"] == 8 and out["silver_rows"] == 8
    why = {k.rsplit("/", 1)[1]: v for k, v in out["quarantined_files"].items()}
    assert why["cut.json.gz"].startswith("compressed file is corrupt")
    assert why["image.json"] == "not a text file (binary content)"
    assert why["drift.json"] == "schema drift: unexpected fields colour"
    assert why["renamed.json"].startswith("schema drift: field price is str in 10 of 10")
    # the files themselves are kept, byte for byte, under quarantine/files/batch=N/
    kept = s3.list_objects_v2(Bucket=bucket, Prefix="lake/quarantine/files/batch=1/")
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in kept["Contents"]) == sorted(why)
    body = s3.get_object(Bucket=bucket, Key="lake/quarantine/files/batch=1/image.json")
    assert body["Body"].read() == bytes(range(256)) * 4
    q = spark.read.format("delta").load(f"{lake}/quarantine/events")
    assert q.where("reason LIKE 'file: %' AND line IS NULL").count() == 4
    assert run(spark, f"s3a://{bucket}/raw/", lake)["files_quarantined"] == 0  # not twice


def test_a_run_killed_between_zones_is_caught_up(
    spark: Any, aws: Callable[[str], Any], bucket: str
) -> None:
    from spark.jobs.lake_etl import Paths, ingest_bronze, run

    s3 = aws("s3")
    s3.put_object(
        Bucket=bucket, Key="raw/a.json", Body="\n".join(ev(i) for i in range(10)).encode()
    )
    lake = f"s3a://{bucket}/lake"
    # as if the job died right after the bronze commit
    assert ingest_bronze(spark, f"s3a://{bucket}/raw/", Paths(lake))["new_files"] == 1
    out = run(spark, f"s3a://{bucket}/raw/", lake)
    assert out["new_files"] == 0 and out["silver_rows"] == 10 and out["days"] == ["2026-01-12"]
    gold = spark.read.format("delta").load(f"{lake}/gold/daily_revenue").collect()
    assert [(str(r.dt), r.orders) for r in gold] == [("2026-01-12", 10)]


@pytest.mark.slow  # edge cases of a resolved part; the default suite keeps its core
def test_a_bronze_written_before_row_ids_is_still_deduplicated(spark: Any, tmp_path: Any) -> None:
    from pyspark.sql import functions as F

    from spark.jobs import lake_etl as L

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.json").write_text(f"{ev(1)}\n{ev(2)}\n{{broken\n")
    lake = f"file://{tmp_path}/lake"
    p = L.Paths(lake)
    # bronze as bdlab wrote it before row ids: no _row column, no row_ids in the commit
    files = list(L.list_raw(spark, f"file://{raw}"))
    old = L._read_with_source(spark, files).select(
        *L.FIELDS,
        "_corrupt",
        "_reason",
        "_source",
        F.lit(1).cast("long").alias("_batch"),
        F.current_timestamp().alias("_ingested_at"),
    )
    meta = L._mark({"batch": 1, "files": files})
    # without file statistics too: the bad lines are then counted by a scan
    with L._session_conf(spark, {"spark.databricks.delta.stats.collect": "false"}):
        old.write.format("delta").option("userMetadata", meta).save(p.bronze)
    (raw / "b.json").write_text(f"{ev(2)}\n{ev(3)}\n")  # e2 again
    out = L.run(spark, f"file://{raw}", lake)
    assert out["batch"] == 2 and out["new_files"] == 1 and out["silver_rows"] == 3
    assert out["quarantined"] == 1
    bronze = spark.read.format("delta").load(p.bronze)
    assert bronze.where("_row IS NULL").count() == 3  # batch 1, schema merged
    assert bronze.where("_row IS NOT NULL").count() == 2
    # bad lines from file statistics: batch 2 has none; batch 1 has no stats; no such commit
    assert L._lines_with_reason(spark, p.bronze, [1]) == 0
    assert L._lines_with_reason(spark, p.bronze, [0]) is None
    assert L._lines_with_reason(spark, p.bronze, [99]) is None
    silver = spark.read.format("delta").load(p.silver)
    assert sorted(r.event_id for r in silver.collect()) == ["e1", "e2", "e3"]


@pytest.mark.slow  # edge cases of a resolved part; the default suite keeps its core
def test_quarantine_is_written_once_when_silver_is_redone(spark: Any, tmp_path: Any) -> None:
    import shutil

    from spark.jobs.lake_etl import run

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.json").write_text(f"{ev(1)}\n{ev(2)}\n{{broken\n")
    (raw / "b.json").write_text("\n".join(ev(i, colour="red") for i in range(3, 13)))
    lake = f"file://{tmp_path}/lake"

    def quarantine() -> list[tuple[str, int]]:
        rows = spark.read.format("delta").load(f"{lake}/quarantine/events").collect()
        return sorted((r.reason, r.batch) for r in rows)

    out = run(spark, f"file://{raw}", lake)
    assert out["files_quarantined"] == 1 and out["quarantined"] == 1
    expected = [("file: schema drift: unexpected fields colour", 1), ("malformed JSON", 1)]
    assert quarantine() == expected
    shutil.rmtree(tmp_path / "lake" / "silver")  # as if the job died before silver's commit
    out = run(spark, f"file://{raw}", lake)
    assert out["silver_rows"] == 2 and quarantine() == expected
