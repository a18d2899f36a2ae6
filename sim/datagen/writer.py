"""Chunked writing of generated datasets to a local directory or S3, as CSV, JSON or Parquet.

``write`` turns one generator call per chunk into files, so memory stays at about one chunk
whatever the total (a thousand rows or a hundred million):

- The period ``[start, start + days)`` is cut into chunks of whole days, or a day into several
  chunks when a day holds more than ``chunk_rows`` rows; a chunk never exceeds ``chunk_rows``.
  Chunk ``i`` is generated with its own seed, derived from ``(seed, i)`` by NumPy's
  SeedSequence (a one-chunk plan uses ``seed`` itself, so its file holds exactly
  ``generator_fn(rows, start, days, seed=seed)``). Generators that accept them also get
  ``id_offset``/``day_offset`` (ids stay unique across chunks), ``dim_seed`` (one product
  catalogue, one customer base) and ``dictionary`` (cheaper Parquet).
- Files are ``part-NNNNN.<ext>`` (NNNNN = chunk), optionally under Hive partitions
  ``dt=YYYY-MM-DD/`` from a timestamp or date column; local files appear atomically.
- One background thread generates the next chunk while this one is written (``prefetch``),
  which uses the second core; ``prefetch=0`` keeps strictly one chunk in memory.

Text encodings are vectorised too: CSV through pyarrow.csv with timestamps pre-rendered,
newline-delimited JSON assembled with Arrow string kernels (no per-row Python).
"""

from __future__ import annotations

import inspect
import json
import os
import queue
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.datagen.clickstream import DAY_US, midnight, time_text

FORMATS = ("csv", "json", "parquet")
PARQUET_CODECS = ("snappy", "zstd", "gzip", "lz4", "brotli", "none")
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
TEXT_SLICE_ROWS = 262_144  # text is built per slice: bounded temporaries, int32 offsets
Generator = Callable[..., pa.Table]
Transform = Callable[[pa.Table, int], pa.Table]


@dataclass(frozen=True)
class Chunk:
    index: int
    rows: int
    day0: int  # first day, counted from ``start``
    days: int
    id_offset: int  # rows generated before this chunk
    seed: int


