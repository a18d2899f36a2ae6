"""CloudWatch's rules for metrics and dashboards, plain Python on the emulator clock.

Follows the CloudWatch API Reference (PutMetricData, GetMetricStatistics, GetMetricData,
ListMetrics, PutDashboard/GetDashboard/ListDashboards/DeleteDashboards) and the user guide's
"CloudWatch concepts" (statistics, percentiles, resolution and retention). Parameters arrive
as the API layer parsed them: AWS member names, timestamps as float epoch seconds. Errors are
``AwsError`` with CloudWatch's codes (``InvalidParameterValue``, ``InvalidParameterCombination``,
``MissingParameter``, ``ValidationError``, ``InvalidNextToken``, ``ResourceNotFound``,
``InvalidParameterInput``).

What is kept, and for how long (user guide, "Metrics retention"; bdlab keeps every datapoint at
the resolution it was put with and answers a query only where AWS still would):

- high-resolution data (StorageResolution 1) is kept per second; a period under 60 s is
  answered only when StartTime is less than 3 hours old;
- StartTime 3 h-15 days old: the period must be a multiple of 60; 15-63 days: of 300;
  63 days and older: of 3,600; otherwise no datapoints (not an error), as AWS documents;
- data older than 455 days (15 months) is deleted.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError
from sim.emulator.providers.cloudwatch.store import CellRow, MetricStore, ValRow

MAX_METRICS = 1000  # MetricData members per PutMetricData
MAX_BYTES = 1024 * 1024  # request size of PutMetricData (HTTP POST)
MAX_VALUES = 150  # Values (and Counts) per datum
MAX_DIMENSIONS = 30
MAX_DATAPOINTS = 1440  # GetMetricStatistics answer size
MAX_GMD_DATAPOINTS = 100_800  # GetMetricData default MaxDatapoints
LIST_PAGE = 500  # ListMetrics page size
DASHBOARD_PAGE = 1000
HOUR, DAY = 3600, 86_400
RETENTION_S = 455 * DAY
PAST_LIMIT_S = 14 * DAY  # PutMetricData accepts timestamps up to two weeks old ...
FUTURE_LIMIT_S = 2 * HOUR  # ... and up to two hours ahead
VALUE_LIMIT = 2.0**360  # "Values must be in the range of -2^360 to 2^360"
UNITS = frozenset(
    "Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits "
    "Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second "
    "Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second "
    "Megabits/Second Gigabits/Second Terabits/Second Count/Second None".split()
)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer", "custom")
_NUM = r"(\d{1,3}(?:\.\d{1,10})?)"
_PCT_STAT = re.compile(rf"^p{_NUM}$")
_SHORT_STAT = re.compile(rf"^(tm|wm|tc|ts){_NUM}$")
_RANGE_STAT = re.compile(rf"^(tm|wm|tc|ts)\(({_NUM[1:-1]})?%?:({_NUM[1:-1]})?%?\)$")

DimKey = tuple[tuple[str, str], ...]
MetricKey = tuple[str, str, DimKey]
Series = list[tuple[float, float]]


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def missing(name: str) -> AwsError:
    return AwsError("MissingParameter", f"The parameter {name} is required.")


def combination(message: str) -> AwsError:
    return AwsError("InvalidParameterCombination", message)


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def _number(v: Any, where: str) -> float:
    """A datapoint value: finite, within +-2^360 (and not a denormal speck below 2^-260)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise invalid(f"The value {v!r} for parameter {where} is invalid.")
    f = float(v)
    if math.isnan(f) or math.isinf(f) or abs(f) > VALUE_LIMIT or (f != 0 and abs(f) < 2.0**-260):
        raise invalid(f"The value {_fmt(f)} for parameter {where} is invalid.")
    return f


def _dims(raw: Any, where: str) -> DimKey:
    dims = raw or []
    if len(dims) > MAX_DIMENSIONS:
        raise invalid(f"The collection {where} must not have a size greater than {MAX_DIMENSIONS}.")
    out: dict[str, str] = {}
    for j, d in enumerate(dims, 1):
        name, value = d.get("Name"), d.get("Value")
        if not name:
            raise missing(f"{where}.member.{j}.Name")
        if value is None or value == "":
            raise missing(f"{where}.member.{j}.Value")
        if len(name) > 255 or len(value) > 1024:
            raise invalid(f"The value {value} for parameter {where}.member.{j}.Value is invalid.")
        if name in out:
            raise invalid(
                f"The value {name} for parameter {where}.member.{j}.Name is invalid: "
                "a dimension name may appear only once."
            )
        out[name] = value
    return tuple(sorted(out.items()))


def _dims_doc(dims: DimKey) -> list[dict[str, str]]:
    return [{"Name": n, "Value": v} for n, v in dims]


