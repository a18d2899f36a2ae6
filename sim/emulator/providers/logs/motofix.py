"""Corrections to moto's Logs backend, which bdlab keeps for groups, streams, events and filters.

- Subscription filters to Kinesis and Firehose are stored without looking for the destination
  in moto's own Kinesis/Firehose (bdlab's provider checks its own ones first, by delivering the
  CONTROL_MESSAGE, as AWS does), and PutLogEvents no longer delivers to moto's services: bdlab
  delivers after the call (see api.py). Updating one of a group's two filters is allowed (moto
  refused it as a third filter).
- PutMetricFilter with an existing name replaces that filter (moto appended a second one),
  as the API reference says: "Creates or updates a metric filter".
- Deleting a log group deletes its metric filters, as AWS does.

Applied once moto is loaded, before any call or replay (``correct_moto``).
"""

from __future__ import annotations

import functools
from typing import Any

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
