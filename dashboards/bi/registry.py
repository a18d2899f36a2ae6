"""Datasets as data: each has a name, a source (raw S3 objects, a Delta table, an EMR step's
output prefix), a query applied to the source's rows as they are imported (QuickSight's custom
SQL) and refresh schedules. The default registry below is plain data; :func:`load` reads the
same shape from a TOML file (``[[dataset]]`` tables), so a lab can define its own.

The visuals read datasets by name: ``daily_revenue``, ``funnel``, ``top_products`` (the lake's
gold tables), ``events`` (raw clickstream, for the day -> hour drill-down) and ``emr_results``
(whatever an EMR step wrote). A registry that leaves one out leaves that visual empty.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SOURCE_KINDS = ("s3", "delta", "emr")
FORMATS = ("parquet", "json", "csv")
# What QuickSight's schedules offer (API RefreshFrequency: MINUTE15 | MINUTE30 | HOURLY |
# DAILY | WEEKLY | MONTHLY; the minute intervals for incremental refreshes only).
FULL_EVERY = ("hourly", "daily", "weekly", "monthly")
INCREMENTAL_EVERY = ("15min", "30min", "hourly", "daily", "weekly", "monthly")
EVERY_S = {"15min": 900, "30min": 1800, "hourly": 3600, "daily": 86_400, "weekly": 604_800}
# "This interval can only be used for one schedule per dataset."
ONCE_PER_DATASET = ("15min", "30min", "hourly")
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
# ScheduleRefreshOnEntity.DayOfMonth: ^(?:LAST_DAY_OF_MONTH|1[0-9]|2[0-8]|[12]|[3-9])$
_DAY_OF_MONTH = re.compile(r"^(?:LAST_DAY_OF_MONTH|1[0-9]|2[0-8]|[12]|[3-9])$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RegistryError(ValueError):
    """A dataset definition that cannot work; the message names the dataset and the field."""


@dataclass(frozen=True)
class Source:
    """Where a dataset's rows come from.

    ``kind``: ``s3`` (objects under a prefix), ``delta`` (a Delta table, read with delta-rs)
    or ``emr`` (an EMR step's output prefix: like ``s3``, and complete only once the step
    wrote ``_SUCCESS`` when it writes one). ``path``: ``s3://bucket/prefix`` or a prefix in
    the dashboard's bucket. ``format``: parquet | json (JSON lines) | csv; not for delta.
    ``hive``: read ``key=value/`` folders as columns."""

    kind: str
    path: str
    format: str = "parquet"
    hive: bool = True

    def location(self, bucket: str | None) -> tuple[str, str]:
        """(bucket, prefix) of the source; RegistryError without a bucket to resolve it in."""
        if self.path.startswith("s3://"):
            b, _, prefix = self.path[5:].partition("/")
            return b, prefix
        if not bucket:
            raise RegistryError(f"source {self.path!r} needs a bucket (--bucket)")
        return bucket, self.path.lstrip("/")

    def uri(self, bucket: str | None) -> str:
        b, prefix = self.location(bucket)
        return f"s3://{b}/{prefix}"


@dataclass(frozen=True)
class Refresh:
    """One refresh schedule, QuickSight's ``RefreshSchedule`` as data: ``mode`` full |
    incremental (RefreshType), ``every`` one of :data:`FULL_EVERY` / :data:`INCREMENTAL_EVERY`
    (Interval), ``at`` "HH:MM" (TimeOfTheDay: daily, weekly and monthly slots), ``day``
    (RefreshOnDay: a weekday name for weekly slots, default MONDAY; a day of the month "1" to
    "28" or LAST_DAY_OF_MONTH for monthly ones, default "1") and ``timezone`` (an IANA zone,
    default UTC: the wall time ``at`` and ``day`` are read in)."""

    mode: str
    every: str
    at: str = "00:00"
    day: str = ""
    timezone: str = "UTC"

    @property
    def calendar(self) -> bool:
        """True for daily, weekly and monthly slots (they have a time of day)."""
        return self.every in ("daily", "weekly", "monthly")

    @property
    def on_day(self) -> str:
        """The slot's day: a weekday for weekly, a day of the month for monthly, else ""."""
        if self.every == "weekly":
            return self.day or "MONDAY"
        if self.every == "monthly":
            return self.day or "1"
        return ""

    def label(self) -> str:
        if not self.calendar:
            return f"{self.mode} {self.every}"
        on = f" on {self.on_day}" if self.on_day else ""
        return f"{self.mode} {self.every}{on} at {self.at} {self.timezone}"


@dataclass(frozen=True)
class Dataset:
    """A SPICE dataset: ``query`` is DuckDB SQL over the table ``source`` (the rows read
    from the source) and runs on every import; ``required`` are the columns the visuals
    need after the query (a refresh without them fails and keeps the previous rows)."""

    name: str
    source: Source
    query: str = "SELECT * FROM source"
    refresh: tuple[Refresh, ...] = ()
    title: str = ""
    required: tuple[str, ...] = ()

    @property
    def incremental(self) -> bool:
        return any(r.mode == "incremental" for r in self.refresh)


