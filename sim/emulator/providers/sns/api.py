"""The ``sns`` service: moto's SNS backend keeps topics and subscriptions (journaled like every
moto call) and still delivers to SQS and Lambda; bdlab delivers to HTTP/S endpoints and email
and answers what moto gets wrong at the SNS boundary (see hooks.py, model.py, store.py).

- Subscribe (http/https): a ``SubscriptionConfirmation`` is POSTed to the endpoint; the
  subscription stays ``PendingConfirmation`` (Subscribe answers ``pending confirmation`` unless
  ReturnSubscriptionArn, listings show ``PendingConfirmation``) until ConfirmSubscription(Token)
  or a GET on the SubscribeURL, which the gateway serves
  (``http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn=...&Token=...``).
- Publish: ``Notification`` envelopes (or the raw message with RawMessageDelivery) POSTed with
  AWS's x-amz-sns-* headers, retried on the emulator clock under the delivery policy, from a
  queue that survives a restart; Publish never waits for an endpoint. Only loopback endpoints
  are contacted: any other host is recorded as a failed attempt saying so.
- email / email-json: RFC 5322 files in ``<state>/sns/mailbox`` (confirmation mail too; email
  subscriptions are confirmed at once, a deliberate deviation).
- Every attempt is logged: :meth:`SnsProvider.deliveries` (``GET /_bdlab/sns/deliveries``).
- FilterPolicy validated with AWS's InvalidParameter messages (filterpolicy.py).

Reference: https://docs.aws.amazon.com/sns/latest/dg/sns-http-https-endpoint-as-subscriber.html
and https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import logging
import re
import ssl
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import unescape as xml_unescape

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.protocol import error_response as protocol_error_response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.moto_backend import MotoProvider, action_of
from sim.emulator.providers.sns import filterpolicy, hooks, validate
from sim.emulator.providers.sns.chat import CHANNEL, ChatRoom, render
from sim.emulator.providers.sns.model import (
    CERT_NAME,
    CUSTOMER_MANAGED_POLICY,
    HTTP_PROTOCOLS,
    HTTP_TIMEOUT_S,
    USER_AGENT,
    Envelope,
    Signer,
    confirmation_email_body,
    confirmation_text,
    console_url,
    content_type,
    email_footer,
    email_message,
    http_policy,
    iso,
    loopback_refusal,
    retry_delays,
)
from sim.emulator.providers.sns.store import DeliveryStore, Pending
from sim.emulator.routing import access_key

log = logging.getLogger("bdlab.sns")

_ARN_IN_BODY = re.compile(r"(?<=[>\"])(arn:aws:sns:[^<\"]+)(?=[<\"])")
_CONSOLE_ACTIONS = ("ConfirmSubscription", "Unsubscribe")


class SnsProvider(Provider):
    """moto's SNS with bdlab's delivery beyond SQS (see the module doc)."""

    service = "sns"

    def __init__(
        self,
        moto: MotoProvider,
        clock: Clock,
        folder: Path,
        base_url: str,
        fsync: bool = False,
        timeout_s: float = HTTP_TIMEOUT_S,
    ) -> None:
        self.moto = moto
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.store = DeliveryStore(folder, fsync=fsync)
        self.chat = ChatRoom(folder / "chat.jsonl", fsync=fsync)
        self.signer = Signer(folder)
        self.cert_url = f"{self.base_url}/_bdlab/sns/{CERT_NAME}"
        # Endpoints are answered off the event loop; a few at once, so one slow endpoint
        # does not hold up the others.
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sns-delivery")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._running = False
        hooks.attach(self)  # after the journal's replay: from now on, moto's SNS delivers here

    # ------------------------------------------------------------------ API
    async def resource_policy(self, arn: str) -> dict[str, Any] | None:
        """The topic's access policy (moto keeps it), for IAM enforcement."""
        return await self.moto.resource_policy(arn)

    async def handle(self, req: Request) -> Response:
        """Validate (validate.py), let moto serve, and answer every error in AWS's SNS shape."""
        try:
            resp = await self._serve(req)
        except AwsError as err:
            return error_response(req, err)
        if resp.status >= 400 and isinstance(resp.body, bytes | bytearray):
            return _reshape_error(req, resp)
        return resp

    async def _serve(self, req: Request) -> Response:
        body = await req.read()
        op = action_of(req, body)
        params = _params(req, body)
        if not req.target:  # SNS is query-only in botocore; a JSON call is moto's to refuse
            validate.check(op, _query(req, body), req.region, _MotoLookup(req))
        if op == "Subscribe":
            self._check_subscribe(params)
        resp = await self.moto.handle(req)
        if resp.status == 200 and op in (
            "Subscribe",
            "ListSubscriptions",
            "ListSubscriptionsByTopic",
        ):
            keep = (
                op == "Subscribe" and str(params.get("ReturnSubscriptionArn", "")).lower() == "true"
            )
            if not keep and isinstance(resp.body, bytes | bytearray):
                shown = "pending confirmation" if op == "Subscribe" else "PendingConfirmation"
                resp.body = _ARN_IN_BODY.sub(
                    lambda m: shown if m.group(1) in hooks.PENDING else m.group(1),
                    bytes(resp.body).decode("utf-8"),
                ).encode("utf-8")
        return resp

    @staticmethod
    def _check_subscribe(params: dict[str, Any]) -> None:
        """FilterPolicy / FilterPolicyScope of Subscribe's Attributes, checked before moto makes
        the subscription (moto made it, then failed on the attribute)."""
        attrs = params.get("Attributes")
        if not isinstance(attrs, dict):
            attrs = {}
            for k, v in params.items():
                m = re.fullmatch(r"Attributes\.entry\.(\d+)\.key", k)
                if m:
                    attrs[str(v)] = params.get(f"Attributes.entry.{m.group(1)}.value")
        scope = attrs.get("FilterPolicyScope")
        if scope is not None and scope not in ("MessageAttributes", "MessageBody"):
            raise AwsError(
                "InvalidParameter",
                "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value "
                f"[{scope}]. Please use either MessageBody or MessageAttributes",
            )
        if attrs.get("FilterPolicy"):
            try:
                filterpolicy.parse(attrs["FilterPolicy"], scope)
            except filterpolicy.FilterPolicyError as exc:
                raise AwsError("InvalidParameter", str(exc)) from None

    # ------------------------------------------------------------------ moto's sink
    def subscribed(self, sub: dict[str, Any]) -> None:
        """A new http/https/email subscription: queue its SubscriptionConfirmation (moto's
        thread; uuid4 here, not moto's seeded generator, so replayed ids stay the same)."""
        subscribe_url = console_url(
            self.base_url, "ConfirmSubscription", TopicArn=sub["topic_arn"], Token=sub["token"]
        )
        env = Envelope(
            kind="SubscriptionConfirmation",
            message_id=str(uuid.uuid4()),
            topic_arn=sub["topic_arn"],
            message=confirmation_text(sub["topic_arn"]),
            timestamp=iso(self.clock.now()),
            token=sub["token"],
            subscribe_url=subscribe_url,
        )
        if sub["protocol"] == "email":
            text = confirmation_email_body(sub["topic_arn"], subscribe_url, auto=True)
            self._queue_mail(sub, env, "AWS Notification - Subscription Confirmation", text)
        elif sub["protocol"] == "email-json":
            self._queue_mail(
                sub,
                env,
                "AWS Notification - Subscription Confirmation",
                json.dumps(self._envelope_json(sub, env)),
            )
        else:
            self._queue_http(sub, env, raw=None)

    def notify(
        self,
        sub: dict[str, Any],
        message: str,
        message_id: str,
        subject: str | None,
        attributes: dict[str, Any] | None,
    ) -> None:
        """A published message for an http/https/email subscription (moto's thread)."""
        env = Envelope(
            kind="Notification",
            message_id=message_id,
            topic_arn=sub["topic_arn"],
            message=message,
            timestamp=iso(self.clock.now()),
            subject=subject,
            unsubscribe_url=console_url(self.base_url, "Unsubscribe", SubscriptionArn=sub["arn"]),
            attributes=dict(attributes or {}),
        )
        if sub["protocol"] == "email":
            text = message + email_footer(env.unsubscribe_url or "")
            self._queue_mail(sub, env, subject or "AWS Notification Message", text)
        elif sub["protocol"] == "email-json":
            self._queue_mail(
                sub,
                env,
                subject or "AWS Notification Message",
                json.dumps(self._envelope_json(sub, env)),
            )
        else:
            self._queue_http(sub, env, raw=message if sub["raw"] else None)

    def _envelope_json(self, sub: dict[str, Any], env: Envelope) -> dict[str, Any]:
        version = sub["signature_version"] if sub["signature_version"] in ("1", "2") else "1"
        return env.to_json(self.signer, version, self.cert_url)

    def _queue_http(self, sub: dict[str, Any], env: Envelope, raw: str | None) -> None:
        headers = {
            "x-amz-sns-message-type": env.kind,
            "x-amz-sns-message-id": env.message_id,
            "x-amz-sns-topic-arn": env.topic_arn,
            "Content-Type": content_type(sub["delivery_policy"], sub["topic_delivery_policy"]),
            "User-Agent": USER_AGENT,
        }
        if env.kind == "Notification":
            headers["x-amz-sns-subscription-arn"] = sub["arn"]
        if raw is not None:
            headers["x-amz-sns-rawdelivery"] = "true"
            body = raw
        else:
            body = json.dumps(self._envelope_json(sub, env))
        policy = http_policy(sub["delivery_policy"], sub["topic_delivery_policy"])
        self._enqueue(sub, env, {"body": body, "headers": headers}, retry_delays(policy))

    def _queue_mail(self, sub: dict[str, Any], env: Envelope, subject: str, text: str) -> None:
        msg = email_message(
            to=sub["endpoint"],
            subject=subject,
            body=text,
            sent_at=self.clock.now(),
            display_name=sub["display_name"],
            json_body=sub["protocol"] == "email-json",
            headers={
                "X-Amz-Sns-Message-Type": env.kind,
                "X-Amz-Sns-Message-Id": env.message_id,
                "X-Amz-Sns-Topic-Arn": env.topic_arn,
                "X-Amz-Sns-Subscription-Arn": sub["arn"],
            },
        )
        self._enqueue(sub, env, {"eml": msg.as_string()}, retry_delays(CUSTOMER_MANAGED_POLICY))

    def _enqueue(
        self, sub: dict[str, Any], env: Envelope, payload: dict[str, Any], delays: list[float]
    ) -> None:
        self.store.enqueue(
            kind=env.kind,
            message_id=env.message_id,
            topic=env.topic_arn,
            subscription=sub["arn"],
            protocol=sub["protocol"],
            endpoint=sub["endpoint"],
            payload=payload,
            at=self.clock.now(),
            delays=delays,
        )
        self.wake()

    # ------------------------------------------------------------------ delivery loop
    def wake(self) -> None:
        """Look for due deliveries now (any thread)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run_forever(self) -> None:
        """Deliver what is due, on the emulator clock, until :meth:`stop`. A clock jump is
        noticed within a quarter of a second."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._running = True
        while self._running:
            try:
                self.catch_up()
            except Exception:  # a bad round must not end the loop; the next one retries
                log.exception("SNS delivery round failed")
            wait = 0.25
            nxt = self.store.next_due()
            if nxt is not None:
                wait = min(wait, max(0.0, (nxt - self.clock.now()) / self.clock.speed))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.005))
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._running = False
        for task in list(self._inflight.values()):
            task.cancel()

    def catch_up(self) -> None:
        """Start every due delivery that is not already under way."""
        assert self._loop is not None
        for p in self.store.due(self.clock.now()):
            if p.id in self._inflight:
                continue
            task = self._loop.create_task(self._attempt(p))
            self._inflight[p.id] = task
            task.add_done_callback(functools.partial(self._done, p.id))

    def _done(self, delivery: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(delivery, None)

    async def _attempt(self, p: Pending) -> None:
        status: int | None = None
        error: str | None = None
        retry = True
        try:
            if p.protocol in HTTP_PROTOCOLS:
                refusal = loopback_refusal(p.endpoint)
                if refusal:
                    error, retry = refusal, False
                else:
                    loop = asyncio.get_running_loop()
                    status, error = await loop.run_in_executor(
                        self.executor,
                        _post,
                        p.endpoint,
                        p.payload["body"].encode("utf-8"),
                        p.payload["headers"],
                        self.timeout_s,
                    )
            else:
                path = self.store.write_mail(p.payload["eml"])
                log.info("mail %s for %s", path.name, p.endpoint)
        except asyncio.CancelledError:
            return
        except Exception as exc:  # a disk error, a bug: recorded and retried like any failure
            log.exception("delivery %s to %s failed", p.id, p.endpoint)
            error = f"{type(exc).__name__}: {exc}"
        now = self.clock.now()
        if error is None and (status is None or 200 <= status < 300):
            outcome, next_at = "delivered", None
        elif status is not None and status < 500 and status != 429:
            # AWS retries only server errors and endpoints that do not answer
            outcome, next_at = "rejected", None
        elif retry and p.attempts < len(p.delays):
            outcome, next_at = "retrying", now + p.delays[p.attempts]
        else:
            outcome, next_at = "failed", None
        if outcome in ("failed", "rejected"):
            log.warning(
                "SNS %s %s to %s %s after %d attempt(s): %s",
                p.kind,
                p.message_id,
                p.endpoint,
                outcome,
                p.attempts + 1,
                error or status,
            )
        self.store.record(p, at=now, status=status, error=error, outcome=outcome, next_at=next_at)
        self.wake()

    # ------------------------------------------------------------------ admin
    def deliveries(
        self,
        topic: str | None = None,
        subscription: str | None = None,
        since: int = 0,
        limit: int = 1000,
    ) -> dict[str, Any]:
        """``{"attempts": [...], "pending": n}`` (see DeliveryStore.attempts for a row)."""
        return {
            "attempts": self.store.attempts(topic, subscription, since, limit),
            "pending": self.store.pending_count(),
        }

    async def admin(self, req: Request) -> Response:
        """``GET /_bdlab/inbox[?n=N]``, ``GET /_bdlab/sns/deliveries[?topic&subscription&since
        &limit]`` and the signing certificate ``GET /_bdlab/sns/<CERT_NAME>``."""
        q = {k: v[-1] for k, v in parse_qs(req.query_string).items()}
        if req.raw_path == "/_bdlab/chat" or req.raw_path.startswith("/_bdlab/chat/"):
            return await self._chat(req, q)
        if req.raw_path == "/_bdlab/inbox" and req.method == "GET":
            if "n" in q:
                found = self.store.mail(int(q["n"]))
                if found is None:
                    return Response.json(
                        {"error": f"no message {q['n']} in the mailbox"},
                        404,
                        content_type="application/json",
                    )
                return Response.json(found, content_type="application/json")
            return Response.json(
                {"mailbox": str(self.store.mailbox), "messages": self.store.mails()},
                content_type="application/json",
            )
        if req.raw_path == "/_bdlab/sns/deliveries" and req.method == "GET":
            out = self.deliveries(
                q.get("topic"),
                q.get("subscription"),
                int(q.get("since", 0)),
                int(q.get("limit", 1000)),
            )
            return Response.json(out, content_type="application/json")
        if req.raw_path == f"/_bdlab/sns/{CERT_NAME}":
            return Response(200, [("content-type", "application/x-pem-file")], self.signer.cert_pem)
        return Response.json(
            {"error": f"no admin endpoint {req.method} {req.raw_path}"},
            404,
            content_type="application/json",
        )

    async def _chat(self, req: Request, q: dict[str, str]) -> Response:
        """``POST /_bdlab/chat/<channel>``: the chat-style webhook an ``http`` subscription
        points at (it confirms its subscriptions itself, as AWS Chatbot does; chat.py);
        ``GET /_bdlab/chat[?channel&since]``: ``{"lines": [{"n", "channel", "at", "topicArn",
        "kind", "state", "title", "text"}]}``."""

        def answer(body: dict[str, Any], status: int = 200) -> Response:
            return Response.json(body, status, content_type="application/json")

        if req.method == "GET" and req.raw_path == "/_bdlab/chat":
            return answer({"lines": self.chat.lines(q.get("channel"), int(q.get("since", 0)))})
        channel = req.raw_path[len("/_bdlab/chat/") :]
        if req.method != "POST" or not CHANNEL.match(channel):
            return answer(
                {"error": "POST /_bdlab/chat/<channel> (letters, digits, . _ -; 1-64)"}, 400
            )
        raw = await req.read()
        kind = req.headers.get("x-amz-sns-message-type", "")
        try:
            envelope = json.loads(raw) if kind else {"Message": raw.decode("utf-8", "replace")}
        except ValueError:
            return answer({"error": "the body is not an SNS message"}, 400)
        topic = str(req.headers.get("x-amz-sns-topic-arn") or envelope.get("TopicArn", ""))
        now = self.clock.now()
        if kind == "SubscriptionConfirmation":
            region = topic.split(":")[3] if topic.count(":") >= 5 else "us-east-1"
            call = {
                "Action": "ConfirmSubscription",
                "TopicArn": topic,
                "Token": str(envelope.get("Token", "")),
                "Version": "2010-03-31",
            }
            status, _ = await self.moto.internal_call("sns", region, call)
            if status >= 300:
                return answer({"error": f"confirming the subscription failed ({status})"}, 502)
            line = {"kind": "system", "state": "", "title": "subscribed", "text": topic}
        elif kind == "UnsubscribeConfirmation":
            line = {"kind": "system", "state": "", "title": "unsubscribed", "text": topic}
        else:  # a Notification envelope, or a raw message (RawMessageDelivery)
            line = render(envelope)
        return answer(self.chat.post(channel, now, topic, line))

    @staticmethod
    def is_console_url(req: Request) -> bool:
        """A plain GET of a SubscribeURL or UnsubscribeURL (no signature, ``Action`` in the
        query), which AWS answers at sns.<region>.amazonaws.com."""
        if req.method != "GET" or req.raw_path not in ("/", "") or "authorization" in req.headers:
            return False
        return any(f"Action={a}" in req.query_string for a in _CONSOLE_ACTIONS)

    async def console(self, req: Request) -> Response:
        """Serve a SubscribeURL / UnsubscribeURL: the same call a client would make (journaled),
        answered with SNS's XML."""
        params = dict(parse_qsl(req.query_string))
        arn = params.get("TopicArn") or params.get("SubscriptionArn") or ""
        region = arn.split(":")[3] if arn.count(":") >= 5 else "us-east-1"
        call = {
            k: v
            for k, v in params.items()
            if k in ("Action", "TopicArn", "Token", "SubscriptionArn")
        }
        call["Version"] = "2010-03-31"
        status, body = await self.moto.internal_call("sns", region, call)
        return Response(status, [("content-type", "text/xml")], body)

    def close(self) -> None:
        self._running = False
        hooks.detach(self)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()


_SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
_ERR_FIELD = re.compile(rb"<(Type|Code|Message)>(.*?)</\1>", re.S)


def error_response(req: Request, err: AwsError) -> Response:
    """``err`` as SNS answers it (query protocol)::

        <ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
          <Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
          <RequestId>..</RequestId></ErrorResponse>

    A JSON caller gets the gateway's JSON shape (``__type`` and ``message``)."""
    if req.target or req.headers.get("smithy-protocol"):
        return protocol_error_response(req, err)
    kind = "Sender" if err.sender else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{_SNS_XMLNS}"><Error><Type>{kind}</Type>'
        f"<Code>{xml_escape(err.code)}</Code><Message>{xml_escape(err.message)}</Message>"
        f"</Error><RequestId>{req.request_id}</RequestId></ErrorResponse>"
    )
    rid = req.request_id
    return Response.xml(body, err.status, [("x-amzn-requestid", rid), ("x-amz-request-id", rid)])


