"""The BI dashboard's Streamlit script: it only renders. Datasets, the SPICE store, schedules
and queries live in the plain modules next to it; this script gets the profile and bucket
from its arguments (``bdlab dashboard`` passes them, see dashboards/common/launch.py).

Two pages: "Sales overview" (KPI tiles with period-over-period change above sheets: revenue
over time at hour/day/week/month with the day -> hour drill-down, revenue by country, the
conversion funnel, top products, the EMR step's output; each visual's data as CSV) and
"Datasets" (SPICE: rows, size, last refresh on the emulator clock, schedules, refresh now)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboards.bi import queries, registry, schedule, spice
from dashboards.bi import runtime as bi_runtime
from dashboards.common import errors

# The arguments key the cached store: one store per set of arguments (one per server process).
ARGV = tuple(sys.argv[1:])
# What the first page shows first (the KPI tiles): it waits for these datasets' first import.
FIRST = ("daily_revenue", "funnel")
METRICS = (
    ("revenue", "Revenue", "{:,.2f}"),
    ("orders", "Orders", "{:,.0f}"),
    ("items", "Items sold", "{:,.0f}"),
    ("aov", "Avg order value", "{:,.2f}"),
    ("conversion", "Conversion", "{:.2%}"),
)


def runtime(argv: tuple[str, ...]) -> tuple[spice.Spice, schedule.Scheduler]:
    """The process's store and scheduler for these arguments (:mod:`dashboards.bi.runtime`;
    usually already built and importing since the server started)."""
    return bi_runtime.get(argv)


def await_import(
    store: spice.Spice, sched: schedule.Scheduler, names: tuple[str, ...], timeout_s: float = 60
) -> None:
    """Wait, with a spinner, until ``names`` have had their first import (or the first pass
    ended: a clock that cannot be read says so on the page)."""

    def waiting() -> bool:
        return not sched.first_pass.is_set() and any(
            not store.states[n].tried for n in names if n in store.states
        )

    if waiting():
        with st.spinner("Importing the datasets into SPICE (first load)..."):
            deadline = time.monotonic() + timeout_s
            while waiting() and time.monotonic() < deadline:
                time.sleep(0.05)


def importing(store: spice.Spice) -> tuple[str, ...]:
    """The datasets whose first import has not run yet."""
    return tuple(n for n, s in store.states.items() if not s.tried)


@st.fragment(run_every=1.0)
def rerun_when_imported(pending: tuple[str, ...]) -> None:
    """Rerun the page once a dataset that was still importing when it rendered is in."""
    store, _ = runtime(ARGV)
    if any(store.states[n].tried for n in pending):
        st.rerun()


def csv_button(df: pd.DataFrame, name: str) -> None:
    st.download_button(
        f"Download {name}.csv",
        df.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv-{name}",
    )


def visual(title: str, render: Any, *args: Any) -> None:
    """A visual with its title; a dataset that is not there is one line, never a traceback."""
    st.subheader(title)
    try:
        render(*args)
    except queries.NotReady as exc:
        st.info(str(exc))
    except Exception as exc:  # a query that does not fit the data: one line on the page
        st.error(errors.one_line(exc, title))


def when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ------------------------------------------------------------------------- pages
def filters(store: spice.Spice) -> queries.Filters | None:
    """The sidebar's filters and parameters, which apply across the visuals."""
    bounds = queries.date_bounds(store)
    sb = st.sidebar
    sb.header("Filters")
    if bounds is None:
        sb.caption("No dates yet: daily_revenue and events are not imported.")
        return None
    first, last = bounds
    picked = sb.date_input(
        "Dates", value=(first, last), min_value=first - timedelta(days=366), max_value=last,
        key="dates",
    )  # fmt: skip
    days = [d for d in (picked if isinstance(picked, tuple) else (picked,)) if d is not None]
    # the first click of a range picks its first day only: a one-day range until the
    # second; a cleared picker means every day
    start, end = (days[0], days[-1]) if days else (first, last)
    countries = sb.multiselect("Country", queries.countries(store), key="countries")
    categories = sb.multiselect("Category", queries.categories(store), key="categories")
    sb.header("Parameters")
    metric = sb.radio(
        "Metric", queries.METRICS, key="metric", horizontal=True,
        help="what the trend, the drill-down and the country breakdown plot",
    )  # fmt: skip
    return queries.Filters(start, end, tuple(countries), tuple(categories), str(metric))


