"""AWS's legacy CBOR protocol (``Content-Type: application/x-amz-cbor-1.1``), which the AWS
SDK for Java (v1 and v2), the KCL and the Spark/Flink Kinesis connectors speak to Kinesis by
default. It is the JSON 1.1 protocol (same ``X-Amz-Target``, same member names) with the body
in CBOR, except for two types:

- blobs are CBOR byte strings, not base64 text;
- timestamps are tag 1 holding **integer epoch milliseconds** in both directions. RFC 8949 says
  tag 1 holds seconds; AWS's SDKs write and read milliseconds (aws-sdk-java-v2 issue #4661,
  LocalStack PR #11286 and Floci issue #2368 each met this), so a standard decoder reads the
  year 56000.

Providers build their answers as for JSON (base64 text for blobs, float seconds for
timestamps); :func:`encode_output` turns one into CBOR by walking the operation's output shape
from botocore's model, so no provider writes a second serialiser. The codec itself is cbor2.
"""

from __future__ import annotations

import base64
from typing import Any

import cbor2

from sim.emulator.protocol import AwsError, Request, Response

CONTENT_TYPE = "application/x-amz-cbor-1.1"


def is_cbor(req: Request) -> bool:
    """Whether the caller sent (and so expects) AWS CBOR rather than JSON."""
    return req.headers.get("content-type", "").startswith(CONTENT_TYPE)


def _millis(value: int | float, immutable: bool = False) -> float:
    # cbor2 (>= 6) hands a semantic decoder the tag's content; AWS's is epoch milliseconds.
    return float(value) / 1000.0


def decode_input(body: bytes) -> dict[str, Any]:
    """The request body as a dict: blobs stay ``bytes``, timestamps become epoch seconds.

    Raises ``SerializationException`` (HTTP 400) for a body that is not a CBOR map, as AWS does.
    """
    if not body:
        return {}
    try:
        params = cbor2.loads(body, semantic_decoders={1: _millis})
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise AwsError("SerializationException", f"Invalid CBOR body: {exc}") from None
    if not isinstance(params, dict):
        raise AwsError(
            "SerializationException", "Start of structure or map found where not expected."
        )
    return params


def _wire(shape: Any, value: Any) -> Any:
    """``value`` (JSON-ready) with blobs as bytes and timestamps as tag-1 milliseconds."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _wire(members.get(k), v) for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        member = shape.member
        if member.type_name in ("string", "integer", "long", "boolean"):
            return value
        return [_wire(member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: _wire(shape.value, v) for k, v in value.items()}
    if t == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if t == "timestamp" and isinstance(value, int | float):
        return cbor2.CBORTag(1, round(value * 1000))
    return value


def encode_output(data: dict[str, Any], output_shape: Any) -> bytes:
    """Serialise a provider's JSON-ready answer as AWS CBOR, typed by ``output_shape``."""
    return cbor2.dumps(_wire(output_shape, data))


def response(data: dict[str, Any], output_shape: Any, status: int = 200) -> Response:
    return Response(status, [("content-type", CONTENT_TYPE)], encode_output(data, output_shape))


def error_body(code: str, message: str) -> bytes:
    """An error in AWS CBOR: the JSON protocol's ``__type`` and ``message`` members."""
    return cbor2.dumps({"__type": code, "message": message})
