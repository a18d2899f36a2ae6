"""AWS's event stream framing (``application/vnd.amazon.eventstream``), server side: the
binary messages SubscribeToShard (and S3 Select, Transcribe, ...) push down a response.

One message: a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes), the
headers, the payload, and a CRC32 of everything before it. A header is a 1-byte name length,
the name, a type byte (7 = string) and, for strings, a 2-byte length and the value.
https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream

botocore ships only a decoder (botocore.eventstream), which the tests use to read ours back.
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One encoded event stream message."""
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: bytes, content_type: str) -> bytes:
    """An ``:message-type event`` message (also the ``initial-response``)."""
    return message(
        {
            ":event-type": event_type,
            ":content-type": content_type,
            ":message-type": "event",
        },
        payload,
    )


def exception(code: str, payload: bytes, content_type: str) -> bytes:
    """An in-stream modeled error (``:message-type exception``), e.g. ResourceNotFoundException
    when the stream goes away during a subscription."""
    return message(
        {
            ":exception-type": code,
            ":content-type": content_type,
            ":message-type": "exception",
        },
        payload,
    )