def overview() -> None:
    store, sched = runtime(ARGV)
    st.title("Sales overview")
    await_import(store, sched, FIRST)
    if sched.error:
        st.error(sched.error)
    f = filters(store)
    if f is None:
        # with the clock unreadable (the emulator down) the last errors are stale: the line
        # above says what is wrong now
        st.info("No sales data yet." if sched.error else _why_empty(store))
        if pending := importing(store):
            rerun_when_imported(pending)
        return
    st.caption(
        f"{f.start} to {f.end} ({f.days} days) vs the {f.days} days before"
        + (f"; countries: {', '.join(f.countries)}" if f.countries else "")
        + (f"; categories: {', '.join(f.categories)}" if f.categories else "")
    )
    visual("Key figures", _kpis, store, f)
    # Sheets, as a QuickSight dashboard has them; only the open one runs (lazy tabs), so the
    # browser draws one sheet's charts, not every chart, before the page is usable.
    own = store.registry.visuals
    # a sheet none of whose datasets this dashboard defines is left out (a learner's
    # datasets file replaces the built-in ones)
    shown = {n: v for n, v in SHEETS.items() if any(d in store.registry for d in SHEET_DATA[n])}
    names = list(shown) + (["My visuals"] if own else [])
    sheets = st.tabs(names, key="sheet", on_change="rerun")
    for tab, visuals in zip(sheets, shown.values(), strict=False):
        if tab.open:
            with tab:
                for title, render in visuals:
                    visual(title.format(metric=f.metric.capitalize()), render, store, f)
    if own and sheets[-1].open:
        with sheets[-1]:
            for v in own:
                visual(v.title, _custom, store, f, v)
    if pending := importing(store):
        st.caption(f"Still importing: {', '.join(pending)}")
        rerun_when_imported(pending)


def _no_bucket(store: spice.Spice, errors: dict[str, str]) -> str | None:
    """One line when every failure is the missing bucket (each dataset's line would repeat
    it), else None."""
    if errors and all("bucket does not exist" in e for e in errors.values()):
        return (
            f"the bucket {store.bucket} does not exist. Write the data first (`bdlab demo` "
            "writes the default bucket) or pass --bucket."
        )
    return None


def _why_empty(store: spice.Spice) -> str:
    errors = {n: s.error for n, s in store.states.items() if s.error}
    if line := _no_bucket(store, errors):
        return f"No sales data yet: {line}"
    lines = [f"{n}: {e}" for n, e in errors.items()]
    return "No sales data yet. " + (" | ".join(lines) if lines else "Nothing imported yet.")


def _unapplied(store: spice.Spice, dataset: str, f: queries.Filters) -> None:
    """Say which of the set filters this visual's dataset cannot take (no silent ignoring)."""
    for line in queries.unapplied(store, dataset, f):
        st.caption(line + " here.")


def _kpis(store: spice.Spice, f: queries.Filters) -> None:
    k = queries.kpis(store, f)
    _unapplied(store, "daily_revenue", f)
    cols = st.columns(len(METRICS))
    for col, (key, label, fmt) in zip(cols, METRICS, strict=True):
        if key not in k:
            col.metric(label, "n/a", help="needs the funnel dataset")
            continue
        m = k[key]
        change = m["change"]
        col.metric(
            label,
            fmt.format(m["value"]),
            delta=None if change is None else f"{change:+.1%}",
            help=f"previous period: {fmt.format(m['previous'])}",
        )
    if all(not k[key]["previous"] for key, _, _ in METRICS if key in k):
        st.caption(f"The {f.days} days before have no data: there is no change to show.")
    rows = [{"metric": key, **k[key]} for key, _, _ in METRICS if key in k]
    csv_button(pd.DataFrame(rows), "kpis")