def _reshape_error(req: Request, resp: Response) -> Response:
    """moto's SNS error XML repeats the message in a lower-case ``<message>`` element and
    carries a fixed RequestId; AWS's has ``<Message>`` only and the request's id."""
    found: dict[str, str] = {}
    if not isinstance(resp.body, bytes | bytearray):
        return resp
    for m in _ERR_FIELD.finditer(bytes(resp.body)):
        key = m.group(1).decode()
        found.setdefault(key, xml_unescape(m.group(2).decode("utf-8", "replace")))
    if "Code" not in found:
        return resp
    err = AwsError(
        found["Code"],
        found.get("Message", ""),
        resp.status,
        sender=found.get("Type", "Sender") != "Receiver",
    )
    return error_response(req, err)


class _MotoLookup:
    """Topics and platform endpoints in moto's SNS backend of the caller's account and the
    ARN's region (dict reads; moto's thread only ever replaces entries whole)."""

    def __init__(self, req: Request) -> None:
        from moto.iam.models import get_account_id_from

        self.account = str(
            req.headers.get("x-moto-account-id") or get_account_id_from(access_key(req) or "")
        )

    def _backend(self, arn: str) -> Any | None:
        from moto.sns.models import sns_backends

        parts = arn.split(":")
        if len(parts) < 6:
            return None
        return sns_backends[parts[4] or self.account][parts[3]]

    def topic(self, arn: str) -> Any | None:
        backend = self._backend(arn)
        return None if backend is None else backend.topics.get(arn)

    def endpoint_exists(self, arn: str) -> bool:
        backend = self._backend(arn)
        return backend is not None and arn in backend.platform_endpoints


def _query(req: Request, body: bytes) -> dict[str, str]:
    """Query parameters with blank values kept (an empty Subject or Message is an error)."""
    out = dict(parse_qsl(req.query_string, keep_blank_values=True))
    out.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return out


def _params(req: Request, body: bytes) -> dict[str, Any]:
    ctype = req.headers.get("content-type", "")
    if "json" in ctype:
        try:
            out = json.loads(body or b"{}")
            return out if isinstance(out, dict) else {}
        except ValueError:
            return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"))) | dict(parse_qsl(req.query_string))


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """POST ``body``; (status, None) for any answer below 400, (status, reason) otherwise,
    (None, error) when the endpoint did not answer."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        # a loopback dev server's certificate is self-signed: bdlab does not check it
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.hostname or "", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 400:
            return resp.status, f"HTTP {resp.status} {resp.reason}"
        return resp.status, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()
