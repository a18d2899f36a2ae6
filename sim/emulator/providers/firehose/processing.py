"""What Firehose does to a record between PutRecord and the buffer, in AWS's order:
deaggregation (RecordDeAggregation: consecutive JSON objects or a custom delimiter, at most
500 a record) -> transformation (Lambda; not yet) -> partition keys (MetadataExtraction: a JQ
query over the record, with the ``jq`` library, JQ 1.6 as AWS's JsonParsingEngine) -> the
AppendDelimiterToRecord delimiter. A record that cannot be parsed or lacks a key goes to the
error prefix, with the reason, as a JSON document AWS's shape.
https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning.html
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import jq

from sim.emulator.protocol import AwsError
from sim.emulator.providers.firehose import prefix

MAX_SUBRECORDS = 500
_PROCESSORS = ("RecordDeAggregation", "Lambda", "MetadataExtraction", "AppendDelimiterToRecord")


@dataclass(frozen=True)
class Routed:
    """One output record: its data and partition keys, or an error (then ``data`` is the
    error document and ``error_type`` the !{firehose:error-output-type})."""

    data: bytes
    keys: tuple[tuple[str, str], ...] = ()
    error_type: str | None = None


@dataclass(frozen=True)
class Pipeline:
    dynamic: bool
    deaggregation: tuple[str, bytes] | None  # ("JSON", b"") or ("DELIMITED", delimiter)
    query: Any  # compiled JQ program, or None
    delimiter: bytes | None
    keys: tuple[str, ...]  # partitionKeyFromQuery keys the prefix uses
    lambda_keys: tuple[str, ...] = ()  # partitionKeyFromLambda keys the prefix uses
    lambda_arn: str | None = None
    lambda_retries: int = 3
    lambda_size: int = 1024 * 1024  # bytes (BufferSizeInMBs, default 1)
    lambda_interval: float = 60.0  # s (BufferIntervalInSeconds, default 60)


def _params(proc: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterName"]: str(p["ParameterValue"]) for p in proc.get("Parameters") or []}


def build(dest: dict[str, Any]) -> Pipeline:
    """The destination's processing, checked as CreateDeliveryStream checks it."""
    dynamic = bool((dest.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))
    cfg = dest.get("ProcessingConfiguration") or {}
    procs = cfg.get("Processors") or [] if cfg.get("Enabled") else []
    deagg: tuple[str, bytes] | None = None
    query = None
    delimiter = None
    lam: dict[str, Any] = {}
    for proc in procs:
        kind = proc.get("Type")
        if kind not in _PROCESSORS:
            raise AwsError(
                "InvalidArgumentException",
                f"Processor type {kind!r} is not valid; valid types are {', '.join(_PROCESSORS)}.",
            )
        params = _params(proc)
        if kind == "Lambda":
            lam = _lambda(params)
            continue
        if not dynamic:
            raise AwsError(
                "InvalidArgumentException",
                f"Processor type {kind} is supported only when dynamic partitioning is enabled.",
            )
        if kind == "RecordDeAggregation":
            sub = params.get("SubRecordType", "JSON")
            if sub not in ("JSON", "DELIMITED"):
                raise AwsError(
                    "InvalidArgumentException",
                    f"SubRecordType {sub!r} is not valid; use JSON or DELIMITED.",
                )
            raw = b""
            if sub == "DELIMITED":
                try:
                    raw = base64.b64decode(params.get("Delimiter", ""), validate=True)
                except (ValueError, binascii.Error):
                    raw = b""
                if not raw:
                    raise AwsError(
                        "InvalidArgumentException",
                        "RecordDeAggregation with SubRecordType DELIMITED needs a base64 Delimiter.",
                    )
            deagg = (sub, raw)
        elif kind == "MetadataExtraction":
            engine = params.get("JsonParsingEngine", "JQ-1.6")
            if engine != "JQ-1.6":
                raise AwsError(
                    "InvalidArgumentException", f"JsonParsingEngine {engine!r}: use JQ-1.6."
                )
            text = params.get("MetadataExtractionQuery", "")
            try:
                query = jq.compile(text)
            except ValueError as exc:
                raise AwsError(
                    "InvalidArgumentException",
                    f"MetadataExtractionQuery {text!r} is not a valid JQ expression: {exc}",
                ) from None
        elif kind == "AppendDelimiterToRecord":
            delimiter = params.get("Delimiter", "\\n").encode().decode("unicode_escape").encode()
    found = prefix.EXPRESSION.findall(dest.get("Prefix") or "")
    keys = tuple(v for ns, v in found if ns == "partitionKeyFromQuery")
    lambda_keys = tuple(v for ns, v in found if ns == "partitionKeyFromLambda")
    if dynamic:
        if not dest.get("ErrorOutputPrefix"):
            raise AwsError(
                "InvalidArgumentException",
                "ErrorOutputPrefix must be specified when dynamic partitioning is enabled.",
            )
        if not prefix.EXPRESSION.search(dest.get("Prefix") or "") or not any(
            ns.startswith("partitionKeyFrom")
            for ns, _v in prefix.EXPRESSION.findall(dest.get("Prefix") or "")
        ):
            raise AwsError(
                "InvalidArgumentException",
                "When dynamic partitioning is enabled, the Prefix must use at least one "
                "!{partitionKeyFromQuery:key} or !{partitionKeyFromLambda:key} expression.",
            )
        if lambda_keys and not lam:
            raise AwsError(
                "InvalidArgumentException",
                "The Prefix uses !{partitionKeyFromLambda:...} but no Lambda processor is "
                "configured.",
            )
        if keys and query is None:
            raise AwsError(
                "InvalidArgumentException",
                "The Prefix uses !{partitionKeyFromQuery:...} but no MetadataExtraction "
                "processor defines the keys.",
            )
        if int(dest["BufferingHints"]["IntervalInSeconds"]) == 0:
            raise AwsError(
                "InvalidArgumentException",
                "Zero buffering (IntervalInSeconds 0) is not available with dynamic partitioning.",
            )
    return Pipeline(dynamic, deagg, query, delimiter, keys, lambda_keys, **lam)