def _timeseries(store: spice.Spice, f: queries.Filters) -> None:
    gran = st.radio(
        "Granularity", queries.GRANULARITIES, index=1, horizontal=True, key="granularity"
    )
    df = queries.timeseries(store, f, str(gran))
    _unapplied(store, "events" if gran == "hour" else "daily_revenue", f)
    st.altair_chart(_trend_chart(df, str(gran), f.metric), width="stretch")
    csv_button(df, f"revenue_by_{gran}")


# Axis labels per granularity: one tick per period, in the period's own terms (Vega's
# automatic ticks put "12 PM" between days).
_TICKS = {
    "hour": ("hour", "%m-%d %H:00"),
    "day": ("day", "%a %m-%d"),
    "week": ("week", "%Y-%m-%d"),
    "month": ("month", "%Y-%m"),
}


def _trend_chart(df: pd.DataFrame, gran: str, metric: str) -> Any:
    import altair as alt

    interval: Any = _TICKS[gran][0]  # one of Vega's time units (altair types it as a Literal)
    fmt = _TICKS[gran][1]
    x = alt.X(
        "period:T",
        title=f"{gran} (UTC)",
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(
            format=fmt, tickCount=alt.TimeIntervalStep(interval=interval, step=1), labelOverlap=True
        ),
    )
    return (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(x=x, y=alt.Y(f"{metric}:Q", title=metric), tooltip=["period:T", f"{metric}:Q"])
        .properties(height=300)
    )


def _drill(store: spice.Spice, f: queries.Filters) -> None:
    days = [f.start + timedelta(days=i) for i in range(f.days)]
    day = st.selectbox("Day", days, index=len(days) - 1, key="drill_day")
    if not isinstance(day, date):
        return
    df = queries.hourly(store, f, day)
    _unapplied(store, "events", f)
    st.bar_chart(df, x="hour", y=f.metric)
    csv_button(df, f"hourly_{day}")


def _countries(store: spice.Spice, f: queries.Filters) -> None:
    df = queries.by_country(store, f)
    _unapplied(store, "daily_revenue", f)
    st.bar_chart(df, x="country", y=f.metric, horizontal=True)
    st.dataframe(df, hide_index=True, key="country_table")
    csv_button(df, "revenue_by_country")


def _funnel(store: spice.Spice, f: queries.Filters) -> None:
    df = queries.funnel(store, f)
    _unapplied(store, "funnel", f)
    st.bar_chart(df, x="stage", y="sessions", sort=False)
    st.dataframe(df, hide_index=True, key="funnel_table")
    csv_button(df, "funnel")


def _top(store: spice.Spice, f: queries.Filters) -> None:
    n = st.slider("How many", 3, 20, 10, key="top_n")
    df = queries.top_products(store, f, n)
    _unapplied(store, "top_products", f)
    st.dataframe(df, hide_index=True, key="top_table")
    csv_button(df, "top_products")


def _emr(store: spice.Spice, f: queries.Filters) -> None:
    df = queries.table(store, "emr_results")
    st.caption("The EMR step's output as it wrote it: the filters do not apply here.")
    st.dataframe(df, hide_index=True)
    csv_button(df, "emr_results")


def _custom(store: spice.Spice, f: queries.Filters, v: registry.Visual) -> None:
    df = queries.custom(store, v, f)
    _unapplied(store, v.dataset, f)
    label = "count" if v.agg == "count" and v.y == "*" else f"{v.agg}({v.y})"
    if v.chart == "bar":
        st.bar_chart(df, x=v.x, y="value", y_label=label, height=260)
    elif v.chart == "line":
        st.line_chart(df, x=v.x, y="value", y_label=label, height=260)
    st.dataframe(df, hide_index=True)
    csv_button(df, v.name)