# ---------------------------------------------------------------------- statistics
@dataclass
class Bucket:
    """One period of one metric: the statistic set, and raw values when they exist."""

    n: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    raw: bool = True
    unit: str | None = None
    values: list[bytes] | None = None

    def add(self, n: float, total: float, low: float, high: float, raw: int, unit: str) -> None:
        self.n += n
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        self.raw = self.raw and bool(raw)
        self.unit = unit if self.unit in (None, unit) else "None"

    def stat(self, name: str) -> float | None:
        """``name`` (a statistic or an extended statistic) of this period, None when
        it cannot be computed (percentiles of statistic sets, a trimmed mean of nothing)."""
        if name == "SampleCount":
            return self.n
        if name == "Sum":
            return self.total
        if name == "Minimum":
            return self.low
        if name == "Maximum":
            return self.high
        if name == "Average":
            return self.total / self.n if self.n else None
        if not self.raw or not self.values:
            return None
        return extended(name, self.values)


def parse_extended(stat: str) -> tuple[str, float, float] | None:
    """``(kind, lower %, upper %)`` of an extended statistic, None if it is not one.
    ``p99`` -> ("p", 99, 99); ``tm90`` -> ("tm", 0, 90); ``tm(10%:90%)``; ``IQM``."""
    if stat == "IQM":
        return ("tm", 25.0, 75.0)
    m = _PCT_STAT.match(stat)
    if m:
        p = float(m.group(1))
        return ("p", p, p) if p <= 100 else None
    m = _SHORT_STAT.match(stat)
    if m:
        p = float(m.group(2))
        return (m.group(1), 0.0, p) if p <= 100 else None
    m = _RANGE_STAT.match(stat)
    if m:
        lo = float(m.group(2)) if m.group(2) else 0.0
        hi = float(m.group(3)) if m.group(3) else 100.0
        return (m.group(1), lo, hi) if 0 <= lo < hi <= 100 else None
    return None


def is_statistic(stat: str) -> bool:
    return stat in STATISTICS or parse_extended(stat) is not None


def extended(stat: str, blobs: list[bytes]) -> float | None:
    """An extended statistic over raw values (float64 value/count pairs).

    Percentiles use the nearest rank: pN is the smallest value with at least N% of the
    samples at or below it. tm/tc/ts/wm weigh each sample by how much of it lies inside the
    (lower%, upper%] rank window (user guide, "Statistics definitions").
    """
    import numpy as np

    parsed = parse_extended(stat)
    if parsed is None:
        return None
    kind, lo_p, hi_p = parsed
    pairs = np.frombuffer(b"".join(blobs), dtype="<f8").reshape(-1, 2)
    order = np.argsort(pairs[:, 0], kind="stable")
    v, c = pairs[order, 0], pairs[order, 1]
    cum = np.cumsum(c)
    total = float(cum[-1]) if len(cum) else 0.0
    if total <= 0:
        return None
    if kind == "p":
        rank = max(1e-9, math.ceil(lo_p / 100 * total - 1e-9))
        idx = int(np.searchsorted(cum, rank - 1e-9))
        return float(v[min(idx, len(v) - 1)])
    lo, hi = lo_p / 100 * total, hi_p / 100 * total
    w = np.clip(np.minimum(cum, hi) - np.maximum(cum - c, lo), 0, None)
    inside = float(w.sum())
    if kind == "tc":
        return inside
    if kind == "ts":
        return float((w * v).sum())
    if kind == "tm":
        return float((w * v).sum()) / inside if inside > 0 else None
    # wm: samples below the window count as its lowest value, above it as its highest
    first = int(np.searchsorted(cum, lo + 1e-9))
    last = int(np.searchsorted(cum, hi - 1e-9))
    low_v, high_v = float(v[min(first, len(v) - 1)]), float(v[min(last, len(v) - 1)])
    return (float((w * v).sum()) + lo * low_v + (total - hi) * high_v) / total


def _pairs(values: list[float], counts: list[float]) -> bytes:
    flat = array("d")
    for value, count in zip(values, counts, strict=True):
        if count > 0:
            flat.append(value)
            flat.append(count)
    return flat.tobytes()


# ---------------------------------------------------------------------- paging tokens
def _token(offset: int, scope: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "s": scope}).encode()).decode()


def _offset(token: str | None, scope: str, err: Callable[[], AwsError]) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["s"] != scope or int(data["o"]) < 0:
            raise ValueError
        return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise err() from None


def _hash(obj: Any) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _valid_period(period: Any) -> bool:
    return (
        isinstance(period, int)
        and not isinstance(period, bool)
        and period > 0
        and (period in (1, 5, 10, 20, 30) or period % 60 == 0)
    )


def _available(age_s: float, period: int) -> bool:
    """Whether AWS still answers ``period``-wide datapoints for a StartTime ``age_s`` old."""
    if age_s <= 3 * HOUR:
        return True
    if age_s <= 15 * DAY:
        return period % 60 == 0
    if age_s <= 63 * DAY:
        return period % 300 == 0
    # Older than 455 days nothing is left (deleted), but a query may still start there.
    return period % 3600 == 0


