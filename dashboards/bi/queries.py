"""The visuals' queries over the SPICE store: plain functions from filters to DataFrames, so
tests and benchmarks run them without Streamlit. Every filter applies to every visual whose
dataset has the column (the gold funnel has no country: it is filtered by date only, and
:func:`applies` tells the page so).

Datasets read (by name): ``daily_revenue`` (dt, country, orders, items, revenue), ``funnel``
(dt, view, click, add_to_cart, purchase), ``top_products`` (dt, product_id, category, revenue,
items), ``events`` (event_time, dt, event_type, country, price, quantity, ...). Money is in the
data's currency, rounded to cents; rates are fractions (0.031 = 3.1 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from dashboards.bi.spice import Spice

GRANULARITIES = ("hour", "day", "week", "month")
FUNNEL = ("view", "click", "add_to_cart", "purchase")
# What the hourly visuals read from the raw events.
EVENT_COLUMNS = ("dt", "event_time", "event_type", "price", "quantity")
# The metric parameter: what the trend, drill-down and country visuals plot.
METRICS = ("revenue", "orders")


class NotReady(LookupError):
    """A visual's dataset has no rows imported (missing source, or not refreshed yet)."""


@dataclass(frozen=True)
class Filters:
    """What applies across visuals: days ``start``..``end`` (inclusive), ``countries`` and
    ``categories`` (empty: all), and the ``metric`` parameter (one of :data:`METRICS`) the
    trend, drill-down and country visuals plot."""

    start: date
    end: date
    countries: tuple[str, ...] = ()
    categories: tuple[str, ...] = field(default_factory=tuple)
    metric: str = "revenue"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before (period-over-period comparison)."""
        return Filters(
            self.start - timedelta(days=self.days),
            self.start - timedelta(days=1),
            self.countries,
            self.categories,
            self.metric,
        )


def _need(store: Spice, name: str, columns: tuple[str, ...] = ()) -> None:
    """NotReady, in one line, unless dataset ``name`` is defined, imported and has
    ``columns`` (a learner's query may drop one)."""
    st = store.states.get(name)
    if st is None:
        raise NotReady(
            f"no dataset {name} in this dashboard's datasets (define it to see this visual)"
        )
    if not st.ready:
        raise NotReady(f"dataset {name}: {st.error or 'not imported yet'}")
    missing = [c for c in columns if c not in st.columns]
    if missing:
        raise NotReady(
            f"dataset {name} has no column {', '.join(missing)}: keep "
            f"{'it' if len(missing) == 1 else 'them'} in the dataset's query "
            f"(it has {', '.join(st.columns)})"
        )


FILTER_COLUMNS = (("Country", "country", "countries"), ("Category", "category", "categories"))


def unapplied(store: Spice, dataset: str, f: Filters) -> list[str]:
    """The filters set in ``f`` that cannot apply to ``dataset`` (it lacks their column):
    one line each, for the visual to say so instead of showing unfiltered numbers silently."""
    out = []
    for label, column, attr in FILTER_COLUMNS:
        if getattr(f, attr) and not applies(store, dataset, column):
            out.append(f"{dataset} has no {column} column: the {label} filter does not apply")
    return out


def applies(store: Spice, dataset: str, column: str) -> bool:
    """Whether filters on ``column`` can apply to ``dataset`` (it has the column)."""
    st = store.states.get(dataset)
    return st is not None and column in st.columns


def _where(store: Spice, dataset: str, f: Filters, day: str = "dt") -> tuple[str, list[Any]]:
    sql: list[str] = [f"{day} BETWEEN ? AND ?"]
    params: list[Any] = [f.start, f.end]
    if f.countries and applies(store, dataset, "country"):
        sql.append("list_contains(?, country)")
        params.append(list(f.countries))
    if f.categories and applies(store, dataset, "category"):
        sql.append("list_contains(?, category)")
        params.append(list(f.categories))
    return " AND ".join(sql), params


def date_bounds(store: Spice) -> tuple[date, date] | None:
    """First and last day of ``daily_revenue`` (else ``events``), or None without data."""
    for name in ("daily_revenue", "events"):
        if store.ready(name) and applies(store, name, "dt"):
            row = store.query(f"SELECT min(dt), max(dt) FROM {name}").iloc[0]
            if row.iloc[0] is not None and not pd.isna(row.iloc[0]):
                return pd.Timestamp(row.iloc[0]).date(), pd.Timestamp(row.iloc[1]).date()
    return None


def countries(store: Spice) -> list[str]:
    """The countries in ``daily_revenue`` (else ``events``), by revenue, largest first."""
    for name in ("daily_revenue", "events"):
        if store.ready(name) and applies(store, name, "country"):
            measure = "sum(revenue)" if applies(store, name, "revenue") else "count(*)"
            df = store.query(f"SELECT country FROM {name} GROUP BY 1 ORDER BY {measure} DESC")
            return [str(c) for c in df["country"] if c is not None]
    return []


def categories(store: Spice) -> list[str]:
    """The product categories in ``top_products`` (else ``events``)."""
    for name in ("top_products", "events"):
        if store.ready(name) and applies(store, name, "category"):
            df = store.query(f"SELECT DISTINCT category FROM {name} ORDER BY 1")
            return [str(c) for c in df["category"] if c is not None]
    return []


def kpis(store: Spice, f: Filters) -> dict[str, dict[str, float | None]]:
    """KPI tiles: {"revenue" | "orders" | "items" | "aov" | "conversion": {"value",
    "previous", "change"}} for the period and the one before (``change``: fraction, None
    when the previous value is 0 or missing). ``conversion`` (purchasing sessions / viewing
    sessions) only when the funnel dataset is ready. NotReady without daily_revenue."""
    _need(store, "daily_revenue", ("dt", "revenue", "orders", "items"))

    def sums(p: Filters) -> tuple[float, float, float]:
        where, params = _where(store, "daily_revenue", p)
        row = store.query(
            "SELECT coalesce(sum(revenue), 0), coalesce(sum(orders), 0), "
            f"coalesce(sum(items), 0) FROM daily_revenue WHERE {where}",
            params,
        ).iloc[0]
        return float(row.iloc[0]), float(row.iloc[1]), float(row.iloc[2])

    now, before = sums(f), sums(f.previous())
    values = {
        "revenue": (round(now[0], 2), round(before[0], 2)),
        "orders": now[1:2] + before[1:2],
        "items": now[2:3] + before[2:3],
        "aov": (
            round(now[0] / now[1], 2) if now[1] else 0.0,
            round(before[0] / before[1], 2) if before[1] else 0.0,
        ),
    }
    if store.ready("funnel") and {"dt", "view", "purchase"} <= set(store.states["funnel"].columns):

        def conv(p: Filters) -> float:
            where, params = _where(store, "funnel", p)
            row = store.query(
                f"SELECT coalesce(sum(purchase), 0), coalesce(sum(view), 0) FROM funnel WHERE {where}",
                params,
            ).iloc[0]
            return float(row.iloc[0]) / float(row.iloc[1]) if row.iloc[1] else 0.0

        values["conversion"] = (conv(f), conv(f.previous()))
    return {
        k: {"value": v, "previous": p, "change": (v - p) / p if p else None}
        for k, (v, p) in values.items()
    }


def timeseries(store: Spice, f: Filters, granularity: str = "day") -> pd.DataFrame:
    """Revenue and orders per period: columns period (timestamp), revenue, orders. ``hour``
    reads the raw ``events`` (the gold table is daily); the others ``daily_revenue``."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
    if granularity == "hour":
        _need(store, "events", EVENT_COLUMNS)
        where, params = _where(store, "events", f)
        return store.query(
            "SELECT date_trunc('hour', event_time) AS period, "
            "round(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 2) AS revenue, "
            "count(*) FILTER (WHERE event_type = 'purchase') AS orders "
            f"FROM events WHERE {where} GROUP BY 1 ORDER BY 1",
            params,
        )
    _need(store, "daily_revenue", ("dt", "revenue", "orders"))
    where, params = _where(store, "daily_revenue", f)
    return store.query(
        f"SELECT CAST(date_trunc('{granularity}', dt) AS TIMESTAMP) AS period, "
        "round(sum(revenue), 2) AS revenue, sum(orders)::BIGINT AS orders "
        f"FROM daily_revenue WHERE {where} GROUP BY 1 ORDER BY 1",
        params,
    )


def by_country(store: Spice, f: Filters) -> pd.DataFrame:
    """Revenue by country, largest first: country, revenue, orders, items, share (fraction
    of the period's revenue)."""
    _need(store, "daily_revenue", ("dt", "country", "revenue", "orders", "items"))
    where, params = _where(store, "daily_revenue", f)
    return store.query(
        "SELECT country, round(sum(revenue), 2) AS revenue, sum(orders)::BIGINT AS orders, "
        "sum(items)::BIGINT AS items, "
        "round(sum(revenue) / sum(sum(revenue)) OVER (), 4) AS share "
        f"FROM daily_revenue WHERE {where} GROUP BY 1 ORDER BY revenue DESC, country",
        params,
    )


def hourly(store: Spice, f: Filters, day: date) -> pd.DataFrame:
    """Drill-down from a day to its hours (raw ``events``, the other filters applied):
    hour (0-23), events, orders, revenue."""
    _need(store, "events", EVENT_COLUMNS)
    where, params = _where(store, "events", Filters(day, day, f.countries, f.categories))
    return store.query(
        "SELECT hour(event_time) AS hour, count(*) AS events, "
        "count(*) FILTER (WHERE event_type = 'purchase') AS orders, "
        "round(coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0), 2) "
        f"AS revenue FROM events WHERE {where} GROUP BY 1 ORDER BY 1",
        params,
    )


def funnel(store: Spice, f: Filters) -> pd.DataFrame:
    """Sessions per funnel stage over the period: stage, sessions, of_first (fraction of
    the first stage), of_previous (fraction of the stage before)."""
    _need(store, "funnel", ("dt", *FUNNEL))
    where, params = _where(store, "funnel", f)
    row = store.query(
        "SELECT "
        + ", ".join(f"coalesce(sum({s}), 0)::BIGINT" for s in FUNNEL)
        + f" FROM funnel WHERE {where}",
        params,
    ).iloc[0]
    counts = [int(v) for v in row]
    return pd.DataFrame(
        {
            "stage": list(FUNNEL),
            "sessions": counts,
            "of_first": [round(c / counts[0], 4) if counts[0] else 0.0 for c in counts],
            "of_previous": [
                round(c / p, 4) if p else 0.0
                for c, p in zip(counts, [counts[0], *counts], strict=False)
            ],
        }
    )


def top_products(store: Spice, f: Filters, n: int = 10) -> pd.DataFrame:
    """The ``n`` products with the most revenue over the period (summed over the gold
    table's per-day top lists): product_id, category, revenue, items."""
    _need(store, "top_products", ("dt", "product_id", "category", "revenue", "items"))
    where, params = _where(store, "top_products", f)
    return store.query(
        "SELECT product_id, category, round(sum(revenue), 2) AS revenue, "
        f"sum(items)::BIGINT AS items FROM top_products WHERE {where} "
        "GROUP BY 1, 2 ORDER BY revenue DESC, product_id LIMIT ?",
        [*params, int(n)],
    )


def table(store: Spice, name: str, limit: int = 1000) -> pd.DataFrame:
    """The first ``limit`` rows of dataset ``name`` as imported (e.g. an EMR step's output)."""
    _need(store, name)
    return store.query(f'SELECT * FROM "{name}" LIMIT ?', [int(limit)])


def custom(store: Spice, v: Any, f: Filters) -> pd.DataFrame:
    """A visual defined as data (``registry.Visual``): columns ``x`` and ``value`` (the
    aggregate of ``y``), largest first; the filters apply where the dataset has their
    columns (its ``dt`` for the dates). NotReady while the dataset is not imported."""
    _need(store, v.dataset)
    columns = store.states[v.dataset].columns
    if v.x not in columns:
        raise NotReady(
            f"{v.title}: dataset {v.dataset} has no column {v.x!r} ({', '.join(columns)})"
        )
    conds: list[str] = []
    params: list[Any] = []
    if "dt" in columns:
        where, params = _where(store, v.dataset, f)
        conds.append(where)
    else:
        for col, picked in (("country", f.countries), ("category", f.categories)):
            if picked and col in columns:
                conds.append(f"list_contains(?, {col})")
                params.append(list(picked))
    if v.where:
        conds.append(f"({v.where})")
    clause = f"WHERE {' AND '.join(conds)}" if conds else ""
    agg = "count(*)" if v.agg == "count" and v.y == "*" else f"{v.agg}({v.y})"
    limit = f"LIMIT {int(v.top)}" if v.top else ""
    return store.query(
        f'SELECT "{v.x}" AS "{v.x}", {agg} AS value FROM "{v.dataset}" {clause} '
        f"GROUP BY 1 ORDER BY value DESC NULLS LAST, 1 {limit}",
        params,
    )
