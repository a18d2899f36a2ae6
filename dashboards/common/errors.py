"""One line a person can act on for every failure a dashboard expects (a missing bucket or
table, the emulator down, a schema change), instead of a traceback on the page."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_S3_ERROR = re.compile(r"<Code>([^<]+)</Code>\s*<Message>([^<]*)</Message>")


class SourceError(RuntimeError):
    """A source that cannot be read now; the message says what and how to fix it."""


def one_line(exc: BaseException, where: str = "") -> str:
    """``exc`` as one line, prefixed with ``where`` (e.g. ``s3://bucket/gold/x``)."""
    prefix = f"{where}: " if where else ""
    if isinstance(exc, SourceError):
        return f"{prefix}{exc}" if where and where not in str(exc) else str(exc)
    name = type(exc).__name__
    text = " ".join(_ANSI.sub("", str(exc)).split())
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    elif m := _S3_ERROR.search(text):  # delta-rs and pyarrow quote S3's XML error body
        code = m[1]
        text = f"S3 answered {m[1]}: {m[2]}"
    if code == "NoSuchBucket" or (code == "404" and "bucket" in text.lower()):
        return f"{prefix}the bucket does not exist: write the data first (e.g. `bdlab demo`)"
    if code in ("AccessDenied", "403"):
        return f"{prefix}access denied ({text[:160]})"
    lowered = text.lower()
    if name in ("EndpointConnectionError", "ConnectionRefusedError", "ConnectTimeoutError") or (
        "connection refused" in lowered or "error trying to connect" in lowered
    ):
        return f"{prefix}the emulator does not answer: start it with `bdlab up`"
    if name == "TableNotFoundError" or "no files in log segment" in lowered:
        return (
            f"{prefix}no Delta table here (no commits in _delta_log/): run the job that writes it"
        )
    if name in ("ArrowInvalid", "ArrowTypeError", "SchemaMismatchError") or "schema" in lowered:
        return f"{prefix}schema change: {text[:200]}"
    if name.endswith("CatalogException") or name.endswith("BinderException"):
        return f"{prefix}the dataset's query does not fit the data: {text[:200]}"
    return f"{prefix}{name}: {text[:200]}"
