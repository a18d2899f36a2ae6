"""The one client of the emulator's admin endpoints (``/_bdlab/*``): health, clock, faults,
IAM enforcement, lifecycle runs and request counts. The CLI, the labs and the tests use it;
nothing else builds these HTTP calls by hand.

Every failure is an :class:`AdminError` with one line saying what to do.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from sim import profiles


class AdminError(RuntimeError):
    """The emulator's admin endpoint refused or did not answer; the message says why."""


class Admin:
    """Admin calls to the emulator at ``endpoint_url`` (e.g. ``http://127.0.0.1:4566``)."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def of(cls, profile: profiles.Profile, capability: str = "admin") -> Admin:
        """The admin client of ``profile``; :class:`profiles.ProfileError` when the profile
        cannot ``capability`` (e.g. real AWS has no clock to fast-forward)."""
        profile.require(capability)
        if not profile.endpoint_url:
            raise profiles.ProfileError(f"profile {profile.name!r} has no emulator endpoint.")
        return cls(profile.endpoint_url)

    # ------------------------------------------------------------------ transport
    def call(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        method: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.endpoint_url + path,
            data=data,
            method=method or ("POST" if data is not None else "GET"),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read() or b"{}").get("error") or str(exc)
            except ValueError:
                message = str(exc)
            # a refused value is the caller's to fix: the message alone; else where it failed
            raise AdminError(message if exc.code == 400 else f"{path}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AdminError(
                f"the bdlab emulator does not answer at {self.endpoint_url} ({_why(exc)}): "
                "start it with `bdlab up`."
            ) from None

    # ------------------------------------------------------------------ endpoints
    def health(self) -> dict[str, Any]:
        """pid, version, state_dir, uptime, clock, services, S3 totals."""
        return dict(self.call("/_bdlab/health"))

    def clock(self) -> dict[str, Any]:
        """{"now": epoch s, "speed", "offset": s ahead of the wall clock} of the emulator."""
        return dict(self.call("/_bdlab/clock"))

    def set_clock(self, speed: float | None = None, advance: float | None = None) -> dict[str, Any]:
        """Change the clock's speed and/or jump ``advance`` seconds ahead; returns the state."""
        body: dict[str, Any] = {}
        if speed is not None:
            body["speed"] = speed
        if advance is not None:
            body["advance"] = advance
        return dict(self.call("/_bdlab/clock", body))

    def faults(self) -> dict[str, Any]:
        return dict(self.call("/_bdlab/faults"))

    def set_faults(self, service: str = "*", **knobs: Any) -> dict[str, Any]:
        """Set fault knobs (throttle_rate, error_rate, latency_ms, outage, hot_shard,
        hot_shard_rate) for ``service``."""
        return dict(self.call("/_bdlab/faults", {"service": service, **knobs}))

    def reset_faults(self) -> dict[str, Any]:
        return dict(self.call("/_bdlab/faults", method="DELETE"))

    def iam(self) -> dict[str, Any]:
        """{"enforce": bool, ...}: whether IAM policies are enforced."""
        return dict(self.call("/_bdlab/iam"))

    def set_iam(self, enforce: bool) -> dict[str, Any]:
        return dict(self.call("/_bdlab/iam", {"enforce": enforce}))

    def run_lifecycle(self, bucket: str | None = None, ahead_days: float = 0) -> dict[str, Any]:
        """Apply lifecycle rules now: every bucket's, or only ``bucket``'s as they would apply
        ``ahead_days`` from now (the shared clock does not move). Returns the totals and
        ``this_pass`` ({"transitioned", "expired", "aborted"})."""
        body: dict[str, Any] = {}
        if bucket is not None:
            body["bucket"] = bucket
        if ahead_days:
            body["ahead_days"] = ahead_days
        return dict(self.call("/_bdlab/lifecycle", body))

    def flush_firehose(self, stream: str, wait_s: float = 30.0) -> dict[str, Any]:
        """Deliver a Firehose stream's buffers now, as if its buffering interval had passed
        (the shared clock does not move; other streams keep their time), and wait up to
        ``wait_s`` s. Returns {"DeliveryStreamName", "Pending"}: records not yet in S3."""
        return dict(
            self.call(
                "/_bdlab/firehose/flush",
                {"stream": stream, "wait_s": wait_s},
                timeout=wait_s + self.timeout,
            )
        )

    def evaluate_alarms(self, alarms: list[str], ahead_s: float) -> dict[str, Any]:
        """Evaluate the metric alarms ``alarms`` at every tick of theirs due by ``ahead_s``
        seconds from now, on the data stored so far (none after now), and send the
        notifications of their transitions; the shared clock does not move (docs/emulator.md,
        "Admin endpoints"). Returns {"alarms": {name: {"StateValue", "LastEvaluated",
        "Evaluations"}}}."""
        return dict(
            self.call("/_bdlab/cloudwatch/evaluate", {"alarms": alarms, "ahead_s": ahead_s})
        )

    def costs(self) -> dict[str, Any]:
        """The S3 cost model: {"model": "aws" | "off", "first_byte_s", "throughput_bps", ...}."""
        return dict(self.call("/_bdlab/costs"))

    def set_costs(self, model: str) -> dict[str, Any]:
        """``"aws"``: S3 requests take AWS-like time (latency, bytes/throughput, copies cost
        their size, request-rate limits); ``"off"``: as fast as the disk."""
        return dict(self.call("/_bdlab/costs", {"model": model}))

    def requests(self) -> dict[str, int]:
        """Requests served since the last reset: ``{"s3 GetObject": n, "s3:<bucket> Op": n}``."""
        return {k: int(v) for k, v in self.call("/_bdlab/requests").items()}

    def reset_requests(self) -> None:
        self.call("/_bdlab/requests", method="DELETE")

    def inbox(self, n: int | None = None) -> dict[str, Any]:
        """The emulator's mailbox (SNS email / email-json deliveries, oldest first):
        ``{"mailbox": folder, "messages": [{"n", "file", "date", "from", "to", "subject",
        "topicArn", "messageType", "bytes"}]}``; with ``n``, that message's fields plus
        ``"body"`` and ``"raw"`` (the .eml text). AdminError when there is no message ``n``."""
        return dict(self.call("/_bdlab/inbox" + (f"?n={int(n)}" if n is not None else "")))

    def chat(self, channel: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The chat-style webhook's lines (``POST /_bdlab/chat/<channel>`` is what an SNS
        ``http`` subscription points at), oldest first: ``[{"n", "channel", "at", "topicArn",
        "kind" ("alarm" | "message" | "system"), "state", "title", "text"}]``."""
        q = {"since": str(since), **({"channel": channel} if channel else {})}
        return list(self.call("/_bdlab/chat?" + urlencode(q))["lines"])

    def chat_url(self, channel: str) -> str:
        """The webhook URL of ``channel``, to subscribe a topic to (protocol ``http``)."""
        return f"{self.endpoint_url}/_bdlab/chat/{channel}"

    def sns_deliveries(
        self, topic: str | None = None, subscription: str | None = None, since: int = 0
    ) -> dict[str, Any]:
        """Every SNS delivery attempt to HTTP/S and email endpoints, in order:
        ``{"attempts": [{"id", "delivery", "kind", "messageId", "topicArn", "subscriptionArn",
        "protocol", "endpoint", "attempt" (1-based), "at" (emulator epoch s), "statusCode",
        "error", "outcome": "delivered" | "retrying" | "failed" | "rejected"}], "pending": n}``;
        ``since`` is the last attempt id already seen."""
        from urllib.parse import urlencode

        query = {k: v for k, v in (("topic", topic), ("subscription", subscription)) if v}
        if since:
            query["since"] = str(since)
        path = "/_bdlab/sns/deliveries" + (f"?{urlencode(query)}" if query else "")
        return dict(self.call(path))


def _why(exc: OSError) -> str:
    """Why a connection failed, in words (not urllib's ``<urlopen error [Errno 111] ...>``)."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "no answer within the timeout"
    return str(getattr(reason, "strerror", None) or reason)
