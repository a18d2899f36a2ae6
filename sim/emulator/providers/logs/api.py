"""The ``logs`` service: moto's Logs backend keeps groups, streams, events and filters (journaled
like every moto call); bdlab answers what moto gets wrong about filter patterns.

- FilterLogEvents: searched here with filterpattern.py over moto's stored events, always
  interleaved (AWS ignores ``interleaved`` since 2019), ``logStreamNames`` or
  ``logStreamNamePrefix``, ``startTime``/``endTime`` (ms, both inclusive), ``limit`` (1..10,000,
  default 10,000) and ``nextToken`` paging; a page also stops at 1 MB of events, as AWS's does.
- TestMetricFilter (moto lacks it): matches and extracted values.
- PutMetricFilter: pattern and metric transformations checked (at most 3 dimensions, none
  with a defaultValue, 100 filters a group), then stored by moto.
- PutLogEvents: stored (and journaled) by moto; then the group's metric filters publish into
  bdlab's CloudWatch and its subscription filters deliver matching events, gzip'd in AWS's
  subscription format, to bdlab's Kinesis or Firehose (deliver.py). A failed delivery is
  logged; the events stay stored.
- PutSubscriptionFilter: pattern checked; a Kinesis stream or Firehose delivery stream needs
  roleArn and gets the CONTROL_MESSAGE first (InvalidParameterException when it cannot be
  delivered, as AWS); two filters a group; Lambda destinations answer 501.
- CreateExportTask, DescribeExportTasks, CancelExportTask: bdlab's (exports.py), objects into
  bdlab's S3.

A malformed pattern answers 400 ``InvalidParameterException`` with AWS's message ("Invalid
filter pattern", "Invalid metric filter pattern", "Invalid character(s) in term '...'", "The
specified filter pattern does not support dimensions"); what is wrong is in the log and in the
error body's ``bdlabDetail``. See the CloudWatch Logs API reference
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/) for the shapes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import json
import logging
import os
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.logs import deliver, motofix
from sim.emulator.providers.logs.deliver import DefaultMinutes, Event, Links
from sim.emulator.providers.logs.exports import ExportTasks
from sim.emulator.providers.logs.filterpattern import (
    FilterPattern,
    FilterPatternError,
    compile_pattern,
    validate_transformation,
)
from sim.emulator.providers.moto_backend import MotoProvider, action_of, correct_moto
from sim.emulator.routing import access_key
from sim.emulator.validation import validate

correct_moto(motofix.apply)

log = logging.getLogger("bdlab.logs")

MAX_LIMIT = 10_000
PAGE_BYTES = 1024 * 1024  # "up to 1 MB of log events" per FilterLogEvents page
EVENT_OVERHEAD = 26  # bytes AWS counts per event on top of its message (as for PutLogEvents)
MAX_TEST_MESSAGES = 50  # TestMetricFilter.logEventMessages: 1..50 items
MAX_METRIC_FILTERS = 100  # a log group's metric filters (quota)
MAX_SUBSCRIPTION_FILTERS = 2  # a log group's subscription filters
_EXPORT_OPS = ("CreateExportTask", "DescribeExportTasks", "CancelExportTask")

# What each operation says of a malformed pattern (AWS's texts).
_INVALID = {
    "FilterLogEvents": "Invalid filter pattern",
    "PutMetricFilter": "Invalid metric filter pattern",
    "TestMetricFilter": "Invalid metric filter pattern",
    "PutSubscriptionFilter": "Invalid subscription filter pattern",
}


def invalid(message: str, detail: str = "") -> AwsError:
    err = AwsError("InvalidParameterException", message, 400)
    if detail:
        err.extra["bdlabDetail"] = detail
    return err


def _pattern(op: str, text: Any) -> FilterPattern:
    if text is not None and not isinstance(text, str):
        raise invalid(_INVALID[op], "filterPattern must be a string")
    try:
        return compile_pattern(text)
    except FilterPatternError as exc:
        log.info("%s refused filter pattern %r: %s", op, text, exc.detail)
        raise invalid(exc.aws_message or _INVALID[op], exc.detail) from exc


class _SortedStream:
    """One stream's events ordered by (timestamp, event id), kept up to date as moto appends
    (moto keeps them in arrival order; AWS accepts batches out of order across calls)."""

    __slots__ = ("count", "events", "times")

    def __init__(self) -> None:
        self.count = 0
        self.events: list[Any] = []
        self.times: list[int] = []

    def refresh(self, stream: Any) -> None:
        raw = stream.events
        if len(raw) == self.count:
            return
        new = raw[self.count :]
        keys = [(e.timestamp, e.event_id) for e in new]
        in_order = all(a <= b for a, b in zip(keys, keys[1:], strict=False))
        last = (self.events[-1].timestamp, self.events[-1].event_id) if self.events else None
        if in_order and (last is None or last <= keys[0]):
            self.events.extend(new)
            self.times.extend(k[0] for k in keys)
        else:
            self.events = sorted(raw, key=lambda e: (e.timestamp, e.event_id))
            self.times = [e.timestamp for e in self.events]
        self.count = len(raw)


class LogsProvider(Provider):
    """moto's Logs with bdlab's filter patterns, metric filters, subscriptions and export
    tasks in front (see the module doc). ``links`` reach bdlab's other services; export tasks
    are kept in ``state_dir``."""

    service = "logs"

    def __init__(self, moto: MotoProvider, links: Links, state_dir: Path) -> None:
        self.moto = moto
        self.links = links
        self.exports = ExportTasks(state_dir / "export-tasks.json")
        self.minutes = DefaultMinutes()
        # weak keys: a deleted stream's sorted copy goes with it
        self._sorted: weakref.WeakKeyDictionary[Any, _SortedStream] = weakref.WeakKeyDictionary()
        self._own: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
            "FilterLogEvents": self._filter_log_events,
            "TestMetricFilter": self._test_metric_filter,
        }

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        op = action_of(req, body)
        req.operation = req.operation or op
        if self.exports.due(self.links.now()):
            await self._run_exports()
        if op == "PutLogEvents":
            return await self._put_log_events(req, body)
        if op not in self._own and op not in (
            "PutMetricFilter",
            "PutSubscriptionFilter",
            *_EXPORT_OPS,
        ):
            return await self.moto.handle(req)
        try:
            params = json.loads(body or b"{}")
        except ValueError as exc:
            raise AwsError("SerializationException", "The request body is not JSON.") from exc
        if not isinstance(params, dict):
            raise AwsError("SerializationException", "The request body is not a JSON object.")
        if op == "PutMetricFilter":
            self._check_metric_filter(params)
            await self._on_moto(self._check_metric_filter_quota, req, params)
            return await self.moto.handle(req)
        if op == "PutSubscriptionFilter":
            await self._put_subscription_filter(req, params)
            return await self.moto.handle(req)
        if op in _EXPORT_OPS:
            validate(req, body)
            out = await self._export_op(op, req, params)
        else:
            out = await self._on_moto(self._own[op], req, params)
        return Response(
            200, [("content-type", "application/x-amz-json-1.1")], json.dumps(out).encode()
        )

    async def _on_moto(self, fn: Callable[..., Any], *args: Any) -> Any:
        # moto's backends are read on the moto thread, where every moto call runs.
        return await asyncio.get_running_loop().run_in_executor(self.moto.executor, fn, *args)

    # ----------------------------------------------------------------- metric filters
    def _check_metric_filter(self, params: dict[str, Any]) -> None:
        pattern = _pattern("PutMetricFilter", params.get("filterPattern"))
        for t in params.get("metricTransformations") or []:
            if not isinstance(t, dict):
                continue  # moto's own validation answers for the shape
            if t.get("dimensions") and t.get("defaultValue") is not None:
                # AWS's answer to both in one transformation (seen from CloudFormation)
                raise invalid(
                    "Invalid metric transformation: dimensions and default value are mutually "
                    "exclusive properties"
                )
            try:
                validate_transformation(pattern, t)
            except FilterPatternError as exc:
                raise invalid(
                    exc.aws_message or f"Invalid metric transformation: {exc.detail}", exc.detail
                ) from exc

    def _check_metric_filter_quota(self, req: Request, params: dict[str, Any]) -> None:
        backend, name = self._backend(req, params)
        if name not in backend.groups:
            return  # moto answers ResourceNotFoundException
        others = [
            f
            for f in backend.filters.metric_filters
            if f["logGroupName"] == name and f["filterName"] != params.get("filterName")
        ]
        if len(others) >= MAX_METRIC_FILTERS:
            raise AwsError("LimitExceededException", "Resource limit exceeded.")

    # ----------------------------------------------------------------- PutLogEvents
    async def _put_log_events(self, req: Request, body: bytes) -> Response:
        """PutLogEvents through moto (journaled before the answer), then the metric filters
        and subscription filters of the group see the events moto accepted."""
        validate(req, body)  # AWS's input contract, which moto does not enforce
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        status, headers, out, work = await self._on_moto(self._put_in_moto, req, body, params)
        resp = self.moto.answer(req, body, status, headers, out)
        if work is not None:
            try:
                await self._fan_out(*work)
            except Exception:  # the events are stored: a failed fan-out must not undo that
                log.exception("metric/subscription filters failed after PutLogEvents")
        return resp

    def _put_in_moto(
        self, req: Request, body: bytes, params: Any
    ) -> tuple[int, list[tuple[str, str]], bytes, tuple[Any, ...] | None]:
        stream = group = None
        if isinstance(params, dict):
            try:
                backend, name = self._backend(req, params)
                group = backend.groups.get(name)
                stream = group.streams.get(params.get("logStreamName")) if group else None
            except AwsError:
                pass  # moto answers for a malformed call
        before = len(stream.events) if stream is not None else 0
        # AWS's time window, on the emulator clock (motofix.WINDOW; this is moto's thread)
        retention = getattr(group, "retention_in_days", None) if group is not None else None
        motofix.WINDOW.bounds = motofix.event_window(self.links.now(), retention)
        try:
            status, headers, out = self.moto.call_here(req, body)
        finally:
            motofix.WINDOW.bounds = None
        if status >= 400 or stream is None or group is None:
            return status, headers, out, None
        new = [Event(e.event_id, e.timestamp, e.message) for e in stream.events[before:]]
        if not new:
            return status, headers, out, None
        metric_filters = [
            json.loads(json.dumps(f))  # a copy: moto may replace it meanwhile
            for f in backend.filters.metric_filters
            if f["logGroupName"] == group.name
        ]
        subs = [
            (s.name, s.filter_pattern or "", s.destination_arn)
            for s in group.subscription_filters.values()
        ]
        work = (group.account_id, group.name, stream.log_stream_name, new, metric_filters, subs)
        return status, headers, out, work

    async def _fan_out(
        self,
        owner: str,
        group: str,
        stream: str,
        events: list[Event],
        metric_filters: list[dict[str, Any]],
        subs: list[tuple[str, str, str]],
    ) -> None:
        if metric_filters:
            found = deliver.metric_data(group, metric_filters, events, self.minutes)
            for namespace, datums in found.items():
                await self.links.put_metric_data(namespace, datums)
        for name, pattern_text, arn in subs:
            if arn.split(":")[2:3] not in (["kinesis"], ["firehose"]):
                continue  # moto keeps delivering to a log group destination
            match = deliver.cached_pattern(pattern_text).predicate()
            matched = [e for e in events if match(e.message)]
            if not matched:
                continue
            for data in deliver.data_messages(owner, group, stream, name, matched):
                try:
                    self.links.put_record(arn, data, deliver.partition_key(stream))
                except AwsError as err:
                    # AWS retries for a while; bdlab logs and drops (docs/emulator.md)
                    log.warning(
                        "subscription %s of %s: %d events not delivered to %s: %s",
                        name,
                        group,
                        len(matched),
                        arn,
                        err,
                    )

    # ----------------------------------------------------------------- subscriptions
    async def _put_subscription_filter(self, req: Request, params: dict[str, Any]) -> None:
        """Checks AWS makes before storing a subscription filter, and the CONTROL_MESSAGE."""
        _pattern("PutSubscriptionFilter", params.get("filterPattern"))
        arn = params.get("destinationArn")
        parts = str(arn or "").split(":")
        service = parts[2] if len(parts) > 5 and parts[0] == "arn" else ""
        if service == "lambda":
            raise AwsError(
                "NotImplemented",
                "bdlab's CloudWatch Logs does not deliver to Lambda subscriptions yet; use a "
                "Kinesis stream or a Firehose delivery stream.",
                501,
                sender=False,
            )
        if service not in ("kinesis", "firehose"):
            return  # moto's checks (log group destinations) and errors
        if not params.get("roleArn"):
            raise invalid(
                "roleArn is required for a Kinesis stream or Firehose delivery stream destination."
            )
        fresh = await self._on_moto(self._subscription_is_new, req, params)
        if not fresh:
            return
        now_ms = int(self.links.now() * 1000)
        try:
            self.links.put_record(
                str(arn), deliver.control_message(service, now_ms), deliver.random_key()
            )
        except AwsError as err:
            log.info("PutSubscriptionFilter: control message to %s failed: %s", arn, err)
            what = (
                "Firehose stream. Check if the given Firehose stream is in ACTIVE state."
                if service == "firehose"
                else "Kinesis stream. Check if the given kinesis stream is in ACTIVE state."
            )
            raise invalid(f"Could not deliver test message to specified {what}", str(err)) from err

    def _subscription_is_new(self, req: Request, params: dict[str, Any]) -> bool:
        """True when the filter is new or changes destination (then a CONTROL_MESSAGE goes
        out); ResourceNotFoundException, LimitExceededException (two a group)."""
        backend, name = self._backend(req, params)
        group = backend.groups.get(name)
        if group is None:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        existing = group.subscription_filters.get(params.get("filterName"))
        if existing is None and len(group.subscription_filters) >= MAX_SUBSCRIPTION_FILTERS:
            raise AwsError("LimitExceededException", "Resource limit exceeded.")
        return existing is None or existing.destination_arn != params.get("destinationArn")

    # ----------------------------------------------------------------- export tasks
    async def _export_op(self, op: str, req: Request, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(req)
        now = self.links.now()
        if op == "DescribeExportTasks":
            return self.exports.describe(params, account)
        if op == "CancelExportTask":
            self.exports.cancel(params.get("taskId"), account, now)
            return {}
        await self._on_moto(self._group, req, params)  # ResourceNotFoundException
        bucket = str(params.get("destination") or "")
        if not self.links.bucket_exists(bucket):
            raise invalid("The given bucket does not exist. Please make sure the bucket is valid.")
        task = self.exports.create(params, account, req.region, now)
        prefix = task["destinationPrefix"]
        # AWS checks it may write by writing this object first
        self.links.write_s3_object(
            bucket,
            f"{prefix}/aws-logs-write-test" if prefix else "aws-logs-write-test",
            b"Permission Check Successful",
            {"ContentType": "text/plain"},
        )
        return {"taskId": task["taskId"]}

    async def _run_exports(self) -> None:
        """Run every due PENDING export task (see exports.py)."""
        for task in self.exports.due(self.links.now()):
            self.exports.set_status(task, "RUNNING", self.links.now())
            try:
                streams = await self._on_moto(self._export_events, task)
                for key, data in deliver.export_objects(
                    task["destinationPrefix"], task["taskId"], streams
                ):
                    self.links.write_s3_object(
                        task["destination"],
                        key.lstrip("/"),
                        data,
                        {"ContentType": "application/octet-stream", "ContentEncoding": "gzip"},
                    )
            except Exception as exc:  # a failed export is the task's state, never a 500
                log.warning("export task %s failed: %s", task["taskId"], exc)
                self.exports.set_status(task, "FAILED", self.links.now(), str(exc))
                continue
            self.exports.set_status(task, "COMPLETED", self.links.now())

    def _export_events(self, task: dict[str, Any]) -> dict[str, list[Event]]:
        from moto.logs.models import logs_backends

        group = logs_backends[task["account"]][task["region"]].groups.get(task["logGroupName"])
        if group is None:
            raise LookupError(f"log group {task['logGroupName']} no longer exists")
        prefix = task.get("logStreamNamePrefix") or ""
        out: dict[str, list[Event]] = {}
        for name, stream in group.streams.items():
            if not name.startswith(prefix):
                continue
            ss = self._sorted_stream(stream)
            lo = bisect_left(ss.times, task["from"])
            hi = bisect_right(ss.times, task["to"])
            if lo < hi:
                out[name] = [
                    Event(e.event_id, e.timestamp, e.message) for e in islice(ss.events, lo, hi)
                ]
        return out

    # ----------------------------------------------------------------- TestMetricFilter
    def _test_metric_filter(self, req: Request, params: dict[str, Any]) -> dict[str, Any]:
        """TestMetricFilter: ``{"matches": [{"eventNumber": n (1-based), "eventMessage",
        "extractedValues": {"$field": "value"}}]}``; extracted values only for space-delimited
        patterns, as AWS's guide says."""
        messages = params.get("logEventMessages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_TEST_MESSAGES:
            raise invalid(
                "1 validation error detected: Value at 'logEventMessages' failed to satisfy "
                f"constraint: Member must have length between 1 and {MAX_TEST_MESSAGES}"
            )
        pattern = _pattern("TestMetricFilter", params.get("filterPattern"))
        matches = []
        for n, message in enumerate(messages, 1):
            found = pattern.extract(str(message))
            if found is not None:
                matches.append(
                    {"eventNumber": n, "eventMessage": message, "extractedValues": found}
                )
        return {"matches": matches}

    # ----------------------------------------------------------------- FilterLogEvents
    @staticmethod
    def _account(req: Request, account: str | None = None) -> str:
        from moto.iam.models import get_account_id_from

        return str(
            account
            or os.environ.get("MOTO_ACCOUNT_ID")
            or req.headers.get("x-moto-account-id")
            or get_account_id_from(access_key(req) or "")
        )

    def _backend(self, req: Request, params: dict[str, Any]) -> tuple[Any, str]:
        """(moto's Logs backend, log group name) of a call naming logGroupName or
        logGroupIdentifier (a name or an ARN)."""
        from moto.logs.models import logs_backends

        name = params.get("logGroupName")
        ident = params.get("logGroupIdentifier")
        if name and ident:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        region, account = req.region, None
        if ident and str(ident).startswith("arn:"):
            parts = str(ident).split(":")
            if len(parts) < 7 or parts[5] != "log-group":
                raise invalid(f"Invalid log group identifier: {ident}")
            region, account, name = parts[3], parts[4], parts[6]
        elif ident:
            name = ident
        if not name:
            raise invalid(
                "1 validation error detected: Value null at 'logGroupName' failed to satisfy "
                "constraint: Member must not be null"
            )
        return logs_backends[self._account(req, account)][region], str(name)

    def _group(self, req: Request, params: dict[str, Any]) -> Any:
        backend, name = self._backend(req, params)
        group = backend.groups.get(name)
        if group is None:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        return group

    def _sorted_stream(self, stream: Any) -> _SortedStream:
        cached = self._sorted.get(stream)
        if cached is None:
            cached = self._sorted[stream] = _SortedStream()
        cached.refresh(stream)
        return cached

    def _filter_log_events(self, req: Request, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group(req, params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names and prefix:
            raise invalid("Cannot specify both logStreamNames and logStreamNamePrefix.")
        limit = params.get("limit") or MAX_LIMIT
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise invalid(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                f"constraint: Member must have value between 1 and {MAX_LIMIT}"
            )
        start, end = params.get("startTime"), params.get("endTime")
        pattern = _pattern("FilterLogEvents", params.get("filterPattern"))
        after = self._token(params.get("nextToken"), group.name)
        streams = [
            s
            for n, s in sorted(group.streams.items())
            if (not names or n in names) and (not prefix or n.startswith(prefix))
        ]
        match = pattern.predicate()
        found: list[list[tuple[int, int, str, Any]]] = []
        cut = False  # a stream had more matches than one page can hold
        for stream in streams:
            ss = self._sorted_stream(stream)
            lo = bisect_left(ss.times, start) if start is not None else 0
            hi = bisect_right(ss.times, end) if end is not None else len(ss.times)
            if after is not None:
                t0, id0 = after
                lo = max(lo, bisect_left(ss.times, t0))
                while lo < hi and (ss.times[lo], ss.events[lo].event_id) <= (t0, id0):
                    lo += 1
            got: list[tuple[int, int, str, Any]] = []
            name = stream.log_stream_name
            for e in islice(ss.events, lo, hi):
                if match(e.message):
                    got.append((e.timestamp, e.event_id, name, e))
                    if len(got) >= limit:
                        cut = True
                        break
            found.append(got)
        events: list[dict[str, Any]] = []
        size = 0
        last: tuple[int, int] | None = None
        merged = heapq.merge(*found) if len(found) > 1 else iter(found[0] if found else [])
        more = False
        for ts, eid, name, e in merged:
            size += len(e.message.encode()) + EVENT_OVERHEAD
            if len(events) >= limit or (events and size > PAGE_BYTES):
                more = True
                break
            events.append(
                {
                    "logStreamName": name,
                    "timestamp": ts,
                    "message": e.message,
                    "ingestionTime": e.ingestion_time,
                    "eventId": str(eid),
                }
            )
            last = (ts, eid)
        out: dict[str, Any] = {
            "events": events,
            "searchedLogStreams": [
                {"logStreamName": s.log_stream_name, "searchedCompletely": True} for s in streams
            ],
        }
        if (more or cut) and last is not None:
            out["nextToken"] = self._make_token(group.name, last)
        return out

    @staticmethod
    def _make_token(group: str, last: tuple[int, int]) -> str:
        raw = json.dumps({"g": group, "t": last[0], "e": last[1]}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @staticmethod
    def _token(token: Any, group: str) -> tuple[int, int] | None:
        if not token:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
            if data["g"] != group:
                raise ValueError("token of another log group")
            return int(data["t"]), int(data["e"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise invalid("The specified nextToken is invalid.", str(exc)) from exc
