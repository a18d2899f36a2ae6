"""The ``logs`` service: moto's Logs backend keeps groups, streams, events and filters (journaled
like every moto call); bdlab answers what moto gets wrong about filter patterns.

- FilterLogEvents: searched here with filterpattern.py over moto's stored events, always
  interleaved (AWS ignores ``interleaved`` since 2019), ``logStreamNames`` or
  ``logStreamNamePrefix``, ``startTime``/``endTime`` (ms, both inclusive), ``limit`` (1..10,000,
  default 10,000) and ``nextToken`` paging; a page also stops at 1 MB of events, as AWS's does.
- TestMetricFilter (moto lacks it): matches and extracted values.
- PutMetricFilter, PutSubscriptionFilter: pattern (and metric transformation) checked first,
  then stored by moto.

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
from typing import Any

from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.logs.filterpattern import (
    FilterPattern,
    FilterPatternError,
    compile_pattern,
    validate_transformation,
)
from sim.emulator.providers.moto_backend import MotoProvider, action_of
from sim.emulator.routing import access_key

log = logging.getLogger("bdlab.logs")

MAX_LIMIT = 10_000
PAGE_BYTES = 1024 * 1024  # "up to 1 MB of log events" per FilterLogEvents page
EVENT_OVERHEAD = 26  # bytes AWS counts per event on top of its message (as for PutLogEvents)
MAX_TEST_MESSAGES = 50  # TestMetricFilter.logEventMessages: 1..50 items

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
    """moto's Logs with bdlab's filter patterns in front (see the module doc)."""

    service = "logs"

    def __init__(self, moto: MotoProvider) -> None:
        self.moto = moto
        # weak keys: a deleted stream's sorted copy goes with it
        self._sorted: weakref.WeakKeyDictionary[Any, _SortedStream] = weakref.WeakKeyDictionary()
        self._own: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
            "FilterLogEvents": self._filter_log_events,
            "TestMetricFilter": self._test_metric_filter,
        }

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        op = action_of(req, body)
        if op not in self._own and op not in ("PutMetricFilter", "PutSubscriptionFilter"):
            return await self.moto.handle(req)
        try:
            params = json.loads(body or b"{}")
        except ValueError as exc:
            raise AwsError("SerializationException", "The request body is not JSON.") from exc
        if not isinstance(params, dict):
            raise AwsError("SerializationException", "The request body is not a JSON object.")
        if op == "PutMetricFilter":
            self._check_metric_filter(params)
            return await self.moto.handle(req)
        if op == "PutSubscriptionFilter":
            _pattern(op, params.get("filterPattern"))
            return await self.moto.handle(req)
        loop = asyncio.get_running_loop()
        # moto's backends are read on the moto thread, where every moto call runs.
        out = await loop.run_in_executor(self.moto.executor, self._own[op], req, params)
        return Response(
            200, [("content-type", "application/x-amz-json-1.1")], json.dumps(out).encode()
        )

    # ----------------------------------------------------------------- metric filters
    def _check_metric_filter(self, params: dict[str, Any]) -> None:
        pattern = _pattern("PutMetricFilter", params.get("filterPattern"))
        for t in params.get("metricTransformations") or []:
            if not isinstance(t, dict):
                continue  # moto's own validation answers for the shape
            try:
                validate_transformation(pattern, t)
            except FilterPatternError as exc:
                raise invalid(
                    exc.aws_message or f"Invalid metric transformation: {exc.detail}", exc.detail
                ) from exc

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
    def _group(self, req: Request, params: dict[str, Any]) -> Any:
        from moto.iam.models import get_account_id_from
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
        account = (
            account
            or os.environ.get("MOTO_ACCOUNT_ID")
            or req.headers.get("x-moto-account-id")
            or get_account_id_from(access_key(req) or "")
        )
        group = logs_backends[account][region].groups.get(name)
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
