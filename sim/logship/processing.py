"""``dataProcessingOptions``: what the Kinesis Agent does to a record between the file and
the stream, in the order configured.

- ``SINGLELINE``: remove the newlines and each line's leading and trailing blanks (Java's
  ``String.trim``: every character up to U+0020), then end the record with one newline.
- ``LOGTOJSON``: parse the record with the ``logFormat``'s regular expression (or
  ``matchPattern``) and send it as one compact JSON object plus a newline; field names are
  the format's (or ``customFieldNames``); in the Apache formats a ``-`` field is ``null``.
  A record that does not match is dropped (the agent's behaviour), and counted.

Patterns, field names and the "-" rule are ported from the agent's own parsers
(awslabs/amazon-kinesis-agent, processing/parsers: PatternConstants, ApacheLogParser,
SysLogParser). https://docs.aws.amazon.com/firehose/latest/dev/pre-processing.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.logship.config import ProcessingOption

Converter = Callable[[bytes], "bytes | None"]  # record in -> record out, None = drop

# Building blocks (Grok's, as the agent writes them).
_INT = r"(?:[+-]?(?:[0-9]+))"
_POSINT = r"(?:[1-9][0-9]*)"
_NONNEGINT = r"(?:[0-9]+)"
_WORD = r"\w+"
_NOQUOTE = r'[^"]+'
_IP = r"(?:[\d\.]+)"
_HOSTNAME = r"(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)"
_IPORHOST = f"(?:{_HOSTNAME}|{_IP})"
_URIHOST = f"(?:{_IPORHOST}(?::{_POSINT})?)"
_USER = r"(?:[a-zA-Z0-9._-]+)"
_MONTHDAY = r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"
_DAY = r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)"
_MONTH = r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b"
_YEAR = r"(?:[1-9]\d*)"
_TIME = r"(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?))"
_HTTPDATE = rf"(?:{_MONTHDAY}/{_MONTH}/{_YEAR}:{_TIME}\s{_INT})"
_ERRORDATE = rf"(?:{_DAY}\s+{_MONTH}\s+{_MONTHDAY}\s+{_TIME}\s+{_YEAR})"
_SYSLOGDATE = rf"(?:{_MONTH}\s+{_MONTHDAY}\s+{_TIME})"
_PROG = r"([\w\._/%-]+)"

COMMON_APACHE_LOG = (
    rf"^({_IPORHOST}) ({_USER}) ({_USER}) \[({_HTTPDATE})\] "
    rf'"({_NOQUOTE})" ({_INT}|\-) ({_INT}|\-)'
)
COMBINED_APACHE_LOG = COMMON_APACHE_LOG + rf' "({_NOQUOTE})" "({_NOQUOTE})"'
APACHE_ERROR_LOG = (
    rf"^\[({_ERRORDATE})\] \[(?:({_WORD}):)?({_WORD})\] "
    rf"\[pid ({_NONNEGINT})(?::tid ({_NONNEGINT}))?\] \[client ({_URIHOST})\] (.*)"
)
SYSLOG = (
    rf"^({_SYSLOGDATE}) (?:<{_NONNEGINT}.{_NONNEGINT}> )?({_USER}) "
    rf"{_PROG}(?:\[({_POSINT})\])?: (.*)"
)

COMMON_FIELDS = ("host", "ident", "authuser", "datetime", "request", "response", "bytes")
COMBINED_FIELDS = (*COMMON_FIELDS, "referer", "agent")
ERROR_FIELDS = ("timestamp", "module", "severity", "processid", "threadid", "client", "message")
SYSLOG_FIELDS = ("timestamp", "hostname", "program", "processid", "message")

# logFormat -> (pattern, field names, whether "-" means null). The access-log patterns end
# in ".*" as the agent's do, so a format with extra trailing fields (nginx's main) parses too.
FORMATS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "COMMONAPACHELOG": (COMMON_APACHE_LOG + ".*", COMMON_FIELDS, True),
    "COMBINEDAPACHELOG": (COMBINED_APACHE_LOG + ".*", COMBINED_FIELDS, True),
    "APACHEERRORLOG": (APACHE_ERROR_LOG, ERROR_FIELDS, True),
    "SYSLOG": (SYSLOG, SYSLOG_FIELDS, False),
}

_BLANKS = "".join(chr(c) for c in range(33))  # what Java's String.trim() removes


def single_line(record: bytes) -> bytes:
    """SINGLELINE: ``b"  a\\n  b \\n"`` -> ``b"ab\\n"``."""
    text = record.decode("utf-8", "replace")
    return ("".join(part.strip(_BLANKS) for part in text.split("\n")) + "\n").encode()


class LogToJson:
    """LOGTOJSON for one ``logFormat`` (optionally with ``matchPattern`` and
    ``customFieldNames``). Call it with a record; returns JSON bytes or None (no match)."""

    def __init__(
        self,
        log_format: str,
        match_pattern: str | None = None,
        custom_field_names: tuple[str, ...] | None = None,
    ) -> None:
        pattern, fields, dash_is_null = FORMATS[log_format]
        if match_pattern is not None:
            if custom_field_names is None:
                raise ValueError("matchPattern needs customFieldNames (one per group)")
            pattern, fields = match_pattern, custom_field_names
        elif custom_field_names is not None:
            if len(custom_field_names) != len(fields):
                raise ValueError(
                    f"customFieldNames has {len(custom_field_names)} names; {log_format} "
                    f"has {len(fields)} fields ({', '.join(fields)})"
                )
            fields = custom_field_names
        self.regex = re.compile(pattern)
        self.fields = fields
        self.dash_is_null = dash_is_null
        if self.regex.groups != len(fields):
            raise ValueError(
                f"the pattern has {self.regex.groups} groups but {len(fields)} field names"
            )

    def parse(self, line: str) -> dict[str, str | None] | None:
        """The fields of ``line`` (without its newline), or None when it does not match."""
        m = self.regex.fullmatch(line)
        if m is None:
            return None
        values = m.groups()
        if self.dash_is_null:
            values = tuple(None if v == "-" else v for v in values)
        return dict(zip(self.fields, values, strict=True))

    def __call__(self, record: bytes) -> bytes | None:
        text = record.decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1]
        parsed = self.parse(text)
        if parsed is None:
            return None
        return (json.dumps(parsed, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def converter(option: ProcessingOption, where: str = "dataProcessingOptions") -> Converter:
    """The function for one processing option; ConfigError when it cannot be built."""
    from sim.logship.config import ConfigError

    if option.option_name == "SINGLELINE":
        return single_line
    try:
        return LogToJson(str(option.log_format), option.match_pattern, option.custom_field_names)
    except (ValueError, re.error) as exc:
        raise ConfigError(f"{where}: {exc}.") from None


def chain(options: tuple[ProcessingOption, ...]) -> Converter | None:
    """All options applied in order (None: no processing); a dropped record stops the chain."""
    steps = [converter(o) for o in options]
    if not steps:
        return None

    def run(record: bytes) -> bytes | None:
        out = record
        for step in steps:
            nxt = step(out)
            if nxt is None:
                return None
            out = nxt
        return out

    return run
