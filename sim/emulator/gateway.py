"""The gateway: one ASGI app on 127.0.0.1:4566 that routes each request to a provider.

Order per request: admin paths -> identify service -> fault layer -> provider -> AWS-shaped
errors. No request ever gets a Python traceback: unexpected failures become a 500
``InternalError`` in the caller's protocol, and the traceback goes to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sim.emulator.authz.enforcer import IamEnforcer
from sim.emulator.clock import Clock
from sim.emulator.faults import FaultError, Faults
from sim.emulator.prommetrics import CONTENT_TYPE, GatewayMetrics, body_sizes
from sim.emulator.protocol import AwsError, Request, Response, error_response, host_id
from sim.emulator.providers.base import Provider
from sim.emulator.providers.cloudwatch.api import CloudWatchProvider
from sim.emulator.providers.cloudwatch.model import CloudWatch
from sim.emulator.providers.emr.api import EmrProvider
from sim.emulator.providers.emr.model import EmrBackend
from sim.emulator.providers.emr.runner import StepLauncher, StepRunner
from sim.emulator.providers.firehose.api import FirehoseProvider
from sim.emulator.providers.firehose.lambdas import LocalLambda
from sim.emulator.providers.firehose.model import FirehoseBackend
from sim.emulator.providers.iam.api import IamProvider
from sim.emulator.providers.kinesis.api import KinesisProvider
from sim.emulator.providers.kinesis.model import KinesisBackend, Limits, SourceReader
from sim.emulator.providers.logs.api import LogsProvider
from sim.emulator.providers.logs.deliver import Links
from sim.emulator.providers.moto_backend import Journal, MotoProvider, SeamProvider
from sim.emulator.providers.s3.api import S3Provider
from sim.emulator.providers.s3.costs import CostModel
from sim.emulator.providers.s3.lifecycle import LifecycleRunner
from sim.emulator.providers.s3.model import S3Backend
from sim.emulator.providers.sns.api import SnsProvider
from sim.emulator.routing import identify

log = logging.getLogger("bdlab.gateway")


def _version() -> str:
    """The installed bdlab distribution's version (what `bdlab status` and a clash report)."""
    try:
        return importlib.metadata.version("bdlab")
    except importlib.metadata.PackageNotFoundError:  # run from a bare source tree
        return "0+unknown"


VERSION = _version()

# Services a later issue makes faithful; each already has its own seam in the table.
SEAM_SERVICES: tuple[str, ...] = ()


