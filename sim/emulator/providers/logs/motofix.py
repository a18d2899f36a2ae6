"""Corrections to moto's Logs backend, which bdlab keeps for groups, streams, events and filters.

- Subscription filters to Kinesis and Firehose are stored without looking for the destination
  in moto's own Kinesis/Firehose (bdlab's provider checks its own ones first, by delivering the
  CONTROL_MESSAGE, as AWS does), and PutLogEvents no longer delivers to moto's services: bdlab
  delivers after the call (see api.py). Updating one of a group's two filters is allowed (moto
  refused it as a third filter).
- PutMetricFilter with an existing name replaces that filter (moto appended a second one),
  as the API reference says: "Creates or updates a metric filter".
- Deleting a log group deletes its metric filters, as AWS does.
- PutLogEvents accepts or rejects events by the *emulator* clock (moto used the wall clock, so
  after a fast-forward of more than 2 hours every event stamped with the emulator's time was
  "too new"): the provider sets :data:`WINDOW` around its call. A journal replay runs without
  it and accepts every event (they were checked when first acknowledged; a replay must not
  lose them because time has passed since).

Applied once moto is loaded, before any call or replay (``correct_moto``).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

DAY_MS = 86_400_000


class _Window(threading.local):
    # (oldest, newest) event timestamps accepted, epoch ms; None outside the provider's call
    bounds: tuple[int, int] | None = None


WINDOW = _Window()


def event_window(now_s: float, retention_days: int | None) -> tuple[int, int]:
    """The timestamps (epoch ms) PutLogEvents accepts at ``now_s``: none older than 14 days or
    than the group's retention, none more than 2 hours ahead.
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html"""
    now = int(now_s * 1000)
    days = min(14, retention_days) if retention_days else 14
    return now - days * DAY_MS, now + 2 * 3_600_000


OWN_DESTINATIONS = ("kinesis", "firehose", "lambda")


def _service(arn: str) -> str:
    parts = str(arn).split(":")
    return parts[2] if len(parts) > 5 else ""


def apply() -> None:
    from moto.logs import models
    from moto.logs.exceptions import LimitExceededException, ResourceNotFoundException
    from moto.logs.metric_filters import MetricFilters

    original_send = models.LogStream._send_log_events

    @functools.wraps(original_send)
    def send_log_events(self: Any, service: str, *args: Any, **kw: Any) -> None:
        if service in OWN_DESTINATIONS:
            return  # bdlab's provider delivers these (never moto's in-process services)
        original_send(self, service, *args, **kw)

    models.LogStream._send_log_events = send_log_events  # type: ignore[method-assign]

    from moto.logs.exceptions import InvalidParameterException

    def put_log_events(
        self: Any, log_group_name: str, log_stream_name: str, log_events: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        if log_group_name not in self.groups:
            raise ResourceNotFoundException()
        group = self.groups[log_group_name]
        bounds = WINDOW.bounds
        rejected: dict[str, Any] = {}
        allowed = []
        last = None
        for idx, event in enumerate(log_events):
            if last is not None and last > event["timestamp"]:
                raise InvalidParameterException(
                    "Log events in a single PutLogEvents request must be in chronological order."
                )
            if bounds is not None and event["timestamp"] < bounds[0]:
                rejected["tooOldLogEventEndIndex"] = idx
            elif bounds is not None and event["timestamp"] > bounds[1]:
                rejected["tooNewLogEventStartIndex"] = idx
            else:
                allowed.append(event)
            last = event["timestamp"]
        return group.put_log_events(log_stream_name, allowed), rejected

    models.LogsBackend.put_log_events = put_log_events  # type: ignore[method-assign]

    original_put = models.LogsBackend.put_subscription_filter

    @functools.wraps(original_put)
    def put_subscription_filter(
        self: Any,
        log_group_name: str,
        filter_name: str,
        filter_pattern: str,
        destination_arn: str,
        role_arn: str,
    ) -> None:
        if _service(destination_arn) not in ("kinesis", "firehose"):
            original_put(
                self, log_group_name, filter_name, filter_pattern, destination_arn, role_arn
            )
            return
        group = self.groups.get(log_group_name)
        if group is None:
            raise ResourceNotFoundException()
        existing = group.subscription_filters.get(filter_name)
        if existing is not None:
            existing.update(filter_pattern, destination_arn, role_arn)
            return
        if len(group.subscription_filters) >= 2:
            raise LimitExceededException()
        group.subscription_filters[filter_name] = models.SubscriptionFilter(
            name=filter_name,
            log_group_name=log_group_name,
            filter_pattern=filter_pattern,
            destination_arn=destination_arn,
            role_arn=role_arn,
        )

    models.LogsBackend.put_subscription_filter = put_subscription_filter  # type: ignore[method-assign]

    original_add = MetricFilters.add_filter

    @functools.wraps(original_add)
    def add_filter(
        self: Any,
        filter_name: str,
        filter_pattern: str,
        log_group_name: str,
        metric_transformations: Any,
    ) -> None:
        self.metric_filters = [
            f
            for f in self.metric_filters
            if (f["filterName"], f["logGroupName"]) != (filter_name, log_group_name)
        ]
        original_add(self, filter_name, filter_pattern, log_group_name, metric_transformations)

    MetricFilters.add_filter = add_filter  # type: ignore[method-assign]

    original_delete_group = models.LogsBackend.delete_log_group

    @functools.wraps(original_delete_group)
    def delete_log_group(self: Any, log_group_name: str) -> None:
        original_delete_group(self, log_group_name)
        self.filters.metric_filters = [
            f for f in self.filters.metric_filters if f["logGroupName"] != log_group_name
        ]

    models.LogsBackend.delete_log_group = delete_log_group  # type: ignore[method-assign]
