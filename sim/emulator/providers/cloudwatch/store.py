"""Durability of CloudWatch metrics, dashboards and alarms: one SQLite database (WAL) per emulator.

Tables::

    metrics(id, namespace, name, dims, last_put)   one row per metric (dims: sorted JSON pairs)
    cells(mid, ts, unit, n, sum, min, max, raw)     statistic sets per metric, second or minute
    vals(mid, ts, unit, data)                       raw values (float64 value/count pairs) for
                                                    percentiles, one row per PutMetricData datum
    dashboards(name, body, modified)
    alarms(name, doc)                               one JSON document per alarm: its
                                                    configuration, state and last evaluation
    alarm_history(id, name, alarm_type, item_type,  DescribeAlarmHistory's items, in the order
                  ts, summary, data)                they happened (kept after a delete, as AWS)

A cell is keyed by its metric, its start (epoch seconds, floored to 1 s for high-resolution
data and to 60 s for standard data) and its unit, and is upserted with SQL arithmetic, so a
put never reads before it writes and a query over a day of one metric reads at most 86,400
rows whatever the number of datapoints. ``raw`` is 0 when a statistic set that cannot be
expanded into values went into the cell (no percentiles there, as AWS documents).

Every put is one transaction committed before the gateway answers: with WAL, a committed
transaction survives ``kill -9`` of the process (``synchronous=NORMAL``); ``fsync=True``
(``synchronous=FULL``) also survives a power cut.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

CellRow = tuple[int, int, str, float, float, float, float, int]
ValRow = tuple[int, int, str, bytes]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics(
    id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL, dims TEXT NOT NULL,
    last_put REAL NOT NULL, UNIQUE(namespace, name, dims));
CREATE TABLE IF NOT EXISTS cells(
    mid INTEGER NOT NULL, ts INTEGER NOT NULL, unit TEXT NOT NULL,
    n REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, raw INTEGER NOT NULL,
    PRIMARY KEY(mid, ts, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vals(mid INTEGER NOT NULL, ts INTEGER NOT NULL, unit TEXT NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS vals_by_time ON vals(mid, ts);
CREATE TABLE IF NOT EXISTS dashboards(name TEXT PRIMARY KEY, body TEXT NOT NULL,
    modified REAL NOT NULL);
CREATE TABLE IF NOT EXISTS alarms(name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_history(id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, alarm_type TEXT NOT NULL, item_type TEXT NOT NULL, ts REAL NOT NULL,
    summary TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alarm_history_by_time ON alarm_history(ts);
"""

# (alarm name, AlarmType, HistoryItemType, epoch s, HistorySummary, HistoryData)
HistoryRow = tuple[str, str, str, float, str, str]


