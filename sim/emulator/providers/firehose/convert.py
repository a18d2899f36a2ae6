"""Firehose's record format conversion: JSON records in, Parquet or ORC out, with the schema
of a Glue table (its StorageDescriptor columns, Hive types). A record that does not parse or
does not fit the schema goes to the ``format-conversion-failed`` error prefix with the reason.
pyarrow writes the files.
https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

from sim.emulator.protocol import AwsError

# (catalog id or None, database, table, region) -> the table's columns [{"Name", "Type"}]
SchemaLookup = Callable[[str | None, str, str, str], list[dict[str, str]]]

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "date": pa.date32(),
    "binary": pa.binary(),
}
_PARQUET = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": None}
_ORC = {"SNAPPY": "snappy", "ZLIB": "zlib", "NONE": "uncompressed"}


class ConversionError(ValueError):
    """A record that cannot become a row of the table (one line, for the error document)."""


def hive_type(text: str) -> pa.DataType:
    """A Hive/Glue column type as an Arrow type (struct, array, map and decimal included)."""
    t, rest = _parse(text.replace(" ", "").lower(), 0)
    if rest != len(text.replace(" ", "")):
        raise ValueError(f"unexpected text after the type in {text!r}")
    return t


def _parse(s: str, i: int) -> tuple[pa.DataType, int]:
    m = re.compile(r"[a-z_]+").match(s, i)
    if not m:
        raise ValueError(f"a type is expected at {s[i:]!r}")
    name, i = m.group(0), m.end()
    if name in ("varchar", "char") and s.startswith("(", i):
        return pa.string(), s.index(")", i) + 1
    if name == "decimal":
        p, sc = 10, 0
        if s.startswith("(", i):
            j = s.index(")", i)
            parts = s[i + 1 : j].split(",")
            p, sc = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
            i = j + 1
        return pa.decimal128(p, sc), i
    if name == "array":
        inner, i = _parse(s, i + 1)  # skip <
        return pa.list_(inner), i + 1  # skip >
    if name == "map":
        key, i = _parse(s, i + 1)
        value, i = _parse(s, i + 1)  # skip ,
        return pa.map_(key, value), i + 1
    if name == "struct":
        fields = []
        i += 1
        while True:
            m2 = re.compile(r"[a-z0-9_]+").match(s, i)
            if not m2:
                raise ValueError(f"a field name is expected at {s[i:]!r}")
            fname, i = m2.group(0), m2.end() + 1  # skip :
            ftype, i = _parse(s, i)
            fields.append(pa.field(fname, ftype))
            if s[i] == ">":
                return pa.struct(fields), i + 1
            i += 1  # skip ,
    if name not in _PRIMITIVES:
        raise ValueError(f"unknown column type {name!r}")
    return _PRIMITIVES[name], i


def _coerce(value: Any, t: pa.DataType, where: str) -> Any:
    """``value`` from JSON as ``t`` wants it; ConversionError when it cannot be."""
    if value is None:
        return None
    try:
        if pa.types.is_string(t):
            return value if isinstance(value, str) else json.dumps(value)
        if pa.types.is_integer(t):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ConversionError(f"{where}: {value!r} is not an integer")
            return int(value)
        if pa.types.is_floating(t):
            if isinstance(value, bool):
                raise ConversionError(f"{where}: {value!r} is not a number")
            return float(value)
        if pa.types.is_boolean(t):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ConversionError(f"{where}: {value!r} is not a boolean")
        if pa.types.is_decimal(t):
            return Decimal(str(value))
        if pa.types.is_timestamp(t):
            return _timestamp(value, where)
        if pa.types.is_date(t):
            return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if pa.types.is_binary(t):
            return value.encode() if isinstance(value, str) else bytes(value)
        if pa.types.is_list(t):
            if not isinstance(value, list):
                raise ConversionError(f"{where}: {value!r} is not an array")
            return [_coerce(v, t.value_type, f"{where}[]") for v in value]
        if pa.types.is_map(t):
            if not isinstance(value, dict):
                raise ConversionError(f"{where}: {value!r} is not an object")
            return [
                (_coerce(k, t.key_type, where), _coerce(v, t.item_type, f"{where}.{k}"))
                for k, v in value.items()
            ]
        if pa.types.is_struct(t):
            if not isinstance(value, dict):
                raise ConversionError(f"{where}: {value!r} is not an object")
            lowered = {str(k).lower(): v for k, v in value.items()}
            return {
                f.name: _coerce(lowered.get(f.name.lower()), f.type, f"{where}.{f.name}") for f in t
            }
    except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
        if isinstance(exc, ConversionError):
            raise
        raise ConversionError(f"{where}: {value!r} does not fit {t} ({exc})") from None
    raise ConversionError(f"{where}: type {t} is not supported")


def _timestamp(value: Any, where: str) -> datetime:
    """OpenX JSON SerDe's forms: epoch seconds or milliseconds, or ISO 8601 text."""
    if isinstance(value, bool):
        raise ConversionError(f"{where}: {value!r} is not a timestamp")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        ts = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise ConversionError(f"{where}: {value!r} is not a timestamp") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass
class Converter:
    """One stream's conversion: the table's Arrow schema, the deserializer's key rules and
    the serializer (Parquet or ORC, with its compression)."""

    schema: pa.Schema
    case_insensitive: bool
    dots_to_underscores: bool
    key_map: dict[str, str]  # column -> JSON key (ColumnToJsonKeyMappings)
    output: str  # "parquet" | "orc"
    compression: str | None

    def row(self, record: bytes) -> dict[str, Any]:
        """One JSON record as a row of the table; ConversionError when it cannot be."""
        try:
            doc = json.loads(record)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConversionError(f"The record is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ConversionError("The record is not a JSON object.")
        if self.dots_to_underscores:
            doc = {str(k).replace(".", "_"): v for k, v in doc.items()}
        if self.case_insensitive:
            doc = {str(k).lower(): v for k, v in doc.items()}
        row = {}
        for f in self.schema:
            key = self.key_map.get(f.name, f.name)
            value = doc.get(key.lower() if self.case_insensitive else key)
            row[f.name] = _coerce(value, f.type, f.name)
        return row

    def rows(self, record: bytes) -> list[dict[str, Any]]:
        """A Firehose record may hold several concatenated JSON objects."""
        from sim.emulator.providers.firehose.processing import split_json

        try:
            pieces = split_json(record)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConversionError(f"The record is not valid JSON: {exc}") from None
        if not pieces:
            raise ConversionError("The record holds no JSON object.")
        return [self.row(p) for p in pieces]

    def file(self, records: list[bytes]) -> bytes:
        """The Parquet or ORC file of ``records`` (already checked by :meth:`rows`)."""
        rows = [r for rec in records for r in self.rows(rec)]
        table = pa.Table.from_pylist(rows, schema=self.schema)
        buf = io.BytesIO()
        if self.output == "parquet":
            pq.write_table(table, buf, compression=self.compression or "none")
        else:
            orc.write_table(table, buf, compression=self.compression or "uncompressed")
        return buf.getvalue()


def build(cfg: dict[str, Any], lookup: SchemaLookup | None, region: str) -> Converter:
    """The converter of a DataFormatConversionConfiguration (the Glue table read now)."""
    schema_cfg = cfg.get("SchemaConfiguration") or {}
    for need in ("DatabaseName", "TableName", "RoleARN"):
        if not schema_cfg.get(need):
            raise AwsError(
                "InvalidArgumentException",
                f"SchemaConfiguration.{need} is required for data format conversion.",
            )
    des = (cfg.get("InputFormatConfiguration") or {}).get("Deserializer") or {}
    ser = (cfg.get("OutputFormatConfiguration") or {}).get("Serializer") or {}
    if len(des) != 1 or len(ser) != 1:
        raise AwsError(
            "InvalidArgumentException",
            "Data format conversion needs exactly one Deserializer (OpenXJsonSerDe or "
            "HiveJsonSerDe) and one Serializer (ParquetSerDe or OrcSerDe).",
        )
    openx = des.get("OpenXJsonSerDe")
    hive = des.get("HiveJsonSerDe")
    if openx is None and hive is None:
        raise AwsError("InvalidArgumentException", f"Unknown Deserializer {list(des)[0]!r}.")
    if "ParquetSerDe" in ser:
        output = "parquet"
        comp = (ser["ParquetSerDe"] or {}).get("Compression", "SNAPPY")
        compression = _PARQUET.get(comp, "?")
    elif "OrcSerDe" in ser:
        output = "orc"
        comp = (ser["OrcSerDe"] or {}).get("Compression", "SNAPPY")
        compression = _ORC.get(comp, "?")
    else:
        raise AwsError("InvalidArgumentException", f"Unknown Serializer {list(ser)[0]!r}.")
    if compression == "?":
        raise AwsError(
            "InvalidArgumentException", f"Compression {comp!r} is not valid for {output}."
        )
    if lookup is None:
        raise AwsError("InvalidArgumentException", "No Glue Data Catalog to read the schema from.")
    try:
        columns = lookup(
            schema_cfg.get("CatalogId"),
            schema_cfg["DatabaseName"],
            schema_cfg["TableName"],
            schema_cfg.get("Region") or region,
        )
    except LookupError as exc:
        raise AwsError("InvalidArgumentException", str(exc)) from None
    try:
        schema = pa.schema([pa.field(c["Name"].lower(), hive_type(c["Type"])) for c in columns])
    except ValueError as exc:
        raise AwsError("InvalidArgumentException", f"Glue table column type: {exc}") from None
    openx = openx or {}
    return Converter(
        schema=schema,
        case_insensitive=bool(openx.get("CaseInsensitive", True)),
        dots_to_underscores=bool(openx.get("ConvertDotsInJsonKeysToUnderscores", False)),
        key_map={k.lower(): v for k, v in (openx.get("ColumnToJsonKeyMappings") or {}).items()},
        output=output,
        compression=compression,
    )