def plan(rows: int, days: int, chunk_rows: int, seed: int) -> list[Chunk]:
    """Chunks of whole days (or parts of one day) with at most ``chunk_rows`` rows each."""
    if rows < 0 or days < 1 or chunk_rows < 1:
        raise ValueError("rows must be >= 0, days >= 1 and chunk_rows >= 1")
    if rows == 0:
        return []
    if rows <= chunk_rows:
        return [Chunk(0, rows, 0, days, 0, seed)]
    spans: list[tuple[int, int, int]] = []  # (day0, days, rows)
    if rows <= days * chunk_rows:
        # Fewest groups of consecutive days whose rows (pro rata) fit in a chunk.
        for groups in range(-(-rows // chunk_rows), days + 1):
            edges = (np.arange(groups + 1) * days) // groups
            if rows * int(np.diff(edges).max()) <= chunk_rows * days:
                break
        row_edges = (edges * rows + days // 2) // days
        for a, b, ra, rb in zip(edges[:-1], edges[1:], row_edges[:-1], row_edges[1:], strict=True):
            spans.append((int(a), int(b - a), int(rb - ra)))
    else:
        per_day = -(-rows // (days * chunk_rows))
        day_edges = (np.arange(days + 1) * rows) // days
        for d in range(days):
            n = int(day_edges[d + 1] - day_edges[d])
            part = (np.arange(per_day + 1) * n) // per_day
            spans += [(d, 1, int(part[k + 1] - part[k])) for k in range(per_day)]
    chunks, offset = [], 0
    for i, (day0, ndays, n) in enumerate(s for s in spans if s[2] > 0):
        chunks.append(Chunk(i, n, day0, ndays, offset, chunk_seed(seed, i)))
        offset += n
    return chunks


def chunk_seed(seed: int, index: int) -> int:
    """A seed for chunk ``index`` that no other (seed, index) pair is likely to share
    (``seed + index`` would make run 1's chunk 1 equal run 2's chunk 0)."""
    state = np.random.SeedSequence([seed & (2**63 - 1), index]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def write(
    generator_fn: Generator | str,
    rows: int,
    dest: str | Path,
    fmt: str = "parquet",
    chunk_rows: int = 1_000_000,
    partition_by: str | None = None,
    compression: str | None = None,
    seed: int = 42,
    s3_client: Any = None,
    *,
    start: datetime = DEFAULT_START,
    days: int = 7,
    gen_kwargs: dict[str, Any] | None = None,
    transform: Transform | None = None,
    partition_key: str = "dt",
    prefetch: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate ``rows`` rows with ``generator_fn`` (a function or a DATASETS name) in chunks
    and write them to ``dest`` (a directory or ``s3://bucket/prefix``) as ``fmt``.

    ``compression``: Parquet codec (default snappy) or ``gzip`` for csv/json (default none).
    ``partition_by``: a timestamp/date column -> ``<partition_key>=YYYY-MM-DD/`` directories
    (UTC dates). ``transform(table, chunk_seed)`` runs on each chunk before writing (e.g.
    faults.with_late_and_duplicates). S3 needs ``s3_client`` (from sim.clients).
    ``progress(rows_done, rows)`` is called after each chunk.

    Returns counts: rows (written, after ``transform``), generated_rows, files, bytes,
    seconds, chunks, rows_per_s, mb_per_s, partitions and paths.
    """
    fn = _resolve(generator_fn)
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    codec = _codec(fmt, compression)
    sink = _sink(dest, s3_client)
    chunks = plan(rows, days, chunk_rows, seed)
    extra = _chunk_kwargs(fn)
    base = midnight(start)
    settings: dict[str, Any] = {}
    result: dict[str, Any] = {"rows": 0, "generated_rows": 0, "files": 0, "bytes": 0}
    paths: list[str] = []
    partitions: set[str] = set()
    t0 = time.perf_counter()

    def produce(c: Chunk) -> pa.Table:
        kw = dict(gen_kwargs or {})
        for name, value in (
            ("id_offset", c.id_offset),
            ("day_offset", c.day0),
            ("dim_seed", seed if len(chunks) > 1 else None),
            ("dictionary", fmt == "parquet"),
        ):
            if name in extra and name not in kw:
                kw[name] = value
        table = fn(c.rows, base + timedelta(days=c.day0), c.days, seed=c.seed, **kw)
        return transform(table, c.seed) if transform is not None else table

    for c, table in _prefetched(chunks, produce, prefetch):
        result["generated_rows"] += c.rows
        result["rows"] += table.num_rows
        if not settings and fmt == "parquet":
            settings.update(_parquet_settings(table))
        for part, piece in _partitions(table, partition_by, partition_key):
            rel = (f"{partition_key}={part}/" if part is not None else "") + (
                f"part-{c.index:05d}.{_extension(fmt, codec)}"
            )
            if part is not None:
                partitions.add(part)
            if partition_by == partition_key:  # Hive: the directory holds the value
                piece = piece.drop_columns([partition_key])
            result["bytes"] += sink.put(rel, _encoder(piece, fmt, codec, settings))
            result["files"] += 1
            paths.append(sink.name(rel))
        del table
        if progress is not None:
            progress(result["generated_rows"], rows)
    seconds = time.perf_counter() - t0
    result.update(
        seconds=round(seconds, 4),
        chunks=len(chunks),
        rows_per_s=round(result["rows"] / seconds, 1) if seconds > 0 else None,
        mb_per_s=round(result["bytes"] / 1e6 / seconds, 2) if seconds > 0 else None,
        fmt=fmt,
        compression=codec,
        dest=str(dest),
        partitions=sorted(partitions),
        paths=paths,
    )
    return result


# --------------------------------------------------------------------------- plumbing
def _resolve(generator_fn: Generator | str) -> Generator:
    if callable(generator_fn):
        return generator_fn
    from sim.datagen import DATASETS

    try:
        return DATASETS[generator_fn]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset {generator_fn!r}; choose from {known}") from None


def _codec(fmt: str, compression: str | None) -> str:
    if fmt == "parquet":
        codec = (compression or "snappy").lower()
        if codec not in PARQUET_CODECS:
            raise ValueError(f"Parquet compression must be one of {', '.join(PARQUET_CODECS)}")
        return codec
    codec = (compression or "none").lower()
    if codec not in ("none", "gzip"):
        raise ValueError(f"{fmt} compression must be none or gzip, not {compression!r}")
    return codec


def _extension(fmt: str, codec: str) -> str:
    return fmt if fmt == "parquet" or codec == "none" else f"{fmt}.gz"


def _chunk_kwargs(fn: Generator) -> set[str]:
    """The chunking knobs ``fn`` declares by name (never forced through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return set()
    return {p for p in ("id_offset", "day_offset", "dim_seed", "dictionary") if p in params}


def _prefetched(
    chunks: list[Chunk], produce: Callable[[Chunk], pa.Table], prefetch: int
) -> Iterator[tuple[Chunk, pa.Table]]:
    """Yield (chunk, table), generating up to ``prefetch`` chunks ahead in one thread."""
    if prefetch <= 0 or len(chunks) <= 1:
        for c in chunks:
            yield c, produce(c)
        return
    q: queue.Queue[tuple[Chunk, pa.Table | BaseException]] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def run() -> None:
        for c in chunks:
            if stop.is_set():
                return
            try:
                item: pa.Table | BaseException = produce(c)
            except BaseException as exc:  # handed to the consumer, which re-raises
                item = exc
            while not stop.is_set():
                try:
                    q.put((c, item), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    worker = threading.Thread(target=run, name="datagen-prefetch", daemon=True)
    worker.start()
    try:
        for _ in chunks:
            c, item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield c, item
    finally:
        stop.set()
        worker.join(timeout=30)


def _partitions(
    table: pa.Table, column: str | None, key: str
) -> Iterator[tuple[str | None, pa.Table]]:
    """(``YYYY-MM-DD`` or None, rows of that UTC date)."""
    if column is None:
        yield None, table
        return
    if column not in table.column_names:
        raise ValueError(f"partition_by: no column {column!r} in {table.column_names}")
    col = table[column]
    if pa.types.is_timestamp(col.type):
        us = pc.cast(pc.cast(col, pa.timestamp("us", tz=col.type.tz)), pa.int64())
        day = np.floor_divide(us.to_numpy(), DAY_US)
    elif pa.types.is_date(col.type):
        day = pc.cast(pc.cast(col, pa.date32()), pa.int32()).to_numpy().astype(np.int64)
    else:
        raise ValueError(f"partition_by: {column!r} must be a timestamp or date, not {col.type}")
    if col.null_count:
        raise ValueError(f"partition_by: {column!r} has nulls")
    if len(day) == 0:
        return
    lo, hi = int(day.min()), int(day.max())
    if lo == hi:
        yield str(np.datetime64(lo, "D")), table
        return
    for d in np.unique(day):
        yield str(np.datetime64(int(d), "D")), table.filter(pa.array(day == d))


# ---- destinations
class _Local:
    def __init__(self, root: Path) -> None:
        self.root = root

    def name(self, rel: str) -> str:
        return str(self.root / rel)

    def put(self, rel: str, encode: Callable[[Any], None]) -> int:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with pa.OSFile(str(tmp), "wb") as f:
                encode(f)
            os.replace(tmp, path)  # readers never see half a file
        finally:
            tmp.unlink(missing_ok=True)
        return path.stat().st_size


class _S3:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def name(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{rel}"

    def put(self, rel: str, encode: Callable[[Any], None]) -> int:
        out = pa.BufferOutputStream()
        encode(out)
        body = out.getvalue().to_pybytes()
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + rel, Body=body)
        return len(body)


def _sink(dest: str | Path, s3_client: Any) -> _Local | _S3:
    text = str(dest)
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise ValueError(f"dest {text!r}: expected s3://bucket/prefix")
        if s3_client is None:
            raise ValueError(
                "writing to s3:// needs s3_client=...; build one with "
                "sim.clients.client('s3') (the project's only client factory)"
            )
        prefix = prefix.strip("/")
        return _S3(s3_client, bucket, prefix + "/" if prefix else "")
    if "://" in text:
        raise ValueError(f"dest {text!r}: use a local directory or s3://bucket/prefix")
    return _Local(Path(text))


# ---- encoders: each returns a function that writes the piece to a pyarrow output stream
def _encoder(
    table: pa.Table, fmt: str, codec: str, settings: dict[str, Any]
) -> Callable[[Any], None]:
    if fmt == "parquet":
        return lambda out: _write_parquet(table, out, codec, settings)
    pieces = _csv_pieces(table) if fmt == "csv" else ndjson(table)

    def encode(out: Any) -> None:
        z = zlib.compressobj(6, zlib.DEFLATED, 31) if codec == "gzip" else None
        for piece in pieces:
            out.write(z.compress(piece) if z is not None else piece)
        if z is not None:
            out.write(z.flush())

    return encode


def _parquet_settings(table: pa.Table) -> dict[str, Any]:
    """Dictionary encoding and statistics only where they pay, judged once on a sample of
    the first chunk so all files agree: id-like columns (mostly distinct values) get
    neither, which makes writing ~40% faster and the files no bigger."""
    sample = table.slice(0, 65_536)
    n = max(sample.num_rows, 1)
    dictionary, statistics, encoding = [], [], {}
    for name in table.column_names:
        typ = table.schema.field(name).type
        if pa.types.is_dictionary(typ):
            dictionary.append(name)
            statistics.append(name)
            continue
        distinct = pc.count_distinct(sample[name]).as_py() / n
        textual = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        if distinct <= 0.5:
            dictionary.append(name)
        if distinct <= 0.5 or not textual:
            statistics.append(name)
        if distinct > 0.5 and _sorted_integers(sample[name]):
            encoding[name] = "DELTA_BINARY_PACKED"  # event times: 2x smaller, faster
    has_dict = any(pa.types.is_dictionary(f.type) for f in table.schema)
    return {
        "use_dictionary": dictionary,
        "write_statistics": statistics,
        # Dictionary columns are our encoding choice, not the data's type: leave the Arrow
        # schema out so readers get plain strings, as the generator returns them by default.
        "store_schema": not has_dict,
        "column_encoding": encoding or None,
    }


def _sorted_integers(col: pa.ChunkedArray) -> bool:
    typ = col.type
    if not (pa.types.is_integer(typ) or pa.types.is_timestamp(typ)) or col.null_count:
        return False
    values = pc.cast(col, pa.int64()).to_numpy() if pa.types.is_timestamp(typ) else None
    if values is None:
        values = col.to_numpy()
    return len(values) > 1 and bool(np.all(values[1:] >= values[:-1]))


def _write_parquet(table: pa.Table, out: Any, codec: str, settings: dict[str, Any]) -> None:
    keep = set(table.column_names)
    kw = dict(settings)
    for key in ("use_dictionary", "write_statistics"):
        if key in kw:
            kw[key] = [c for c in kw[key] if c in keep]
    if kw.get("column_encoding"):
        kw["column_encoding"] = {c: e for c, e in kw["column_encoding"].items() if c in keep}
    pq.write_table(table, out, compression=codec, **kw)


def _text_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 text (Arrow's own formatting costs ~2 s per million)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            text = time_text(table.column(i), "iso")
            if field.type.tz is None:
                text = pc.utf8_slice_codeunits(text, 0, 26)  # naive: no "Z"
            table = table.set_column(i, field.name, text)
    return table


def _csv_pieces(table: pa.Table) -> Iterator[pa.Buffer]:
    for at in range(0, max(table.num_rows, 1), TEXT_SLICE_ROWS):
        piece = _text_ready(table.slice(at, TEXT_SLICE_ROWS))
        out = pa.BufferOutputStream()
        pacsv.write_csv(piece, out, pacsv.WriteOptions(include_header=at == 0))
        yield out.getvalue()


def ndjson(table: pa.Table) -> Iterator[pa.Buffer]:
    """Newline-delimited JSON for ``table``, slice by slice, built with Arrow kernels:
    each line is one binary_join of key literals and per-column JSON value texts."""
    for at in range(0, table.num_rows, TEXT_SLICE_ROWS):
        piece = table.slice(at, TEXT_SLICE_ROWS).combine_chunks()
        parts: list[Any] = []
        for i, name in enumerate(piece.column_names):
            col = piece.column(i).chunk(0) if piece.column(i).num_chunks else None
            if col is None:
                col = pa.array([], piece.schema.field(i).type)
            parts += [("{" if i == 0 else ",") + json.dumps(name) + ":", _json_values(col)]
        parts.append("}\n")
        lines = pc.binary_join_element_wise(*parts, "")
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
        data = lines.buffers()[2]
        yield data.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _json_values(col: pa.Array) -> pa.Array:
    """JSON text of every value (``null`` for nulls) as a string array."""
    typ = col.type
    if pa.types.is_dictionary(typ):  # render the few distinct values once
        text = pc.take(_json_values(col.dictionary), col.indices)
        return pc.fill_null(text, "null") if col.null_count else text
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        text = pc.binary_join_element_wise('"', _json_escape(col), '"', "")
    elif pa.types.is_boolean(typ) or pa.types.is_integer(typ) or pa.types.is_decimal(typ):
        text = pc.cast(col, pa.string())
    elif pa.types.is_floating(typ):
        finite = pc.is_finite(col)
        text = pc.cast(col, pa.string())
        if not pc.all(finite).as_py():  # JSON has no NaN/Infinity
            text = pc.if_else(finite, text, pa.scalar(None, pa.string()))
    elif pa.types.is_timestamp(typ):
        text = _text_ready(pa.table({"t": col})).column(0).combine_chunks()
        text = pc.binary_join_element_wise('"', text, '"', "")
    elif pa.types.is_date(typ):
        text = pc.binary_join_element_wise('"', pc.cast(col, pa.string()), '"', "")
    else:  # nested or binary types: rare here, worth no kernel plumbing
        values = col.to_pylist()
        return pa.array([json.dumps(v, default=str) for v in values], pa.string())
    return pc.fill_null(text, "null") if col.null_count else text


_SPECIAL = np.zeros(256, bool)
_SPECIAL[:0x20] = True
_SPECIAL[[ord('"'), ord("\\")]] = True


def _json_escape(col: pa.Array) -> pa.Array:
    """Escape quotes, backslashes and control characters (only the ones present)."""
    data = col.buffers()[2]
    if data is None:
        return col
    raw = np.frombuffer(data, np.uint8)
    found: set[int] = set()
    for at in range(0, len(raw), 1 << 20):
        part = raw[at : at + (1 << 20)]
        mask = _SPECIAL[part]
        if mask.any():
            found.update(int(b) for b in np.unique(part[mask]))
    if not found:
        return col
    named = {ord("\\"): "\\\\", ord('"'): '\\"', 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    if ord("\\") in found:  # first, so the backslashes added below stay single
        col = pc.replace_substring(col, "\\", "\\\\")
    for b in sorted(found - {ord("\\")}):
        col = pc.replace_substring(col, chr(b), named.get(b, f"\\u{b:04x}"))
    return col
