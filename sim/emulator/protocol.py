"""Wire-level pieces shared by the gateway and the providers: requests, responses, errors.

AWS speaks four protocols to boto3: REST-XML (S3), query (IAM, STS, SNS, CloudWatch's old
wire format), JSON with ``X-Amz-Target`` (Kinesis, Firehose, DynamoDB, ...) and Smithy RPCv2
CBOR (CloudWatch today). An :class:`AwsError` is rendered in the shape the caller's protocol
expects, so botocore raises a proper ``ClientError`` with AWS's code.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

import cbor2

Receive = Callable[[], Awaitable[dict[str, Any]]]
# Request ids: a per-process random prefix and a counter (uuid4 costs a syscall per request).
_RID_PREFIX = uuid.uuid4().hex[:22]
_RID = itertools.count(1)


class AwsError(Exception):
    """An error AWS would return: code, message, HTTP status and optional extra fields."""

    def __init__(
        self, code: str, message: str, status: int = 400, sender: bool = True, **extra: Any
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender
        self.extra = extra
        self.headers: list[tuple[str, str]] = []  # response headers that go with the error
        # Answer at once and close the connection instead of reading the rest of the body
        # (a 6 GB Content-Length claim must not be waited for).
        self.close_connection = False


def host_id(request_id: str) -> str:
    """S3's extended request id (``x-amz-id-2``) paired with ``request_id``."""
    import base64
    import hashlib

    digest = hashlib.sha256(request_id.encode()).digest() * 2
    return base64.b64encode(digest[:57]).decode()


def client_gone() -> AwsError:
    """The connection closed before the whole body arrived: nothing of it is stored."""
    return AwsError(
        "IncompleteBody",
        "The request body terminated unexpectedly (the connection closed before it was whole).",
    )


@dataclass
class Request:
    """One HTTP request as the gateway saw it (headers lower-cased)."""

    method: str
    raw_path: str  # still percent-encoded
    query_string: str
    headers: dict[str, str]
    receive: Receive | None = None
    body: bytes | None = None  # None until read (S3 object bodies are streamed)
    service: str = ""
    operation: str = ""  # set by providers that know it (S3), for request counts
    bucket: str = ""
    region: str = "us-east-1"
    request_id: str = field(default_factory=lambda: f"{_RID_PREFIX}{next(_RID):010d}")
    client_ip: str = ""  # the peer's address (aws:SourceIp)
    secure: bool = False  # came over TLS (aws:SecureTransport)
    # IAM enforcement on an operation authorized per item (DeleteObjects' keys, a POST
    # upload's key, signed by the form's access key): ``await authorize_item(key[, access
    # key])`` -> None, or the AccessDenied message
    authorize_item: Callable[..., Awaitable[str | None]] | None = None
    moto_exception: BaseException | None = None  # what moto raised serving this request

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    async def read(self, limit: int = 64 * 1024 * 1024) -> bytes:
        """The whole body (for API calls; S3 object bodies stream instead)."""
        if self.body is not None:
            return self.body
        chunks: list[bytes] = []
        size = 0
        if self.receive is not None:
            while True:
                msg = await self.receive()
                if msg.get("type") == "http.disconnect":
                    raise client_gone()
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise AwsError("RequestEntityTooLarge", "request body too large", 413)
                chunks.append(chunk)
                if not msg.get("more_body", False):
                    break
        self.body = b"".join(chunks)
        return self.body

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives."""
        if self.body is not None:
            yield self.body
            return
        if self.receive is None:
            return
        while True:
            msg = await self.receive()
            if msg.get("type") == "http.disconnect":
                raise client_gone()
            chunk = msg.get("body", b"")
            if chunk:
                yield chunk
            if not msg.get("more_body", False):
                break
        self.body = b""

    async def drain(self) -> None:
        """Consume an unread body so the connection stays in sync (early error answers)."""
        if self.body is not None or self.receive is None:
            return
        has_body = self.headers.get("content-length", "0") not in (
            "",
            "0",
        ) or "chunked" in self.headers.get("transfer-encoding", "")
        if has_body:
            async for _ in self.stream():
                pass

    @property
    def target(self) -> str:
        return self.headers.get("x-amz-target", "")


@dataclass
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""

    @classmethod
    def xml(
        cls, body: str, status: int = 200, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        h = [("content-type", "application/xml")] + (headers or [])
        return cls(status, h, ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode())

    @classmethod
    def json(
        cls, data: Any, status: int = 200, content_type: str = "application/x-amz-json-1.1"
    ) -> Response:
        return cls(status, [("content-type", content_type)], json.dumps(data).encode())


def protocol_of(req: Request) -> str:
    """Which wire protocol the caller speaks: s3 | json | cbor | query."""
    if req.service == "s3":
        return "s3"
    if req.headers.get("smithy-protocol", "").startswith("rpc-v2-cbor"):
        return "cbor"
    if req.target or _rest_json(req.service):
        return "json"
    return "query"


@lru_cache(maxsize=128)
def _rest_json(service: str) -> bool:
    """Whether ``service`` speaks REST-JSON (QuickSight, Lambda, ...: no X-Amz-Target, JSON
    errors), by botocore's model of it; an error to such a call in query XML would reach
    the SDK as a bare status code."""
    from sim.emulator.validation import service_model  # validation imports this module

    model = service_model(service)
    return model is not None and model.metadata.get("protocol") == "rest-json"


def error_response(req: Request, err: AwsError) -> Response:
    """Render ``err`` in the caller's protocol."""
    proto = protocol_of(req)
    rid = req.request_id
    headers = [("x-amzn-requestid", rid), ("x-amz-request-id", rid)]
    headers += err.headers
    if proto == "s3":
        extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in err.extra.items())
        body = (
            f"<Error><Code>{err.code}</Code><Message>{escape(err.message)}</Message>"
            f"{extra}<RequestId>{rid}</RequestId></Error>"
        )
        if req.method == "HEAD":
            return Response(err.status, headers + [("x-amz-error-code", err.code)], b"")
        return Response.xml(body, err.status, headers)
    if proto == "json":
        data = {"__type": err.code, "message": err.message, **err.extra}
        return Response(
            err.status,
            headers
            + [("content-type", "application/x-amz-json-1.1"), ("x-amzn-errortype", err.code)],
            json.dumps(data).encode(),
        )
    if proto == "cbor":
        return Response(
            err.status,
            headers + [("content-type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")],
            cbor2.dumps({"__type": err.code, "message": err.message}),
        )
    kind = "Sender" if err.sender else "Receiver"
    body = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{err.code}</Code>"
        f"<Message>{escape(err.message)}</Message></Error>"
        f"<RequestId>{rid}</RequestId></ErrorResponse>"
    )
    return Response.xml(body, err.status, headers)
