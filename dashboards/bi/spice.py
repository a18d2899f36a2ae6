"""A SPICE-like store: every dataset's rows imported into one DuckDB database, so that the
visuals query it, not S3. A refresh reads the source (full, or incremental where the source
allows), runs the dataset's query on what it read and swaps the rows in atomically; a refresh
that fails keeps the previous rows (as QuickSight does) and records why.

In memory by default; with a ``path`` the database is a DuckDB file and each dataset's state
(rows, refresh times, history, incremental cursor) is kept beside its rows, so that a dashboard
started again shows its datasets at once, as SPICE keeps them between sessions, and its
schedules carry on from the last refresh. A dataset whose definition (source, query, bucket)
changed is imported again.

Thread-safe: Streamlit serves every browser session on its own thread; refreshes of one store
are serialised and queries use their own DuckDB cursor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from dashboards.bi import sources
from dashboards.bi.registry import Dataset, Registry
from dashboards.common.errors import SourceError, one_line
from sim import profiles


@dataclass
class State:
    """A dataset's SPICE state: ``rows``, ``bytes`` (its size as QuickSight counts SPICE
    capacity: 8 bytes a number or date, 8 plus the UTF-8 length a text), ``last_refresh``
    (emulator-clock epoch s of the last successful refresh), ``last_mode`` (full |
    incremental | unchanged), ``error`` (one line, from the last attempt; None when it
    worked), ``history`` (newest last: {"at", "mode", "rows", "seconds", "error", "note"})."""

    name: str
    rows: int = 0
    bytes: int = 0
    last_refresh: float | None = None
    last_attempt: float | None = None
    last_mode: str = ""
    error: str | None = None
    note: str = ""
    cursor: sources.Cursor | None = None
    columns: tuple[str, ...] = ()
    types: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tried(self) -> bool:
        """An import has run to its end (with rows or with an error) at least once."""
        return bool(self.history)

    @property
    def ready(self) -> bool:
        """The dataset has rows imported (possibly stale if ``error`` is set)."""
        return self.last_refresh is not None


class Spice:
    """The in-memory datasets of one dashboard.

    ``profile`` and ``bucket`` resolve the sources; ``clock`` gives "now" in epoch seconds
    (the emulator's clock: refresh times are in its time); ``path`` a DuckDB file to keep the
    datasets in (None: memory). A file another process holds open leaves this store in
    memory, and :attr:`storage` says so."""

    def __init__(
        self,
        registry: Registry,
        profile: profiles.Profile,
        bucket: str | None,
        clock: Callable[[], float] = time.time,
        path: Path | None = None,
    ) -> None:
        self.registry = registry
        self.profile = profile
        self.bucket = bucket
        self.clock = clock
        self.path: Path | None = None
        self.storage = "in memory (a restart imports again)"
        self._db = self._connect(path)
        # Timestamps are UTC everywhere in the lake; DuckDB would use the host's zone.
        self._db.execute("SET GLOBAL TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self.states = {d.name: State(d.name) for d in registry.datasets}
        if self.path is not None:
            self._restore()

    # ---------------------------------------------------------------- persistence
    def _connect(self, path: Path | None) -> Any:
        if path is None:
            return duckdb.connect(":memory:")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = duckdb.connect(str(path))
        except (duckdb.Error, OSError) as exc:  # held by another dashboard, unwritable, ...
            self.storage = (
                f"in memory: {path} cannot be opened ({one_line(exc)}); close the other "
                "dashboard on this bucket to keep the datasets between runs"
            )
            return duckdb.connect(":memory:")
        db.execute(
            "CREATE TABLE IF NOT EXISTS _bdlab_spice "
            "(name VARCHAR PRIMARY KEY, definition VARCHAR, state VARCHAR)"
        )
        self.path = path
        self.storage = f"kept in {path}"
        return db

    def _definition(self, ds: Dataset) -> str:
        """What the rows depend on: a changed source, query or bucket imports again."""
        key = json.dumps([dataclasses.asdict(ds.source), ds.query, self.bucket], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()

    def _restore(self) -> None:
        cur = self._db.cursor()
        tables = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for name, definition, state in cur.execute(
            "SELECT name, definition, state FROM _bdlab_spice"
        ).fetchall():
            ds = self.registry[name] if name in self.registry else None
            if ds is None or definition != self._definition(ds) or name not in tables:
                continue  # imported again by the first pass
            saved = json.loads(state)
            cursor = saved.pop("cursor", None)
            st = State(**{k: v for k, v in saved.items() if k in _SAVED})
            st.columns = tuple(st.columns)
            st.cursor = sources.Cursor(**cursor) if cursor else None
            if st.cursor is not None:
                st.cursor.partition_by = tuple(st.cursor.partition_by)
            # the count, not the saved one: a kill between the rows and the state
            st.rows = _count(cur, f"SELECT count(*) FROM {_ident(name)}", [])
            self.states[name] = st

    def _save(self, st: State) -> None:
        if self.path is None:
            return
        saved = {k: getattr(st, k) for k in _SAVED}
        saved["cursor"] = dataclasses.asdict(st.cursor) if st.cursor else None
        self._db.cursor().execute(
            "INSERT OR REPLACE INTO _bdlab_spice VALUES (?, ?, ?)",
            [st.name, self._definition(self.registry[st.name]), json.dumps(saved)],
        )

    # ---------------------------------------------------------------- refresh
    def refresh(self, name: str, mode: str = "full", now: float | None = None) -> State:
        """Import dataset ``name`` again: ``mode`` full | incremental (falls back to full
        when the source cannot tell what changed, and says why in ``note``). Never raises
        for a source problem: the state's ``error`` says it and the previous rows stay.
        KeyError for an unknown dataset."""
        ds = self.registry[name]
        with self._lock:
            st = self.states[name]
            if now is None:
                try:
                    now = self.clock()
                except Exception as exc:  # AdminError: the emulator is down; one line
                    st.error, st.note = str(exc), ""
                    return st
            at = now
            st.last_attempt = at
            t0 = time.perf_counter()
            try:
                batch = sources.read(
                    ds.source,
                    self.bucket,
                    self.profile,
                    st.cursor,
                    incremental=(mode == "incremental" and st.ready),
                )
                self._apply(ds, st, batch)
            except SourceError as exc:
                st.error, st.note = str(exc), ""
            except Exception as exc:  # DuckDB, Arrow, or a bug: one line, the rows kept
                st.error, st.note = one_line(exc, f"dataset {name}"), ""
            else:
                st.error = None
                st.last_refresh = at
                st.last_mode = batch.mode
                st.note = batch.note
            st.history.append(
                {
                    "at": at,
                    "mode": st.last_mode if st.error is None else mode,
                    "rows": st.rows,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "error": st.error,
                    "note": st.note,
                }
            )
            del st.history[:-50]
            try:
                self._save(st)
            except duckdb.Error as exc:  # a full disk: the rows are in, only the state is not
                st.note = f"{st.note} (its state was not saved: {one_line(exc)})".strip()
            return st

    def _apply(self, ds: Dataset, st: State, batch: sources.Batch) -> None:
        if batch.mode == "unchanged" or (st.ready and batch.table.num_columns == 0):
            batch.mode = "unchanged"  # e.g. a Delta commit that changed no files
            st.cursor = batch.cursor
            return
        cur = self._db.cursor()
        cur.register("source", batch.table)
        try:
            # The query runs inside DuckDB straight into the table: no Arrow copy of its
            # result in between (a third of a 10M-row refresh).
            rel = cur.sql(ds.query)
            columns, types = tuple(rel.columns), [str(t) for t in rel.types]
            missing = [c for c in ds.required if c not in columns]
            if missing:
                raise SourceError(
                    f"dataset {ds.name}: the source has no column {', '.join(missing)} "
                    "(schema change?); it keeps its previous rows"
                )
            table = _ident(ds.name)
            if batch.mode == "full" or not st.ready:
                cur.execute(f"CREATE OR REPLACE TABLE {table} AS {ds.query}")
            else:
                if (columns, types) != (st.columns, st.types) and batch.table.num_rows:
                    raise SourceError(
                        f"dataset {ds.name}: schema change in the new data (columns "
                        f"{_schema(columns, types)}, was {_schema(st.columns, st.types)}); "
                        "it keeps its rows, a full refresh imports the new layout"
                    )
                self._merge(cur, ds, st, batch, table)
        finally:
            cur.unregister("source")
        st.columns, st.types = columns, types
        st.rows = _count(cur, f"SELECT count(*) FROM {table}", [])
        st.bytes = _spice_bytes(cur, table, columns, types)
        st.cursor = batch.cursor

    def _merge(self, cur: Any, ds: Dataset, st: State, batch: sources.Batch, table: str) -> None:
        """Incremental import in one transaction: the replaced partitions out, the new in."""
        cur.execute("BEGIN")
        try:
            if batch.replace is not None:
                col, values = batch.replace
                if col not in st.columns:
                    raise SourceError(
                        f"dataset {ds.name}: its query drops the partition column "
                        f"{col}, so only a full refresh can replace partitions"
                    )
                cur.execute(
                    f"DELETE FROM {table} WHERE list_contains(?, CAST({_ident(col)} AS VARCHAR))",
                    [values],
                )
            if batch.table.num_rows:
                cur.execute(f"INSERT INTO {table} {ds.query}")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    # ---------------------------------------------------------------- queries
    def ready(self, name: str) -> bool:
        """Whether dataset ``name`` exists in this registry and has rows imported."""
        st = self.states.get(name)
        return st is not None and st.ready

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run DuckDB ``sql`` over the datasets (tables named as the datasets) with ``params``
        for its ``?``; a pandas DataFrame. duckdb.Error for SQL that does not fit."""
        return self._db.cursor().execute(sql, params or []).df()

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """As :meth:`query`, as an Arrow table (no pandas conversion)."""
        return self._db.cursor().sql(sql, params=params or None).to_arrow_table()

    def close(self) -> None:
        self._db.close()


# The State fields a persistent store keeps (the cursor is kept as its own dict).
_SAVED = (
    "name",
    "rows",
    "bytes",
    "last_refresh",
    "last_attempt",
    "last_mode",
    "error",
    "note",
    "columns",
    "types",
    "history",
)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _schema(columns: tuple[str, ...], types: list[str]) -> str:
    return ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=False))


def _spice_bytes(cur: Any, table: str, columns: tuple[str, ...], types: list[str]) -> int:
    """The dataset's size as QuickSight counts SPICE capacity: 8 bytes a value for numbers,
    dates and booleans; 8 bytes plus the UTF-8 length for text."""
    text = [c for c, t in zip(columns, types, strict=True) if t == "VARCHAR"]
    rows = _count(cur, f"SELECT count(*) FROM {table}", [])
    if not text:
        return 8 * rows * len(columns)
    lengths = " + ".join(f"coalesce(sum(strlen({_ident(c)})), 0)" for c in text)
    return 8 * rows * len(columns) + _count(cur, f"SELECT {lengths} FROM {table}", [])


def _count(cur: Any, sql: str, params: list[Any]) -> int:
    row = cur.execute(sql, params).fetchone()
    return int(row[0]) if row else 0