SHEETS: dict[str, list[tuple[str, Any]]] = {
    "Trend": [("{metric} over time", _timeseries), ("Drill down: a day by hour", _drill)],
    "Countries": [("{metric} by country", _countries)],
    "Funnel": [("Conversion funnel", _funnel)],
    "Products": [("Top products", _top)],
    "EMR output": [("EMR step output (emr_results)", _emr)],
}
SHEET_DATA = {
    "Trend": ("daily_revenue", "events"),
    "Countries": ("daily_revenue",),
    "Funnel": ("funnel",),
    "Products": ("top_products",),
    "EMR output": ("emr_results",),
}


def datasets() -> None:
    store, sched = runtime(ARGV)
    st.title("Datasets (SPICE)")
    st.caption(f"SPICE: {store.storage}.")
    if pending := importing(store):
        rerun_when_imported(pending)
    clock_error = None
    try:
        now = store.clock()
        st.caption(f"Emulator clock: {when(now)}. Schedules run on this clock.")
    except Exception as exc:  # the emulator is down: one line
        now, clock_error = None, str(exc)
        st.error(clock_error)
    rows = []
    for ds in store.registry.datasets:
        s = store.states[ds.name]
        nxt = sched.next_due(ds.name, now) if now is not None else None
        rows.append(
            {  # what a reader looks for first comes first: does it work, how much, when
                "dataset": ds.name,
                "status": "failed" if s.error else ("ok" if s.ready else "importing..."),
                "rows": s.rows,
                "last refresh": when(s.last_refresh),
                "next refresh": when(nxt) if now is not None else "unknown (no clock)",
                "schedule": ", ".join(r.label() for r in ds.refresh) or "manual",
                "mode": s.last_mode,
                "size (KB)": round(s.bytes / 1e3, 1),
                "source": f"{ds.source.kind}: {_uri(ds, store.bucket)}",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="spice_table")
    # the reasons in full, one line each (a table cell would cut them); one cause said once
    failed = {
        n: e
        for n, e in ((d.name, store.states[d.name].error) for d in store.registry.datasets)
        if e and e != clock_error
    }
    if line := _no_bucket(store, failed):
        st.warning(f"Every dataset failed to import: {line}")
    else:
        for name, error in failed.items():
            st.warning(f"{name}: {error}")
    for ds in store.registry.datasets:
        note = store.states[ds.name].note
        if note and ds.name not in failed:
            st.caption(f"{ds.name}: {note}")
    name = st.selectbox("Dataset", store.registry.names(), key="refresh_name")
    full, inc = st.columns(2)
    mode = None
    if full.button("Refresh now (full)", key="refresh_full"):
        mode = "full"
    if inc.button("Refresh now (incremental)", key="refresh_incremental"):
        mode = "incremental"
    if mode and name:
        with st.spinner(f"Refreshing {name} ({mode})..."):
            s = store.refresh(str(name), mode)
        if s.error and s.error != clock_error:
            st.error(s.error)
        elif not s.error:
            st.success(f"{name}: {s.last_mode} refresh, {s.rows:,} rows. {s.note}".strip())
    for ds in store.registry.datasets:
        st.caption(f"{ds.name}: {ds.title}")


def _uri(ds: registry.Dataset, bucket: str | None) -> str:
    try:
        return ds.source.uri(bucket)
    except registry.RegistryError as exc:
        return str(exc)


def main() -> None:
    st.set_page_config(page_title="bdlab BI", layout="wide")
    try:
        runtime(ARGV)
    except Exception as exc:  # a broken datasets file, ...: one line, no traceback
        st.error(errors.one_line(exc))
        return
    page = st.navigation(
        [
            st.Page(overview, title="Sales overview", url_path="overview", default=True),
            st.Page(datasets, title="Datasets", url_path="datasets"),
        ]
    )
    try:
        page.run()
    except Exception as exc:  # data that does not fit the page (a dataset missing the columns
        # its visuals need): one line, never a traceback; Streamlit's reruns are BaseExceptions
        st.error(errors.one_line(exc, "this page"))


main()
