"""Firehose's S3 object keys: ``<evaluated prefix><suffix><extension>``.

- The prefix's expressions ``!{namespace:value}``: ``timestamp`` (a Java DateTimeFormatter
  pattern, evaluated at the arrival of the oldest record in the object, in UTC or the
  destination's CustomTimeZone), ``firehose:random-string`` (11 letters and digits),
  ``firehose:error-output-type`` (error prefix only), ``partitionKeyFromQuery:k`` and
  ``partitionKeyFromLambda:k`` (dynamic partitioning). A prefix with no expression at all,
  empty included, gets ``yyyy/MM/dd/HH/`` appended as is (no slash added in between).
- The suffix: ``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>``.
- The extension: the destination's FileExtension if set, else the compression's.

https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html and s3-object-name.html; the
literal append and the FileExtension rule are as Floci verified against AWS (its issue #1857).
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sim.emulator.protocol import AwsError

EXPRESSION = re.compile(r"!\{([^:}]*)(?::([^}]*))?\}")
NAMESPACES = ("timestamp", "firehose", "partitionKeyFromQuery", "partitionKeyFromLambda")
ERROR_OUTPUT_TYPES = ("processing-failed", "format-conversion-failed", "partitioning-failed")
_RANDOM = string.ascii_letters + string.digits

# Java DateTimeFormatter letters -> strftime, by run length (the ones prefixes use).
_JAVA = {
    ("y", 4): "%Y",
    ("y", 2): "%y",
    ("u", 4): "%Y",
    ("M", 1): "%-m",
    ("M", 2): "%m",
    ("M", 3): "%b",
    ("M", 4): "%B",
    ("d", 1): "%-d",
    ("d", 2): "%d",
    ("D", 3): "%j",
    ("H", 1): "%-H",
    ("H", 2): "%H",
    ("h", 2): "%I",
    ("m", 1): "%-M",
    ("m", 2): "%M",
    ("s", 1): "%-S",
    ("s", 2): "%S",
    ("a", 1): "%p",
    ("E", 3): "%a",
    ("E", 4): "%A",
    ("w", 2): "%V",
}


def java_pattern(pattern: str) -> str:
    """A Java DateTimeFormatter pattern as a strftime format; InvalidArgumentException for
    letters this emulator does not render."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":  # quoted literal; '' is a quote
            j = pattern.find("'", i + 1)
            if j == i + 1:
                out.append("'")
                i += 2
                continue
            if j < 0:
                raise AwsError(
                    "InvalidArgumentException",
                    f"Unterminated quote in timestamp pattern {pattern!r}.",
                )
            out.append(pattern[i + 1 : j].replace("%", "%%"))
            i = j + 1
            continue
        if c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            fmt = _JAVA.get((c, j - i))
            if fmt is None:
                raise AwsError(
                    "InvalidArgumentException",
                    f"Timestamp pattern {pattern!r}: '{pattern[i:j]}' is not supported "
                    "(use y, M, d, H, m, s, D, E, a, w and quoted text).",
                )
            out.append(fmt)
            i = j
            continue
        out.append("%%" if c == "%" else c)
        i += 1
    return "".join(out)


def zone(custom: str | None) -> tzinfo:
    if not custom:
        return UTC
    try:
        return ZoneInfo(custom)
    except (ZoneInfoNotFoundError, ValueError):
        raise AwsError(
            "InvalidArgumentException", f"CustomTimeZone {custom!r} is not a supported time zone."
        ) from None


def validate(prefix: str, error_prefix: str, dynamic_partitioning: bool) -> None:
    """Create/UpdateDestination's rules for Prefix and ErrorOutputPrefix."""
    for which, text in (("Prefix", prefix), ("ErrorOutputPrefix", error_prefix)):
        for ns, value in EXPRESSION.findall(text or ""):
            if ns not in NAMESPACES:
                raise AwsError(
                    "InvalidArgumentException",
                    f"{which} contains an unknown namespace {ns!r} in !{{{ns}:{value}}}; "
                    f"valid namespaces are {', '.join(NAMESPACES)}.",
                )
            if ns == "timestamp":
                java_pattern(value)
            elif ns == "firehose":
                if value not in ("random-string", "error-output-type"):
                    raise AwsError(
                        "InvalidArgumentException",
                        f"{which}: !{{firehose:{value}}} is not valid; use random-string or "
                        "error-output-type.",
                    )
                if value == "error-output-type" and which == "Prefix":
                    raise AwsError(
                        "InvalidArgumentException",
                        "The expression !{firehose:error-output-type} is only allowed in "
                        "ErrorOutputPrefix.",
                    )
            elif not dynamic_partitioning:
                raise AwsError(
                    "InvalidArgumentException",
                    f"{which} uses !{{{ns}:{value}}} but dynamic partitioning is not enabled.",
                )
    if EXPRESSION.search(prefix or "") and not error_prefix:
        raise AwsError(
            "InvalidArgumentException",
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions.",
        )


def evaluate(
    prefix: str,
    at: float,
    tz: tzinfo,
    *,
    error_output_type: str | None = None,
    keys: Mapping[str, str] | None = None,
    rng: random.Random | None = None,
) -> str:
    """The prefix for an object whose oldest record arrived at ``at`` (epoch seconds)."""
    when = datetime.fromtimestamp(at, tz)
    seen = False
    pick = rng or random

    def one(m: re.Match[str]) -> str:
        nonlocal seen
        seen = True
        ns, value = m.group(1), m.group(2) or ""
        if ns == "timestamp":
            return when.strftime(java_pattern(value))
        if ns == "firehose":
            if value == "random-string":
                return "".join(pick.choice(_RANDOM) for _ in range(11))
            return error_output_type or ""
        return (keys or {}).get(value, "")

    out = EXPRESSION.sub(one, prefix or "")
    if not seen:
        out += when.strftime("%Y/%m/%d/%H/")
    return out


def suffix(stream: str, version: int, at: float, tz: tzinfo, extension: str) -> str:
    when = datetime.fromtimestamp(at, tz)
    return f"{stream}-{version}-{when.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4()}{extension}"