class MetricStore:
    """The SQLite file behind :class:`~sim.emulator.providers.cloudwatch.model.CloudWatch`."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.executescript(_SCHEMA)

    # ------------------------------------------------------------------ metrics
    def load_metrics(self) -> Iterator[tuple[int, str, str, str, float]]:
        yield from self.db.execute("SELECT id, namespace, name, dims, last_put FROM metrics")

    def write(
        self,
        new_metrics: Iterable[tuple[int, str, str, str, float]],
        touched: Iterable[tuple[float, int]],
        cells: list[CellRow],
        vals: list[ValRow],
    ) -> None:
        """One PutMetricData: new metrics, last-put times, cells and values, atomically."""
        db = self.db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT INTO metrics VALUES(?,?,?,?,?)", new_metrics)
            db.executemany("UPDATE metrics SET last_put=? WHERE id=?", touched)
            db.executemany(
                "INSERT INTO cells VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(mid, ts, unit) DO UPDATE"
                " SET n=n+excluded.n, sum=sum+excluded.sum, min=min(min, excluded.min),"
                " max=max(max, excluded.max), raw=min(raw, excluded.raw)",
                cells,
            )
            if vals:
                db.executemany("INSERT INTO vals VALUES(?,?,?,?)", vals)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def buckets(
        self, mid: int, start: int, end: int, period: int
    ) -> list[tuple[int, str, float, float, float, float, int]]:
        """Cells of ``mid`` in [start, end) summed per period bucket and unit:
        ``(bucket index, unit, n, sum, min, max, raw)``; bucket i starts at start + i*period."""
        return self.db.execute(
            "SELECT (ts - ?1) / ?2 AS b, unit, sum(n), sum(sum), min(min), max(max), min(raw)"
            " FROM cells WHERE mid=?3 AND ts>=?1 AND ts<?4 GROUP BY b, unit",
            (start, period, mid, end),
        ).fetchall()

    def values(self, mid: int, start: int, end: int) -> list[tuple[int, str, bytes]]:
        """Raw value rows of ``mid`` in [start, end): ``(ts, unit, float64 pairs)``."""
        return self.db.execute(
            "SELECT ts, unit, data FROM vals WHERE mid=? AND ts>=? AND ts<?", (mid, start, end)
        ).fetchall()

    def expire(self, before: int) -> None:
        """Drop data older than ``before`` (CloudWatch keeps metrics 15 months)."""
        self.db.execute("DELETE FROM cells WHERE ts < ?", (before,))
        self.db.execute("DELETE FROM vals WHERE ts < ?", (before,))

    # ------------------------------------------------------------------ dashboards
    def put_dashboard(self, name: str, body: str, modified: float) -> None:
        self.db.execute(
            "INSERT INTO dashboards VALUES(?,?,?) ON CONFLICT(name) DO UPDATE"
            " SET body=excluded.body, modified=excluded.modified",
            (name, body, modified),
        )

    def dashboard(self, name: str) -> tuple[str, float] | None:
        row = self.db.execute(
            "SELECT body, modified FROM dashboards WHERE name=?", (name,)
        ).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def dashboards(self, prefix: str) -> list[tuple[str, int, float]]:
        """``(name, size in bytes, modified)`` of dashboards whose name starts with ``prefix``."""
        rows = self.db.execute(
            "SELECT name, length(CAST(body AS BLOB)), modified FROM dashboards"
            " WHERE substr(name, 1, ?) = ? ORDER BY name",
            (len(prefix), prefix),
        ).fetchall()
        return [(str(n), int(s), float(m)) for n, s, m in rows]

    def delete_dashboards(self, names: list[str]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("DELETE FROM dashboards WHERE name=?", [(n,) for n in names])
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ alarms
    def load_alarms(self) -> Iterator[tuple[str, str]]:
        """``(name, JSON document)`` of every alarm."""
        yield from self.db.execute("SELECT name, doc FROM alarms")

    def save_alarms(
        self,
        docs: Iterable[tuple[str, str]],
        history: Iterable[HistoryRow] = (),
        deleted: Iterable[str] = (),
    ) -> None:
        """Upsert ``(name, doc)`` alarms, delete ``deleted`` and append history rows, in one
        transaction committed before the caller answers (nothing acknowledged is lost)."""
        db = self.db
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM alarms WHERE name=?", [(n,) for n in deleted])
            db.executemany(
                "INSERT INTO alarms VALUES(?,?) ON CONFLICT(name) DO UPDATE SET doc=excluded.doc",
                docs,
            )
            db.executemany(
                "INSERT INTO alarm_history(name, alarm_type, item_type, ts, summary, data)"
                " VALUES(?,?,?,?,?,?)",
                history,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def history(
        self,
        name: str | None,
        alarm_types: list[str],
        item_type: str | None,
        start: float | None,
        end: float | None,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[HistoryRow]:
        """History rows matching the filters (``end`` exclusive), oldest or newest first,
        ``limit`` of them from ``offset``."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if name is not None:
            where.append("name=?")
            args.append(name)
        if alarm_types:
            where.append(f"alarm_type IN ({','.join('?' * len(alarm_types))})")
            args.extend(alarm_types)
        if item_type is not None:
            where.append("item_type=?")
            args.append(item_type)
        if start is not None:
            where.append("ts>=?")
            args.append(start)
        if end is not None:
            where.append("ts<?")
            args.append(end)
        order = "DESC" if descending else "ASC"
        rows = self.db.execute(
            "SELECT name, alarm_type, item_type, ts, summary, data FROM alarm_history WHERE "
            f"{' AND '.join(where)} ORDER BY ts {order}, id {order} LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [(str(a), str(b), str(c), float(d), str(e), str(f)) for a, b, c, d, e, f in rows]

    def expire_history(self, before: float) -> None:
        """Drop alarm history older than ``before`` (AWS keeps 30 days)."""
        self.db.execute("DELETE FROM alarm_history WHERE ts < ?", (before,))

    def stats(self) -> dict[str, Any]:
        return {
            "metrics": self.db.execute("SELECT count(*) FROM metrics").fetchone()[0],
            "cells": self.db.execute("SELECT count(*) FROM cells").fetchone()[0],
        }

    def close(self) -> None:
        self.db.close()
