"""S3's REST-XML protocol layer: parse requests, call the model, serialise answers.

Parsing and rendering only: headers, query, XML bodies, aws-chunked decoding, ranges. S3's
rules (limits, storage classes, conditions, checksum verdicts) are in ``model.py`` and
``restore.py``; rows and files are ``store.py``'s, reached through the model's
``S3Backend``.

Streams object bodies (aws-chunked included) into a new data file with their MD5, so a
64 MB PUT never sits in memory, and streams GETs back in 4 MiB slices with Range support.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import logging
import re
import time
import xml.etree.ElementTree as ET
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

from sim.emulator.protocol import (
    AwsError,
    Request,
    Response,
    client_gone,
    error_response,
    host_id,
)
from sim.emulator.providers.base import Provider
from sim.emulator.providers.s3 import configs, notify, restore, surface
from sim.emulator.providers.s3 import metrics as s3metrics
from sim.emulator.providers.s3.costs import COPY_OPS, CostModel
from sim.emulator.providers.s3.model import (
    CONFIG_MISSING,
    INLINE_MAX,
    MAX_DELETE_KEYS,
    NotModified,
    ObjectInfo,
    S3Backend,
    check_body_length,
    check_content_md5,
    check_copy_changes,
    check_copy_conditions,
    check_expected_owner,
    check_read_conditions,
    check_single_put_size,
    check_version_id,
    check_write_headers,
    full_object_checksum,
    quote_etag,
    validate_storage_class,
    verify_checksum,
    verify_content_md5,
)

log = logging.getLogger("bdlab.s3")

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
OWNER = f"<Owner><ID>{OWNER_ID}</ID><DisplayName>bdlab</DisplayName></Owner>"
_INITIATOR = f"<Initiator><ID>{OWNER_ID}</ID><DisplayName>bdlab</DisplayName></Initiator>"
_SLICE = 4 * 1024 * 1024
_KEPT_HEADERS = (
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-bucket-key-enabled",
    "x-amz-website-redirect-location",
)
_CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
_DEFAULT_CONFIGS = {
    "versioning": f'<VersioningConfiguration xmlns="{NS}"/>',
    "logging": f'<BucketLoggingStatus xmlns="{NS}"/>',
    "notification": f'<NotificationConfiguration xmlns="{NS}"/>',
    "accelerate": f'<AccelerateConfiguration xmlns="{NS}"/>',
    "requestPayment": f'<RequestPaymentConfiguration xmlns="{NS}"><Payer>BucketOwner</Payer>'
    "</RequestPaymentConfiguration>",
    # Every new AWS bucket since 2023: ACLs disabled, public access blocked, SSE-S3.
    "ownershipControls": f'<OwnershipControls xmlns="{NS}"><Rule><ObjectOwnership>'
    "BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>",
    "publicAccessBlock": f'<PublicAccessBlockConfiguration xmlns="{NS}">'
    + "".join(
        f"<{f}>true</{f}>"
        for f in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
    )
    + "</PublicAccessBlockConfiguration>",
    "encryption": f'<ServerSideEncryptionConfiguration xmlns="{NS}"><Rule>'
    "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
    "</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule>"
    "</ServerSideEncryptionConfiguration>",
    "acl": f'<AccessControlPolicy xmlns="{NS}">{OWNER}<AccessControlList><Grant>'
    '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
    f"<ID>{OWNER_ID}</ID><DisplayName>bdlab</DisplayName></Grantee>"
    "<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>",
}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _strip_ns(elem: ET.Element) -> None:
    for e in elem.iter():
        if "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]


def parse_xml(body: bytes) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not "
            f"validate against our published schema ({exc})",
        ) from exc
    _strip_ns(root)
    return root


# Virtual-hosted-style names S3 answers (and LocalStack's), region-qualified or not:
# <bucket>.s3.amazonaws.com, <bucket>.s3.<region>.amazonaws.com, <bucket>.s3-<region>.amazonaws
# .com (legacy), <bucket>.s3.dualstack.<region>.amazonaws.com, <bucket>.s3[.<region>].localhost
# .localstack.cloud, <bucket>.localhost. Without a bucket label the request is path-style.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html
_VIRTUAL_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)"
    r"(?:\.s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.(?:amazonaws\.com|localhost\.localstack\.cloud)"
    r"|\.localhost)$"
)


class ChunkedDecoder:
    """Incremental decoder of ``Content-Encoding: aws-chunked`` (signed or not, with trailers)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.remaining = 0
        self.in_data = False
        self.done = False
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = bytearray()
        while True:
            if self.done:
                # Trailer lines after the final 0-size chunk.
                while b"\r\n" in self.buf:
                    line, _, rest = bytes(self.buf).partition(b"\r\n")
                    self.buf = bytearray(rest)
                    if b":" in line:
                        k, _, v = line.decode().partition(":")
                        self.trailers[k.strip().lower()] = v.strip()
                return bytes(out)
            if self.in_data:
                take = min(self.remaining, len(self.buf))
                out += self.buf[:take]
                del self.buf[:take]
                self.remaining -= take
                if self.remaining:
                    return bytes(out)
                if len(self.buf) < 2:
                    return bytes(out)
                del self.buf[:2]  # CRLF after the chunk data
                self.in_data = False
                continue
            idx = self.buf.find(b"\r\n")
            if idx < 0:
                return bytes(out)
            header = bytes(self.buf[:idx]).split(b";", 1)[0].strip()
            del self.buf[: idx + 2]
            try:
                size = int(header, 16)
            except ValueError as exc:
                raise AwsError(
                    "IncompleteBody", "The request body is not valid aws-chunked encoding"
                ) from exc
            if size == 0:
                self.done = True
                continue
            self.remaining, self.in_data = size, True


def _check_before_body(h: dict[str, str]) -> None:
    """What AWS refuses from the headers alone, before it reads the body."""
    for name in ("content-length", "x-amz-decoded-content-length"):
        try:
            check_single_put_size(h.get(name))
        except AwsError as err:
            err.close_connection = True  # answered without reading the body: do not reuse
            raise
    if "content-md5" in h:
        check_content_md5(h["content-md5"])


def _checksum_alg(req: Request) -> str | None:
    for alg in _CHECKSUMS:
        if f"x-amz-checksum-{alg}" in req.headers:
            return alg
    trailer = req.headers.get("x-amz-trailer", "")
    if trailer.startswith("x-amz-checksum-"):
        return trailer[len("x-amz-checksum-") :]
    return None


def _crt() -> Any:
    """awscrt's checksums, imported on first use (~80 ms the emulator's start need not pay)."""
    from awscrt import checksums

    return checksums


class _Digest:
    """The checksums S3 computes while bytes stream in: MD5 (the ETag) and the object's
    checksum algorithm. CRC32C and CRC64NVME come from ``awscrt`` (AWS's own checksum
    library, the one botocore uses)."""

    def __init__(self, alg: str | None, also: str | None = None) -> None:
        self.md5 = hashlib.md5()
        self.alg = alg
        self.crc = 0
        self.h = hashlib.new(alg) if alg in ("sha1", "sha256") else None
        # a second CRC64NVME kept beside the client's algorithm (parts of an upload created
        # without one: S3 combines them into the object's full-object checksum)
        self.also = _Digest(also) if also and also != alg else None

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.update_checksum(chunk)

    def update_checksum(self, chunk: bytes) -> None:
        if self.also is not None:
            self.also.update_checksum(chunk)
        if self.alg == "crc32":
            self.crc = zlib.crc32(chunk, self.crc)
        elif self.alg == "crc32c":
            self.crc = _crt().crc32c(chunk, self.crc)
        elif self.alg == "crc64nvme":
            self.crc = _crt().crc64nvme(chunk, self.crc)
        elif self.h is not None:
            self.h.update(chunk)

    def value(self) -> str | None:
        if self.alg in ("crc32", "crc32c"):
            return base64.b64encode(self.crc.to_bytes(4, "big")).decode()
        if self.alg == "crc64nvme":
            return base64.b64encode(self.crc.to_bytes(8, "big")).decode()
        if self.h is not None:
            return base64.b64encode(self.h.digest()).decode()
        return None


class _Pipeline:
    """Hash and write a large body off the event loop, in order, while more bytes arrive.

    MD5 runs on one thread, the checksum and the file write on another; both release the GIL,
    so on two cores a 64 MiB PUT costs about as much as its MD5 alone. At most ``depth``
    blocks are in flight, which bounds memory to depth x block size.
    """

    md5_pool = ThreadPoolExecutor(1, thread_name_prefix="s3-md5")
    io_pool = ThreadPoolExecutor(1, thread_name_prefix="s3-io")
    BLOCK = 4 * 1024 * 1024

    def __init__(self, digest: _Digest, fh: Any, depth: int = 4) -> None:
        self.digest, self.fh, self.depth = digest, fh, depth
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.parts: list[bytes] = []
        self.size = 0

    def _write(self, block: bytes) -> None:
        self.digest.update_checksum(block)
        self.fh.write(block)

    async def feed(self, chunk: bytes) -> None:
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.size >= self.BLOCK:
            await self._flush()

    async def _flush(self) -> None:
        if not self.parts:
            return
        block = b"".join(self.parts)
        self.parts, self.size = [], 0
        loop = asyncio.get_running_loop()
        self.pending.append(loop.run_in_executor(self.md5_pool, self.digest.md5.update, block))
        self.pending.append(loop.run_in_executor(self.io_pool, self._write, block))
        while len(self.pending) > 2 * self.depth:
            await self.pending.popleft()

    async def close(self) -> None:
        await self._flush()
        while self.pending:
            await self.pending.popleft()