def _lambda(params: dict[str, str]) -> dict[str, Any]:
    """A Lambda processor's parameters, with Firehose's defaults and ranges."""
    arn = params.get("LambdaArn", "")
    if not arn.startswith("arn:aws:lambda:"):
        raise AwsError(
            "InvalidArgumentException", f"LambdaArn {arn!r} is not a Lambda function ARN."
        )
    try:
        retries = int(params.get("NumberOfRetries", "3"))
        size = float(params.get("BufferSizeInMBs", "1"))
        interval = float(params.get("BufferIntervalInSeconds", "60"))
    except ValueError as exc:
        raise AwsError("InvalidArgumentException", f"Lambda processor parameter: {exc}") from None
    if not 0 <= retries <= 5:
        raise AwsError("InvalidArgumentException", "NumberOfRetries must be between 0 and 5.")
    if not 0.2 <= size <= 3:
        raise AwsError("InvalidArgumentException", "BufferSizeInMBs must be between 0.2 and 3.")
    if not 60 <= interval <= 900:
        raise AwsError(
            "InvalidArgumentException", "BufferIntervalInSeconds must be between 60 and 900."
        )
    return {
        "lambda_arn": arn,
        "lambda_retries": retries,
        "lambda_size": int(size * 1024 * 1024),
        "lambda_interval": interval,
    }


def error_document(
    code: str,
    message: str,
    raw: bytes,
    arrival: float,
    now: float,
    attempts: int = 1,
    capitalized: bool = False,
    **extra: Any,
) -> bytes:
    """A failed record as Firehose writes it under the error prefix (one JSON per line);
    format conversion's documents spell ``ErrorCode``/``ErrorMessage`` with capitals."""
    doc = {
        "attemptsMade": attempts,
        "arrivalTimestamp": int(arrival * 1000),
        "ErrorCode" if capitalized else "errorCode": code,
        "ErrorMessage" if capitalized else "errorMessage": message,
        "attemptEndingTimestamp": int(now * 1000),
        "rawData": base64.b64encode(raw).decode(),
        **extra,
    }
    return (json.dumps(doc) + "\n").encode()


