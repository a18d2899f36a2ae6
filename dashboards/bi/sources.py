"""Reading a dataset's source into Arrow, all at once (full) or only what changed since the
last read (incremental), with a cursor that remembers what was read.

- ``delta``: a Delta table through delta-rs (``deltalake``; no JVM). Incremental: the new
  version's files against the cursor's; for a table partitioned by one column, the partitions
  whose files changed are read again (appends, ``replaceWhere`` overwrites and deletes all
  work), for an unpartitioned one only pure appends are incremental.
- ``s3`` / ``emr``: Parquet, JSON lines or CSV objects under a prefix through pyarrow's S3
  filesystem, ``key=value/`` folders as columns. Incremental: the keys not seen before;
  a changed or deleted object makes it a full read. Spark's bookkeeping files (``_SUCCESS``,
  ``_temporary/``, ``.crc``) are skipped, and an ``emr`` output still being written (a
  ``_temporary/`` folder and no ``_SUCCESS``) is refused until the step has finished.

Every expected failure is a :class:`~dashboards.common.errors.SourceError` with one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from dashboards.bi.registry import RegistryError, Source
from dashboards.common.errors import SourceError, one_line
from sim import clients, profiles

_EXT = {"parquet": (".parquet", ".parq"), "json": (".json", ".jsonl", ".ndjson"), "csv": (".csv",)}
# Reads fail fast when the endpoint is down instead of delta-rs's minutes of retries.
_DELTA_READ = {
    "connect_timeout": "3s",
    "timeout": "60s",
    "max_retries": "2",
    "retry_timeout": "10s",
}


@dataclass
class Cursor:
    """What the last read saw: Delta ``version`` and its files' partition values, or the
    objects' ETags by key; ``partition_by`` is the Delta table's partition columns."""

    version: int = -1
    files: dict[str, str] = field(default_factory=dict)
    schema: str = ""
    partition_by: tuple[str, ...] = ()


@dataclass
class Batch:
    """The rows read (``table``, before the dataset's query), how (``mode``: full |
    incremental | unchanged), the ``cursor`` to keep, and for a partition re-read the
    partition column and values whose rows it replaces (``replace``); ``note`` says why a
    requested incremental read became a full one."""

    table: pa.Table
    mode: str
    cursor: Cursor
    replace: tuple[str, list[str]] | None = None
    note: str = ""
    files: int = 0


def read(
    source: Source,
    bucket: str | None,
    profile: profiles.Profile,
    cursor: Cursor | None = None,
    incremental: bool = False,
) -> Batch:
    """Read ``source`` (resolved in ``bucket``) on ``profile``; incremental against ``cursor``
    when asked and possible. SourceError (one line) when it cannot be read."""
    try:
        uri = source.uri(bucket)
    except RegistryError as exc:  # a path relative to a bucket nobody named
        raise SourceError(str(exc)) from None
    try:
        if source.kind == "delta":
            batch = _delta(uri, profile, cursor if incremental else None)
        else:
            batch = _objects(source, bucket, profile, cursor if incremental else None)
        batch.table = naive_utc(batch.table)
        return batch
    except SourceError as exc:
        raise SourceError(one_line(exc, uri)) from None
    except Exception as exc:  # botocore, pyarrow and delta-rs errors: one line each
        raise SourceError(one_line(exc, uri)) from exc


def naive_utc(table: pa.Table) -> pa.Table:
    """Timestamps with a zone as naive UTC timestamps (SPICE keeps no zones): a change of
    type only, where converting in DuckDB costs a calendar lookup per value."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            col = table.column(i).cast(pa.timestamp(f.type.unit))  # same instants, in UTC
            table = table.set_column(i, f.name, col)
    return table


