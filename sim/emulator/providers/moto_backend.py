"""Breadth from moto: every service without an own provider is served by moto's backends.

moto keeps state in memory only. To keep what was acknowledged across a crash, every
successful mutating call is appended to a journal (SQLite, WAL) before the answer goes out,
and replayed into fresh backends at start-up. moto draws its identifiers (ids, ARNs' random
parts, receipt handles) from one seedable generator, which is re-seeded with the journal
sequence number before each mutating call, so a replay recreates the same identifiers.

Deliberate deviation: timestamps of replayed resources are those of the replay.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.validation import validate

log = logging.getLogger("bdlab.moto")

_READ_PREFIXES = (
    "Get",
    "Describe",
    "List",
    "Head",
    "BatchGet",
    "Query",
    "Scan",
    "Search",
    "Lookup",
    "Check",
    "Simulate",
    "Validate",
    "Test",
    "Estimate",
    "Filter",
    "Preview",
    "Poll",
)
_app: Any = None
_app_lock = threading.Lock()
_corrections: list[Callable[[], None]] = []


def correct_moto(patch: Callable[[], None]) -> None:
    """Run ``patch`` once moto is loaded, before any call or journal replay reaches it: how a
    provider corrects a moto backend it keeps using (e.g. Logs stops delivering to moto's own
    Kinesis). Registered at import time of the provider's module."""
    with _app_lock:
        _corrections.append(patch)
        if _app is not None:  # moto already loaded: correct it now
            patch()


def moto_app() -> Any:
    """moto's WSGI dispatcher (built once per process)."""
    global _app
    with _app_lock:
        if _app is None:
            from moto.server import DomainDispatcherApplication, create_backend_app

            _app = DomainDispatcherApplication(create_backend_app)
            _patch_sns_binary_attributes()
            _patch_call_action()
            from sim.emulator.providers.sns import hooks

            hooks.install()  # before any replay: tokens and confirmations are rebuilt by it
            for patch in _corrections:
                patch()
        return _app


# What moto's last call raised (on the moto thread), so that its 500 can say what it was.
_raised = threading.local()

# A service's error code for a parameter value it cannot use (each service's API reference,
# "Common errors" or its own list); JSON services default to ValidationException, query
# services to the common InvalidParameterValue.
BAD_INPUT_CODES = {
    "sqs": "InvalidParameterValue",
    "sns": "InvalidParameter",
    "iam": "ValidationError",
    "sts": "ValidationError",
    "dynamodb": "ValidationException",
    "glue": "InvalidInputException",
    "logs": "InvalidParameterException",
    "kinesis": "InvalidArgumentException",
    "lambda": "InvalidParameterValueException",
    "secretsmanager": "InvalidParameterException",
    "athena": "InvalidRequestException",
}
# Exceptions moto raises when a value does not fit (int("abc"), a bad date, a wrong type):
# the request's fault, not the emulator's
_BAD_INPUT = (ValueError, TypeError, ArithmeticError)


def _patch_call_action() -> None:
    """Record what a moto handler raised before werkzeug turns it into a bare 500."""
    import functools

    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        try:
            return original(self)
        except Exception as exc:
            _raised.exc = exc
            raise

    BaseResponse.call_action = call_action  # type: ignore[method-assign]


_logged: set[tuple[str, str, str]] = set()


def moto_failure(req: Request, op: str, exc: BaseException | None) -> AwsError:
    """The AWS error for a moto call that raised ``exc`` (issue 12 §6): an operation moto
    lacks is 501 NotImplemented; a value it cannot use is the service's 400 validation error;
    anything else stays a 500, logged once per service, operation and exception type."""
    name = f"{req.service}:{op or req.method + ' ' + req.raw_path}"
    if isinstance(exc, NotImplementedError):
        return AwsError(
            "NotImplemented",
            f"{name} is not implemented by bdlab (its moto backend has no {op or 'such call'}); "
            "see docs/emulator.md.",
            501,
            sender=False,
        )
    if isinstance(exc, _BAD_INPUT):
        json_service = bool(req.target) or "json" in req.headers.get("content-type", "")
        code = BAD_INPUT_CODES.get(
            req.service, "ValidationException" if json_service else "InvalidParameterValue"
        )
        return AwsError(code, f"Invalid parameter value for {op}: {exc}", 400)
    key = (req.service, op, type(exc).__name__)
    if key not in _logged:
        _logged.add(key)
        log.error("moto failed serving %s: %r", name, exc, exc_info=exc)
    return AwsError(
        "InternalFailure",
        f"bdlab's moto backend could not serve {name} ({type(exc).__name__ if exc else 'crash'}); "
        "the emulator's log has the details.",
        500,
        sender=False,
    )