def split_json(data: bytes) -> list[bytes]:
    """Consecutive JSON objects (``{..}{..}`` or JSON lines); ValueError otherwise."""
    text = data.decode("utf-8")
    dec = json.JSONDecoder()
    out: list[bytes] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            return out
        obj, end = dec.raw_decode(text, i)
        if not isinstance(obj, dict):
            raise ValueError("an array or a scalar is not a JSON record")
        out.append(text[i:end].encode())
        i = end


def run(pipe: Pipeline, data: bytes, arrival: float, now: float) -> list[Routed]:
    """The output records of one input record (a pipeline without a Lambda)."""
    pieces = split(pipe, data, arrival, now)
    if isinstance(pieces, Routed):
        return [pieces]
    return [finish(pipe, piece, arrival, now) for piece in pieces]


def split(pipe: Pipeline, data: bytes, arrival: float, now: float) -> list[bytes] | Routed:
    """Deaggregation: the record's sub-records, or the error for a record that cannot be
    split."""
    pieces = [data]
    if pipe.deaggregation is not None:
        kind, delim = pipe.deaggregation
        try:
            pieces = split_json(data) if kind == "JSON" else [p for p in data.split(delim) if p]
        except (ValueError, UnicodeDecodeError) as exc:
            return Routed(
                error_document(
                    "DynamicPartitioning.RecordDeAggregationFailed",
                    f"Record is not valid JSON for deaggregation: {exc}",
                    data,
                    arrival,
                    now,
                ),
                error_type="partitioning-failed",
            )
        if len(pieces) > MAX_SUBRECORDS:
            return Routed(
                error_document(
                    "DynamicPartitioning.RecordDeAggregationFailed",
                    f"A record holds {len(pieces)} sub-records; the limit is {MAX_SUBRECORDS}.",
                    data,
                    arrival,
                    now,
                ),
                error_type="partitioning-failed",
            )
    return pieces


def finish(
    pipe: Pipeline,
    piece: bytes,
    arrival: float,
    now: float,
    lambda_keys: dict[str, Any] | None = None,
) -> Routed:
    """Partition keys (JQ, or the Lambda's metadata) and the delimiter of one record after
    deaggregation and transformation; an error document when a key is missing."""
    keys: tuple[tuple[str, str], ...] = ()
    if pipe.dynamic and pipe.lambda_keys:
        missing = [k for k in pipe.lambda_keys if (lambda_keys or {}).get(k) in (None, "")]
        if missing:
            return Routed(
                error_document(
                    "DynamicPartitioning.MetadataExtractionFailed",
                    f"The Lambda returned no partition key(s) {', '.join(missing)} "
                    "(metadata.partitionKeys) for the record.",
                    piece,
                    arrival,
                    now,
                ),
                error_type="partitioning-failed",
            )
        keys = tuple((k, _text((lambda_keys or {})[k])) for k in pipe.lambda_keys)
    if pipe.dynamic and pipe.query is not None:
        try:
            extracted = pipe.query.input_value(json.loads(piece)).first()
        except (ValueError, UnicodeDecodeError):
            return Routed(
                error_document(
                    "DynamicPartitioning.MetadataExtractionFailed",
                    "Non JSON record provided",
                    piece,
                    arrival,
                    now,
                ),
                error_type="partitioning-failed",
            )
        missing = [
            k
            for k in pipe.keys
            if not isinstance(extracted, dict) or extracted.get(k) in (None, "")
        ]
        if missing:
            return Routed(
                error_document(
                    "DynamicPartitioning.MetadataExtractionFailed",
                    f"The partition key(s) {', '.join(missing)} were not found in the record "
                    "with the MetadataExtractionQuery.",
                    piece,
                    arrival,
                    now,
                ),
                error_type="partitioning-failed",
            )
        keys = keys + tuple((k, _text(extracted[k])) for k in pipe.keys)
    if pipe.delimiter is not None:
        piece = piece + pipe.delimiter
    return Routed(piece, keys)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