# ---------------------------------------------------------------------------- Delta
def _delta(uri: str, profile: profiles.Profile, cursor: Cursor | None) -> Batch:
    from deltalake import DeltaTable

    opts = {**clients.delta_storage_options(profile), **_DELTA_READ}
    table = DeltaTable(uri, storage_options=opts)
    version = table.version()
    part_by = tuple(table.metadata().partition_columns)
    adds = pa.table(table.get_add_actions(flatten=True))
    paths = adds.column("path").to_pylist()
    if len(part_by) == 1:
        values = adds.column(f"partition.{part_by[0]}").cast(pa.string()).to_pylist()
    else:
        values = [""] * len(paths)
    schema = str(pa.schema(table.schema().to_arrow()))
    now = Cursor(version, dict(zip(paths, (v or "" for v in values), strict=True)), schema, part_by)
    if cursor is None or cursor.version < 0:
        return Batch(_delta_rows(table), "full", now, files=len(paths))
    if cursor.version == version:
        return Batch(pa.table({}), "unchanged", now)
    if cursor.schema != schema or cursor.partition_by != part_by:
        return Batch(_delta_rows(table), "full", now, note="the table's schema changed")
    added = [p for p in paths if p not in cursor.files]
    removed = [p for p in cursor.files if p not in now.files]
    if len(part_by) == 1:
        touched = sorted({now.files[p] for p in added} | {cursor.files[p] for p in removed})
        rows = (
            table.to_pyarrow_table(filters=[(part_by[0], "in", touched)])
            if touched
            else pa.table({})
        )
        return Batch(rows, "incremental", now, (part_by[0], touched), files=len(added))
    if removed:
        note = "files were removed or rewritten (an unpartitioned table appends only)"
        return Batch(_delta_rows(table), "full", now, note=note, files=len(paths))
    dataset = table.to_pyarrow_dataset()
    wanted = set(added)
    frags = [f for f in dataset.get_fragments() if _rel(f.path, uri) in wanted]
    import pyarrow.dataset as ds

    rows = ds.FileSystemDataset(frags, dataset.schema, dataset.format, dataset.filesystem)
    return Batch(rows.to_table(), "incremental", now, files=len(frags))


def _delta_rows(table: Any) -> pa.Table:
    return table.to_pyarrow_table()


def _rel(path: str, uri: str) -> str:
    """A fragment's path relative to the table root (delta-rs's add-action paths)."""
    root = uri.split("://", 1)[-1].rstrip("/") + "/"
    path = path.split("://", 1)[-1]
    return path[len(root) :] if path.startswith(root) else path


# ------------------------------------------------------------------------ S3 objects
def _objects(
    source: Source, bucket: str | None, profile: profiles.Profile, cursor: Cursor | None
) -> Batch:
    b, prefix = source.location(bucket)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    s3 = clients.client("s3", profile, retries=False)
    objects: dict[str, str] = {}
    markers: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            name = key.rsplit("/", 1)[-1]
            if "/_temporary/" in f"/{key}":
                markers.add("_temporary")
            elif name.startswith(("_", ".")):
                markers.add(name)
            elif name.lower().endswith(_EXT[source.format]) or (
                name.lower().endswith(".gz") and source.format != "parquet"
            ):
                objects[key] = obj.get("ETag", "")
    if source.kind == "emr" and "_temporary" in markers and "_SUCCESS" not in markers:
        raise SourceError(
            "the EMR step is still writing its output (_temporary/ and no _SUCCESS): "
            "refresh when the step has finished"
        )
    if not objects:
        raise SourceError(f"no {source.format} objects under this prefix yet")
    now = Cursor(files=objects)
    keys = sorted(objects)
    note = ""
    if cursor is not None and cursor.files:
        changed = [k for k in cursor.files if objects.get(k) != cursor.files[k]]
        if not changed:
            new = [k for k in keys if k not in cursor.files]
            if not new:
                return Batch(pa.table({}), "unchanged", now)
            return Batch(_read_objects(source, b, prefix, new, profile), "incremental", now,
                         files=len(new))  # fmt: skip
        note = f"{len(changed)} object(s) changed or were deleted since the last import"
    return Batch(_read_objects(source, b, prefix, keys, profile), "full", now, note=note,
                 files=len(keys))  # fmt: skip


def _read_objects(
    source: Source, bucket: str, prefix: str, keys: list[str], profile: profiles.Profile
) -> pa.Table:
    import pyarrow.dataset as ds

    fmt: Any = source.format
    if source.format == "csv":
        fmt = ds.CsvFileFormat()
    dataset = ds.dataset(
        [f"{bucket}/{k}" for k in keys],
        filesystem=clients.arrow_fs(profile),
        format=fmt,
        partitioning="hive" if source.hive else None,
        partition_base_dir=f"{bucket}/{prefix}".rstrip("/"),
    )
    return dataset.to_table()