def _patch_sns_binary_attributes() -> None:
    """moto's SNS hands a raw-delivery SQS subscription its Binary message attributes as base64
    text where SQS keeps bytes: ReceiveMessage then crashed computing MD5OfMessageAttributes
    (hashing a str) and would have base64-encoded the text once more. AWS delivers the
    attribute's bytes; so the text is decoded at SQS's door."""
    import base64
    import binascii
    import functools

    from moto.sqs.models import SQSBackend

    original = SQSBackend.send_message

    @functools.wraps(original)
    def send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kw: Any) -> Any:
        attrs = kw.get("message_attributes") if "message_attributes" in kw else None
        if attrs is None and args:
            attrs = args[0]
        for value in (attrs or {}).values():
            blob = value.get("BinaryValue") if isinstance(value, dict) else None
            if isinstance(blob, str):
                try:
                    value["BinaryValue"] = base64.b64decode(blob, validate=True)
                except (binascii.Error, ValueError):
                    value["BinaryValue"] = blob.encode("utf-8")
        return original(self, queue_name, message_body, *args, **kw)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def seed_moto(n: int) -> None:
    from moto.moto_api._internal import mock_random

    mock_random.seed(n)


def action_of(req: Request, body: bytes) -> str:
    """The API operation name of a JSON, CBOR or query request ('' for REST)."""
    if req.target:
        return req.target.rsplit(".", 1)[-1]
    path = req.raw_path
    if "/operation/" in path:  # Smithy RPCv2: /service/<Service>/operation/<Op>
        return path.rsplit("/", 1)[-1]
    for k, v in parse_qsl(req.query_string):
        if k == "Action":
            return v
    if body and b"Action=" in body[:4096]:
        try:
            for k, v in parse_qsl(body.decode("utf-8", "replace")):
                if k == "Action":
                    return v
        except ValueError:
            pass
    return ""


def _looks_like_aws_error(body: bytes) -> bool:
    head = body[:512]
    return b"__type" in head or b"<Code>" in head or b"<Error>" in head


def is_mutating(action: str, method: str) -> bool:
    if action:
        return not action.startswith(_READ_PREFIXES)
    return method not in ("GET", "HEAD", "OPTIONS")