class S3Provider(Provider):
    """The ``s3`` service of the gateway."""

    service = "s3"
    auth_reads_body = False

    def __init__(
        self,
        backend: S3Backend,
        costs: CostModel | None = None,
        put_metrics: Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None = None,
        send: Callable[[str, str, dict[str, str]], Awaitable[tuple[int, bytes]]] | None = None,
    ) -> None:
        self.backend = backend
        # Event notifications go to SQS and SNS through the gateway's door to them: a
        # query-protocol call (service, region, params) -> (status, body)
        self.send = send
        self._notify_cache: dict[str, notify.Config] = {}  # stored XML -> parsed
        self._has_notify: dict[str, bool] = {}  # bucket -> has a notification configuration
        self._deliveries: set[asyncio.Task[None]] = set()
        backend.listener = self.emit
        self.costs = costs or CostModel()
        self._cors_cache: dict[str, list[configs.CorsRule]] = {}  # CORS XML -> parsed rules
        # AWS/S3 metrics: the gateway hands in its CloudWatch door. Request metrics are
        # counted in memory per minute (metriccells) and flushed by run_forever, so the
        # request path never writes to CloudWatch; the parsed configurations are cached per
        # bucket (an empty tuple: none, the common case, one dict lookup a request).
        self.put_metrics = put_metrics
        self.request_metrics = s3metrics.RequestMetrics()
        self._mconfigs: dict[str, tuple[s3metrics.MetricsConfig, ...]] = {}
        self._started: dict[str, float] = {}  # request id -> perf_counter at handle()
        now = backend.clock.now()
        # storage metrics go out at each midnight UTC the clock passes (never twice a day)
        self._storage_day = now - now % 86_400
        self._running = False

    async def operation(self, req: Request) -> str:
        bucket, key = self._bucket_key(req)
        req.bucket = bucket
        req.operation = operation_name(req.method, bucket, key, req.query(), req.headers)
        return req.operation

    def fault_error(self, kind: str) -> AwsError:
        if kind == "throttle":
            return AwsError(
                "SlowDown",
                "Please reduce your request rate (bdlab fault: throttle_rate).",
                503,
                sender=False,
            )
        if kind == "error":
            return AwsError(
                "InternalError",
                "We encountered an internal error (bdlab fault: error_rate).",
                500,
                sender=False,
            )
        return super().fault_error(kind)

    # ------------------------------------------------------------ IAM enforcement
    async def resource_policy(self, arn: str) -> dict[str, Any] | None:
        """The bucket policy of the bucket ``arn`` names (``arn:aws:s3:::b`` or ``.../key``)."""
        bucket = arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        if not bucket or arn == "*" or not self.backend.bucket_exists(bucket):
            return None
        text = self.backend.get_config(bucket, "policy")
        if not text:
            return None
        found = json.loads(text)
        return dict(found) if isinstance(found, dict) else None

    async def resource_keys(self, arn: str) -> dict[str, list[str]]:
        """aws:ResourceTag/<k> from the bucket's tags; s3:ExistingObjectTag/<k> from an
        existing object's (SAR, "Condition keys for Amazon S3")."""
        if not arn.startswith("arn:aws:s3:::"):
            return {}
        bucket, _, key = arn.removeprefix("arn:aws:s3:::").partition("/")
        if not self.backend.bucket_exists(bucket):
            return {}
        out: dict[str, list[str]] = {}
        tagging = self.backend.get_config(bucket, "tagging")
        if tagging:
            with contextlib.suppress(AwsError):
                for k, v in _tag_pairs(parse_xml(tagging.encode())):
                    out[f"aws:ResourceTag/{k}"] = [v]
        if key and "*" not in key:
            with contextlib.suppress(AwsError):
                for k, v in self.backend.head(bucket, key).tags.items():
                    out[f"s3:ExistingObjectTag/{k}"] = [v]
        return out

    # ------------------------------------------------------------ metrics
    def _configs(self, bucket: str) -> tuple[s3metrics.MetricsConfig, ...]:
        found = self._mconfigs.get(bucket)
        if found is None:
            docs = self._metrics_docs(bucket) if self.backend.bucket_exists(bucket) else {}
            found = self._mconfigs[bucket] = s3metrics.from_stored(docs)
        return found

    def _metrics_docs(self, bucket: str) -> dict[str, str]:
        raw = self.backend.get_config(bucket, "metrics")
        return dict(json.loads(raw)) if raw else {}

    def _count(
        self, req: Request, status: int, resp: Response | None, latency_ms: float | None
    ) -> None:
        """Request metrics for the bucket's configurations this request matches."""
        bucket = req.bucket
        if not bucket or req.method == "OPTIONS":
            return
        if req.operation in ("CreateBucket", "DeleteBucket"):
            self._mconfigs.pop(bucket, None)  # a new bucket of that name has none
        found = self._configs(bucket)
        if not found:
            return
        _, key = self._bucket_key(req)
        tags: dict[str, str] | None = None
        if key and any(c.tags for c in found):
            obj = self.backend.store.get_object(bucket, key)
            tags = obj.tags if obj is not None else {}
        # Requests on the bucket itself (lists, DeleteObjects) count for bucket-wide
        # configurations only: a prefix or tag filter selects objects.
        matched = [c.id for c in found if c.matches(key, tags) and (key or c.whole_bucket)]
        if req.operation == "PutBucketMetricsConfiguration":
            # a configuration counts from the request after the one that made it
            new = req.query().get("id")
            matched = [i for i in matched if i != new]
        if not matched:
            return
        m = req.method
        uploaded = None
        if m in ("PUT", "POST"):
            h = req.headers
            length = h.get("x-amz-decoded-content-length") or h.get("content-length") or ""
            uploaded = int(length) if length.isdigit() and int(length) > 0 else None
        downloaded = None
        if resp is not None and m == "GET" and status < 300:
            length = dict(resp.headers).get("content-length", "")
            if isinstance(resp.body, bytes | bytearray) and not length:
                length = str(len(resp.body))
            downloaded = int(length) if length.isdigit() else None
        self.request_metrics.record(
            self.backend.clock.now(),
            bucket,
            matched,
            s3metrics.request_kind(m, key, req.operation),
            status,
            uploaded,
            downloaded,
            latency_ms,
        )

    async def flush_metrics(self) -> None:
        """AWS/S3 to CloudWatch: request metrics of the finished minutes and the open one
        (so they show within seconds; CloudWatch adds the parts of a minute up), and the
        storage metrics once a day at 00:00 UTC on the emulator clock."""
        if self.put_metrics is None:
            return
        now = self.backend.clock.now()
        alive = {name for name, _, _ in self.backend.list_buckets()}
        data = self.request_metrics.take(now, True, alive)
        day = now - now % 86_400
        if day > self._storage_day:
            self._storage_day = day
            data += s3metrics.storage_data(self.backend.storage_usage(), sorted(alive), day)
        for i in range(0, len(data), 1000):  # PutMetricData takes 1,000 metrics a call
            await self.put_metrics("AWS/S3", data[i : i + 1000])

    async def run_forever(self, every_s: float = 2.0) -> None:
        """Background duty while the gateway runs: :meth:`flush_metrics` every ``every_s``
        wall seconds, until :meth:`stop`."""
        self._running = True
        while self._running:
            await asyncio.sleep(every_s)
            try:
                await self.flush_metrics()
            except Exception:  # a bad flush must not end the loop; the next one retries
                log.exception("S3 metrics flush failed")

    def stop(self) -> None:
        self._running = False

    # ------------------------------------------------------------ dispatch
    async def handle(self, req: Request) -> Response:
        t0 = time.perf_counter()
        try:
            resp = await self._handle(req)
        except AwsError:
            # error_response counts it (it also sees the errors raised before handle)
            self._started[req.request_id] = t0
            raise
        except Exception:
            self._count(req, 500, None, (time.perf_counter() - t0) * 1000)
            raise
        self._count(req, resp.status, resp, (time.perf_counter() - t0) * 1000)
        if resp.status < 300 and req.bucket:
            self._notify_after(req, resp)
        return resp

    # ------------------------------------------------------ event notifications
    _EVENTS = {
        "PutObject": "s3:ObjectCreated:Put",
        "PostObject": "s3:ObjectCreated:Post",
        "CopyObject": "s3:ObjectCreated:Copy",
        "CompleteMultipartUpload": "s3:ObjectCreated:CompleteMultipartUpload",
        "DeleteObject": "s3:ObjectRemoved:Delete",
        "PutObjectTagging": "s3:ObjectTagging:Put",
        "DeleteObjectTagging": "s3:ObjectTagging:Delete",
        "RestoreObject": "s3:ObjectRestore:Post",
        "PutObjectAcl": "s3:ObjectAcl:Put",
    }

    def _notify_after(self, req: Request, resp: Response) -> None:
        event = self._EVENTS.get(req.operation)
        if event is None:
            return
        configured = self._has_notify.get(req.bucket)
        if configured is None:  # one read per bucket, not one per request
            configured = bool(self.backend.get_config(req.bucket, "notification"))
            self._has_notify[req.bucket] = configured
        if not configured:
            return
        headers = dict(resp.headers)
        _, key = self._bucket_key(req)
        if req.operation == "PostObject":
            key = unquote(headers.get("location", "").split("/", 2)[-1])
        if event == "s3:ObjectRemoved:Delete" and headers.get("x-amz-delete-marker") == "true":
            if "versionId" not in req.query():
                event = "s3:ObjectRemoved:DeleteMarkerCreated"
        self.emit(event, req.bucket, key, request_id=req.request_id, source_ip=req.client_ip)

    def emit(
        self,
        event: str,
        bucket: str,
        key: str,
        request_id: str = "",
        source_ip: str = "",
        principal: str = "AWS:bdlab",
    ) -> None:
        """Send ``event`` on ``bucket``/``key`` to the destinations of the bucket's
        notification configuration that want it (in the background, after the answer)."""
        if self.send is None:
            return
        xml = (
            self.backend.get_config(bucket, "notification")
            if self.backend.bucket_exists(bucket)
            else None
        )
        if not xml:
            return
        cfg = self._notify_config(xml)
        targets = [t for t in cfg.targets if t.wants(event, key)]
        if not targets:
            return
        obj = self.backend.store.get_object(bucket, key)
        now = self.backend.clock.now()
        region = self.backend.bucket_region(bucket)
        rid = request_id or f"{int(now * 1000):016X}"
        for t in targets:
            rec = notify.record(
                event,
                t,
                bucket,
                key,
                now,
                region,
                rid,
                host_id(rid),
                size=obj.size if obj is not None and "Removed" not in event else None,
                etag=obj.etag if obj is not None and "Removed" not in event else None,
                version_id=obj.version_id if obj is not None else None,
                source_ip=source_ip or "127.0.0.1",
                principal=principal,
            )
            self._deliver(t, region, {"Records": [rec]})

    def _notify_config(self, xml: str) -> notify.Config:
        cfg = self._notify_cache.get(xml)
        if cfg is None:
            cfg = notify.parse(parse_xml(xml.encode()))
            self._notify_cache = {xml: cfg}
        return cfg

    def _deliver(self, target: notify.Target, region: str, message: dict[str, Any]) -> None:
        """One message to one destination (SQS SendMessage, SNS Publish), in the background:
        at least once while the emulator runs; a refused delivery is logged (AWS retries)."""
        assert self.send is not None
        body = json.dumps(message, separators=(",", ":"))
        dest_region = target.arn.split(":")[3] or region
        if target.kind == "Queue":
            acct, name = target.arn.split(":")[4], target.arn.split(":")[5]
            service = "sqs"
            params = {
                "Action": "SendMessage",
                "QueueUrl": f"https://sqs.{dest_region}.amazonaws.com/{acct}/{name}",
                "MessageBody": body,
            }
        else:
            service = "sns"
            params = {
                "Action": "Publish",
                "TopicArn": target.arn,
                "Message": body,
                "Subject": "Amazon S3 Notification",
            }

        async def send() -> None:
            assert self.send is not None
            try:
                status, out = await self.send(service, dest_region, params)
            except Exception:  # the answer went out already; log, never raise
                log.exception("S3 event notification to %s failed", target.arn)
                return
            if status >= 300:
                log.warning(
                    "S3 event notification to %s refused: %s %s", target.arn, status, out[:200]
                )

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a caller outside the gateway's loop (a unit test): no sender
            return
        task = loop.create_task(send())
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _check_destinations(self, cfg: notify.Config, region: str) -> None:
        """S3 checks each destination when a configuration is stored and sends it a test
        event; a destination that does not exist is InvalidArgument "Unable to validate the
        following destination configurations" (queue and topic policies are not checked)."""
        if self.send is None:
            return
        for t in cfg.targets:
            dest_region = t.arn.split(":")[3] or region
            if t.kind == "Queue":
                acct, name = t.arn.split(":")[4], t.arn.split(":")[5]
                status, _ = await self.send(
                    "sqs",
                    dest_region,
                    {"Action": "GetQueueUrl", "QueueName": name, "QueueOwnerAWSAccountId": acct},
                )
            else:
                status, _ = await self.send(
                    "sns", dest_region, {"Action": "GetTopicAttributes", "TopicArn": t.arn}
                )
            if status >= 300:
                raise AwsError(
                    "InvalidArgument",
                    "Unable to validate the following destination configurations",
                    ArgumentName=t.arn,
                    ArgumentValue="The destination does not exist",
                )

    async def _handle(self, req: Request) -> Response:
        bucket, key = self._bucket_key(req)
        q = req.query()
        m = req.method
        req.bucket, req.operation = bucket, operation_name(m, bucket, key, q, req.headers)
        if m == "OPTIONS":
            return self.preflight(req, bucket, key)
        if not bucket:
            if m == "GET":
                return self.list_buckets()
            raise AwsError(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
            )
        # The account every bucket here belongs to is the one STS and IAM report.
        check_expected_owner(
            req.headers.get("x-amz-expected-bucket-owner"), self.backend.account_id
        )
        if "x-amz-copy-source" in req.headers:
            check_expected_owner(
                req.headers.get("x-amz-source-expected-bucket-owner"), self.backend.account_id
            )
        if self.costs.enabled:
            resp = await self._costed(req, bucket, key, q)
        elif key == "":
            resp = await self._bucket_op(req, m, bucket, q)
        else:
            resp = await self._object_op(req, m, bucket, key, q)
        resp.headers += self._cors_for(req, bucket)
        return resp

    def error_response(self, req: Request, err: AwsError) -> Response:
        resp = not_modified_response(err) or error_response(req, err)
        t0 = self._started.pop(req.request_id, None)
        if not req.operation:  # refused before the S3 provider looked (fault layer)
            bucket, key = self._bucket_key(req)
            req.bucket = bucket
            req.operation = operation_name(req.method, bucket, key, req.query(), req.headers)
        try:
            latency = None if t0 is None else (time.perf_counter() - t0) * 1000
            self._count(req, resp.status, None, latency)
        except AwsError:
            pass  # the bucket is gone
        if req.bucket and req.method != "OPTIONS":
            try:
                resp.headers += self._cors_for(req, req.bucket)
            except AwsError:
                pass  # the bucket is gone: no rules to answer from
        return resp

    async def _costed(self, req: Request, bucket: str, key: str, q: dict[str, str]) -> Response:
        """The request under the AWS-like cost model (costs.py): the bucket's request rate,
        then the time its first byte and the bytes it moves take."""
        if not self.costs.admit(bucket, req.operation):
            raise AwsError("SlowDown", "Please reduce your request rate.", 503, sender=False)
        moved = self._moved_bytes(req)
        if key == "":
            resp = await self._bucket_op(req, req.method, bucket, q)
        else:
            resp = await self._object_op(req, req.method, bucket, key, q)
        if req.operation == "GetObject":
            moved = int(dict(resp.headers).get("content-length", "0") or 0)
        await asyncio.sleep(self.costs.delay_s(req.operation, moved))
        return resp

    def _moved_bytes(self, req: Request) -> int:
        """Bytes a write or a copy moves (a copy: the source's, or its range's, size)."""
        h = req.headers
        if req.operation in COPY_OPS:
            try:
                src_bucket, src_key = _copy_source(h["x-amz-copy-source"])
                size = self.backend.head(src_bucket, src_key).size
            except (AwsError, KeyError):
                return 0
            rng = h.get("x-amz-copy-source-range", "")
            if rng.startswith("bytes=") and "-" in rng:
                a, _, b = rng[6:].partition("-")
                if a.isdigit() and b.isdigit():
                    return int(b) - int(a) + 1
            return size
        length = h.get("x-amz-decoded-content-length") or h.get("content-length") or "0"
        return int(length) if length.isdigit() else 0

    def _bucket_key(self, req: Request) -> tuple[str, str]:
        host = req.headers.get("host", "").split(":")[0].lower()
        path = req.raw_path
        m = _VIRTUAL_HOST.match(host)
        if m is not None:  # virtual-hosted style: the bucket is in the host name
            return m["bucket"], unquote(path.lstrip("/"))
        parts = path.lstrip("/").split("/", 1)
        return unquote(parts[0]), unquote(parts[1]) if len(parts) > 1 else ""

    async def _bucket_op(self, req: Request, m: str, bucket: str, q: dict[str, str]) -> Response:
        b = self.backend
        sub = surface.guard("bucket", m, q, req.headers).sub
        if sub is None:
            if m == "PUT":
                body = await req.read()
                location = None
                if body.strip():
                    node = parse_xml(body).find("LocationConstraint")
                    location = node.text if node is not None and node.text else None
                _check_create_bucket_headers(req.headers)
                b.create_bucket(bucket, req.region, location)
                return Response(200, [("location", f"/{bucket}")])
            if m == "HEAD":
                region = b.bucket_region(bucket)
                return Response(200, [("x-amz-bucket-region", region)])
            if m == "DELETE":
                b.delete_bucket(bucket)
                self._has_notify.pop(bucket, None)
                return Response(204)
            if m == "GET":
                return self.list_objects(req, bucket, q)
            if m == "POST":
                return await self.post_object(req, bucket)
            raise _method_not_allowed()
        if sub == "delete":
            return await self.delete_objects(req, bucket)
        if sub == "uploads":
            return self.list_uploads(bucket, q)
        if sub == "versions":
            return self.list_versions(bucket, q)
        if sub == "metrics":
            return await self.metrics_configuration(req, m, bucket, q)
        if sub == "location":
            region = b.bucket_region(bucket)
            loc = "" if region == "us-east-1" else escape(region)
            return Response.xml(f'<LocationConstraint xmlns="{NS}">{loc}</LocationConstraint>')
        if sub == "acl":
            if m == "PUT":
                _check_acl_put(req.headers, await req.read())
            b.require_bucket(bucket)
            return Response.xml(_DEFAULT_CONFIGS["acl"]) if m == "GET" else Response(200)
        return await self._bucket_config(req, m, bucket, sub)

    async def metrics_configuration(
        self, req: Request, m: str, bucket: str, q: dict[str, str]
    ) -> Response:
        """Put/Get/Delete/ListBucketMetricsConfiguration(s) (``?metrics[&id=]``)."""
        b = self.backend
        b.require_bucket(bucket)
        docs = self._metrics_docs(bucket)
        if m == "GET" and "id" not in q:
            token = q.get("continuation-token")
            return Response.xml(s3metrics.list_page(docs, token))
        config_id = s3metrics.check_id(q.get("id"))
        if m == "GET":
            if config_id not in docs:
                raise s3metrics.no_such_configuration()
            return Response.xml(docs[config_id])
        if m == "PUT":
            cfg = s3metrics.parse_config(parse_xml(await req.read()), config_id)
            docs = s3metrics.with_config(docs, cfg)
        elif m == "DELETE":
            if docs.pop(config_id, None) is None:
                raise s3metrics.no_such_configuration()
        else:
            raise _method_not_allowed()
        b.put_config(bucket, "metrics", json.dumps(docs) if docs else None)
        self._mconfigs.pop(bucket, None)
        return Response(200 if m == "PUT" else 204)

    async def _bucket_config(self, req: Request, m: str, bucket: str, sub: str) -> Response:
        """A stored bucket configuration (?lifecycle, ?cors, ?tagging, ...): validated before
        it is stored, answered with AWS's default or "not found" error when absent."""
        b = self.backend
        if m == "GET":
            value = b.get_config(bucket, sub)
            if value:  # "" marks a configuration deleted where AWS has a default
                ctype = "application/json" if sub == "policy" else "application/xml"
                return Response(200, [("content-type", ctype)], value.encode())
            if sub in _DEFAULT_CONFIGS and value is None:
                return Response.xml(_DEFAULT_CONFIGS[sub])
            code, msg, status = CONFIG_MISSING[sub]
            raise AwsError(code, msg, status, BucketName=bucket)
        if m == "PUT" and sub == "notification":
            b.require_bucket(bucket)
            cfg = notify.parse(parse_xml(await req.read()))
            region = b.bucket_region(bucket)
            await self._check_destinations(cfg, region)
            b.put_config(bucket, sub, notify.to_xml(cfg) if cfg.targets else None)
            self._has_notify.pop(bucket, None)
            now = b.clock.now()
            for t in cfg.targets:
                rid = req.request_id
                self._deliver(t, region, notify.test_event(bucket, now, rid, host_id(rid)))
            return Response(200)
        if m == "PUT":
            body = await req.read()
            b.require_bucket(bucket)
            _validate_config(sub, body, bucket)
            b.put_config(bucket, sub, body.decode())
            self._cors_cache.clear()
            return Response(200 if sub != "policy" else 204)
        if m == "DELETE":
            b.require_bucket(bucket)
            # AWS keeps a default for these (SSE-S3, all public access blocked): deleting
            # the encryption resets it, deleting the block leaves none ("").
            b.put_config(bucket, sub, "" if sub == "publicAccessBlock" else None)
            self._cors_cache.clear()
            return Response(204)
        raise _method_not_allowed()

    async def _object_op(
        self, req: Request, m: str, bucket: str, key: str, q: dict[str, str]
    ) -> Response:
        sub = surface.guard("object", m, q, req.headers).sub
        vid = q.get("versionId")
        if vid is not None and (sub is not None or "uploadId" in q):
            # sub-resources of a version (its tags, attributes, ACL) other than the current
            check_version_id(vid)
            current = self.backend.head(bucket, key)
            if vid != current.version_id:
                raise AwsError(
                    "NotImplemented",
                    f"versionId on ?{sub or 'uploadId'} for a noncurrent version is not "
                    "implemented by bdlab (GET, HEAD, DELETE and copies of a version are)",
                    501,
                    sender=False,
                )
        if "uploadId" in q and sub is None:
            upload_id = q["uploadId"]
            if m == "PUT":
                if "x-amz-copy-source" in req.headers:
                    return await self.upload_part_copy(req, bucket, key, upload_id, q)
                return await self.upload_part(req, bucket, key, upload_id, q)
            if m == "POST":
                return await self.complete_upload(req, bucket, key, upload_id)
            if m == "DELETE":
                self.backend.abort_upload(bucket, key, upload_id)
                return Response(204)
            if m == "GET":
                return self.list_parts(bucket, key, upload_id, q)
            raise _method_not_allowed()
        if sub == "uploads":
            return self.create_upload(req, bucket, key)
        if sub == "restore":
            return await self.restore_object(req, bucket, key)
        if sub == "tagging":
            return await self.object_tagging(req, m, bucket, key)
        if sub == "attributes":
            return self.get_object_attributes(req, bucket, key)
        if sub == "acl":
            if m == "PUT":
                _check_acl_put(req.headers, await req.read())
            self.backend.head(bucket, key)
            return Response.xml(_DEFAULT_CONFIGS["acl"]) if m == "GET" else Response(200)
        if m == "PUT":
            if "x-amz-copy-source" in req.headers:
                return self.copy_object(req, bucket, key)
            return await self.put_object(req, bucket, key)
        if m in ("GET", "HEAD"):
            return self.get_object(req, bucket, key, q)
        if m == "DELETE":
            if_match = req.headers.get("if-match")
            if if_match is not None:
                obj = self.backend.head(bucket, key)
                if if_match.strip() != "*" and if_match.strip().strip('"') != obj.etag:
                    raise AwsError(
                        "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold",
                        412,
                        Condition="If-Match",
                    )
            answered, marker = self.backend.delete_object(bucket, key, vid)
            headers = []
            if answered is not None:
                headers.append(("x-amz-version-id", answered))
            if marker:
                headers.append(("x-amz-delete-marker", "true"))
            return Response(204, headers)
        raise _method_not_allowed()

    # ---------------------------------------------------------------- CORS
    def _cors_rules(self, bucket: str) -> list[configs.CorsRule]:
        xml = self.backend.get_config(bucket, "cors")
        if not xml:
            return []
        rules = self._cors_cache.get(xml)
        if rules is None:
            rules = configs.parse_cors(parse_xml(xml.encode()))
            self._cors_cache = {xml: rules}
        return rules

    def _cors_for(self, req: Request, bucket: str) -> list[tuple[str, str]]:
        """Access-Control-* headers for a request with an Origin that a rule of the bucket's
        CORS configuration allows (none otherwise)."""
        origin = req.headers.get("origin")
        if not origin or not bucket:
            return []
        rule = configs.match_cors(self._cors_rules(bucket), origin, req.method, ())
        return configs.cors_headers(rule, origin) if rule else []

    def preflight(self, req: Request, bucket: str, key: str) -> Response:
        """A CORS preflight (OPTIONS): 200 with the matching rule's headers; 400 without an
        Origin; 403 AccessForbidden when the bucket has no CORS configuration or no rule
        allows the origin, Access-Control-Request-Method and -Headers (S3 user guide, "CORS
        troubleshooting"; answers recorded against S3 in LocalStack's validated tests)."""
        origin = req.headers.get("origin")
        if not origin:
            raise AwsError("BadRequest", "Insufficient information. Origin request header needed.")
        method = req.headers.get("access-control-request-method", "")
        if not bucket or not self.backend.bucket_exists(bucket):
            raise AwsError(
                "AccessForbidden",
                "CORSResponse: Bucket not found",
                403,
                Method=method or "OPTIONS",
                ResourceType="BUCKET",
            )
        rules = self._cors_rules(bucket)
        if not rules:
            raise AwsError(
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
                403,
                Method=method or "OPTIONS",
                ResourceType="BUCKET",
            )
        asked = req.headers.get("access-control-request-headers", "").split(",")
        rule = configs.match_cors(rules, origin, method, asked) if method else None
        if rule is None:
            raise AwsError(
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the "
                "evalution of Origin, request method / Access-Control-Request-Method or "
                "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                403,
                Method=method or "OPTIONS",
                ResourceType="OBJECT" if key else "BUCKET",
            )
        return Response(200, [*configs.cors_headers(rule, origin, asked), ("content-length", "0")])

    # ------------------------------------------------------ browser POST upload
    async def post_object(self, req: Request, bucket: str) -> Response:
        """A browser form upload (POST Object, "Browser-based uploads using POST"):
        multipart/form-data whose fields set the key (``${filename}`` replaced by the file's
        name), Content-Type and the other system headers, x-amz-meta-*, x-amz-storage-class,
        tagging, and success_action_status (200/201/204; 201 answers a PostResponse). The
        policy's conditions and expiration are checked; its signature only with IAM enforcement (see
        docs/emulator.md)."""
        ctype = req.headers.get("content-type", "")
        if "multipart/form-data" not in ctype:
            raise AwsError(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                412,
                Condition="Bucket POST must be of the enclosure-type multipart/form-data",
            )
        self.backend.require_bucket(bucket)
        form, filename, data = _parse_form(ctype, await req.read())
        key = form.get("key")
        if not key:
            raise AwsError(
                "InvalidArgument",
                "Bucket POST must contain a field named 'key'.  If it is specified, please "
                "check the order of the fields.",
                ArgumentName="key",
                ArgumentValue="",
            )
        if data is None:
            raise AwsError(
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                ArgumentName="file",
                ArgumentValue="0",
            )
        key = key.replace("${filename}", filename or "")
        if req.authorize_item is not None:
            # the form's credential signs a POST upload; IAM authorizes the key it names
            why = await req.authorize_item(key, form)
            if why is not None:
                raise AwsError("AccessDenied", why, 403)
        if "policy" in form:
            configs.check_post_policy(form["policy"], form, bucket, len(data))
        _check_acl_headers({"x-amz-acl": form["acl"]} if "acl" in form else {})
        headers = {k: v for k, v in form.items() if k in _KEPT_HEADERS}
        meta = {k[len("x-amz-meta-") :]: v for k, v in form.items() if k.startswith("x-amz-meta-")}
        tags: dict[str, str] = {}
        if form.get("tagging"):
            root = parse_xml(form["tagging"].encode())
            tags = configs.check_tag_pairs(_tag_pairs(root))
        obj = self.backend.put_bytes(
            bucket,
            key,
            data,
            form.get("content-type") or "binary/octet-stream",
            storage_class=validate_storage_class(form.get("x-amz-storage-class", "STANDARD")),
            headers=headers,
            user_meta=meta,
            tags=tags,
        )
        location = f"/{quote(bucket)}/{quote(key)}"
        out = [("etag", quote_etag(obj.etag)), ("location", location)]
        status = form.get("success_action_status", "204")
        if status == "201":
            return Response.xml(
                f"<PostResponse><Location>{escape(location)}</Location><Bucket>"
                f"{escape(bucket)}</Bucket><Key>{escape(key)}</Key><ETag>&quot;{obj.etag}"
                "&quot;</ETag></PostResponse>",
                201,
                out,
            )
        return Response(200 if status == "200" else 204, out)

    # ------------------------------------------------------------- buckets
    def list_buckets(self) -> Response:
        items = "".join(
            f"<Bucket><Name>{escape(n)}</Name><CreationDate>{iso(c)}</CreationDate>"
            f"<BucketRegion>{r}</BucketRegion></Bucket>"
            for n, c, r in self.backend.list_buckets()
        )
        return Response.xml(
            f'<ListAllMyBucketsResult xmlns="{NS}">{OWNER}<Buckets>{items}'
            "</Buckets></ListAllMyBucketsResult>"
        )

    def list_objects(self, req: Request, bucket: str, q: dict[str, str]) -> Response:
        v2 = q.get("list-type") == "2"
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        max_keys = min(max(_int_param(q, "max-keys", 1000), 0), 1000)
        url = _encoding_type(q)
        enc: Callable[[str], str] = (lambda s: quote(s, safe="/")) if url else escape
        token = q.get("continuation-token")
        if v2:
            start = q.get("start-after", "")
            if token:
                start = _read_token(token)
        else:
            start = q.get("marker", "")
        page = self.backend.list_objects(bucket, prefix, delimiter, start, max_keys)
        parts = [
            f'<ListBucketResult xmlns="{NS}"><Name>{escape(bucket)}</Name>'
            f"<Prefix>{enc(prefix)}</Prefix><MaxKeys>{max_keys}</MaxKeys>"
        ]
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{str(page.truncated).lower()}</IsTruncated>")
        if v2:
            parts.append(f"<KeyCount>{len(page.contents) + len(page.common_prefixes)}</KeyCount>")
            if token:
                parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
            if "start-after" in q:
                parts.append(f"<StartAfter>{enc(q['start-after'])}</StartAfter>")
            if page.truncated and page.next_marker is not None:
                nxt = _make_token(page.next_marker)
                parts.append(f"<NextContinuationToken>{nxt}</NextContinuationToken>")
        else:
            parts.append(f"<Marker>{enc(start)}</Marker>")
            if page.truncated and page.next_marker is not None:
                parts.append(f"<NextMarker>{enc(page.next_marker)}</NextMarker>")
        owner = OWNER if (not v2 or q.get("fetch-owner") == "true") else ""
        optional = req.headers.get("x-amz-optional-object-attributes", "")
        now = self.backend.clock.now()
        for o in page.contents:
            status = ""
            if "RestoreStatus" in optional:
                status = _restore_status(restore.state(o.storage_class, o.restore, now))
            # the algorithm of each checksum S3 keeps, and whether it covers the whole object
            sums = "".join(
                f"<ChecksumAlgorithm>{a.upper()}</ChecksumAlgorithm>" for a in o.checksums
            )
            if o.checksums:
                kind = "COMPOSITE" if o.part_checksums else "FULL_OBJECT"
                sums += f"<ChecksumType>{kind}</ChecksumType>"
            parts.append(
                f"<Contents><Key>{enc(o.key)}</Key><LastModified>{iso(o.last_modified)}"
                f"</LastModified><ETag>&quot;{o.etag}&quot;</ETag>{sums}<Size>{o.size}</Size>"
                f"{owner}<StorageClass>{o.storage_class}</StorageClass>{status}</Contents>"
            )
        for cp in page.common_prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{enc(cp)}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        return Response.xml("".join(parts))

    def list_versions(self, bucket: str, q: dict[str, str]) -> Response:
        """ListObjectVersions (S3 API reference): versions and delete markers, newest first
        per key, with paging by key-marker / version-id-marker and common prefixes."""
        max_keys = min(max(_int_param(q, "max-keys", 1000), 0), 1000)
        page = self.backend.list_versions(
            bucket,
            q.get("prefix", ""),
            q.get("delimiter", ""),
            q.get("key-marker", ""),
            q.get("version-id-marker", ""),
            max_keys,
        )
        url = q.get("encoding-type") == "url"

        def enc(text: str) -> str:
            return escape(quote(text, safe="/") if url else text)

        body = []
        for o, latest in page.versions:
            head = (
                f"<Key>{enc(o.key)}</Key><VersionId>{escape(o.version_id)}</VersionId>"
                f"<IsLatest>{str(latest).lower()}</IsLatest>"
                f"<LastModified>{iso(o.last_modified)}</LastModified>"
            )
            if o.delete_marker:
                body.append(f"<DeleteMarker>{head}{OWNER}</DeleteMarker>")
                continue
            algs = "".join(
                f"<ChecksumAlgorithm>{a.upper()}</ChecksumAlgorithm>" for a in o.checksums
            )
            body.append(
                f"<Version>{head}<ETag>&quot;{o.etag}&quot;</ETag>{algs}<Size>{o.size}</Size>"
                f"<StorageClass>{o.storage_class}</StorageClass>{OWNER}</Version>"
            )
        cps = "".join(
            f"<CommonPrefixes><Prefix>{enc(c)}</Prefix></CommonPrefixes>"
            for c in page.common_prefixes
        )
        nxt = ""
        if page.truncated and page.next_key is not None:
            nxt = f"<NextKeyMarker>{enc(page.next_key)}</NextKeyMarker>"
            if page.next_version:
                nxt += f"<NextVersionIdMarker>{escape(page.next_version)}</NextVersionIdMarker>"
        delim = q.get("delimiter", "")
        return Response.xml(
            f'<ListVersionsResult xmlns="{NS}"><Name>{escape(bucket)}</Name>'
            f"<Prefix>{enc(q.get('prefix', ''))}</Prefix>"
            f"<KeyMarker>{enc(q.get('key-marker', ''))}</KeyMarker>"
            f"<VersionIdMarker>{escape(q.get('version-id-marker', ''))}</VersionIdMarker>"
            f"{nxt}<MaxKeys>{max_keys}</MaxKeys>"
            + (f"<Delimiter>{enc(delim)}</Delimiter>" if delim else "")
            + ("<EncodingType>url</EncodingType>" if url else "")
            + f"<IsTruncated>{str(page.truncated).lower()}</IsTruncated>"
            f"{''.join(body)}{cps}</ListVersionsResult>"
        )

    async def delete_objects(self, req: Request, bucket: str) -> Response:
        root = parse_xml(await req.read())
        quiet = (root.findtext("Quiet") or "false").lower() == "true"
        objects = root.findall("Object")
        keys = [o.findtext("Key") or "" for o in objects]
        versions = [o.findtext("VersionId") for o in objects]
        if not keys or len(keys) > MAX_DELETE_KEYS:
            raise AwsError("MalformedXML", configs.MALFORMED_XML)
        self.backend.require_bucket(bucket)
        # IAM enforcement authorizes each key's object ARN: a refused key is an AccessDenied
        # entry of a 200, the others are deleted (S3 API reference, DeleteObjects)
        refused: dict[int, str] = {}
        if req.authorize_item is not None:
            for i, key in enumerate(keys):
                why = await req.authorize_item(key)
                if why is not None:
                    refused[i] = why
        todo = [i for i in range(len(keys)) if i not in refused]
        done = (
            self.backend.delete_objects(
                bucket, [keys[i] for i in todo], [versions[i] for i in todo]
            )
            if todo
            else []
        )
        results: dict[int, tuple[AwsError | None, tuple[str | None, bool]]] = {
            i: (err, answer) for i, (_, err, answer) in zip(todo, done, strict=True)
        }
        for i, why in refused.items():
            results[i] = (AwsError("AccessDenied", why, 403), (versions[i], False))
        out = []
        for i, key in enumerate(keys):
            err, (vid, marker) = results[i]
            asked = versions[i]
            if err is None:
                made_marker = marker and not asked
                event = "DeleteMarkerCreated" if made_marker else "Delete"
                self.emit(f"s3:ObjectRemoved:{event}", bucket, key, req.request_id, req.client_ip)
            if err is None and not quiet:
                extra = f"<VersionId>{escape(asked)}</VersionId>" if asked else ""
                if marker:
                    extra += "<DeleteMarker>true</DeleteMarker>"
                    extra += f"<DeleteMarkerVersionId>{escape(vid or '')}</DeleteMarkerVersionId>"
                out.append(f"<Deleted><Key>{escape(key)}</Key>{extra}</Deleted>")
            elif err is not None:
                ver = f"<VersionId>{escape(asked)}</VersionId>" if asked else ""
                out.append(
                    f"<Error><Key>{escape(key)}</Key>{ver}<Code>{err.code}</Code>"
                    f"<Message>{escape(err.message)}</Message></Error>"
                )
        return Response.xml(f'<DeleteResult xmlns="{NS}">{"".join(out)}</DeleteResult>')

    # ------------------------------------------------------------- objects
    def _object_attrs(self, req: Request) -> dict[str, Any]:
        h = req.headers
        kept = {k: v for k, v in h.items() if k in _KEPT_HEADERS}
        if "content-encoding" in kept:
            enc = ",".join(
                p
                for p in kept["content-encoding"].split(",")
                if p.strip() and p.strip() != "aws-chunked"
            )
            if enc:
                kept["content-encoding"] = enc
            else:
                kept.pop("content-encoding")
        # Since January 2023 every bucket encrypts new objects with SSE-S3 unless told
        # otherwise, and says so on every write and read (x-amz-server-side-encryption: AES256)
        kept.setdefault("x-amz-server-side-encryption", "AES256")
        meta = {k[len("x-amz-meta-") :]: v for k, v in h.items() if k.startswith("x-amz-meta-")}
        sclass = validate_storage_class(h.get("x-amz-storage-class", "STANDARD"))
        _check_acl_headers(h)
        tags = _parse_tag_header(h.get("x-amz-tagging", ""))
        return {
            "h": kept,
            "m": meta,
            "sclass": sclass,
            "t": tags,
            "ctype": h.get("content-type", "binary/octet-stream"),
        }

    async def _receive(
        self,
        req: Request,
        allow_inline: bool = True,
        default_alg: str | None = None,
        also: str | None = None,
    ) -> tuple[str, int, str, dict[str, str], bytes | None]:
        """Read the body: small ones into memory (stored inline), larger ones streamed into a
        new data file. Returns (file or "", size, md5 hex, checksums, inline bytes or None).
        ``default_alg``: the checksum to compute when the request sends none (a part of an
        upload created with a checksum algorithm)."""
        h = req.headers
        chunked = "aws-chunked" in h.get("content-encoding", "") or h.get(
            "x-amz-content-sha256", ""
        ).startswith("STREAMING-")
        decoder = ChunkedDecoder() if chunked else None
        alg = _checksum_alg(req) or default_alg
        digest = _Digest(alg, also)
        declared = h.get("x-amz-decoded-content-length") if decoder else h.get("content-length")
        _check_before_body(h)
        inline = (
            allow_inline
            and declared is not None
            and declared.isdigit()
            and int(declared) <= INLINE_MAX
        )
        rel, path = ("", None) if inline else self.backend.new_file()
        buf = bytearray()
        size = 0
        try:
            fh = open(path, "wb") if path is not None else None
            pipe = _Pipeline(digest, fh) if fh is not None else None
            try:
                async for chunk in req.stream():
                    if decoder is not None:
                        chunk = decoder.feed(chunk)
                    if chunk:
                        if pipe is not None:
                            await pipe.feed(chunk)
                        else:
                            buf += chunk
                            digest.update(chunk)
                        size += len(chunk)
            finally:
                if pipe is not None:
                    await pipe.close()
                if fh is not None:
                    if self.backend.fsync:  # no thread hop when there is nothing to sync
                        await asyncio.to_thread(self.backend.sync, fh)
                    fh.close()
            checksums: dict[str, str] = {}
            if alg:
                sent = h.get(f"x-amz-checksum-{alg}") or (
                    decoder.trailers.get(f"x-amz-checksum-{alg}") if decoder else None
                )
                checksums = verify_checksum(alg, sent, digest.value())
                computed = digest.value()
                if not checksums and computed:
                    checksums = {alg: computed}
            if digest.also is not None and also:
                checksums[also] = digest.also.value() or ""
            if decoder is not None and not decoder.done:
                raise client_gone()  # the final 0-size chunk never came
            md5 = digest.md5.hexdigest()
            if "content-md5" in h:
                verify_content_md5(h["content-md5"], md5)
            check_body_length(declared, size)
        except BaseException:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
        return rel, size, md5, checksums, (bytes(buf) if path is None else None)

    async def put_object(self, req: Request, bucket: str, key: str) -> Response:
        self.backend.require_bucket(bucket)
        check_write_headers(req.headers.get("if-none-match"), req.headers.get("if-match"))
        attrs = self._object_attrs(req)
        # with no checksum sent, S3 computes CRC64NVME for the new object (user guide,
        # "Checking object integrity": full-object checksums by default since 2025)
        rel, size, md5, checksums, inline = await self._receive(req, default_alg="crc64nvme")
        obj = ObjectInfo(
            bucket,
            key,
            size,
            md5,
            self.backend.clock.now(),
            rel,
            attrs["ctype"],
            attrs["sclass"],
            attrs["h"],
            attrs["m"],
            checksums,
            attrs["t"],
            inline=inline,
        )
        self.backend.commit_object(
            obj, req.headers.get("if-none-match"), req.headers.get("if-match")
        )
        headers = [("etag", quote_etag(md5))]
        headers += [(f"x-amz-checksum-{a}", v) for a, v in checksums.items()]
        if checksums:
            headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
        headers += _sse(attrs["h"])
        headers += self._version_header(obj)
        return Response(200, headers)

    def _version_header(self, obj: ObjectInfo) -> list[tuple[str, str]]:
        """x-amz-version-id, sent for every object of a bucket that has (had) versioning."""
        if obj.version_id != "null" or self.backend.versioning(obj.bucket) is not None:
            return [("x-amz-version-id", obj.version_id)]
        return []

    def _object_headers(self, obj: ObjectInfo, req: Request) -> list[tuple[str, str]]:
        headers = [
            ("etag", quote_etag(obj.etag)),
            ("last-modified", http_date(obj.last_modified)),
            ("content-type", obj.content_type),
            ("accept-ranges", "bytes"),
        ]
        headers += list(obj.headers.items())
        headers += [(f"x-amz-meta-{k}", v) for k, v in obj.user_meta.items()]
        if obj.storage_class != "STANDARD":
            headers.append(("x-amz-storage-class", obj.storage_class))
        restored = restore.header(obj.storage_class, obj.restore, self.backend.clock.now())
        if restored:
            headers.append(("x-amz-restore", restored))
        if obj.tags:
            headers.append(("x-amz-tagging-count", str(len(obj.tags))))
        if obj.parts:
            headers.append(("x-amz-mp-parts-count", str(obj.parts)))
        headers += self._version_header(obj)
        if (
            req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
            and "range" not in req.headers
            and "partNumber=" not in req.query_string
        ):  # a range or a part has no full-object checksum (a COMPOSITE part's is answered)
            headers += [(f"x-amz-checksum-{a}", v) for a, v in obj.checksums.items()]
            if obj.checksums:
                kind = "COMPOSITE" if obj.part_checksums else "FULL_OBJECT"
                headers.append(("x-amz-checksum-type", kind))
        return headers

    def get_object(self, req: Request, bucket: str, key: str, q: dict[str, str]) -> Response:
        obj = self.backend.head(bucket, key, q.get("versionId"))
        if req.method == "GET":
            restore.check_readable(obj.storage_class, obj.restore, self.backend.clock.now())
        h = req.headers
        check_read_conditions(
            obj,
            h.get("if-match"),
            h.get("if-none-match"),
            _parse_http_date(h["if-modified-since"]) if "if-modified-since" in h else None,
            _parse_http_date(h["if-unmodified-since"]) if "if-unmodified-since" in h else None,
        )
        headers = self._object_headers(obj, req)
        for param, header in (
            ("response-content-type", "content-type"),
            ("response-content-disposition", "content-disposition"),
            ("response-cache-control", "cache-control"),
            ("response-content-encoding", "content-encoding"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
        ):
            if param in q:
                headers = [(k, v) for k, v in headers if k != header] + [(header, q[param])]
        start, end, status = 0, obj.size - 1, 200
        rng = req.headers.get("range")
        if "partNumber" in q:
            if rng:
                raise AwsError(
                    "InvalidRequest",
                    "Cannot specify both Range header and partNumber query parameter",
                )
            number = _part_number(q)
            start, end = _part_range(obj, number)
            status = 206
            if obj.part_checksums and h.get("x-amz-checksum-mode", "").upper() == "ENABLED":
                # a part answers its own checksum (S3's recorded answer), typed COMPOSITE
                alg = next(iter(obj.checksums))
                headers = [(k, v) for k, v in headers if not k.startswith("x-amz-checksum-")]
                headers += [
                    (f"x-amz-checksum-{alg}", obj.part_checksums[number - 1]),
                    ("x-amz-checksum-type", "COMPOSITE"),
                ]
            headers.append(("content-range", f"bytes {start}-{end}/{obj.size}"))
            if obj.parts and not any(k == "x-amz-mp-parts-count" for k, _ in headers):
                headers.append(("x-amz-mp-parts-count", str(obj.parts)))
        elif rng:
            parsed = _parse_range(rng, obj.size)
            if parsed is not None:
                start, end = parsed
                status = 206
                headers.append(("content-range", f"bytes {start}-{end}/{obj.size}"))
        length = max(0, end - start + 1)
        headers.append(("content-length", str(length)))
        if req.method == "HEAD":
            return Response(status, headers, b"")
        if length <= _SLICE or not obj.file:
            return Response(status, headers, self.backend.read_range(obj, start, length))
        return Response(
            status, headers, _file_slices(self.backend.path_of(obj.file), start, length)
        )

    def _copy_source_object(self, req: Request) -> tuple[str, str, ObjectInfo]:
        """The object x-amz-copy-source names, readable and meeting the copy conditions."""
        src_bucket, src_key, src_vid = _copy_source_version(req.headers["x-amz-copy-source"])
        src = self.backend.source(src_bucket, src_key, src_vid)
        restore.check_copy_source(src.storage_class, src.restore, self.backend.clock.now())
        check_copy_conditions(
            src,
            req.headers.get("x-amz-copy-source-if-match"),
            req.headers.get("x-amz-copy-source-if-none-match"),
        )
        return src_bucket, src_key, src

    def copy_object(self, req: Request, bucket: str, key: str) -> Response:
        """CopyObject (API reference): metadata from the source unless
        x-amz-metadata-directive is REPLACE (then from this request), tags from the source
        unless x-amz-tagging-directive is REPLACE (then x-amz-tagging, or none) - the two are
        independent; any other directive value is InvalidArgument. The copy is STANDARD
        unless x-amz-storage-class says otherwise."""
        h = req.headers
        replace_meta = configs.directive(
            h.get("x-amz-metadata-directive"), "x-amz-metadata-directive", "metadata"
        )
        replace_tags = configs.directive(
            h.get("x-amz-tagging-directive"), "x-amz-tagging-directive", "tagging"
        )
        src_bucket, src_key, src = self._copy_source_object(req)
        check_copy_changes(
            (src_bucket, src_key), (bucket, key), replace_meta, h.get("x-amz-storage-class")
        )
        attrs = self._object_attrs(req)  # validates storage class, ACL and tagging headers
        dst = ObjectInfo(
            bucket,
            key,
            0,
            "",
            0,
            "",
            attrs["ctype"] if replace_meta else src.content_type,
            attrs["sclass"],
            attrs["h"] if replace_meta else _with_sse(src.headers, attrs["h"]),
            attrs["m"] if replace_meta else dict(src.user_meta),
            {},
            attrs["t"] if replace_tags else dict(src.tags),
        )
        obj = self.backend.copy_object(src_bucket, src_key, dst, bucket, key, src.version_id)
        headers = _sse(dst.headers) + self._version_header(obj)
        if src.version_id != "null" or self.backend.versioning(src_bucket) is not None:
            headers.append(("x-amz-copy-source-version-id", src.version_id))
        return Response.xml(
            f'<CopyObjectResult xmlns="{NS}"><LastModified>'
            f"{iso(obj.last_modified)}</LastModified><ETag>&quot;{obj.etag}"
            "&quot;</ETag></CopyObjectResult>",
            headers=headers,
        )

    async def restore_object(self, req: Request, bucket: str, key: str) -> Response:
        body = await req.read()
        obj = self.backend.head(bucket, key)
        days: int | None = None
        tier = "Standard"
        if body.strip():
            root = parse_xml(body)
            if root.tag != "RestoreRequest":
                raise AwsError(
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against "
                    "our published schema",
                )
            if root.find("SelectParameters") is not None or root.findtext("Type") == "SELECT":
                raise AwsError(
                    "NotImplemented",
                    "RestoreObject with SelectParameters (S3 Select on archived objects) is not "
                    "implemented by the emulator (AWS no longer offers it to new customers)",
                    501,
                )
            text = root.findtext("Days")
            if text is not None:
                try:
                    days = int(text)
                except ValueError as exc:
                    raise AwsError("InvalidArgument", "Days must be an integer", 400) from exc
            tier = root.findtext("GlacierJobParameters/Tier") or root.findtext("Tier") or tier
        status, record = restore.request(
            obj.storage_class, obj.restore, days, tier, self.backend.clock.now()
        )
        self.backend.set_restore(bucket, key, record)
        return Response(status)

    async def object_tagging(self, req: Request, m: str, bucket: str, key: str) -> Response:
        if m == "GET":
            obj = self.backend.head(bucket, key)
            xml = "".join(
                f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>"
                for k, v in obj.tags.items()
            )
            return Response.xml(f'<Tagging xmlns="{NS}"><TagSet>{xml}</TagSet></Tagging>')
        if m == "PUT":
            root = parse_xml(await req.read())
            if root.tag != "Tagging" or root.find("TagSet") is None:
                raise configs.malformed()
            tags = configs.check_tag_pairs(_tag_pairs(root))
            self.backend.set_tags(bucket, key, tags)
            return Response(200)
        if m == "DELETE":
            self.backend.set_tags(bucket, key, None)
            return Response(204)
        raise AwsError(
            "MethodNotAllowed", "The specified method is not allowed against this resource.", 405
        )

    # ----------------------------------------------------------- multipart
    def create_upload(self, req: Request, bucket: str, key: str) -> Response:
        attrs = self._object_attrs(req)
        alg, kind = _upload_checksum(req.headers)
        headers = []
        if alg:
            attrs["ca"] = alg
            attrs["ct"] = kind
            headers = [
                ("x-amz-checksum-algorithm", alg.upper()),
                ("x-amz-checksum-type", kind),
            ]
        upload_id = self.backend.create_upload(bucket, key, attrs)
        headers += _sse(attrs["h"])
        return Response.xml(
            f'<InitiateMultipartUploadResult xmlns="{NS}"><Bucket>'
            f"{escape(bucket)}</Bucket><Key>{escape(key)}</Key><UploadId>"
            f"{upload_id}</UploadId></InitiateMultipartUploadResult>",
            headers=headers,
        )

    async def upload_part(
        self, req: Request, bucket: str, key: str, upload_id: str, q: dict[str, str]
    ) -> Response:
        number = _part_number(q)
        upload = self.backend.get_upload(bucket, key, upload_id)
        alg = upload.attrs.get("ca")
        sent = _checksum_alg(req)
        if alg and sent and sent != alg:
            raise AwsError(
                "InvalidRequest",
                f"Checksum Type mismatch occurred, expected checksum Type: {alg}, actual "
                f"checksum Type: {sent}",
            )
        # an upload created without an algorithm still gets S3's CRC64NVME full-object
        # checksum: each part's CRC64NVME is kept (not shown) to combine at completion
        rel, size, md5, checksums, _ = await self._receive(
            req, False, alg, also=None if alg else "crc64nvme"
        )
        kept = checksums.get(alg or "crc64nvme", "")
        self.backend.put_part(bucket, key, upload_id, number, rel, size, md5, kept)
        headers = [("etag", quote_etag(md5))]
        shown = alg or sent
        headers += [(f"x-amz-checksum-{a}", v) for a, v in checksums.items() if a == shown]
        headers += _sse(upload.attrs.get("h", {}))
        return Response(200, headers)

    async def upload_part_copy(
        self, req: Request, bucket: str, key: str, upload_id: str, q: dict[str, str]
    ) -> Response:
        number = _part_number(q)
        self.backend.get_upload(bucket, key, upload_id)
        _, _, src = self._copy_source_object(req)
        start, end = 0, src.size - 1
        if "x-amz-copy-source-range" in req.headers:
            parsed = _parse_range(req.headers["x-amz-copy-source-range"], src.size)
            if parsed is None:
                raise AwsError(
                    "InvalidArgument",
                    "The x-amz-copy-source-range value must be of "
                    "the form bytes=first-last where first and last are the "
                    "zero-based offsets of the first and last bytes to copy",
                )
            start, end = parsed
        data = self.backend.read_range(src, start, end - start + 1)
        rel, md5 = self.backend.write_file(data)
        alg = self.backend.get_upload(bucket, key, upload_id).attrs.get("ca")
        digest = _Digest(alg or "crc64nvme")
        digest.update_checksum(data)
        value = digest.value() or ""
        self.backend.put_part(bucket, key, upload_id, number, rel, len(data), md5, value)
        value = value if alg else ""
        now = iso(self.backend.clock.now())
        sums = f"<Checksum{alg.upper()}>{value}</Checksum{alg.upper()}>" if alg and value else ""
        return Response.xml(
            f'<CopyPartResult xmlns="{NS}"><LastModified>{now}</LastModified>'
            f"<ETag>&quot;{md5}&quot;</ETag>{sums}</CopyPartResult>"
        )

    async def complete_upload(
        self, req: Request, bucket: str, key: str, upload_id: str
    ) -> Response:
        check_write_headers(req.headers.get("if-none-match"), req.headers.get("if-match"))
        root = parse_xml(await req.read())
        requested = []
        sent_sums: dict[int, str | None] = {}
        upload = self.backend.get_upload(bucket, key, upload_id)
        alg = upload.attrs.get("ca")
        kind = upload.attrs.get("ct", "COMPOSITE")
        for p in root.findall("Part"):
            try:
                requested.append((int(p.findtext("PartNumber") or "0"), p.findtext("ETag") or ""))
                if alg:
                    sent_sums[requested[-1][0]] = p.findtext(f"Checksum{alg.upper()}")
            except ValueError as exc:
                raise AwsError(
                    "MalformedXML",
                    "The XML you provided was not well-formed or did "
                    "not validate against our published schema",
                ) from exc
        b = self.backend
        upload, parts = b.plan_complete(bucket, key, upload_id, requested)
        composite = None
        full = None
        if alg and kind == "FULL_OBJECT" or not alg:
            use = alg or "crc64nvme"
            if all(p.checksum for p in parts):
                full = (use, full_object_checksum(use, [(p.checksum, p.size) for p in parts]))
            sent = req.headers.get(f"x-amz-checksum-{use}")
            if alg and sent and full and sent != full[1]:
                raise AwsError(
                    "BadDigest",
                    f"The {use.upper()} you specified did not match the calculated checksum.",
                )
        elif alg:
            for part in parts:
                given = sent_sums.get(part.number)
                if not given:
                    raise AwsError(
                        "InvalidRequest",
                        f"The upload was created using a {alg} checksum. The complete request "
                        "must include the checksum for each part. It was missing for part "
                        f"{part.number} in the request.",
                    )
                if part.checksum and given != part.checksum:
                    raise AwsError(
                        "InvalidPart",
                        "One or more of the specified parts could not be found.  The part may "
                        "not have been uploaded, or the specified entity tag may not match the "
                        "part's entity tag.",
                        ETag=part.etag,
                        PartNumber=part.number,
                        UploadId=upload_id,
                    )
            composite = (alg, [sent_sums[p.number] or "" for p in parts])
        b.check_write_conditions(
            bucket, key, req.headers.get("if-none-match"), req.headers.get("if-match")
        )
        rel, size, etag = await asyncio.to_thread(b.assemble, parts)
        obj = b.finish_upload(
            upload,
            rel,
            size,
            etag,
            req.headers.get("if-none-match"),
            req.headers.get("if-match"),
            [p.size for p in parts],
            composite,
            full,
        )
        sums = "".join(
            f"<Checksum{a.upper()}>{v}</Checksum{a.upper()}><ChecksumType>"
            f"{'COMPOSITE' if composite else 'FULL_OBJECT'}</ChecksumType>"
            for a, v in obj.checksums.items()
        )
        return Response.xml(
            f'<CompleteMultipartUploadResult xmlns="{NS}"><Location>/{escape(bucket)}/'
            f"{escape(key)}</Location><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<ETag>&quot;{obj.etag}&quot;</ETag>{sums}</CompleteMultipartUploadResult>",
            headers=_sse(obj.headers) + self._version_header(obj),
        )

    def list_parts(self, bucket: str, key: str, upload_id: str, q: dict[str, str]) -> Response:
        self.backend.get_upload(bucket, key, upload_id)
        marker = _int_param(q, "part-number-marker", 0)
        max_parts = min(_int_param(q, "max-parts", 1000), 1000)
        parts = [p for p in self.backend.list_parts(upload_id) if p.number > marker]
        page, truncated = parts[:max_parts], len(parts) > max_parts
        alg = self.backend.get_upload(bucket, key, upload_id).attrs.get("ca")
        tag = f"Checksum{alg.upper()}" if alg else ""
        body = "".join(
            f"<Part><PartNumber>{p.number}</PartNumber><LastModified>"
            f"{iso(p.last_modified)}</LastModified><ETag>&quot;{p.etag}&quot;</ETag>"
            f"<Size>{p.size}</Size>"
            + (f"<{tag}>{p.checksum}</{tag}>" if tag and p.checksum else "")
            + "</Part>"
            for p in page
        )
        kind = self.backend.get_upload(bucket, key, upload_id).attrs.get("ct", "COMPOSITE")
        mode = (
            f"<ChecksumAlgorithm>{alg.upper()}</ChecksumAlgorithm><ChecksumType>{kind}"
            "</ChecksumType>"
            if alg
            else ""
        )
        nxt = page[-1].number if page else marker
        return Response.xml(
            f'<ListPartsResult xmlns="{NS}"><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}'
            f"</Key><UploadId>{upload_id}</UploadId><PartNumberMarker>{marker}</PartNumberMarker>"
            f"<NextPartNumberMarker>{nxt}</NextPartNumberMarker><MaxParts>{max_parts}</MaxParts>"
            f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{_INITIATOR}{OWNER}"
            f"<StorageClass>STANDARD</StorageClass>{mode}{body}</ListPartsResult>"
        )

    def list_uploads(self, bucket: str, q: dict[str, str]) -> Response:
        """ListMultipartUploads with max-uploads, key-marker, upload-id-marker, prefix,
        delimiter and encoding-type; NextKeyMarker / NextUploadIdMarker name the last upload
        listed (empty when none), as S3 writes them."""
        url = _encoding_type(q)
        enc: Callable[[str], str] = (lambda s: quote(s, safe="/")) if url else escape
        max_uploads = min(max(_int_param(q, "max-uploads", 1000), 0), 1000)
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
        uploads, prefixes, truncated = self.backend.list_uploads_page(
            bucket, prefix, delimiter, key_marker, id_marker, max_uploads
        )
        body = "".join(
            f"<Upload><Key>{enc(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
            f"{_INITIATOR}{OWNER}<StorageClass>{u.attrs.get('sclass', 'STANDARD')}"
            f"</StorageClass><Initiated>{iso(u.initiated)}</Initiated>"
            + (
                f"<ChecksumAlgorithm>{u.attrs['ca'].upper()}</ChecksumAlgorithm>"
                "<ChecksumType>COMPOSITE</ChecksumType>"
                if u.attrs.get("ca")
                else ""
            )
            + "</Upload>"
            for u in uploads
        )
        cps = "".join(
            f"<CommonPrefixes><Prefix>{enc(c)}</Prefix></CommonPrefixes>" for c in prefixes
        )
        last = uploads[-1] if uploads else None
        return Response.xml(
            f'<ListMultipartUploadsResult xmlns="{NS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<KeyMarker>{enc(key_marker)}</KeyMarker><UploadIdMarker>{escape(id_marker)}"
            f"</UploadIdMarker><NextKeyMarker>{enc(last.key) if last else ''}</NextKeyMarker>"
            f"<Prefix>{enc(prefix)}</Prefix>"
            + (f"<Delimiter>{enc(delimiter)}</Delimiter>" if delimiter else "")
            + f"<NextUploadIdMarker>{last.upload_id if last else ''}</NextUploadIdMarker>"
            f"<MaxUploads>{max_uploads}</MaxUploads><IsTruncated>{str(truncated).lower()}"
            f"</IsTruncated>{body}{cps}"
            + ("<EncodingType>url</EncodingType>" if url else "")
            + "</ListMultipartUploadsResult>"
        )

    def get_object_attributes(self, req: Request, bucket: str, key: str) -> Response:
        """GetObjectAttributes: the attributes x-amz-object-attributes names (ETag, Checksum,
        ObjectParts, StorageClass, ObjectSize), nothing else. 400 InvalidRequest when the
        header is missing or empty, InvalidArgument "Invalid attribute name specified." for a
        name outside those five (S3's answers, as recorded in versitygw #915 and #917).
        ObjectParts of a multipart object: TotalPartsCount, and for uploads with COMPOSITE
        checksums the parts (number, size, checksum), paged by x-amz-max-parts (default and
        most 1,000; an invalid value is ignored, as S3 does) and x-amz-part-number-marker."""
        raw = req.headers.get("x-amz-object-attributes", "")
        wanted = [a.strip() for a in raw.split(",") if a.strip()]
        if not wanted:
            raise AwsError(
                "InvalidRequest",
                "The x-amz-object-attributes header specifying the attributes to be retrieved "
                "is either missing or empty",
            )
        for a in wanted:
            if a not in ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"):
                raise AwsError(
                    "InvalidArgument",
                    "Invalid attribute name specified.",
                    ArgumentName="x-amz-object-attributes",
                    ArgumentValue=a,
                )
        obj = self.backend.head(bucket, key)
        out = [f'<GetObjectAttributesResponse xmlns="{NS}">']
        if "ETag" in wanted:
            out.append(f"<ETag>{obj.etag}</ETag>")
        composite = bool(obj.part_checksums)
        if "Checksum" in wanted and obj.checksums:
            # a COMPOSITE checksum is answered without its "-<parts>" suffix here
            sums = "".join(
                f"<Checksum{a.upper()}>{v.split('-')[0]}</Checksum{a.upper()}>"
                for a, v in obj.checksums.items()
            )
            kind = "COMPOSITE" if composite else "FULL_OBJECT"
            out.append(f"<Checksum>{sums}<ChecksumType>{kind}</ChecksumType></Checksum>")
        if "ObjectParts" in wanted and obj.parts:
            # TotalPartsCount travels as <PartsCount> (botocore model: locationName)
            out.append(f"<ObjectParts><PartsCount>{obj.parts}</PartsCount>")
            if composite:
                out.append(_object_parts_page(obj, req.headers))
            out.append("</ObjectParts>")
        if "StorageClass" in wanted:
            out.append(f"<StorageClass>{obj.storage_class}</StorageClass>")
        if "ObjectSize" in wanted:
            out.append(f"<ObjectSize>{obj.size}</ObjectSize>")
        out.append("</GetObjectAttributesResponse>")
        return Response.xml("".join(out), headers=[("last-modified", http_date(obj.last_modified))])


def operation_name(
    m: str, bucket: str, key: str, q: dict[str, str], headers: dict[str, str]
) -> str:
    """S3's API operation for a request (for request counts, the evidence in lab 1.3.6, and
    IAM's action table), named as the S3 API reference names it."""
    if m == "OPTIONS":
        return "PreflightRequest"
    if not bucket:
        return "ListBuckets"
    sub = surface.classify("object" if key else "bucket", m, q)
    if sub.sub == "metrics" and m == "GET" and "id" not in q:
        return "ListBucketMetricsConfigurations"
    if sub.operation:
        return sub.operation
    if not key:
        if m == "GET":
            return "ListObjectsV2" if "list-type" in q else "ListObjects"
        return {
            "PUT": "CreateBucket",
            "HEAD": "HeadBucket",
            "DELETE": "DeleteBucket",
            "POST": "PostObject",
        }.get(m, f"{m}Bucket")
    if "uploadId" in q:
        if m == "PUT":
            return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
        return {
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
            "GET": "ListParts",
        }.get(m, m)
    if m == "PUT":
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(m, m)


def not_modified_response(err: AwsError) -> Response | None:
    if isinstance(err, NotModified):
        return Response(
            304,
            [
                ("etag", quote_etag(err.obj.etag)),
                ("last-modified", http_date(err.obj.last_modified)),
            ],
        )
    return None


async def _file_slices(path: Any, start: int, length: int) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        left = length
        while left > 0:
            chunk = fh.read(min(_SLICE, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _part_number(q: dict[str, str]) -> int:
    try:
        return int(q.get("partNumber", ""))
    except ValueError as exc:
        raise AwsError(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
        ) from exc


def _restore_status(s: restore.RestoreState | None) -> str:
    """ListObjects' RestoreStatus element (x-amz-optional-object-attributes: RestoreStatus)."""
    if s is None:
        return ""
    if s.ongoing:
        return "<RestoreStatus><IsRestoreInProgress>true</IsRestoreInProgress></RestoreStatus>"
    return (
        "<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress>"
        f"<RestoreExpiryDate>{iso(s.expiry)}</RestoreExpiryDate></RestoreStatus>"
    )


def _copy_source_version(raw: str) -> tuple[str, str, str | None]:
    """x-amz-copy-source: (bucket, key, the ``?versionId=`` asked or None)."""
    b, k = _copy_source(raw)
    vid = None
    if "?versionId=" in raw:
        vid = unquote(raw.split("?versionId=", 1)[1])
        check_version_id(vid)
    return b, k, vid


def _copy_source(raw: str) -> tuple[str, str]:
    src = unquote(raw.split("?versionId=")[0]).lstrip("/")
    if "/" not in src:
        raise AwsError(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
        )
    b, k = src.split("/", 1)
    return b, k


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range as S3 reads it; None means: ignore, send everything."""
    if not value.startswith("bytes=") or "," in value:
        return None
    first, _, last = value[6:].strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n == 0:
                raise _invalid_range(size, value)
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        raise _invalid_range(size, value)
    if end < start:
        return None
    return start, min(end, size - 1)


def _with_sse(kept: dict[str, str], request: dict[str, str]) -> dict[str, str]:
    """A copy's headers: the source's, but encrypted as this request says (or by the
    destination bucket's default), not as the source was."""
    out = {k: v for k, v in kept.items() if not k.startswith("x-amz-server-side-encryption")}
    return {**out, **dict(_sse(request))}


def _sse(headers: dict[str, str]) -> list[tuple[str, str]]:
    """The server-side-encryption headers among an object's (or upload's) kept headers."""
    return [(k, v) for k, v in headers.items() if k.startswith("x-amz-server-side-encryption")]


def _invalid_range(size: int, requested: str) -> AwsError:
    """S3's 416, with the range asked for and the object's size as its error fields."""
    return AwsError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested=requested,
        ActualObjectSize=size,
    )


def _parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _parse_tag_header(value: str) -> dict[str, str]:
    """The ``x-amz-tagging`` header (URL query encoding), validated as S3 does."""
    if not value:
        return {}
    return configs.tagging_header_pairs(parse_qsl(value, keep_blank_values=True), value)


def _method_not_allowed() -> AwsError:
    return AwsError(
        "MethodNotAllowed", "The specified method is not allowed against this resource.", 405
    )


_ACLS_DISABLED = ("AccessControlListNotSupported", "The bucket does not allow ACLs")


def _check_acl_headers(h: dict[str, str]) -> None:
    """ACL headers on a write to a bucket whose ObjectOwnership is BucketOwnerEnforced (every
    bucket here, as every new AWS bucket since April 2023): only the bucket-owner-full-control
    canned ACL is accepted; anything else is 400 AccessControlListNotSupported (user guide,
    "Object Ownership": error responses)."""
    acl = h.get("x-amz-acl")
    if (acl is not None and acl != "bucket-owner-full-control") or any(
        k.startswith("x-amz-grant-") for k in h
    ):
        raise AwsError(*_ACLS_DISABLED)


def _check_acl_put(h: dict[str, str], body: bytes) -> None:
    """PutBucketAcl / PutObjectAcl with ACLs disabled: the canned bucket-owner-full-control,
    or a document granting only the owner FULL_CONTROL, is accepted (and changes nothing);
    anything else is AccessControlListNotSupported."""
    _check_acl_headers(h)
    if "x-amz-acl" in h:
        return
    root = parse_xml(body)
    grants = root.findall("AccessControlList/Grant")
    if not grants:
        raise AwsError("MalformedACLError", configs.MALFORMED_XML.replace("XML", "ACL", 1))
    for g in grants:
        if g.findtext("Permission") != "FULL_CONTROL" or g.findtext("Grantee/ID") != OWNER_ID:
            raise AwsError(*_ACLS_DISABLED)


def _check_create_bucket_headers(h: dict[str, str]) -> None:
    """CreateBucket's ownership and ACL headers: BucketOwnerEnforced is the only
    ObjectOwnership emulated (others: 501); a canned ACL other than private is 400
    InvalidBucketAclWithObjectOwnership under it (user guide, "Object Ownership")."""
    owner = h.get("x-amz-object-ownership")
    if owner is not None and owner != "BucketOwnerEnforced":
        if owner not in ("BucketOwnerPreferred", "ObjectWriter"):
            raise AwsError(
                "InvalidArgument",
                f"Invalid x-amz-object-ownership header: {owner}",
                ArgumentName="x-amz-object-ownership",
            )
        raise AwsError(
            "NotImplemented",
            surface.NOT_IMPLEMENTED,
            501,
            sender=False,
            Header="x-amz-object-ownership",
            additionalMessage="bdlab only emulates BucketOwnerEnforced (ACLs disabled)",
        )
    acl = h.get("x-amz-acl")
    if (acl is not None and acl != "private") or any(k.startswith("x-amz-grant-") for k in h):
        raise AwsError(
            "InvalidBucketAclWithObjectOwnership",
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        )


def _tag_pairs(root: ET.Element) -> list[tuple[str, str]]:
    """(Key, Value) of every Tag of a Tagging document, in order; MalformedXML when a Tag
    lacks either."""
    pairs = []
    for t in root.iter("Tag"):
        k, v = t.find("Key"), t.find("Value")
        if k is None or v is None:
            raise configs.malformed()
        pairs.append((k.text or "", v.text or ""))
    return pairs


_SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
_PUBLIC_ACCESS_FIELDS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


def _validate_config(sub: str, body: bytes, bucket: str) -> None:
    """Refuse a bucket configuration document AWS would refuse, with AWS's error."""
    if sub == "policy":
        configs.check_bucket_policy(body.decode("utf-8", "replace"), bucket)
        return
    root = parse_xml(body)
    if sub == "versioning":
        # PutBucketVersioning (API reference): Enabled or Suspended; MFA delete needs the
        # account's root MFA device, which an emulator has not got
        status = (root.findtext("Status") or "").strip()
        if root.tag != "VersioningConfiguration" or status not in ("Enabled", "Suspended"):
            raise AwsError(
                "IllegalVersioningConfigurationException",
                "The Versioning element must be specified",
            )
        if (root.findtext("MfaDelete") or "Disabled").strip() == "Enabled":
            raise AwsError(
                "NotImplemented",
                "MFA delete is not implemented by bdlab (it needs the root user's MFA device)",
                501,
                sender=False,
            )
    elif sub == "lifecycle":
        configs.check_lifecycle(root)
    elif sub == "cors":
        configs.parse_cors(root)
    elif sub == "tagging":
        if root.tag != "Tagging" or root.find("TagSet") is None:
            raise configs.malformed()
        configs.check_tag_pairs(_tag_pairs(root), bucket=True)
    elif sub == "encryption":
        rules = root.findall("Rule")
        if root.tag != "ServerSideEncryptionConfiguration" or not rules:
            raise configs.malformed()
        for rule in rules:
            alg = rule.findtext("ApplyServerSideEncryptionByDefault/SSEAlgorithm")
            if alg not in _SSE_ALGORITHMS:
                raise configs.malformed()
            key_id = rule.find("ApplyServerSideEncryptionByDefault/KMSMasterKeyID")
            if key_id is not None and alg == "AES256":
                raise AwsError(
                    "InvalidArgument",
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                    "aws:kms or aws:kms:dsse",
                    ArgumentName="ApplyServerSideEncryptionByDefault",
                )
    elif sub == "publicAccessBlock":
        if root.tag != "PublicAccessBlockConfiguration":
            raise configs.malformed()
        for child in root:
            if child.tag not in _PUBLIC_ACCESS_FIELDS or (child.text or "") not in (
                "true",
                "false",
            ):
                raise configs.malformed()
    elif sub == "ownershipControls":
        values = [r.findtext("ObjectOwnership") for r in root.findall("Rule")]
        if root.tag != "OwnershipControls" or len(values) != 1:
            raise configs.malformed()
        if values[0] in ("BucketOwnerPreferred", "ObjectWriter"):
            raise AwsError(
                "NotImplemented",
                f"PutBucketOwnershipControls with {values[0]} (ACLs enabled) is not "
                "implemented by bdlab: only BucketOwnerEnforced is",
                501,
                sender=False,
            )
        if values[0] != "BucketOwnerEnforced":
            raise configs.malformed()


def _parse_form(ctype: str, body: bytes) -> tuple[dict[str, str], str | None, bytes | None]:
    """A multipart/form-data body: (fields by lower-case name, the file's name, the file's
    bytes). Fields after the file are ignored, as S3 does ("the file or content must be the
    last field in the form")."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    if not msg.is_multipart():
        raise configs.malformed()
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name.lower() == "file":
            filename = part.get_param("filename", header="content-disposition")
            return fields, filename if isinstance(filename, str) else None, data
        fields[name.lower()] = data.decode("utf-8", "replace")
    return fields, None, None


def _int_param(q: dict[str, str], name: str, default: int) -> int:
    """An integer query parameter; absent or empty means ``default`` (S3 ignores an empty
    value, e.g. ``max-parts=``); anything else not an integer is InvalidArgument."""
    text = q.get(name, "")
    if text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise AwsError(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=text,
        ) from exc


def _encoding_type(q: dict[str, str]) -> bool:
    """True for ``encoding-type=url``; any other value is InvalidArgument, as S3 answers."""
    if "encoding-type" not in q:
        return False
    if q["encoding-type"] != "url":
        raise AwsError(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=q["encoding-type"],
        )
    return True


def _make_token(marker: str) -> str:
    """An opaque ListObjectsV2 continuation token for ``marker``, with a check value so a
    token bdlab did not issue is recognised."""
    raw = marker.encode()
    check = zlib.crc32(b"bdlab-continuation:" + raw).to_bytes(4, "big")
    return base64.urlsafe_b64encode(check + raw).decode()


def _read_token(token: str) -> str:
    """The marker of a token ``_make_token`` issued; InvalidArgument "The continuation token
    provided is incorrect" (ArgumentName continuation-token) for any other, as S3 answers."""
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        check, marker = raw[:4], raw[4:]
        if len(raw) < 4 or zlib.crc32(b"bdlab-continuation:" + marker).to_bytes(4, "big") != check:
            raise ValueError(token)
        return marker.decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise AwsError(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
        ) from exc


def _part_range(obj: ObjectInfo, number: int) -> tuple[int, int]:
    """First and last byte of part ``number`` of ``obj`` (GetObject / HeadObject with
    partNumber); a single-part object is its part 1. 416 InvalidPartNumber beyond the last."""
    sizes = obj.part_sizes if obj.parts else [obj.size]
    if obj.parts and not sizes:
        raise AwsError(
            "NotImplemented",
            "partNumber on an object completed before bdlab recorded part sizes is not implemented",
            501,
            sender=False,
        )
    if not 1 <= number <= len(sizes):
        raise AwsError(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            416,
            PartNumberRequested=number,
            ActualPartCount=len(sizes),
        )
    start = sum(sizes[: number - 1])
    return start, start + sizes[number - 1] - 1


def _upload_checksum(h: dict[str, str]) -> tuple[str | None, str]:
    """The checksum algorithm (lower case, or None) and type of a CreateMultipartUpload; S3's
    InvalidRequest for an unknown algorithm, a type without one, or a type the algorithm does
    not allow (CRC64NVME is FULL_OBJECT only, the SHAs COMPOSITE only; CRC32 and CRC32C are
    COMPOSITE unless asked). S3 user guide, "Checking object integrity"."""
    alg, kind = h.get("x-amz-checksum-algorithm"), h.get("x-amz-checksum-type")
    if alg is None:
        if kind is not None:
            raise AwsError(
                "InvalidRequest",
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header.",
            )
        return None, "FULL_OBJECT"
    if alg.upper() not in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        raise AwsError(
            "InvalidRequest",
            "Checksum algorithm provided is unsupported. Please try again with any of the "
            "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        )
    if kind not in (None, "COMPOSITE", "FULL_OBJECT"):
        raise AwsError("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    a = alg.lower()
    kind = kind or ("FULL_OBJECT" if a == "crc64nvme" else "COMPOSITE")
    if (a == "crc64nvme" and kind == "COMPOSITE") or (
        a.startswith("sha") and kind == "FULL_OBJECT"
    ):
        raise AwsError(
            "InvalidRequest",
            f"The {kind} checksum type cannot be used with the {a} checksum algorithm.",
        )
    return a, kind


def _object_parts_page(obj: ObjectInfo, h: dict[str, str]) -> str:
    """The paged part list of GetObjectAttributes for a COMPOSITE multipart object."""

    def header_int(name: str, default: int) -> int:
        text = h.get(name, "")
        return int(text) if text.isdigit() else default  # S3 ignores invalid values

    marker = header_int("x-amz-part-number-marker", 0)
    max_parts = min(header_int("x-amz-max-parts", 1000), 1000)
    alg = next(iter(obj.checksums)).upper()
    numbers = [n for n in range(1, obj.parts + 1) if n > marker]
    page, truncated = numbers[:max_parts], len(numbers) > max_parts
    parts = "".join(
        f"<Part><PartNumber>{n}</PartNumber><Size>{obj.part_sizes[n - 1]}</Size>"
        f"<Checksum{alg}>{obj.part_checksums[n - 1]}</Checksum{alg}></Part>"
        for n in page
    )
    return (
        f"<PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>"
        f"{page[-1] if page else 0}</NextPartNumberMarker><MaxParts>{max_parts}</MaxParts>"
        f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{parts}"
    )
