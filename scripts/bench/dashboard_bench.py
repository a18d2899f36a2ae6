"""BI dashboard benchmark (issue 16, "Measure"), one run on an emulator of its own:

1. Filter + group-by over 10M rows in the SPICE store (DuckDB in memory): purchases of three
   countries over three of seven days, revenue and orders by country and category; median of
   --reps runs (goal <= 200 ms). Baselines in the same process: pandas (filter + groupby on
   a DataFrame already in memory) and DuckDB scanning the Arrow table directly (no import).
2. Full refresh of a dataset from a 10M-row Delta table (seven days, partitioned by day,
   written with delta-rs into the emulator's S3): median of --reps (goal <= 5 s). Baselines:
   delta-rs reading the table into Arrow (the read alone) and pyarrow.dataset over the same
   Parquet files. Before it, the incremental refresh that brought the seventh day in.
3. Page first render: `streamlit run` of the BI app over the sample lake (--page-rows
   events), opened in Debian's headless Chromium (Playwright, executable_path); seconds from
   navigation to the first KPI value, cold (the server's first page: the SPICE import runs)
   and warm (median of 5 new pages) (goal <= 3 s).

Run:  python scripts/bench/dashboard_bench.py [--rows 10000000] [--reps 5] [--page-rows 200000]
Writes bench-results/dashboard_bench.json unless --json says where.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

QUERY_GOAL_MS = 200.0
REFRESH_GOAL_S = 5.0
RENDER_GOAL_S = 3.0
CHROMIUM = "/usr/bin/chromium"
COLUMNS = ["event_time", "event_type", "product_id", "category", "price", "quantity", "country",
           "device"]  # fmt: skip
FILTER_SQL = """
SELECT country, category, round(sum(price * quantity), 2) AS revenue, count(*) AS orders
FROM {table}
WHERE dt BETWEEN ? AND ? AND country IN ('KR', 'US', 'JP') AND event_type = 'purchase'
GROUP BY 1, 2 ORDER BY revenue DESC
"""
DATASET_QUERY = (
    "SELECT CAST(event_time AS TIMESTAMP) AS event_time, CAST(dt AS DATE) AS dt, event_type, "
    "product_id, category, price, quantity, country, device FROM source"
)


def timed(fn: Any, reps: int) -> tuple[float, Any]:
    """(median seconds, last result) of ``reps`` calls."""
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def events_table(rows: int) -> Any:
    import pyarrow as pa

    from sim.datagen import clickstream

    t = clickstream.generate(rows, clickstream.datetime(2026, 1, 12, tzinfo=clickstream.UTC),
                             7, seed=11, dictionary=True)  # fmt: skip
    t = t.select(COLUMNS)
    # plain strings, as a Spark job writes them (dictionary arrays only made generating cheap)
    t = pa.table({n: c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
                  for n, c in zip(t.column_names, t.columns, strict=True)})  # fmt: skip
    day = t["event_time"].cast(pa.timestamp("us")).cast(pa.date32()).cast(pa.string())
    return t.append_column("dt", day)


def bench_refresh_and_query(profile: Any, rows: int, reps: int) -> dict[str, Any]:
    import duckdb
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    from dashboards.bi import queries, registry, sample, spice
    from dashboards.common import clock
    from sim import clients, s3util

    out: dict[str, Any] = {}
    s3 = clients.client("s3", profile)
    s3util.ensure_bucket(s3, "bench-bi", profile.region)
    t = time.perf_counter()
    table = events_table(rows)
    out["generate_s"] = time.perf_counter() - t
    days = sorted(set(table["dt"].to_pylist()))
    last = days[-1]
    import pyarrow.compute as pc

    first_six = table.filter(pc.not_equal(table["dt"], last))
    t = time.perf_counter()
    uri = "s3://bench-bi/gold/events"
    sample.write_delta(profile, uri, first_six, partition_by=["dt"])
    out["write_delta_s"] = time.perf_counter() - t
    reg = registry.parse(
        [{"name": "events", "source": {"kind": "delta", "path": "gold/events"},
          "query": DATASET_QUERY, "refresh": [{"mode": "incremental", "every": "15min"}]}]
    )  # fmt: skip
    store = spice.Spice(reg, profile, "bench-bi", clock.for_profile(profile))
    opts = {**clients.delta_storage_options(profile)}

    def full() -> Any:
        st = store.refresh("events", "full")
        assert st.error is None, st.error
        return st

    def delta_read() -> Any:
        return DeltaTable(uri, storage_options=opts).to_pyarrow_table()

    def arrow_read() -> Any:
        files = DeltaTable(uri, storage_options=opts).file_uris()
        paths = [f.removeprefix("s3://") for f in files]
        return ds.dataset(paths, filesystem=clients.arrow_fs(profile), format="parquet").to_table()

    st = full()  # six days in SPICE, so that the seventh can arrive incrementally
    out["rows_six_days"] = st.rows
    sample.write_delta(profile, uri, table.filter(pc.equal(table["dt"], last)), mode="append",
                       partition_by=["dt"])  # fmt: skip
    t = time.perf_counter()
    st = store.refresh("events", "incremental")
    out["refresh_incremental_s"] = time.perf_counter() - t
    out["incremental_mode"] = st.last_mode
    assert st.rows == rows, (st.rows, rows)
    out["refresh_full_s"], st = timed(full, reps)  # the whole 10M-row table
    out["rows"], out["spice_bytes"] = st.rows, st.bytes
    out["delta_rs_read_s"], _ = timed(delta_read, reps)
    out["pyarrow_read_s"], _ = timed(arrow_read, reps)

    lo, hi = date.fromisoformat(days[2]), date.fromisoformat(days[4])
    sql = FILTER_SQL.format(table="events")
    out["query_spice_ms"], res = timed(lambda: store.arrow(sql, [lo, hi]), reps * 2)
    out["query_spice_ms"] *= 1000
    f = queries.Filters(lo, hi, ("KR", "US", "JP"))
    out["query_kpi_style_ms"] = (
        1000
        * timed(
            lambda: store.arrow(
                "SELECT country, sum(price * quantity) FILTER (WHERE event_type = 'purchase') "
                "FROM events WHERE dt BETWEEN ? AND ? AND list_contains(?, country) GROUP BY 1",
                [f.start, f.end, list(f.countries)],
            ),
            reps * 2,
        )[0]
    )
    # baselines over the same rows, already in memory
    arrow = table.set_column(table.schema.get_field_index("dt"), "dt",
                             table["dt"].cast("date32"))  # fmt: skip
    con = duckdb.connect()
    con.register("arrow_events", arrow)
    out["query_duckdb_on_arrow_ms"] = (
        1000
        * timed(
            lambda: con.execute(FILTER_SQL.format(table="arrow_events"), [lo, hi]).fetchall(),
            reps * 2,
        )[0]
    )
    df = arrow.to_pandas()

    def pandas_query() -> Any:
        m = (
            (df["dt"] >= lo) & (df["dt"] <= hi)
            & df["country"].isin(["KR", "US", "JP"]) & (df["event_type"] == "purchase")
        )  # fmt: skip
        sel = df.loc[m, ["country", "category", "price", "quantity"]]
        sel = sel.assign(revenue=sel["price"] * sel["quantity"])
        return sel.groupby(["country", "category"]).agg(revenue=("revenue", "sum"),
                                                          orders=("revenue", "size"))  # fmt: skip

    out["query_pandas_ms"] = 1000 * timed(pandas_query, max(2, reps // 2))[0]
    out["result_groups"] = res.num_rows
    store.close()
    return out


TRIVIAL_APP = 'import streamlit as st\nst.title("baseline")\nst.metric("Revenue", "1.00")\n'


def bench_page(profile: Any, rows: int) -> dict[str, Any]:
    from dashboards.bi import sample
    from dashboards.common import launch

    if not Path(CHROMIUM).exists():
        return {"skipped": f"no {CHROMIUM} (Debian's chromium)"}
    sample.write(profile, "bench-page", rows=rows)
    args = launch.AppArgs(profile, "bench-page")
    out: dict[str, Any] = {"page_rows": rows}
    out.update(_render(launch.command(ROOT / "dashboards" / "bi" / "app.py",
                                      launch.free_port(), args)))  # fmt: skip
    # the floor: a page of one metric, same server options, same browser
    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp) / "trivial.py"
        trivial.write_text(TRIVIAL_APP)
        base = _render(launch.command(trivial, launch.free_port(), args))
    out.update({f"baseline_{k}": v for k, v in base.items()})
    return out


def _render(cmd: list[str]) -> dict[str, Any]:
    """Start ``cmd`` (streamlit run), then seconds from navigation to the first KPI value in
    headless Chromium: the server's first page (cold) and the median of 5 new pages (warm)."""
    from playwright.sync_api import sync_playwright

    port = int(next(a for a in cmd if a.startswith("--server.port=")).split("=")[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, Any] = {}
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        out["server_start_s"] = time.perf_counter() - t0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)

            def render() -> float:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t = time.perf_counter()
                page.goto(url)
                page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
                took = time.perf_counter() - t
                page.close()
                return took

            out["first_render_cold_s"] = render()
            # what a user waits for: `bdlab dashboard` to the first numbers on the page
            out["start_to_first_render_s"] = out["server_start_s"] + out["first_render_cold_s"]
            warm = [render() for _ in range(5)]
            out["first_render_warm_s"] = statistics.median(warm)
            browser.close()
        out["streamlit_rss_mb"] = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--page-rows", type=int, default=200_000)
    ap.add_argument("--json", type=Path, default=Path("bench-results/dashboard_bench.json"))
    ap.add_argument("--page-only", action="store_true", help="only the page render (3.)")
    args = ap.parse_args()

    from sim import profiles, settings
    from sim.emulator.server import ThreadedEmulator

    state = Path(tempfile.mkdtemp(prefix="bdlab-dashboard-bench-"))
    emu = ThreadedEmulator(state).start()
    try:
        cfg = settings.load({"state_dir": str(state), "port": emu.port}, environ={}, root=state)
        profile = profiles.resolve(cfg, "embedded")
        spice_res = {} if args.page_only else bench_refresh_and_query(profile, args.rows, args.reps)
        page = bench_page(profile, args.page_rows)
    finally:
        emu.stop()
        shutil.rmtree(state, ignore_errors=True)
    r = spice_res
    print(f"\nBI dashboard benchmark: {args.rows:,} rows, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'measure':58} {'value':>10}  goal")
    rows = [] if args.page_only else [
        ("filter + group-by, SPICE (DuckDB in memory), ms", r["query_spice_ms"], f"<= {QUERY_GOAL_MS:.0f}"),
        ("  same query, KPI style with list parameter, ms", r["query_kpi_style_ms"], ""),
        ("  baseline: DuckDB scanning the Arrow table, ms", r["query_duckdb_on_arrow_ms"], ""),
        ("  baseline: pandas filter + groupby, ms", r["query_pandas_ms"], ""),
        (f"full refresh from Delta ({r['rows']:,} rows), s", r["refresh_full_s"], f"<= {REFRESH_GOAL_S:.0f}"),
        ("  baseline: delta-rs read to Arrow only, s", r["delta_rs_read_s"], ""),
        ("  baseline: pyarrow.dataset over the files, s", r["pyarrow_read_s"], ""),
        (f"incremental refresh, day 7 appended to {r['rows_six_days']:,} ({r['incremental_mode']}), s", r["refresh_incremental_s"], ""),
    ]  # fmt: skip
    if "skipped" in page:
        rows.append((f"page first render: skipped ({page['skipped']})", float("nan"), ""))
    else:
        rows += [
            (f"page first render, cold ({args.page_rows:,} events), s", page["first_render_cold_s"], f"<= {RENDER_GOAL_S:.0f}"),
            ("page first render, warm (median of 5), s", page["first_render_warm_s"], f"<= {RENDER_GOAL_S:.0f}"),
            ("  server process start to the first page's numbers, s", page["start_to_first_render_s"], ""),
            ("  streamlit server start to healthy, s", page["server_start_s"], ""),
            ("  baseline: a one-metric Streamlit page, cold, s", page["baseline_first_render_cold_s"], ""),
            ("  baseline: a one-metric Streamlit page, warm, s", page["baseline_first_render_warm_s"], ""),
            ("  baseline: process start to its first page, s", page["baseline_start_to_first_render_s"], ""),
        ]  # fmt: skip
    for name, value, goal in rows:
        print(f"{name:58} {value:>10.3f}  {goal}")
    if r:
        print(f"SPICE size of the {r['rows']:,} rows: {r['spice_bytes'] / 1e6:,.0f} MB "
              "(as QuickSight counts SPICE capacity)")  # fmt: skip
    doc = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "load": os.getloadavg(),
        },  # fmt: skip
        "rows": args.rows,
        "spice": r,
        "page": page,
        "goals": {
            "query_ms": QUERY_GOAL_MS,
            "refresh_s": REFRESH_GOAL_S,
            "render_s": RENDER_GOAL_S,
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1, default=str))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
