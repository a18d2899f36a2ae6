"""The BI dashboard's logic on the real emulator: sources read over HTTP (pyarrow's S3
filesystem, delta-rs), the SPICE store in real DuckDB, full and incremental refreshes, the
visuals' queries checked against the events computed independently, and every bad source as
one line (no bucket, a Delta table without commits, schema changes, the emulator down)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dashboards.bi import queries, registry, sample, sources, spice
from dashboards.common import clock
from sim import clients, profiles
from tests.conftest import free_port

pytestmark = pytest.mark.integration

DAYS = [date(2026, 1, 12) + timedelta(days=i) for i in range(7)]


@pytest.fixture(scope="module")
def lake(profile: profiles.Profile) -> Iterator[dict[str, Any]]:
    """The sample lake (20,000 events, the gold tables, an EMR output) in a bucket."""
    bucket = f"bi-lake-{int(time.time() * 1000) % 10**9}"
    out = sample.write(profile, bucket, rows=20_000)
    yield {"bucket": bucket, **out}
    _empty(clients.client("s3", profile), bucket)


def _empty(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def store(profile: profiles.Profile, lake: dict[str, Any]) -> spice.Spice:
    s = spice.Spice(registry.default(), profile, lake["bucket"], clock.for_profile(profile))
    for name in s.registry.names():
        s.refresh(name)
    return s


def one(store: spice.Spice, name: str, dataset: dict[str, Any]) -> spice.Spice:
    """A store of one dataset (plain data, as a registry file would give it)."""
    return store_of(store.profile, store.bucket, [{"name": name, **dataset}])


def store_of(
    prof: profiles.Profile, bucket: str | None, items: list[dict[str, Any]]
) -> spice.Spice:
    return spice.Spice(registry.parse(items), prof, bucket, clock.for_profile(prof))


# ------------------------------------------------------------------ full import
def test_every_source_imports_with_rows_size_and_emulator_time(
    store: spice.Spice, lake: dict[str, Any], profile: profiles.Profile
) -> None:
    counts = lake["counts"]
    expected = {
        "events": counts["events"],
        "daily_revenue": counts["gold/daily_revenue"],
        "funnel": counts["lake/gold/funnel"],
        "top_products": counts["lake/gold/top_products"],
        "emr_results": counts["gold/daily_revenue"],
    }
    now = clock.for_profile(profile)()
    for name, rows in expected.items():
        st = store.states[name]
        assert st.error is None, st.error
        assert (st.rows, st.last_mode) == (rows, "full"), name
        assert st.bytes > 0 and st.ready
        assert st.last_refresh is not None and now - 60 < st.last_refresh <= now
    # the dataset's query ran on import: the timestamps are naive UTC, dt a date
    cols = store.query("DESCRIBE events").set_index("column_name")["column_type"]
    assert cols["event_time"] == "TIMESTAMP" and cols["dt"] == "DATE"


# ----------------------------------------------------------------------- queries
def _purchases(
    events: pa.Table, countries: tuple[str, ...] = (), days: list[date] = DAYS
) -> pa.Table:
    day = events["event_time"].cast(pa.timestamp("us")).cast(pa.date32())
    keep = pc.and_(pc.equal(events["event_type"], "purchase"), pc.is_in(day, pa.array(days)))
    if countries:
        keep = pc.and_(keep, pc.is_in(events["country"], pa.array(countries)))
    return events.filter(keep)


def _revenue(t: pa.Table) -> float:
    return round(pc.sum(pc.multiply(t["price"], t["quantity"].cast(pa.float64()))).as_py() or 0, 2)


def test_kpis_match_the_events_and_compare_with_the_period_before(
    store: spice.Spice, lake: dict[str, Any]
) -> None:
    ev = lake["events"]
    f = queries.Filters(DAYS[0], DAYS[-1])
    k = queries.kpis(store, f)
    buys = _purchases(ev)
    assert k["revenue"]["value"] == pytest.approx(_revenue(buys), abs=0.05)
    assert k["orders"]["value"] == buys.num_rows
    assert k["items"]["value"] == pc.sum(buys["quantity"]).as_py()
    assert k["revenue"]["previous"] == 0 and k["revenue"]["change"] is None
    # the last 3 days against the 3 before, for Korea only
    kr = queries.Filters(DAYS[4], DAYS[6], countries=("KR",))
    k = queries.kpis(store, kr)
    now, before = _purchases(ev, ("KR",), DAYS[4:]), _purchases(ev, ("KR",), DAYS[1:4])
    assert k["revenue"]["value"] == pytest.approx(_revenue(now), abs=0.05)
    assert k["revenue"]["previous"] == pytest.approx(_revenue(before), abs=0.05)
    assert k["revenue"]["change"] == pytest.approx(_revenue(now) / _revenue(before) - 1, abs=1e-3)
    assert 0 < k["conversion"]["value"] < 1


def test_timeseries_at_every_granularity_adds_up(store: spice.Spice, lake: dict[str, Any]) -> None:
    f = queries.Filters(DAYS[0], DAYS[-1])
    total = _revenue(_purchases(lake["events"]))
    for gran, periods in (("hour", 7 * 24), ("day", 7), ("week", 1), ("month", 1)):
        df = queries.timeseries(store, f, gran)
        assert len(df) == periods, gran
        assert df["revenue"].sum() == pytest.approx(total, abs=1.0), gran
    with pytest.raises(ValueError, match="granularity"):
        queries.timeseries(store, f, "minute")


def test_breakdown_drill_down_funnel_top_products(store: spice.Spice, lake: dict[str, Any]) -> None:
    ev = lake["events"]
    f = queries.Filters(DAYS[0], DAYS[-1], countries=("KR", "US"))
    by = queries.by_country(store, f)
    assert list(by["country"]) == ["KR", "US"]
    assert by["revenue"].iloc[0] == pytest.approx(_revenue(_purchases(ev, ("KR",))), abs=0.05)
    assert by["share"].sum() == pytest.approx(1.0, abs=1e-3)
    # drill-down: one day's hours add up to the day (with the country filter applied)
    hours = queries.hourly(store, f, DAYS[2])
    day = _revenue(_purchases(ev, ("KR", "US"), [DAYS[2]]))
    assert hours["revenue"].sum() == pytest.approx(day, abs=0.05)
    assert set(hours["hour"]) <= set(range(24)) and len(hours) > 12
    fun = queries.funnel(store, f)
    assert list(fun["stage"]) == list(queries.FUNNEL)
    assert list(fun["sessions"]) == sorted(fun["sessions"], reverse=True)
    assert fun["of_first"].iloc[0] == 1.0
    assert not queries.applies(store, "funnel", "country")  # gold funnel: dates only
    top = queries.top_products(store, queries.Filters(DAYS[0], DAYS[-1], categories=("home",)), 3)
    assert len(top) == 3 and set(top["category"]) == {"home"}
    assert list(top["revenue"]) == sorted(top["revenue"], reverse=True)
    assert len(queries.table(store, "emr_results", 5)) == 5


# -------------------------------------------------------------------- incremental
def test_delta_incremental_reads_only_changed_partitions(
    profile: profiles.Profile, bucket: str
) -> None:
    uri = f"s3://{bucket}/gold/daily"
    day = [str(d) for d in DAYS]

    def rows(days: list[str], revenue: float) -> pa.Table:
        return pa.table(
            {
                "dt": [d for d in days for _ in range(3)],
                "country": ["KR", "US", "JP"] * len(days),
                "orders": [1] * 3 * len(days),
                "items": [2] * 3 * len(days),
                "revenue": [revenue] * 3 * len(days),
            }
        )

    sample.write_delta(profile, uri, rows(day[:3], 10.0), partition_by=["dt"])
    s = store_of(
        profile,
        bucket,
        [
            {
                "name": "daily_revenue",
                "source": {"kind": "delta", "path": "gold/daily"},
                "query": registry.DEFAULT[0]["query"],
                "refresh": [{"mode": "incremental", "every": "15min"}],
            }
        ],
    )
    assert (s.refresh("daily_revenue").rows, s.states["daily_revenue"].last_mode) == (9, "full")
    # a new day appended: only that partition is read
    sample.write_delta(profile, uri, rows(day[3:4], 10.0), mode="append", partition_by=["dt"])
    st = s.refresh("daily_revenue", "incremental")
    assert (st.rows, st.last_mode, st.error) == (12, "incremental", None)
    # gold recomputed one day (replaceWhere): that day's rows are replaced, not added
    sample.write_delta(
        profile, uri, rows(day[1:2], 99.0), mode="overwrite", predicate=f"dt = '{day[1]}'"
    )
    st = s.refresh("daily_revenue", "incremental")
    assert (st.rows, st.last_mode) == (12, "incremental")
    got = s.query("SELECT dt, sum(revenue) AS r FROM daily_revenue GROUP BY 1 ORDER BY 1")
    assert list(got["r"]) == [30.0, 297.0, 30.0, 30.0]
    # nothing new: unchanged, and a full refresh agrees with the incremental ones
    assert s.refresh("daily_revenue", "incremental").last_mode == "unchanged"
    assert s.refresh("daily_revenue", "full").rows == 12


def test_delta_unpartitioned_appends_incrementally_and_rewrites_fully(
    profile: profiles.Profile, bucket: str
) -> None:
    uri = f"s3://{bucket}/gold/flat"
    sample.write_delta(profile, uri, pa.table({"k": [1, 2], "v": [1.0, 2.0]}))
    s = store_of(
        profile, bucket, [{"name": "flat", "source": {"kind": "delta", "path": "gold/flat"}}]
    )
    assert s.refresh("flat").rows == 2
    sample.write_delta(profile, uri, pa.table({"k": [3], "v": [3.0]}), mode="append")
    st = s.refresh("flat", "incremental")
    assert (st.rows, st.last_mode) == (3, "incremental")
    assert s.query("SELECT sum(k) AS k FROM flat")["k"].iloc[0] == 6
    sample.write_delta(profile, uri, pa.table({"k": [7], "v": [7.0]}), mode="overwrite")
    st = s.refresh("flat", "incremental")
    assert (st.rows, st.last_mode) == (1, "full") and "removed" in st.note


def _put_parquet(s3: Any, bucket: str, key: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def test_s3_objects_incremental_new_keys_and_full_on_change(
    profile: profiles.Profile, bucket: str, aws: Callable[[str], Any]
) -> None:
    s3 = aws("s3")
    t = pa.table({"n": [1, 2, 3]})
    _put_parquet(s3, bucket, "raw/x/dt=2026-01-12/a.parquet", t)
    s3.put_object(Bucket=bucket, Key="raw/x/_SUCCESS", Body=b"")
    s = store_of(profile, bucket, [{"name": "x", "source": {"kind": "s3", "path": "raw/x/"}}])
    st = s.refresh("x")
    assert (st.rows, st.columns) == (3, ("n", "dt"))
    _put_parquet(s3, bucket, "raw/x/dt=2026-01-13/a.parquet", t)
    st = s.refresh("x", "incremental")
    assert (st.rows, st.last_mode) == (6, "incremental")
    assert s.refresh("x", "incremental").last_mode == "unchanged"
    _put_parquet(s3, bucket, "raw/x/dt=2026-01-12/a.parquet", pa.table({"n": [9]}))
    st = s.refresh("x", "incremental")
    assert (st.rows, st.last_mode) == (4, "full") and "changed" in st.note


def test_emr_output_csv_and_a_step_still_writing(
    profile: profiles.Profile, bucket: str, aws: Callable[[str], Any]
) -> None:
    s3 = aws("s3")
    out = "emr/out/"
    s3.put_object(Bucket=bucket, Key=f"{out}_temporary/0/part-0.csv", Body=b"a,b\n1,2\n")
    s = store_of(
        profile, bucket, [{"name": "r", "source": {"kind": "emr", "path": out, "format": "csv"}}]
    )
    st = s.refresh("r")
    assert not st.ready and st.error is not None and "still writing" in st.error
    s3.put_object(
        Bucket=bucket, Key=f"{out}part-00000.csv", Body=b"country,revenue\nKR,1.5\nUS,2\n"
    )
    s3.put_object(Bucket=bucket, Key=f"{out}_SUCCESS", Body=b"")
    st = s.refresh("r")
    assert (st.rows, st.error) == (2, None)
    # SPICE size as QuickSight counts it: 8 bytes a value, plus the UTF-8 length of a text
    assert st.bytes == 8 * 2 * 2 + len("KR") + len("US")
    assert s.query("SELECT sum(revenue) AS r FROM r")["r"].iloc[0] == 3.5


def test_json_lines_plain_and_gzipped(
    profile: profiles.Profile, bucket: str, aws: Callable[[str], Any]
) -> None:
    import gzip

    s3 = aws("s3")
    lines = (
        b'{"event_type": "view", "country": "KR"}\n{"event_type": "purchase", "country": "US"}\n'
    )
    s3.put_object(Bucket=bucket, Key="raw/json/dt=2026-01-12/a.json", Body=lines)
    s3.put_object(Bucket=bucket, Key="raw/json/dt=2026-01-13/b.json.gz", Body=gzip.compress(lines))
    s = store_of(
        profile,
        bucket,
        [{"name": "j", "source": {"kind": "s3", "path": "raw/json/", "format": "json"}}],
    )
    st = s.refresh("j")
    assert (st.rows, st.error) == (4, None)
    got = s.query("SELECT dt, count(*) AS n FROM j WHERE country = 'KR' GROUP BY 1 ORDER BY 1")
    assert [str(d) for d in got["dt"]] == ["2026-01-12", "2026-01-13"]


# ---------------------------------------------------------------------- bad input
def test_missing_bucket_and_prefix_are_one_line(profile: profiles.Profile, bucket: str) -> None:
    s = store_of(
        profile,
        "no-such-bucket-bi",
        [
            {"name": "a", "source": {"kind": "s3", "path": "raw/"}},
            {"name": "b", "source": {"kind": "delta", "path": "gold/t"}},
        ],
    )
    for name in ("a", "b"):
        st = s.refresh(name)
        assert st.error is not None and "\n" not in st.error and not st.ready
        assert "s3://no-such-bucket-bi/" in st.error
        assert "the bucket does not exist" in st.error  # S3 and Delta alike
    s = store_of(profile, bucket, [{"name": "a", "source": {"kind": "s3", "path": "raw/"}}])
    assert "no parquet objects" in (s.refresh("a").error or "")
    s = store_of(profile, None, [{"name": "a", "source": {"kind": "s3", "path": "raw/"}}])
    assert "needs a bucket (--bucket)" in (s.refresh("a").error or "")
    with pytest.raises(queries.NotReady, match="dataset daily_revenue"):
        queries.kpis(s, queries.Filters(DAYS[0], DAYS[1]))


def test_delta_table_without_commits(
    profile: profiles.Profile, bucket: str, aws: Callable[[str], Any]
) -> None:
    aws("s3").put_object(Bucket=bucket, Key="gold/empty/_delta_log/", Body=b"")
    s = store_of(
        profile, bucket, [{"name": "e", "source": {"kind": "delta", "path": "gold/empty"}}]
    )
    st = s.refresh("e")
    assert st.error is not None and "no Delta table" in st.error and "\n" not in st.error


def test_schema_change_keeps_the_previous_rows(
    profile: profiles.Profile, bucket: str, aws: Callable[[str], Any]
) -> None:
    uri = f"s3://{bucket}/gold/sc"
    sample.write_delta(profile, uri, pa.table({"dt": ["2026-01-12"], "revenue": [5.0]}))
    s = store_of(
        profile,
        bucket,
        [{"name": "sc", "source": {"kind": "delta", "path": "gold/sc"}, "required": ["revenue"]}],
    )
    assert s.refresh("sc").rows == 1
    # the table is rewritten without the column the visuals need
    sample.write_delta(
        profile, uri, pa.table({"dt": ["2026-01-13"], "amount": [7.0]}), schema_mode="overwrite"
    )
    st = s.refresh("sc", "incremental")
    assert st.error is not None and "no column revenue" in st.error and "schema change" in st.error
    assert st.rows == 1 and s.query("SELECT revenue FROM sc")["revenue"].iloc[0] == 5.0
    # raw objects: a new file whose columns differ fails the incremental import, rows kept
    s3 = aws("s3")
    _put_parquet(s3, bucket, "raw/sc/a.parquet", pa.table({"n": [1]}))
    s = store_of(profile, bucket, [{"name": "r", "source": {"kind": "s3", "path": "raw/sc/"}}])
    assert s.refresh("r").rows == 1
    _put_parquet(s3, bucket, "raw/sc/b.parquet", pa.table({"m": ["x"], "n": [2]}))
    st = s.refresh("r", "incremental")
    assert st.error is not None and "schema change" in st.error and st.rows == 1


def test_emulator_down_is_one_line_and_fast(profile: profiles.Profile) -> None:
    down = profiles.from_options(
        {**profiles.to_options(profile), "endpointUrl": f"http://127.0.0.1:{free_port()}"}
    )
    s = store_of(
        down,
        "any-bucket",
        [
            {"name": "a", "source": {"kind": "s3", "path": "raw/"}},
            {"name": "b", "source": {"kind": "delta", "path": "gold/t"}},
        ],
    )
    t = time.perf_counter()
    for name in ("a", "b"):
        st = s.refresh(name)
        assert st.error is not None and "does not answer" in st.error, st.error
    # below the clock, each source says so too (a profile without an emulator clock)
    for src in (registry.Source("s3", "raw/"), registry.Source("delta", "gold/t")):
        with pytest.raises(sources.SourceError, match="does not answer") as err:
            sources.read(src, "any-bucket", down)
        assert "\n" not in str(err.value)
    assert time.perf_counter() - t < 30
    from sim import admin

    with pytest.raises(admin.AdminError, match="does not answer"):
        clock.for_profile(down)()


def test_a_source_read_reports_what_it_read(
    profile: profiles.Profile, lake: dict[str, Any]
) -> None:
    src = registry.default()["daily_revenue"].source
    batch = sources.read(src, lake["bucket"], profile)
    assert batch.mode == "full" and batch.cursor.version == 0
    assert batch.cursor.partition_by == ("dt",) and batch.files == len(batch.cursor.files)
    again = sources.read(src, lake["bucket"], profile, batch.cursor, incremental=True)
    assert again.mode == "unchanged"


def test_spice_in_a_file_survives_a_restart_and_carries_on_incrementally(
    profile: profiles.Profile, lake: dict[str, Any], tmp_path: Path
) -> None:
    """SPICE keeps its datasets between sessions: a store opened again on the same file has
    the rows, refresh times and history at once (no import), its incremental cursor carries on
    (only new objects read), a changed definition imports again, and a file another process
    holds leaves the store in memory with one line saying why."""
    import subprocess
    import sys

    bucket = lake["bucket"]
    reg = registry.parse(
        [
            {
                "name": "events",
                "source": {"kind": "s3", "path": "raw/events/"},
                "query": "SELECT event_type, price FROM source",
                "refresh": [{"mode": "incremental", "every": "15min"}],
            }
        ]
    )
    file = tmp_path / "spice" / "lake.duckdb"
    first = spice.Spice(reg, profile, bucket, lambda: 1_000.0, file)
    assert first.storage == f"kept in {file}"
    st = first.refresh("events")
    rows, history = st.rows, len(st.history)
    assert rows > 0 and st.error is None
    first.close()

    again = spice.Spice(reg, profile, bucket, lambda: 2_000.0, file)
    st = again.states["events"]
    assert st.ready and st.tried and st.rows == rows and st.last_refresh == 1_000.0
    assert len(st.history) == history and st.cursor is not None and st.cursor.files
    assert again.query("SELECT count(*) AS n FROM events")["n"][0] == rows
    # no new object: the incremental refresh reads nothing again
    st = again.refresh("events", "incremental")
    assert st.last_mode == "unchanged" and st.rows == rows, st.note
    s3 = clients.client("s3", profile)
    buf = io.BytesIO()
    pq.write_table(pa.table({"event_type": ["purchase"], "price": [1.0]}), buf)
    s3.put_object(Bucket=bucket, Key="raw/events/dt=2030-01-01/extra.parquet", Body=buf.getvalue())
    try:
        st = again.refresh("events", "incremental")
        assert st.last_mode == "incremental" and st.rows == rows + 1, st.note
        again.close()

        # another process holding the file: this store stays in memory and says why
        holder = subprocess.Popen(
            [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(file)!r}); "
             "print('ok', flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
            locked = spice.Spice(reg, profile, bucket, lambda: 3_000.0, file)
            assert locked.path is None and "cannot be opened" in locked.storage
            assert not locked.states["events"].tried
            locked.close()
        finally:
            holder.kill()
            holder.wait()

        # a changed query is a new definition: imported again, not restored
        changed = registry.parse(
            [{"name": "events", "source": {"kind": "s3", "path": "raw/events/"}}]
        )
        third = spice.Spice(changed, profile, bucket, lambda: 4_000.0, file)
        assert not third.states["events"].tried
        third.close()
    finally:
        s3.delete_object(Bucket=bucket, Key="raw/events/dt=2030-01-01/extra.parquet")