class Gateway:
    """All state and providers of one emulator instance."""

    def __init__(
        self,
        state_dir: Path,
        port: int,
        clock_speed: float = 1.0,
        fsync: bool = False,
        launcher: StepLauncher | None = None,
        host: str = "127.0.0.1",
        own_kinesis: bool = True,
        kinesis_limits: bool = True,
    ) -> None:
        # own_kinesis=False serves Kinesis from moto (for comparisons; the default is bdlab's
        # provider). kinesis_limits=False lifts the per-shard limits (benchmarks; logged).
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.started = time.time()
        self.clock = Clock(clock_speed, state_dir / "clock.json")
        if clock_speed != self.clock.speed:
            self.clock.set_speed(clock_speed)
        self.faults = Faults(state_dir / "faults.json")
        self.s3 = S3Backend(state_dir / "s3", self.clock, fsync=fsync)
        self.journal = Journal(state_dir / "journal.db")
        self.moto = MotoProvider(self.journal, port)
        replayed, failed = self.moto.replay()
        self.replayed = {"ok": replayed, "failed": failed}
        self.emr = EmrBackend(state_dir / "emr.db", self.clock)
        self.steps = StepRunner(
            self.emr, self.s3, f"http://{host}:{port}", state_dir / "emr-steps", launcher
        )
        self._scheduler: asyncio.Task[None] | None = None
        self.lifecycle = LifecycleRunner(self.s3)
        self._lifecycle_task: asyncio.Task[None] | None = None
        self._kinesis_task: asyncio.Task[None] | None = None
        self.iam = IamEnforcer(state_dir / "iam.json", now=self.clock.now)
        self.costs = CostModel()
        self.providers: dict[str, Provider] = {
            # AWS/S3 and AWS/ElasticMapReduce metrics go to bdlab's CloudWatch
            "s3": S3Provider(
                self.s3, self.costs, self.put_metric_data, send=self.moto.internal_call
            ),
            "emr": EmrProvider(self.emr, self.put_metric_data),
            "iam": IamProvider(self.moto, self.iam),
        }
        for name in SEAM_SERVICES:
            self.providers[name] = SeamProvider(name, self.moto)
        # SNS: moto keeps topics and subscriptions; bdlab delivers to HTTP/S and email
        self.sns = SnsProvider(self.moto, self.clock, state_dir / "sns", f"http://{host}:{port}")
        self.providers["sns"] = self.sns
        self._sns_task: asyncio.Task[None] | None = None
        # CloudWatch metrics, dashboards and alarms are bdlab's; alarm actions publish through
        # moto's SNS (which delivers to SQS).
        self.cloudwatch = CloudWatch(state_dir / "cloudwatch.db", self.clock, fsync=fsync)
        self.cw = CloudWatchProvider(self.cloudwatch, self.moto)
        self.providers["cloudwatch"] = self.cw
        self._alarms_task: asyncio.Task[None] | None = None
        self._metrics_tasks: list[asyncio.Task[None]] = []
        self._firehose_task: asyncio.Task[None] | None = None
        self.kinesis: KinesisBackend | None = None
        if not own_kinesis:
            self.providers["kinesis"] = SeamProvider(
                "kinesis",
                self.moto,
                ("ProvisionedThroughputExceededException", "Rate exceeded for shard", 400),
            )
        else:
            limits = Limits(enforce=kinesis_limits)
            if not kinesis_limits:
                log.warning("Kinesis per-shard limits are OFF (AWS enforces them)")
            self.kinesis = KinesisBackend(
                state_dir / "kinesis", self.clock, limits=limits, fsync=fsync
            )
            self.providers["kinesis"] = KinesisProvider(
                self.kinesis,
                self.put_metric_data,
                knob=lambda name: self.faults.get(name, "kinesis"),
            )
        # Firehose reads Kinesis sources straight from bdlab's Kinesis (none with moto's)
        self.firehose = FirehoseBackend(
            state_dir / "firehose",
            self.clock,
            self.write_s3_object,
            fsync=fsync,
            kinesis=SourceReader(self.kinesis) if self.kinesis is not None else None,
            schema_lookup=self.glue_columns,
        )
        self.providers["firehose"] = FirehoseProvider(
            self.firehose,
            self.put_metric_data,
            LocalLambda(self.lambda_code, state_dir / "firehose" / "lambda-code"),
        )
        # Logs' metric filters, subscriptions and exports reach bdlab's own services
        self.providers["logs"] = LogsProvider(
            self.moto,
            Links(
                self.clock.now,
                self.put_metric_data,
                self.put_log_record,
                self.write_s3_object,
                self.s3.bucket_exists,
            ),
            state_dir / "logs",
        )
        self.counts: Counter[str] = Counter()
        self.prom = GatewayMetrics(
            lambda: self.kinesis.metrics if self.kinesis is not None else None,
            lambda: self.firehose.metrics,
            lambda: [a.state for a in self.cw.alarms.alarms.values()],
        )

    # ------------------------------------------------------------- ASGI
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw = scope.get("raw_path")
        raw_path = raw.decode("latin-1") if raw else quote(scope["path"])
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            value = v.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        req = Request(
            scope["method"],
            raw_path.split("?", 1)[0],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            receive,
            client_ip=(scope.get("client") or ("",))[0] or "",
            secure=scope.get("scheme") == "https",
        )
        # An unsigned GET /metrics is a Prometheus scrape; a signed one is S3's bucket "metrics".
        scrape = req.raw_path == "/metrics" and "authorization" not in headers
        if scrape and "x-amz-signature" not in req.query_string.lower():
            resp = await self._admin(req)
        elif req.raw_path.startswith(("/_bdlab/", "/_localstack/")):
            resp = await self._admin(req)
        elif self.sns.is_console_url(req):  # an SNS SubscribeURL / UnsubscribeURL
            resp = await self.sns.console(req)
        else:
            resp = await self.dispatch(req)
        await _send(send, resp, req.request_id, receive, req.service or "")

    async def dispatch(self, req: Request) -> Response:
        req.service, req.region = identify(req)
        started = time.perf_counter()
        resp: Response | None = None
        try:
            resp = await self._dispatch(req)
            return resp
        finally:
            self.counts[f"{req.service} {req.operation or req.method}"] += 1
            if req.bucket:
                self.counts[f"s3:{req.bucket} {req.operation}"] += 1
            sizes = body_sizes(req.headers, resp.headers, resp.body) if resp else (0, 0)
            self.prom.observe(
                req.service,
                req.operation or req.method,
                resp.status if resp else 500,
                time.perf_counter() - started,
                req.bucket,
                *sizes,
            )

    async def _dispatch(self, req: Request) -> Response:
        provider: Provider = self.providers.get(req.service, self.moto)
        try:
            decision = self.faults.decide(req.service)
            if decision.latency_ms:
                await asyncio.sleep(decision.latency_ms / 1000)
            if decision.kind:
                raise provider.fault_error(decision.kind)
            if self.iam.enforce:
                await self._authorize(req, provider)
            return await provider.handle(req)
        except AwsError as err:
            if err.close_connection:
                resp = provider.error_response(req, err)
                resp.headers.append(("connection", "close"))
                return resp
            try:
                await req.drain()
            except AwsError:  # the client went away while we drained: nothing to answer
                pass
            return provider.error_response(req, err)
        except Exception:  # never a traceback on the wire
            log.exception("internal error serving %s %s", req.method, req.raw_path)
            await req.drain()
            return error_response(
                req,
                AwsError(
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    500,
                    sender=False,
                ),
            )

    async def _authorize(self, req: Request, provider: Provider) -> None:
        """IAM enforcement (opt-in): identity policies, boundaries and the resource's policy
        decide every resource the operation touches (sim/emulator/authz)."""
        operation = await provider.operation(req)
        body = await req.read() if provider.auth_reads_body else b""
        loop = asyncio.get_running_loop()

        async def on_moto_thread(fn: Any, *args: Any) -> Any:
            # moto's IAM backend is read on the moto thread, where all moto calls run
            return await loop.run_in_executor(self.moto.executor, fn, *args)

        await self.iam.authorize(
            req, operation, body, on_moto_thread, provider.resource_policy, provider.resource_keys
        )

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.moto.warm_up()
                loop = asyncio.get_running_loop()
                self._scheduler = loop.create_task(self.steps.run_forever())
                self._lifecycle_task = loop.create_task(self.lifecycle.run_forever())
                kinesis = self.providers.get("kinesis")
                if isinstance(kinesis, KinesisProvider):
                    self._kinesis_task = loop.create_task(kinesis.run_forever())
                firehose = self.providers["firehose"]
                assert isinstance(firehose, FirehoseProvider)
                self._firehose_task = loop.create_task(firehose.run_forever(self.write_s3_object))
                self._alarms_task = loop.create_task(self.cw.run_forever())
                self._sns_task = loop.create_task(self.sns.run_forever())
                self._metrics_tasks = [
                    loop.create_task(p.run_forever()) for p in self._service_metrics()
                ]
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.steps.stop()
                self.lifecycle.stop()
                kinesis = self.providers.get("kinesis")
                if isinstance(kinesis, KinesisProvider) and self._kinesis_task is not None:
                    kinesis.stop()
                    self._kinesis_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._kinesis_task
                firehose = self.providers["firehose"]
                if isinstance(firehose, FirehoseProvider) and self._firehose_task is not None:
                    firehose.stop()
                    self._firehose_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._firehose_task
                if self._alarms_task is not None:
                    self.cw.stop()
                    self._alarms_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._alarms_task
                if self._sns_task is not None:
                    self.sns.stop()
                    self._sns_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._sns_task
                for p in self._service_metrics():
                    p.stop()
                for task in self._metrics_tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if self._lifecycle_task is not None:
                    await self._lifecycle_task
                if self._scheduler is not None:
                    await self._scheduler
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        self.clock.save()
        self.moto.close()
        self.s3.close()
        self.emr.close()
        self.journal.close()
        if self.kinesis is not None:
            self.kinesis.close()
        self.firehose.close()
        self.cloudwatch.close()
        self.sns.close()

    def glue_columns(
        self, catalog_id: str | None, database: str, table: str, region: str
    ) -> list[dict[str, str]]:
        """A Glue table's StorageDescriptor columns (moto keeps the Data Catalog), for
        Firehose's format conversion; LookupError when there is no such table."""
        from moto.glue.models import glue_backends

        account = catalog_id or "123456789012"
        try:
            found = glue_backends[account][region].get_table(database, table).as_dict()
        except Exception as exc:  # moto's EntityNotFoundException and its kin
            raise LookupError(
                f"Glue table {database}.{table} not found in region {region}: create it first."
            ) from exc
        return list(found["StorageDescriptor"]["Columns"])

    def lambda_code(self, arn: str) -> tuple[bytes, str, int]:
        """(zip, handler, timeout s) of a function created with the Lambda API (moto keeps
        functions; bdlab runs them, see providers/firehose/lambdas.py); LookupError if none."""
        from moto.awslambda.models import lambda_backends

        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            raise LookupError(f"{arn} is not a Lambda function ARN")
        region, account, name = parts[3], parts[4], parts[6]
        try:
            fn = lambda_backends[account][region].get_function(name)
        except Exception as exc:  # moto's UnknownFunctionException and its kin
            raise LookupError(f"Function not found: {arn}") from exc
        return bytes(fn.code_bytes), str(fn.handler), int(fn.timeout or 3)

    def write_s3_object(self, bucket: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        """How Firehose (and later others) write into bdlab's S3: the model directly, with the
        S3 fault knobs applied as at the HTTP door (an outage makes deliveries fail and retry)."""
        decision = self.faults.decide("s3")
        if decision.kind is not None:
            raise self.providers["s3"].fault_error(decision.kind)
        system = (
            {"content-encoding": headers["ContentEncoding"]} if "ContentEncoding" in headers else {}
        )
        self.s3.put_bytes(
            bucket, key, body, content_type=headers.get("ContentType"), headers=system
        )

    def put_log_record(self, arn: str, data: bytes, partition_key: str) -> None:
        """How CloudWatch Logs subscriptions deliver: one record into bdlab's Kinesis stream or
        Firehose delivery stream named by ``arn``, with that service's fault knobs applied;
        AwsError when there is none or the record is refused (throttled)."""
        parts = arn.split(":", 5)
        service = parts[2] if len(parts) == 6 else ""
        kind, _, name = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
        decision = self.faults.decide(service or "logs")
        if decision.kind is not None:
            raise self.providers.get(service, self.moto).fault_error(decision.kind)
        if service == "kinesis" and kind == "stream" and self.kinesis is not None:
            (res,) = self.kinesis.put_records(name, [(data, partition_key, None)])
            if res.error_code:
                raise AwsError(res.error_code, res.error_message)
            return
        if service == "firehose" and kind == "deliverystream":
            (rid,) = self.firehose.put_records(name, [data])
            if rid is None:
                raise AwsError("ServiceUnavailableException", "Slow down.")
            return
        raise AwsError("ResourceNotFoundException", f"{arn} is not a stream bdlab serves.")

    def _service_metrics(self) -> list[S3Provider | EmrProvider]:
        """The providers that publish AWS/S3 and AWS/ElasticMapReduce metrics."""
        return [p for p in self.providers.values() if isinstance(p, S3Provider | EmrProvider)]

    async def put_metric_data(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """AWS/Kinesis, AWS/Firehose, AWS/S3 and AWS/ElasticMapReduce metrics (on the emulator
        clock) into bdlab's CloudWatch model directly, validated and stored like a client's."""
        try:
            self.cloudwatch.put_internal(namespace, data)
        except AwsError as err:
            log.warning("%s metrics not stored: %s", namespace, err)

    # ------------------------------------------------------------- admin
    def health(self) -> dict[str, Any]:
        services = {
            name: "running"
            for name in (
                "s3",
                "emr",
                "kinesis",
                "firehose",
                "cloudwatch",
                *SEAM_SERVICES,
                "sts",
                "iam",
                "sns",
                "sqs",
                "logs",
                "dynamodb",
                "glue",
            )
        }
        return {
            "status": "running",
            "version": VERSION,
            "pid": os.getpid(),
            "port": self.port,
            "uptime_s": round(time.time() - self.started, 3),
            "state_dir": str(self.state_dir),
            "services": services,
            "providers": {n: type(p).__name__ for n, p in self.providers.items()},
            "kinesis_limits": bool(self.kinesis and self.kinesis.limits.enforce),
            "clock": self.clock.state(),
            "faults_active": self.faults.active(),
            "journal": {"entries": self.journal.count(), "replayed": self.replayed},
            "s3": self.s3.stats(),
        }

    async def _admin(self, req: Request) -> Response:
        path, m = req.raw_path, req.method
        try:
            if path == "/_localstack/health":
                return Response.json(
                    {"services": self.health()["services"], "edition": "bdlab"},
                    content_type="application/json",
                )
            if path == "/_bdlab/health":
                return Response.json(self.health(), content_type="application/json")
            if path in ("/metrics", "/_bdlab/metrics"):  # Prometheus text format
                return Response(200, [("content-type", CONTENT_TYPE)], self.prom.exposition())
            if path == "/_bdlab/clock":
                if m == "POST":
                    body = json.loads(await req.read() or b"{}")
                    if "speed" in body:
                        self.clock.set_speed(float(body["speed"]))
                    if "advance" in body:
                        self.clock.advance(float(body["advance"]))
                        # S3/EMR metrics of the skipped span are in before the alarms evaluate
                        for p in self._service_metrics():
                            await p.flush_metrics()
                        # alarms evaluated (and notified) for the skipped span before answering
                        await self.cw.catch_up()
                return Response.json(self.clock.state(), content_type="application/json")
            if path == "/_bdlab/faults":
                if m == "POST":
                    body = json.loads(await req.read() or b"{}")
                    service = body.pop("service", "*")
                    self.faults.set(service, **body)
                elif m == "DELETE":
                    self.faults.reset()
                return Response.json(self.faults.table(), content_type="application/json")
            if path == "/_bdlab/iam":
                if m == "POST":
                    self.iam.set(bool(json.loads(await req.read() or b"{}").get("enforce")))
                return Response.json(self.iam.state(), content_type="application/json")
            if path == "/_bdlab/lifecycle":
                if m == "POST":
                    body = json.loads(await req.read() or b"{}")
                    done = self.lifecycle.run_now(
                        body.get("bucket"), float(body.get("ahead_days", 0)) * 86_400
                    )
                    return Response.json(
                        {**self.lifecycle.totals, "this_pass": done},
                        content_type="application/json",
                    )
                return Response.json(self.lifecycle.totals, content_type="application/json")
            if path == "/_bdlab/firehose/flush" and m == "POST":
                body = json.loads(await req.read() or b"{}")
                firehose = self.providers["firehose"]
                assert isinstance(firehose, FirehoseProvider)
                try:
                    done = await firehose.flush(
                        str(body.get("stream", "")), float(body.get("wait_s", 30))
                    )
                except KeyError:
                    return Response.json(
                        {"error": f"no delivery stream {body.get('stream')!r}"},
                        404,
                        content_type="application/json",
                    )
                return Response.json(done, content_type="application/json")
            if path == "/_bdlab/cloudwatch/evaluate" and m == "POST":
                body = json.loads(await req.read() or b"{}")
                # the metrics counted so far are in before the alarms read them
                kinesis, firehose = self.providers.get("kinesis"), self.providers["firehose"]
                if isinstance(kinesis, KinesisProvider):
                    await kinesis._flush_metrics(open_minutes=True)
                if isinstance(firehose, FirehoseProvider):
                    await firehose._flush_metrics()
                for p in self._service_metrics():
                    await p.flush_metrics()
                done = await self.cw.evaluate_ahead(
                    [str(n) for n in body.get("alarms") or []], float(body.get("ahead_s", 0))
                )
                return Response.json({"alarms": done}, content_type="application/json")
            if path in ("/_bdlab/inbox", "/_bdlab/chat") or path.startswith(
                ("/_bdlab/sns/", "/_bdlab/chat/")
            ):
                return await self.sns.admin(req)
            if path == "/_bdlab/costs":
                if m == "POST":
                    body = json.loads(await req.read() or b"{}")
                    self.costs.set(str(body.get("model", "")))
                return Response.json(self.costs.state(), content_type="application/json")
            if path == "/_bdlab/requests":
                if m == "DELETE":
                    self.counts.clear()
                return Response.json(dict(self.counts), content_type="application/json")
        except (ValueError, FaultError, json.JSONDecodeError) as exc:
            return Response.json({"error": str(exc)}, 400, content_type="application/json")
        return Response.json(
            {"error": f"no admin endpoint {m} {path}"}, 404, content_type="application/json"
        )


async def _send(
    send: Any, resp: Response, request_id: str, receive: Any = None, service: str = ""
) -> None:
    headers = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in resp.headers]
    names = {k.lower() for k, _ in resp.headers}
    if "x-amz-request-id" not in names:
        headers.append((b"x-amz-request-id", request_id.encode()))
    if service == "s3":  # S3 names itself and pairs the request id with an extended one
        if "server" not in names:
            headers.append((b"server", b"AmazonS3"))
        if "x-amz-id-2" not in names:
            headers.append((b"x-amz-id-2", host_id(request_id).encode()))
    if isinstance(resp.body, bytes | bytearray):
        if "content-length" not in names:
            headers.append((b"content-length", str(len(resp.body)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": bytes(resp.body)})
        return
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    # A long-lived stream (SubscribeToShard's events) ends when the client goes away: ASGI's
    # receive() answers http.disconnect then (the request body was read before).
    gone = asyncio.Event()

    async def watch() -> None:
        while receive is not None:
            msg = await receive()
            if msg.get("type") == "http.disconnect":
                gone.set()
                return

    watcher = asyncio.get_running_loop().create_task(watch())
    body = resp.body
    try:
        async for chunk in body:
            if gone.is_set():
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
