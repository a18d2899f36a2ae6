"""bdlab's SNS rules installed into moto's SNS backend, which keeps topics and subscriptions.

moto 5.2 confirms every subscription at once, ignores ConfirmSubscription's token, POSTs to
HTTP endpoints synchronously with ``requests`` on the thread that serves every moto call (an
unreachable endpoint made Publish fail, a slow one blocked the emulator), mails nothing, and
refuses the ``cidr`` filter operator. Here, on moto's own thread and so inside its journaled
calls (a replay rebuilds tokens and confirmations exactly):

- Subscribe to http/https/email/email-json draws a confirmation token from moto's seeded
  generator; http/https stay ``PendingConfirmation`` until ConfirmSubscription(Token), email
  subscriptions are confirmed at once (nobody clicks links in a lab's mailbox);
- Subscription.publish matches bdlab's filter policies (filterpolicy.py) for every protocol,
  and hands http/https/email deliveries to the :class:`Sink` (never a network call here);
- FilterPolicy / FilterPolicyScope are validated with AWS's messages.

The sink is attached by the SNS provider after the journal's replay, so a replay sends nothing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from sim.emulator.providers.sns import filterpolicy
from sim.emulator.providers.sns.model import EMAIL_PROTOCOLS, HTTP_PROTOCOLS, OWN_PROTOCOLS

log = logging.getLogger("bdlab.sns")

_installed = False
_lock = threading.Lock()
# ARNs of subscriptions awaiting confirmation (rebuilt by the journal's replay)
PENDING: set[str] = set()


class Sink(Protocol):
    """Receives what moto's SNS would deliver to bdlab's own protocols (called on moto's
    thread: must only record, never wait on the network)."""

    def subscribed(self, sub: dict[str, Any]) -> None: ...

    def notify(
        self,
        sub: dict[str, Any],
        message: str,
        message_id: str,
        subject: str | None,
        attributes: dict[str, Any] | None,
    ) -> None: ...


# Sinks of the emulators in this process, newest last: moto's state is per process, so the
# newest emulator delivers; when it closes, the one before it takes over again.
_sinks: list[Sink] = []


def attach(s: Sink) -> None:
    _sinks.append(s)


def detach(s: Sink) -> None:
    if s in _sinks:
        _sinks.remove(s)


_replaying = 0


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """While a journal is replayed, nothing is delivered (it was, before the restart)."""
    global _replaying
    _replaying += 1
    try:
        yield
    finally:
        _replaying -= 1


def _sink() -> Sink | None:
    return _sinks[-1] if _sinks and not _replaying else None


def describe(sub: Any) -> dict[str, Any]:
    """What a delivery needs of a moto Subscription (read on moto's thread)."""
    topic = sub.topic
    raw = sub.attributes.get("RawMessageDelivery")
    return {
        "arn": sub.arn,
        "topic_arn": topic.arn,
        "protocol": sub.protocol,
        "endpoint": sub.endpoint,
        "raw": str(raw).lower() == "true",
        "delivery_policy": sub.attributes.get("DeliveryPolicy") or "",
        "topic_delivery_policy": getattr(topic, "delivery_policy", "") or "",
        "display_name": getattr(topic, "display_name", "") or "",
        "signature_version": str(getattr(topic, "signature_version", "") or "1"),
        "token": getattr(sub, "bdlab_token", ""),
        "region": topic.arn.split(":")[3],
    }


def _endpoint_error(protocol: str, endpoint: str) -> str | None:
    if protocol in HTTP_PROTOCOLS and not endpoint.lower().startswith(protocol + "://"):
        return "Invalid parameter: Endpoint must match the specified protocol"
    if protocol in EMAIL_PROTOCOLS and (
        "@" not in endpoint or endpoint.startswith("@") or endpoint.endswith("@")
    ):
        return "Invalid parameter: Email address"
    return None


def install() -> None:
    """Patch moto's SNS once per process (idempotent; called where moto is first built)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from moto.moto_api._internal import mock_random
    from moto.sns.exceptions import SNSInvalidParameter, SNSNotFoundError
    from moto.sns.models import SNSBackend, Subscription
    from moto.sns.responses import SNSResponse

    original_subscribe = SNSBackend.subscribe

    @functools.wraps(original_subscribe)
    def subscribe(self: Any, topic_arn: str, endpoint: str, protocol: str) -> Any:
        error = _endpoint_error(protocol, endpoint or "")
        if error:
            raise SNSInvalidParameter(error)
        existed = self._find_subscription(topic_arn, endpoint, protocol)
        sub = original_subscribe(self, topic_arn, endpoint, protocol)
        if existed is not None or protocol not in OWN_PROTOCOLS:
            return sub
        sub.bdlab_token = mock_random.get_random_hex(256)  # type: ignore[attr-defined]
        pending = protocol in HTTP_PROTOCOLS
        sub.confirmed = not pending
        sub.attributes["PendingConfirmation"] = pending
        sub.attributes["ConfirmationWasAuthenticated"] = False
        if pending:
            PENDING.add(sub.arn)
            sub.topic.subscriptions_pending += 1
        else:
            sub.topic.subscriptions_confimed += 1
        sink = _sink()
        if sink is not None:
            try:
                sink.subscribed(describe(sub))
            except Exception:  # a recording failure must not fail the Subscribe call
                log.exception("could not queue the confirmation of %s", sub.arn)
        return sub

    SNSBackend.subscribe = subscribe  # type: ignore[method-assign]

    original_unsubscribe = SNSBackend.unsubscribe

    @functools.wraps(original_unsubscribe)
    def unsubscribe(self: Any, subscription_arn: str) -> None:
        PENDING.discard(subscription_arn)
        original_unsubscribe(self, subscription_arn)

    SNSBackend.unsubscribe = unsubscribe  # type: ignore[method-assign]

    def confirm_subscription(self: Any) -> Any:
        from moto.core.responses import ActionResult

        arn = self._get_param("TopicArn")
        token = self._get_param("Token")
        if arn not in self.backend.topics:
            raise SNSNotFoundError("Topic does not exist")
        for sub in self.backend.subscriptions.values():
            if sub.topic.arn == arn and token and getattr(sub, "bdlab_token", None) == token:
                if sub.arn in PENDING:
                    PENDING.discard(sub.arn)
                    sub.confirmed = True
                    sub.attributes["PendingConfirmation"] = False
                    sub.topic.subscriptions_pending -= 1
                    sub.topic.subscriptions_confimed += 1
                return ActionResult({"SubscriptionArn": sub.arn})
        raise SNSInvalidParameter("Invalid token")

    SNSResponse.confirm_subscription = confirm_subscription  # type: ignore[method-assign]

    original_set = SNSBackend.set_subscription_attributes

    @functools.wraps(original_set)
    def set_subscription_attributes(self: Any, arn: str, name: str, value: Any) -> None:
        sub = self.subscriptions.get(arn)
        if sub is not None and name == "FilterPolicyScope":
            if value not in ("MessageAttributes", "MessageBody"):
                raise SNSInvalidParameter(
                    "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value "
                    f"[{value}]. Please use either MessageBody or MessageAttributes"
                )
            _parse(sub.attributes.get("FilterPolicy"), value)
        if sub is not None and name == "FilterPolicy":
            _parse(value, sub.attributes.get("FilterPolicyScope"))
        original_set(self, arn, name, value)

    def _parse(text: Any, scope: str | None) -> None:
        try:
            filterpolicy.parse(text, scope)
        except filterpolicy.FilterPolicyError as exc:
            raise SNSInvalidParameter(str(exc)) from None

    SNSBackend.set_subscription_attributes = set_subscription_attributes  # type: ignore[method-assign]
    # Checked above with AWS's rules (moto's own refuses cidr).
    SNSBackend._validate_filter_policy = lambda self, value, scope: None  # type: ignore[method-assign]

    original_publish = Subscription.publish

    @functools.wraps(original_publish)
    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        text = self.attributes.get("FilterPolicy")
        if text:
            try:
                policy = json.loads(text)
            except ValueError:
                policy = None
            scope = self.attributes.get("FilterPolicyScope")
            if not filterpolicy.matches(policy, scope, message_attributes, message):
                return
        if self.protocol not in OWN_PROTOCOLS:
            # moto's own delivery (SQS, Lambda), without moto's matcher: the policy passed.
            matcher, self._filter_policy_matcher = self._filter_policy_matcher, None
            try:
                original_publish(
                    self,
                    message,
                    message_id,
                    subject=subject,
                    message_attributes=message_attributes,
                    group_id=group_id,
                    deduplication_id=deduplication_id,
                    message_structure=message_structure,
                )
            finally:
                self._filter_policy_matcher = matcher
            return
        if not getattr(self, "confirmed", True) or self.arn in PENDING:
            return  # AWS delivers nothing to an unconfirmed subscription
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        sink = _sink()
        if sink is None:
            return  # the journal's replay: these were delivered before the restart
        try:
            sink.notify(describe(self), message, message_id, subject, message_attributes)
        except Exception:  # recording must never fail the Publish that caused it
            log.exception("could not queue a delivery to %s", self.arn)

    Subscription.publish = publish  # type: ignore[method-assign]
