"""A small lake for the dashboard without Spark: clickstream events as Hive-partitioned
Parquet (``raw/events/dt=.../``), the gold tables the lake's ETL publishes (``gold/
daily_revenue``, ``lake/gold/funnel``, ``lake/gold/top_products``; Delta, written with
delta-rs and computed with DuckDB by the same definitions as spark/jobs/lake_etl.py) and an
EMR-style output prefix (``emr/output/daily_revenue/``, Parquet and ``_SUCCESS``). For tests,
benchmarks and trying the dashboard; the real pipeline writes the same layout with Spark."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sim import clients, profiles, s3util

START = datetime(2026, 1, 12, tzinfo=UTC)

GOLD_SQL = {
    "gold/daily_revenue": """
        SELECT strftime(event_time, '%Y-%m-%d') AS dt, country, count(*)::BIGINT AS orders,
               sum(quantity)::BIGINT AS items, round(sum(price * quantity), 2) AS revenue
        FROM events WHERE event_type = 'purchase' GROUP BY ALL""",
    "lake/gold/funnel": """
        WITH s AS (
          SELECT strftime(event_time, '%Y-%m-%d') AS dt, session_id,
                 bool_or(event_type = 'view') AS v, bool_or(event_type = 'click') AS c,
                 bool_or(event_type = 'add_to_cart') AS a, bool_or(event_type = 'purchase') AS p
          FROM events GROUP BY ALL)
        SELECT dt, count_if(v)::BIGINT AS view, count_if(c)::BIGINT AS click,
               count_if(a)::BIGINT AS add_to_cart, count_if(p)::BIGINT AS purchase,
               round(count_if(p) / nullif(count_if(v), 0), 4) AS conversion
        FROM s GROUP BY dt""",
    "lake/gold/top_products": """
        SELECT * FROM (
          SELECT *, row_number() OVER (PARTITION BY dt ORDER BY revenue DESC, product_id)
                 AS rank
          FROM (SELECT strftime(event_time, '%Y-%m-%d') AS dt, product_id, category,
                       round(sum(price * quantity), 2) AS revenue,
                       sum(quantity)::BIGINT AS items
                FROM events WHERE event_type = 'purchase' GROUP BY ALL))
        WHERE rank <= 10""",
}


def events(rows: int, days: int = 7, seed: int = 7) -> pa.Table:
    """The clickstream events the sample lake holds (deterministic by ``seed``)."""
    from sim.datagen import clickstream

    return clickstream.generate(rows, START, days, seed=seed)


def gold(table: pa.Table) -> dict[str, pa.Table]:
    """The three gold tables of ``table`` (events), by their path in the lake."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("events", table)
    return {path: con.sql(sql).to_arrow_table() for path, sql in GOLD_SQL.items()}


def write_delta(profile: profiles.Profile, uri: str, table: pa.Table, mode: Any = "overwrite",
                partition_by: list[str] | None = None, **kwargs: Any) -> int:  # fmt: skip
    """Write ``table`` as a Delta table at ``uri`` (s3://...) with delta-rs; its version."""
    from deltalake import DeltaTable, write_deltalake

    opts = clients.delta_storage_options(profile)
    write_deltalake(uri, table, mode=mode, partition_by=partition_by, storage_options=opts,
                    **kwargs)  # fmt: skip
    return int(DeltaTable(uri, storage_options=opts).version())


def write(profile: profiles.Profile, bucket: str, rows: int = 20_000, days: int = 7,
          seed: int = 7) -> dict[str, Any]:  # fmt: skip
    """Write the sample lake into ``bucket`` (created when missing); returns the events
    table written and {"events", "gold": {path: rows}} counts."""
    s3 = clients.client("s3", profile)
    s3util.ensure_bucket(s3, bucket, profile.region)
    table = events(rows, days, seed)
    day_of = table["event_time"].cast(pa.timestamp("us")).cast(pa.date32())
    import pyarrow.compute as pc

    for day in sorted(set(day_of.to_pylist())):
        buf = io.BytesIO()
        pq.write_table(table.filter(pc.equal(day_of, pa.scalar(day))), buf)
        s3.put_object(Bucket=bucket, Key=f"raw/events/dt={day}/part-00000.parquet",
                      Body=buf.getvalue())  # fmt: skip
    counts = {}
    for path, rows_out in gold(table).items():
        write_delta(profile, f"s3://{bucket}/{path}", rows_out, partition_by=["dt"])
        counts[path] = rows_out.num_rows
        if path == "gold/daily_revenue":
            buf = io.BytesIO()
            pq.write_table(rows_out, buf)
            out = "emr/output/daily_revenue/"
            s3.put_object(Bucket=bucket, Key=f"{out}part-00000.parquet", Body=buf.getvalue())
            s3.put_object(Bucket=bucket, Key=f"{out}_SUCCESS", Body=b"")
    return {"events": table, "counts": {"events": table.num_rows, **counts}}