def _round_start(start: float, now: float, period: int) -> int:
    """GetMetricStatistics/GetMetricData round StartTime down: to the period's division of a
    minute for periods under 60 s, else to the minute (15 days+: 5 minutes; 63 days+: hour)."""
    age = now - start
    step = 3600 if age > 63 * DAY else 300 if age > 15 * DAY else 60
    if period < 60:
        step = period
    return int(start // step * step)


# ---------------------------------------------------------------------- the service
class CloudWatch:
    """Metrics and dashboards of one emulator (one account; every region shares them)."""

    def __init__(
        self, path: Path, clock: Clock, fsync: bool = False, account: str = "123456789012"
    ) -> None:
        self.clock = clock
        self.account = account
        self.store = MetricStore(path, fsync=fsync)
        self.metrics: dict[MetricKey, int] = {}
        self.last_put: dict[int, float] = {}
        for mid, ns, name, dims, last in self.store.load_metrics():
            key = (ns, name, tuple((str(a), str(b)) for a, b in json.loads(dims)))
            self.metrics[key] = mid
            self.last_put[mid] = last
        self._next_id = max(self.metrics.values(), default=0) + 1
        self._expired_at = 0.0

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ PutMetricData
    def put_metric_data(
        self, namespace: Any, data: Any, internal: bool = False, size: int = 0
    ) -> None:
        """Store ``data`` (MetricDatum dicts) under ``namespace``; nothing is stored unless
        all of it is valid. ``internal`` is bdlab's own AWS/* publishers (Kinesis, Firehose):
        the AWS/ prefix is theirs, and their minutes are never outside the time window.
        ``size`` is the request's body size in bytes (1 MB at most)."""
        if size > MAX_BYTES:
            raise AwsError(
                "RequestEntityTooLarge",
                f"Request size {size} exceeded {MAX_BYTES} bytes",
                413,
            )
        if not namespace:
            raise missing("Namespace")
        if not isinstance(namespace, str) or len(namespace) > 255 or namespace.startswith(":"):
            raise invalid(f"The value {namespace} for parameter Namespace is invalid.")
        if namespace.startswith("AWS/") and not internal:
            raise invalid(
                f"The value {namespace} for parameter Namespace is invalid: "
                "namespaces starting with AWS/ are reserved for AWS services."
            )
        if not data:
            raise missing("MetricData")
        if len(data) > MAX_METRICS:
            raise invalid(
                f"The collection MetricData must not have a size greater than {MAX_METRICS}."
            )
        now = self.clock.now()
        cells: dict[tuple[int, int, str], list[float]] = {}
        vals: list[ValRow] = []
        new: list[tuple[int, str, str, str, float]] = []
        touched: list[tuple[float, int]] = []
        pending: dict[MetricKey, int] = {}
        for i, d in enumerate(data, 1):
            where = f"MetricData.member.{i}"
            name = d.get("MetricName")
            if not name:
                raise missing(f"{where}.MetricName")
            if len(name) > 255:
                raise invalid(f"The value {name} for parameter {where}.MetricName is invalid.")
            dims = _dims(d.get("Dimensions"), f"{where}.Dimensions")
            ts = d.get("Timestamp")
            ts = now if ts is None else float(ts)
            if not internal:
                if ts < now - PAST_LIMIT_S:
                    raise invalid(
                        f"The parameter {where}.Timestamp must specify a time no more than "
                        "two weeks in the past."
                    )
                if ts > now + FUTURE_LIMIT_S:
                    raise invalid(
                        f"The parameter {where}.Timestamp must specify a time no more than "
                        "two hours in the future."
                    )
            unit = d.get("Unit") or "None"
            if unit not in UNITS:
                raise invalid(f"The value {unit} for parameter {where}.Unit is invalid.")
            res = d.get("StorageResolution", 60)
            if res not in (1, 60) or isinstance(res, bool):
                raise invalid(
                    f"The value {res} for parameter {where}.StorageResolution is invalid."
                )
            stat, blob = self._datum(d, where)
            key = (namespace, name, dims)
            mid = self.metrics.get(key) or pending.get(key)
            if mid is None:
                mid = pending[key] = self._next_id + len(pending)
                new.append((mid, namespace, name, json.dumps(dims), now))
            elif now - self.last_put.get(mid, 0.0) > 60:
                # ListMetrics' RecentlyActive and two-week horizon need only minute precision.
                touched.append((now, mid))
            cell_ts = int(ts // res * res)
            acc = cells.get((mid, cell_ts, unit))
            if acc is None:
                cells[(mid, cell_ts, unit)] = list(stat)
            else:
                acc[0] += stat[0]
                acc[1] += stat[1]
                acc[2] = min(acc[2], stat[2])
                acc[3] = max(acc[3], stat[3])
                acc[4] = min(acc[4], stat[4])
            if blob:
                vals.append((mid, cell_ts, unit, blob))
        rows: list[CellRow] = [
            (mid, ts, unit, a[0], a[1], a[2], a[3], int(a[4]))
            for (mid, ts, unit), a in cells.items()
        ]
        self.store.write(new, touched, rows, vals)
        for key, mid in pending.items():
            self.metrics[key] = mid
        self._next_id += len(pending)
        for mid in pending.values():
            self.last_put[mid] = now
        for _, mid in touched:
            self.last_put[mid] = now
        if now - self._expired_at > HOUR:
            self._expired_at = now
            self.store.expire(int(now - RETENTION_S))

    @staticmethod
    def _datum(d: dict[str, Any], where: str) -> tuple[tuple[float, ...], bytes]:
        """((n, sum, min, max, raw), value/count pairs) of one MetricDatum."""
        value, values, stats = d.get("Value"), d.get("Values"), d.get("StatisticValues")
        if value is not None and stats is not None:
            raise combination(
                f"The parameters {where}.Value and {where}.StatisticValues are mutually "
                "exclusive and you have specified both."
            )
        if value is not None and values:
            raise combination(
                f"The parameters {where}.Value and {where}.Values are mutually exclusive "
                "and you have specified both."
            )
        if values and stats is not None:
            raise combination(
                f"The parameters {where}.Values and {where}.StatisticValues are mutually "
                "exclusive and you have specified both."
            )
        counts = d.get("Counts")
        if counts and not values:
            raise missing(f"{where}.Values")
        if value is not None:
            v = _number(value, f"{where}.Value")
            return (1.0, v, v, v, 1.0), struct.pack("<dd", v, 1.0)
        if values:
            if len(values) > MAX_VALUES:
                raise invalid(
                    f"The collection {where}.Values must not have a size greater than {MAX_VALUES}."
                )
            if counts and len(counts) != len(values):
                raise invalid(
                    f"The parameters {where}.Values and {where}.Counts must be of the same size."
                )
            vs = [_number(v, f"{where}.Values.member.{j}") for j, v in enumerate(values, 1)]
            cs = [1.0] * len(vs)
            if counts:
                cs = [_number(c, f"{where}.Counts.member.{j}") for j, c in enumerate(counts, 1)]
                if any(c < 0 for c in cs):
                    raise invalid(f"The value -1 for parameter {where}.Counts is invalid.")
            n = sum(cs)
            if n <= 0:
                raise invalid(f"The parameter {where}.Counts must contain a positive count.")
            live = [v for v, c in zip(vs, cs, strict=True) if c > 0]
            total = sum(v * c for v, c in zip(vs, cs, strict=True))
            return (n, total, min(live), max(live), 1.0), _pairs(vs, cs)
        if stats is not None:
            parts = {}
            for k in ("SampleCount", "Sum", "Minimum", "Maximum"):
                if stats.get(k) is None:
                    raise missing(f"{where}.StatisticValues.{k}")
                parts[k] = _number(stats[k], f"{where}.StatisticValues.{k}")
            n, total, low, high = (
                parts["SampleCount"],
                parts["Sum"],
                parts["Minimum"],
                parts["Maximum"],
            )
            if n <= 0:
                raise invalid(
                    f"The value {_fmt(n)} for parameter {where}.StatisticValues.SampleCount "
                    "is invalid."
                )
            # Percentiles of a statistic set exist only when it is n copies of one value
            # (user guide, "Percentiles").
            if low == high and math.isclose(total, low * n, rel_tol=1e-12, abs_tol=1e-12):
                return (n, total, low, high, 1.0), struct.pack("<dd", low, n)
            return (n, total, low, high, 0.0), b""
        raise missing(f"{where}.Value")

    def put_internal(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """bdlab's own services publishing AWS/* metrics (StatisticValues per minute)."""
        for i in range(0, len(data), MAX_METRICS):
            self.put_metric_data(namespace, data[i : i + MAX_METRICS], internal=True)

    # ------------------------------------------------------------------ reading
    def _buckets(
        self, mid: int | None, start: int, end: int, period: int, unit: str | None, values: bool
    ) -> dict[int, Bucket]:
        """Period buckets of a metric over [start, end), keyed by their start time."""
        out: dict[int, Bucket] = {}
        if mid is None or end <= start or not _available(self.clock.now() - start, period):
            return out
        for b, u, n, total, low, high, raw in self.store.buckets(mid, start, end, period):
            if unit is not None and u != unit:
                continue
            out.setdefault(start + b * period, Bucket()).add(n, total, low, high, raw, u)
        if values and out:
            for ts, u, blob in self.store.values(mid, start, end):
                if unit is not None and u != unit:
                    continue
                bucket = out[start + (ts - start) // period * period]
                if bucket.values is None:
                    bucket.values = []
                bucket.values.append(blob)
        return out

    def _metric_id(self, namespace: str, name: str, dims: DimKey) -> int | None:
        return self.metrics.get((namespace, name, dims))

    def get_metric_statistics(self, p: dict[str, Any]) -> dict[str, Any]:
        """GetMetricStatistics: ``{"Label", "Datapoints": [{"Timestamp", stats..., "Unit",
        "ExtendedStatistics"?}]}``, datapoints in time order."""
        for name in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
            if p.get(name) is None:
                raise missing(name)
        stats, ext = p.get("Statistics") or [], p.get("ExtendedStatistics") or []
        if bool(stats) == bool(ext):
            raise combination("Must specify either Statistics or ExtendedStatistics, but not both.")
        for j, s in enumerate(stats, 1):
            if s not in STATISTICS:
                raise invalid(f"The value {s} for parameter Statistics.member.{j} is invalid.")
        if len(stats) > 5:
            raise invalid("The collection Statistics must not have a size greater than 5.")
        if len(ext) > 10:
            raise invalid("The collection ExtendedStatistics must not have a size greater than 10.")
        for j, s in enumerate(ext, 1):
            if parse_extended(s) is None:
                raise invalid(
                    f"The value {s} for parameter ExtendedStatistics.member.{j} is invalid."
                )
        period = p["Period"]
        if not _valid_period(period):
            raise invalid(
                f"The parameter Period must be 1, 5, 10, 20, 30, 60 or a multiple of 60 "
                f"(got {period})."
            )
        unit = p.get("Unit")
        if unit is not None and unit not in UNITS:
            raise invalid(f"The value {unit} for parameter Unit is invalid.")
        dims = _dims(p.get("Dimensions"), "Dimensions")
        now = self.clock.now()
        start = _round_start(float(p["StartTime"]), now, period)
        end = float(p["EndTime"])
        if end <= start:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        # Counted from the StartTime asked for (before rounding): a day of minutes is 1,440.
        wanted = math.ceil((end - float(p["StartTime"])) / period)
        if wanted > MAX_DATAPOINTS:
            raise combination(
                f"You have requested up to {wanted} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing "
                "Period, or decreasing the time range."
            )
        mid = self._metric_id(p["Namespace"], p["MetricName"], dims)
        buckets = self._buckets(mid, start, math.ceil(end), period, unit, bool(ext))
        points = []
        for ts in sorted(buckets):
            b = buckets[ts]
            point: dict[str, Any] = {"Timestamp": float(ts), "Unit": unit or b.unit or "None"}
            for s in stats:
                v = b.stat(s)
                if v is not None:
                    point[s] = v
            if ext:
                point["ExtendedStatistics"] = {s: v for s in ext if (v := b.stat(s)) is not None}
            points.append(point)
        return {"Label": p["MetricName"], "Datapoints": points}

    def get_metric_data(self, p: dict[str, Any]) -> dict[str, Any]:
        """GetMetricData: ``{"MetricDataResults": [{"Id", "Label", "Timestamps", "Values",
        "StatusCode", "Messages"}], "NextToken"?, "Messages": []}``. Expression queries go to
        ``sim.emulator.providers.cloudwatch.metricmath.evaluate_expression``; a page holds at
        most MaxDatapoints values over all queries, PartialData marks a query that goes on."""
        queries = p.get("MetricDataQueries")
        if not queries:
            raise missing("MetricDataQueries")
        for name in ("StartTime", "EndTime"):
            if p.get(name) is None:
                raise missing(name)
        if len(queries) > 500:
            raise validation(
                "The collection MetricDataQueries must not have a size greater than 500."
            )
        scan = p.get("ScanBy") or "TimestampDescending"
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise validation(f"The value {scan} for parameter ScanBy is invalid.")
        limit = p.get("MaxDatapoints", MAX_GMD_DATAPOINTS)
        if not isinstance(limit, int) or limit < 1:
            raise validation(f"The value {limit} for parameter MaxDatapoints is invalid.")
        now = self.clock.now()
        start_raw, end = float(p["StartTime"]), float(p["EndTime"])
        if end <= start_raw:
            raise validation("The parameter StartTime must be less than the parameter EndTime.")
        seen: set[str] = set()
        for j, q in enumerate(queries, 1):
            where = f"MetricDataQueries.member.{j}"
            qid = q.get("Id")
            if not qid:
                raise missing(f"{where}.Id")
            if not _ID.match(qid) or len(qid) > 255:
                raise validation(
                    f"Invalid metric data query Id {qid!r} ({where}.Id): it must start with a "
                    "lowercase letter and hold only letters, digits and underscores."
                )
            if qid in seen:
                raise validation(
                    f"The value {qid} for parameter {where}.Id is used more than once."
                )
            seen.add(qid)
            if (q.get("MetricStat") is None) == (q.get("Expression") is None):
                raise validation(
                    f"Exactly one element of {where}.MetricStat and {where}.Expression "
                    "must be specified."
                )
            ms = q.get("MetricStat")
            if ms is not None:
                for name in ("Metric", "Period", "Stat"):
                    if ms.get(name) is None:
                        raise missing(f"{where}.MetricStat.{name}")
                if not _valid_period(ms["Period"]):
                    raise validation(
                        f"The value {ms['Period']} for parameter {where}.MetricStat.Period is "
                        "invalid: use 1, 5, 10, 20, 30, 60 or a multiple of 60."
                    )
                if not is_statistic(ms["Stat"]):
                    raise validation(
                        f"The value {ms['Stat']} for parameter {where}.MetricStat.Stat is invalid."
                    )
                metric = ms["Metric"]
                if not metric.get("Namespace") or not metric.get("MetricName"):
                    raise missing(f"{where}.MetricStat.Metric.MetricName")
            elif q.get("Period") is not None and not _valid_period(q["Period"]):
                raise validation(
                    f"The value {q['Period']} for parameter {where}.Period is invalid."
                )
        if not any(q.get("ReturnData", True) for q in queries):
            raise validation("At least one MetricDataQuery must have ReturnData set to true.")
        scope = _hash([queries, start_raw, end, scan])
        offset = _offset(
            p.get("NextToken"),
            scope,
            lambda: AwsError("InvalidNextToken", "The service cannot process the NextToken."),
        )
        series: dict[str, Series] = {}
        metric_ids: list[str] = []
        results: list[dict[str, Any]] = []
        periods = [q["MetricStat"]["Period"] for q in queries if q.get("MetricStat")]
        for q in queries:
            ms = q.get("MetricStat")
            if ms is not None:
                period = ms["Period"]
                metric = ms["Metric"]
                dims = _dims(metric.get("Dimensions"), "Dimensions")
                start = _round_start(start_raw, now, period)
                stat = ms["Stat"]
                buckets = self._buckets(
                    self._metric_id(metric["Namespace"], metric["MetricName"], dims),
                    start,
                    math.ceil(end),
                    period,
                    ms.get("Unit"),
                    stat not in STATISTICS,
                )
                points: Series = []
                for ts in sorted(buckets):
                    v = buckets[ts].stat(stat)
                    if v is not None:
                        points.append((float(ts), v))
                label = q.get("Label") or metric["MetricName"]
            else:
                period = q.get("Period") or min(periods, default=60)
                found = self._expression_results(q, series, metric_ids, period, start_raw, end)
                if len(found) == 1:
                    series[q["Id"]] = found[0][1]
                if q.get("ReturnData", True):
                    # an expression returning several series answers one result per series,
                    # all with the expression's Id, told apart by their labels
                    results.extend({"Id": q["Id"], "Label": lb, "points": pts} for lb, pts in found)
                continue
            series[q["Id"]] = points
            metric_ids.append(q["Id"])
            if q.get("ReturnData", True):
                results.append({"Id": q["Id"], "Label": label, "points": points})
        # Pages cut the concatenation of all results (each in ScanBy order) at MaxDatapoints.
        out = []
        pos, page_end = 0, offset + limit
        for r in results:
            pts = r.pop("points")
            if scan == "TimestampDescending":
                pts = pts[::-1]
            lo, hi = max(offset - pos, 0), max(min(page_end - pos, len(pts)), 0)
            part = pts[lo:hi] if lo < len(pts) else []
            more = pos + len(pts) > page_end
            pos += len(pts)
            out.append(
                {
                    **r,
                    "Timestamps": [t for t, _ in part],
                    "Values": [v for _, v in part],
                    "StatusCode": "PartialData" if more else "Complete",
                    "Messages": [],
                }
            )
        answer: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
        if pos > page_end:
            answer["NextToken"] = _token(page_end, scope)
        return answer

    def _expression_results(
        self,
        q: dict[str, Any],
        series: dict[str, Series],
        metric_ids: list[str],
        period: int,
        start: float,
        end: float,
    ) -> list[tuple[str, Series]]:
        """[(label, points)] of every series expression ``q`` returns. A single series is
        labelled with the query's Label or Id; with several (METRICS(), SEARCH()), each has its
        metric's label, after the query's Label when there is one. SEARCH strings are resolved
        here (:meth:`_search`) and the expression evaluated again with their results."""
        from sim.emulator.providers.cloudwatch import metricmath

        data: dict[str, Series] = dict(series)
        labels: dict[str, str] = {}
        resolved: dict[str, list[str]] = {}
        while True:
            try:
                out = metricmath.evaluate(
                    q["Expression"],
                    data,
                    period,
                    query_id=q["Id"],
                    metric_ids=list(metric_ids),
                    labels=labels,
                    start=start,
                    end=end,
                    search_results=resolved,
                )
                break
            except metricmath.NeedsSearch as need:
                resolved[need.search] = self._search(
                    need, q["Id"], len(resolved), data, labels, period, start, end
                )
            except metricmath.MetricMathError as exc:
                raise validation(exc.message) from None
            except (ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
                raise validation(f"Error in expression {q['Expression']!r}: {exc}") from None
        if len(out) == 1 and not resolved:
            return [(q.get("Label") or q["Id"], [(float(t), float(v)) for t, v in out[0].points])]
        prefix = q.get("Label")
        return [
            (
                f"{prefix} {s.label}" if prefix and s.label else (s.label or prefix or q["Id"]),
                [(float(t), float(v)) for t, v in s.points],
            )
            for s in out
        ]

    def _search(
        self,
        need: Any,
        qid: str,
        n: int,
        data: dict[str, Series],
        labels: dict[str, str],
        period: int,
        start: float,
        end: float,
    ) -> list[str]:
        """Resolve one ``SEARCH(search, stat, period)``: the metrics with a datapoint in the
        last two weeks that match (search.py), at most search.MAX_RESULTS in name order, each
        put into ``data``/``labels`` under an Id no query can have; returns those Ids.
        ValidationError for a bad search string, statistic or period."""
        from sim.emulator.providers.cloudwatch import search

        stat = need.stat or "Average"
        if not is_statistic(stat):
            raise validation(f"Error in expression '{qid}': Invalid statistic '{stat}' in SEARCH")
        period = need.period or period
        if not _valid_period(period):
            raise validation(f"Error in expression '{qid}': Invalid period {period} in SEARCH")
        try:
            query = search.parse(need.search)
        except search.SearchError as exc:
            raise validation(
                f"Error in expression '{qid}': Invalid search expression '{need.search}': {exc}"
            ) from None
        now = self.clock.now()
        found = sorted(
            (key, mid)
            for key, mid in self.metrics.items()
            if self.last_put.get(mid, 0.0) >= now - PAST_LIMIT_S and query.matches(*key)
        )[: search.MAX_RESULTS]
        begin = _round_start(start, now, period)
        ids = []
        for j, ((_ns, name, dims), mid) in enumerate(found):
            buckets = self._buckets(
                mid, begin, math.ceil(end), period, None, stat not in STATISTICS
            )
            points: Series = []
            for ts in sorted(buckets):
                v = buckets[ts].stat(stat)
                if v is not None:
                    points.append((float(ts), v))
            sid = f"{qid}#search{n}.{j}"  # '#' is not allowed in a query Id
            data[sid] = points
            labels[sid] = search.label(name, dims, query.dimensions)
            ids.append(sid)
        return ids

    def list_metrics(self, p: dict[str, Any]) -> dict[str, Any]:
        """ListMetrics: metrics with a datapoint put in the last two weeks (three hours with
        RecentlyActive=PT3H), filtered by namespace, name and dimensions (a filter without a
        Value matches any value; a metric may have more dimensions than the filters name);
        500 a page."""
        ns, name = p.get("Namespace"), p.get("MetricName")
        filters = p.get("Dimensions") or []
        if len(filters) > 10:
            raise invalid("The collection Dimensions must not have a size greater than 10.")
        recent = p.get("RecentlyActive")
        if recent is not None and recent != "PT3H":
            raise invalid(f"The value {recent} for parameter RecentlyActive is invalid.")
        for j, f in enumerate(filters, 1):
            if not f.get("Name"):
                raise missing(f"Dimensions.member.{j}.Name")
        now = self.clock.now()
        horizon = now - (3 * HOUR if recent else PAST_LIMIT_S)
        found = []
        for (m_ns, m_name, dims), mid in self.metrics.items():
            if ns is not None and m_ns != ns or name is not None and m_name != name:
                continue
            if self.last_put.get(mid, 0.0) < horizon:
                continue
            have = dict(dims)
            if all(
                f["Name"] in have and (f.get("Value") is None or have[f["Name"]] == f["Value"])
                for f in filters
            ):
                found.append((m_ns, m_name, dims))
        found.sort()
        scope = _hash([ns, name, filters, recent])
        offset = _offset(
            p.get("NextToken"),
            scope,
            lambda: invalid("Request parameter NextToken is invalid"),
        )
        page = found[offset : offset + LIST_PAGE]
        answer: dict[str, Any] = {
            "Metrics": [
                {"Namespace": a, "MetricName": b, "Dimensions": _dims_doc(c)} for a, b, c in page
            ]
        }
        if offset + LIST_PAGE < len(found):
            answer["NextToken"] = _token(offset + LIST_PAGE, scope)
        return answer

    # ------------------------------------------------------------------ dashboards
    def _arn(self, name: str) -> str:
        return f"arn:aws:cloudwatch::{self.account}:dashboard/{name}"

    @staticmethod
    def _check_name(name: Any) -> str:
        if not name:
            raise missing("DashboardName")
        if not isinstance(name, str) or not _DASHBOARD_NAME.match(name):
            raise AwsError(
                "InvalidParameterInput",
                "The value for field DashboardName contains invalid characters. It can only "
                "contain alphanumerics, dash (-) and underscore (_).",
            )
        return name

    def put_dashboard(self, p: dict[str, Any]) -> dict[str, Any]:
        """PutDashboard: the body is stored as sent (as the console stores it) once it is a
        JSON object with a ``widgets`` array of well-formed widgets; otherwise
        ``InvalidParameterInput`` listing each problem (dataPath, message) as AWS does."""
        name = self._check_name(p.get("DashboardName"))
        body = p.get("DashboardBody")
        if body is None:
            raise missing("DashboardBody")
        try:
            doc = json.loads(body)
        except (ValueError, TypeError):
            doc = None
        if not isinstance(doc, dict):
            raise AwsError(
                "InvalidParameterInput", "The field DashboardBody must be a valid JSON object"
            )
        problems = dashboard_problems(doc)
        if problems:
            raise AwsError(
                "InvalidParameterInput",
                f"The dashboard body is invalid, there are {len(problems)} validation errors:\n"
                + json.dumps([{"dataPath": d, "message": m} for d, m in problems], indent=2),
                dashboardValidationMessages=[{"DataPath": d, "Message": m} for d, m in problems],
            )
        self.store.put_dashboard(name, body, self.clock.now())
        return {"DashboardValidationMessages": []}

    def get_dashboard(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("DashboardName")
        if not name:
            raise missing("DashboardName")
        found = self.store.dashboard(name)
        if found is None:
            raise AwsError("ResourceNotFound", f"Dashboard {name} does not exist", 404)
        return {"DashboardArn": self._arn(name), "DashboardBody": found[0], "DashboardName": name}

    def list_dashboards(self, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("DashboardNamePrefix") or ""
        rows = self.store.dashboards(prefix)
        scope = _hash(["dashboards", prefix])
        offset = _offset(
            p.get("NextToken"), scope, lambda: invalid("Request parameter NextToken is invalid")
        )
        answer: dict[str, Any] = {
            "DashboardEntries": [
                {
                    "DashboardName": n,
                    "DashboardArn": self._arn(n),
                    "LastModified": modified,
                    "Size": size,
                }
                for n, size, modified in rows[offset : offset + DASHBOARD_PAGE]
            ]
        }
        if offset + DASHBOARD_PAGE < len(rows):
            answer["NextToken"] = _token(offset + DASHBOARD_PAGE, scope)
        return answer

    def delete_dashboards(self, p: dict[str, Any]) -> dict[str, Any]:
        """DeleteDashboards: all or nothing; ResourceNotFound names the missing ones."""
        names = p.get("DashboardNames") or []
        if not names:
            raise missing("DashboardNames")
        absent = [n for n in names if self.store.dashboard(n) is None]
        if absent:
            raise AwsError(
                "ResourceNotFound",
                f"The specified dashboard does not exist. [{', '.join(absent)}]",
                404,
            )
        self.store.delete_dashboards(list(names))
        return {}


def dashboard_problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(dataPath, message) for each way ``doc`` breaks the dashboard body structure
    (CloudWatch API Reference, "Dashboard Body Structure and Syntax")."""
    widgets = doc.get("widgets")
    if widgets is None:
        return [("", "Should have required property 'widgets'")]
    if not isinstance(widgets, list):
        return [("/widgets", "Should be array")]
    out: list[tuple[str, str]] = []
    for i, w in enumerate(widgets):
        path = f"/widgets/{i}"
        if not isinstance(w, dict):
            out.append((path, "Should be object"))
            continue
        kind = w.get("type")
        if kind is None:
            out.append((path, "Should have required property 'type'"))
        elif kind not in _WIDGET_TYPES:
            out.append(
                (
                    f"{path}/type",
                    f"Should be equal to one of the allowed values {list(_WIDGET_TYPES)}",
                )
            )
        for dim, lo, hi in (("x", 0, 23), ("y", 0, None), ("width", 1, 24), ("height", 1, 1000)):
            if dim in w:
                v = w[dim]
                if isinstance(v, bool) or not isinstance(v, int):
                    out.append((f"{path}/{dim}", "Should be integer"))
                elif v < lo or (hi is not None and v > hi):
                    bound = f"<= {hi}" if hi is not None and v > hi else f">= {lo}"
                    out.append((f"{path}/{dim}", f"Should be {bound}"))
        props = w.get("properties")
        if props is None:
            out.append((path, "Should have required property 'properties'"))
            continue
        if not isinstance(props, dict):
            out.append((f"{path}/properties", "Should be object"))
            continue
        if kind == "metric" and not any(k in props for k in ("metrics", "query", "annotations")):
            out.append((f"{path}/properties", "Should have required property 'metrics'"))
        if kind == "metric" and "metrics" in props and not isinstance(props["metrics"], list):
            out.append((f"{path}/properties/metrics", "Should be array"))
        if kind == "text" and "markdown" not in props:
            out.append((f"{path}/properties", "Should have required property 'markdown'"))
        if kind == "alarm" and "alarms" not in props:
            out.append((f"{path}/properties", "Should have required property 'alarms'"))
        if kind == "log" and "query" not in props:
            out.append((f"{path}/properties", "Should have required property 'query'"))
    return out
