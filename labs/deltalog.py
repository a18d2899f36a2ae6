"""Read a Delta table's state straight from its transaction log in S3 (boto3 + pyarrow only),
so that lab checks see what a Delta reader would see without starting Spark."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from sim import s3util


@dataclass
class DeltaState:
    version: int = -1
    partition_columns: list[str] = field(default_factory=list)
    schema: list[str] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # active adds by path
    commits: list[dict[str, Any]] = field(default_factory=list)  # commitInfo per version

    def num_records(self) -> int:
        return sum(
            int(json.loads(a.get("stats") or "{}").get("numRecords", 0))
            for a in self.files.values()
        )


def _apply(state: DeltaState, action: dict[str, Any]) -> None:
    if action.get("metaData"):
        meta = action["metaData"]
        state.partition_columns = list(meta.get("partitionColumns") or [])
        state.schema = [f["name"] for f in json.loads(meta["schemaString"])["fields"]]
    if action.get("add"):
        state.files[action["add"]["path"]] = action["add"]
    if action.get("remove"):
        state.files.pop(action["remove"]["path"], None)
    if action.get("commitInfo"):
        state.commits.append(action["commitInfo"])


def read(s3: Any, bucket: str, prefix: str) -> DeltaState | None:
    """The table at s3://bucket/prefix (no trailing slash), or None if there is no Delta log."""
    log = f"{prefix.rstrip('/')}/_delta_log/"
    keys = [o["Key"] for o in s3util.list_objects(s3, bucket, log)]
    if not keys:
        return None
    state = DeltaState()
    start = -1
    if f"{log}_last_checkpoint" in keys:
        body = s3.get_object(Bucket=bucket, Key=f"{log}_last_checkpoint")["Body"].read()
        start = int(json.loads(body)["version"])
        data = s3.get_object(Bucket=bucket, Key=f"{log}{start:020d}.checkpoint.parquet")
        table = pq.read_table(io.BytesIO(data["Body"].read()))
        for row in table.to_pylist():
            _apply(state, {k: _plain(v) for k, v in row.items() if v is not None})
        state.version = start
    for key in sorted(k for k in keys if k.endswith(".json")):
        version = int(key.rsplit("/", 1)[1].split(".")[0])
        if version <= start:
            continue
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        for line in text.splitlines():
            if line.strip():
                _apply(state, json.loads(line))
        state.version = version
    return state


def _plain(value: Any) -> Any:
    """Checkpoint maps come back from pyarrow as lists of (key, value) pairs."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return dict(value)
    return value


def read_rows(s3: Any, bucket: str, prefix: str, state: DeltaState) -> pa.Table:
    """Every active file's rows, with the partition columns added from the log."""
    tables = []
    for path, add in sorted(state.files.items()):
        body = s3.get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{unquote(path)}")
        t = pq.read_table(io.BytesIO(body["Body"].read()))
        for col in state.partition_columns:
            if col in t.column_names:  # some writers keep partition values in the file too
                continue
            value = (add.get("partitionValues") or {}).get(col)
            t = t.append_column(col, pa.array([value] * t.num_rows, pa.string()))
        tables.append(t)
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")