CHARTS = ("bar", "line", "table")
AGGREGATES = ("sum", "count", "avg", "min", "max")


@dataclass(frozen=True)
class Visual:
    """A visual defined as data (a QuickSight analysis's visual): ``agg`` of the DuckDB
    expression ``y`` grouped by the column ``x`` of ``dataset``, rows kept by the optional
    ``where`` expression, the ``top`` largest groups (0: all), drawn as ``chart``. The
    dashboard's filters (dates, countries, categories) apply where the dataset has the
    columns, as for every other visual."""

    name: str
    title: str
    dataset: str
    x: str
    y: str
    agg: str = "sum"
    chart: str = "bar"
    where: str = ""
    top: int = 0


@dataclass(frozen=True)
class Registry:
    """The datasets of a dashboard, by name, in their order, and the learner's own visuals."""

    datasets: tuple[Dataset, ...] = field(default_factory=tuple)
    visuals: tuple[Visual, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> Dataset:
        for d in self.datasets:
            if d.name == name:
                return d
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(d.name == name for d in self.datasets)

    def names(self) -> list[str]:
        return [d.name for d in self.datasets]


def parse(items: list[dict[str, Any]]) -> Registry:
    """Datasets from plain data: ``[{"name", "source": {"kind", "path", "format"?, "hive"?},
    "query"?, "refresh"?: [{"mode", "every", "at"?, "day"?,
    "timezone"?}], "title"?, "required"?: [...]}]``.
    RegistryError names the first dataset and field that cannot work."""
    out: list[Dataset] = []
    for i, item in enumerate(items):
        name = str(item.get("name", ""))
        where = f"dataset {name or f'#{i + 1}'}"
        if not _NAME.match(name):
            raise RegistryError(f"{where}: name must be lower_snake_case (a SQL table name)")
        if name in (d.name for d in out):
            raise RegistryError(f"{where}: defined twice")
        src = item.get("source")
        if not isinstance(src, dict):
            raise RegistryError(f"{where}: source must be a table with kind and path")
        kind, fmt = src.get("kind"), src.get("format", "parquet")
        if kind not in SOURCE_KINDS:
            raise RegistryError(f"{where}: source.kind must be one of {', '.join(SOURCE_KINDS)}")
        if kind != "delta" and fmt not in FORMATS:
            raise RegistryError(f"{where}: source.format must be one of {', '.join(FORMATS)}")
        if not src.get("path"):
            raise RegistryError(f"{where}: source.path is empty")
        refresh = tuple(_refresh(where, r) for r in item.get("refresh", ()))
        for every in ONCE_PER_DATASET:
            if sum(r.every == every for r in refresh) > 1:
                raise RegistryError(
                    f"{where}: only one refresh schedule per dataset may run every {every}"
                )
        query = str(item.get("query") or "SELECT * FROM source")
        if any(r.mode == "incremental" for r in refresh) and re.search(
            r"\b(group\s+by|distinct|window|over\s*\()", query, re.I
        ):
            # An incremental import runs the query on the new rows only: an aggregate over
            # them would be a second, partial row per group.
            raise RegistryError(
                f"{where}: an incremental refresh needs a row-by-row query (no GROUP BY, "
                "DISTINCT or window); aggregate in the visuals instead"
            )
        out.append(
            Dataset(
                name=name,
                source=Source(kind, str(src["path"]), str(fmt), bool(src.get("hive", True))),
                query=query,
                refresh=refresh,
                title=str(item.get("title") or name),
                required=tuple(item.get("required", ())),
            )
        )
    return Registry(tuple(out))


def parse_visuals(items: list[dict[str, Any]], datasets: Registry) -> tuple[Visual, ...]:
    """Visuals from plain data: ``[{"name", "title"?, "dataset", "x", "y", "agg"?, "chart"?,
    "where"?, "top"?}]``; RegistryError names the first visual and field that cannot work
    (its dataset must be in ``datasets``)."""
    out: list[Visual] = []
    for i, item in enumerate(items):
        name = str(item.get("name", ""))
        where = f"visual {name or f'#{i + 1}'}"
        if not _NAME.match(name):
            raise RegistryError(f"{where}: name must be lower_snake_case")
        if name in (v.name for v in out):
            raise RegistryError(f"{where}: defined twice")
        dataset = str(item.get("dataset", ""))
        if dataset not in datasets:
            raise RegistryError(
                f"{where}: dataset {dataset!r} is not defined (one of: "
                f"{', '.join(datasets.names()) or 'none'})"
            )
        x, y = str(item.get("x", "")), str(item.get("y", ""))
        if not _NAME.match(x):
            raise RegistryError(f"{where}: x must be a column name of {dataset}, not {x!r}")
        if not y:
            raise RegistryError(f"{where}: y is empty (a column or an expression over columns)")
        agg, chart = str(item.get("agg", "sum")), str(item.get("chart", "bar"))
        if agg not in AGGREGATES:
            raise RegistryError(f"{where}: agg must be one of {', '.join(AGGREGATES)}")
        if chart not in CHARTS:
            raise RegistryError(f"{where}: chart must be one of {', '.join(CHARTS)}")
        if ";" in y + str(item.get("where", "")):
            raise RegistryError(f"{where}: y and where are expressions, not statements")
        out.append(
            Visual(
                name=name,
                title=str(item.get("title") or name),
                dataset=dataset,
                x=x,
                y=y,
                agg=agg,
                chart=chart,
                where=str(item.get("where", "")),
                top=int(item.get("top", 0)),
            )
        )
    return tuple(out)


def _refresh(where: str, r: dict[str, Any]) -> Refresh:
    mode, every, at = r.get("mode"), r.get("every"), str(r.get("at", "00:00"))
    day, tz = str(r.get("day", "")), str(r.get("timezone", "UTC"))
    allowed = {"full": FULL_EVERY, "incremental": INCREMENTAL_EVERY}.get(str(mode))
    if allowed is None:
        raise RegistryError(f"{where}: refresh mode must be full or incremental, not {mode!r}")
    if every not in allowed:
        raise RegistryError(
            f"{where}: a {mode} refresh runs {', '.join(allowed)}, not every {every!r}"
        )
    if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", at):
        raise RegistryError(f"{where}: refresh at must be HH:MM (24-hour), not {at!r}")
    if day and every == "weekly" and day.upper() not in WEEKDAYS:
        raise RegistryError(f"{where}: a weekly refresh's day is one of {', '.join(WEEKDAYS)}")
    if day and every == "monthly" and not _DAY_OF_MONTH.match(day.upper()):
        raise RegistryError(
            f"{where}: a monthly refresh's day is 1 to 28 or LAST_DAY_OF_MONTH, not {day!r}"
        )
    if day and every not in ("weekly", "monthly"):
        raise RegistryError(f"{where}: only weekly and monthly refreshes take a day")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise RegistryError(
            f"{where}: refresh timezone {tz!r} is not an IANA zone (e.g. UTC, Asia/Seoul)"
        ) from None
    return Refresh(str(mode), str(every), at, day.upper(), tz)


def load(path: Path) -> Registry:
    """The registry in a TOML file of ``[[dataset]]`` tables (the shape :func:`parse` takes)
    and ``[[visual]]`` tables (:func:`parse_visuals`); RegistryError when it is missing or
    malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"cannot read the datasets file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"the datasets file {path} is not TOML: {exc}") from None
    reg = parse(list(data.get("dataset", [])))
    return Registry(reg.datasets, parse_visuals(list(data.get("visual", [])), reg))


EVENTS_QUERY = """
SELECT CAST(event_time AS TIMESTAMP) AS event_time, CAST(event_time AS DATE) AS dt,
       event_type, session_id, product_id, category, price, quantity, country, device
FROM source
"""

DEFAULT: list[dict[str, Any]] = [
    {
        "name": "daily_revenue",
        "title": "Daily revenue by country (gold, Delta)",
        "source": {"kind": "delta", "path": "gold/daily_revenue"},
        "query": "SELECT CAST(dt AS DATE) AS dt, country, orders, items, revenue FROM source",
        "refresh": [
            {"mode": "full", "every": "daily", "at": "02:00"},
            {"mode": "incremental", "every": "30min"},
        ],
        "required": ["dt", "country", "orders", "items", "revenue"],
    },
    {
        "name": "funnel",
        "title": "Conversion funnel (gold, Delta)",
        "source": {"kind": "delta", "path": "lake/gold/funnel"},
        "query": "SELECT CAST(dt AS DATE) AS dt, view, click, add_to_cart, purchase FROM source",
        "refresh": [{"mode": "incremental", "every": "hourly"}],
        "required": ["dt", "view", "click", "add_to_cart", "purchase"],
    },
    {
        "name": "top_products",
        "title": "Top products per day (gold, Delta)",
        "source": {"kind": "delta", "path": "lake/gold/top_products"},
        "query": "SELECT CAST(dt AS DATE) AS dt, product_id, category, revenue, items FROM source",
        "refresh": [{"mode": "full", "every": "daily", "at": "02:00"}],
        "required": ["dt", "product_id", "category", "revenue", "items"],
    },
    {
        "name": "events",
        "title": "Clickstream events (raw S3 Parquet)",
        "source": {"kind": "s3", "path": "raw/events/", "format": "parquet"},
        "query": EVENTS_QUERY,
        "refresh": [{"mode": "incremental", "every": "15min"}],
        "required": ["event_time", "dt", "event_type", "country", "price", "quantity"],
    },
    {
        "name": "emr_results",
        "title": "EMR step output (daily revenue as Parquet)",
        "source": {"kind": "emr", "path": "emr/output/daily_revenue/", "format": "parquet"},
        "refresh": [{"mode": "full", "every": "hourly"}],
    },
]


def default() -> Registry:
    """The dashboard's own datasets over the demo lake's layout (see the module docstring)."""
    return parse(DEFAULT)