class Journal:
    """Append-only log of successful mutating calls to moto-served services."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS calls(seq INTEGER PRIMARY KEY, service TEXT, method TEXT,"
            " path TEXT, query TEXT, headers TEXT, body BLOB)"
        )
        row = self.db.execute("SELECT max(seq) FROM calls").fetchone()
        self.last = int(row[0] or 0)

    def append(
        self,
        seq: int,
        service: str,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        self.db.execute(
            "INSERT INTO calls VALUES(?,?,?,?,?,?,?)",
            (seq, service, method, path, query, json.dumps(headers), body),
        )
        self.last = seq

    def entries(self) -> list[tuple[int, str, str, str, str, dict[str, str], bytes]]:
        return [
            (s, sv, m, p, q, json.loads(h), b)
            for s, sv, m, p, q, h, b in self.db.execute("SELECT * FROM calls ORDER BY seq")
        ]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def _environ(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes, port: int
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for k, v in headers.items():
        if k == "content-type":
            env["CONTENT_TYPE"] = v
        elif k != "content-length":
            env["HTTP_" + k.upper().replace("-", "_")] = v
    return env


class MotoProvider(Provider):
    """Serves one or many services through moto, one call at a time, journaling writes."""

    def __init__(self, journal: Journal, port: int) -> None:
        self.journal = journal
        self.port = port
        # One thread: moto is not thread-safe everywhere, and journal order must be call order.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moto")

    def warm_up(self) -> None:
        """Import moto on the moto thread in the background, so start-up stays fast."""
        self.executor.submit(moto_app)

    def replay(self) -> tuple[int, int]:
        """Rebuild moto's state from the journal; returns (replayed, failed)."""
        if self.journal.last == 0:
            return 0, 0  # nothing to rebuild: leave moto unimported until it is needed
        reset_moto()
        ok = failed = 0
        from sim.emulator.providers.sns import hooks

        for seq, _service, method, path, query, headers, body in self.journal.entries():
            seed_moto(seq)
            with hooks.replaying():  # SNS delivered these before the restart
                try:
                    status, _, _ = self._wsgi(method, path, query, headers, body)
                except Exception:  # a newer moto refusing an old entry must not stop start-up
                    log.exception("journal entry %s raised on replay", seq)
                    status = 500
            if status < 400:
                ok += 1
            else:
                failed += 1
                log.warning(
                    "journal entry %s (%s %s) failed on replay: %s", seq, method, path, status
                )
        return ok, failed

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        validate(req, body)  # AWS's input contract, which moto does not enforce
        loop = asyncio.get_running_loop()
        status, headers, out = await loop.run_in_executor(self.executor, self._call, req, body)
        return self.answer(req, body, status, headers, out)

    async def resource_policy(self, arn: str) -> dict[str, Any] | None:
        """The resource policy of an SQS queue or SNS topic ``arn`` (its ``Policy``
        attribute, read from moto on the moto thread), or None."""
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] not in ("sqs", "sns"):
            return None
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(self.executor, _moto_policy, parts)
        if not text:
            return None
        try:
            found = json.loads(text)
        except ValueError:
            return None
        return dict(found) if isinstance(found, dict) else None

    def call_here(self, req: Request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Serve (and journal) one call; only on the moto thread (``executor``), so that a
        provider can read moto's state before and after the call with nothing in between."""
        return self._call(req, body)

    def answer(
        self, req: Request, body: bytes, status: int, headers: list[tuple[str, str]], out: bytes
    ) -> Response:
        """moto's answer to ``req`` as the caller gets it (a crash becomes AWS's 500 shape)."""
        if status >= 500 and not _looks_like_aws_error(out):
            # moto raised: say what it was in AWS's shape, never a traceback
            raise moto_failure(req, action_of(req, body), req.moto_exception)
        return Response(status, headers, out)

    async def internal_call(
        self, service: str, region: str, params: dict[str, str]
    ) -> tuple[int, bytes]:
        """A query-protocol call made by bdlab itself (e.g. CloudWatch alarm actions publishing
        to SNS): served and journaled exactly like a client's call. Returns (status, body)."""
        from urllib.parse import urlencode

        body = urlencode(params).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded; charset=utf-8",
            "host": f"127.0.0.1:{self.port}",
            "authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/"
            "aws4_request, SignedHeaders=host, Signature=bdlab",
        }
        req = Request("POST", "/", "", headers, body=body, service=service, region=region)
        loop = asyncio.get_running_loop()
        status, _, out = await loop.run_in_executor(self.executor, self._call, req, body)
        return status, out

    def _call(self, req: Request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        path = req.raw_path
        from urllib.parse import unquote

        wsgi_path = unquote(path).encode("utf-8").decode("latin-1")
        mutating = is_mutating(action_of(req, body), req.method)
        seq = self.journal.last + 1
        if mutating:
            seed_moto(seq)
        _raised.exc = None
        try:
            status, headers, out = self._wsgi(
                req.method, wsgi_path, req.query_string, req.headers, body
            )
        except Exception as exc:  # moto's handler raised through the WSGI app
            raise moto_failure(req, action_of(req, body), exc) from None
        req.moto_exception = _raised.exc
        if mutating and status < 400:
            self.journal.append(
                seq, req.service, req.method, wsgi_path, req.query_string, req.headers, body
            )
        return status, headers, out

    def _wsgi(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = hdrs
            return lambda data: None

        result = moto_app()(_environ(method, path, query, headers, body, self.port), start_response)
        try:
            out = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        hdrs = [
            (k.lower(), v)
            for k, v in captured.get("headers", [])
            if k.lower()
            not in ("content-length", "transfer-encoding", "connection", "server", "date")
        ]
        return captured.get("status", 500), hdrs, out

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def _moto_policy(parts: list[str]) -> str | None:
    """moto's Policy text of the queue or topic whose ARN is split in ``parts``."""
    moto_app()  # moto is imported and patched before its backends are read
    service, region, account, name = parts[2], parts[3], parts[4], parts[5]
    try:
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            queue = sqs_backends[account][region].queues.get(name)
            return None if queue is None else queue.policy
        from moto.sns.models import sns_backends

        topic = sns_backends[account][region].topics.get(":".join(parts))
        return None if topic is None else topic.policy
    except (KeyError, AttributeError):
        return None


class SeamProvider(Provider):
    """A service that a later issue gives an own, faithful provider (Kinesis, Firehose,
    CloudWatch alarms). Until then it delegates to moto; swapping the provider in the
    gateway's table is the only change needed. ``throttle`` is the service's own throttling
    error (code, message, status)."""

    def __init__(
        self, service: str, fallback: MotoProvider, throttle: tuple[str, str, int] | None = None
    ) -> None:
        self.service = service
        self.fallback = fallback
        self.throttle = throttle

    def fault_error(self, kind: str) -> AwsError:
        if kind == "throttle" and self.throttle is not None:
            code, message, status = self.throttle
            return AwsError(code, f"{message} (bdlab fault: throttle_rate).", status)
        return super().fault_error(kind)

    async def handle(self, req: Request) -> Response:
        return await self.fallback.handle(req)
