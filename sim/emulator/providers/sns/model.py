"""SNS delivery rules beyond SQS, plain Python: what an HTTP/S endpoint or a mailbox receives
and when a failed delivery is tried again.

- Envelopes (``Notification``, ``SubscriptionConfirmation``) with AWS's fields and signature
  (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html and
  .../sns-verify-signature-of-message.html): SignatureVersion 1 is SHA1withRSA, 2 is
  SHA256withRSA, over AWS's string to sign; the key and its self-signed certificate are the
  emulator's own (SigningCertURL points at the gateway).
- Retry schedules from delivery policies
  (https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html): HTTP/S by
  default three retries 20 s apart; email is a customer-managed endpoint (2 retries 10 s apart,
  10 with exponential backoff from 10 s to 600 s, then 38 600 s apart).
- Email as RFC 5322 messages (``email`` text, ``email-json`` the JSON envelope).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.message
import email.utils
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

HTTP_PROTOCOLS = ("http", "https")
EMAIL_PROTOCOLS = ("email", "email-json")
OWN_PROTOCOLS = HTTP_PROTOCOLS + EMAIL_PROTOCOLS
HTTP_TIMEOUT_S = 15.0  # AWS: an endpoint that does not answer in about 15 s failed
USER_AGENT = "Amazon Simple Notification Service Agent"
CERT_NAME = "SimpleNotificationService-bdlab.pem"

# AWS's default HTTP/S policy (what GetSubscriptionAttributes' EffectiveDeliveryPolicy says).
DEFAULT_HTTP_POLICY: dict[str, Any] = {
    "minDelayTarget": 20,
    "maxDelayTarget": 20,
    "numRetries": 3,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 0,
    "numMaxDelayRetries": 0,
    "backoffFunction": "linear",
}
# The guide's table, "Customer managed endpoints" (SMTP, SMS, mobile push).
CUSTOMER_MANAGED_POLICY: dict[str, Any] = {
    "minDelayTarget": 10,
    "maxDelayTarget": 600,
    "numRetries": 50,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 2,
    "numMaxDelayRetries": 38,
    "backoffFunction": "exponential",
}


def iso(ts: float) -> str:
    """AWS's envelope timestamp: ``2026-01-01T00:00:00.000Z``."""
    t = dt.datetime.fromtimestamp(ts, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------- retries
def retry_delays(policy: dict[str, Any]) -> list[float]:
    """Seconds to wait before each retry (len = numRetries) under a healthyRetryPolicy.

    Phases in order: numNoDelayRetries at 0 s, numMinDelayRetries at minDelayTarget, the
    backoff phase from minDelayTarget to maxDelayTarget, numMaxDelayRetries at maxDelayTarget.
    AWS shows the backoff functions only as curves; bdlab uses linear, exponential
    (min * (max/min)^f), geometric (quadratic in f) and arithmetic (same as linear), with f
    going from 1/n to 1 over the n backoff retries, and no jitter (tests need fixed times)."""
    p = {**DEFAULT_HTTP_POLICY, **{k: v for k, v in policy.items() if v is not None}}
    lo = max(0.0, float(p["minDelayTarget"]))
    hi = max(lo, float(p["maxDelayTarget"]))
    total = max(0, int(p["numRetries"]))
    no_delay = min(total, max(0, int(p["numNoDelayRetries"])))
    at_min = min(total - no_delay, max(0, int(p["numMinDelayRetries"])))
    at_max = min(total - no_delay - at_min, max(0, int(p["numMaxDelayRetries"])))
    n = total - no_delay - at_min - at_max
    fn = str(p.get("backoffFunction") or "linear").lower()
    backoff = []
    for i in range(1, n + 1):
        f = i / n
        if fn == "exponential" and lo > 0:
            d = lo * (hi / lo) ** f
        elif fn == "geometric":
            d = lo + (hi - lo) * f * f
        else:
            d = lo + (hi - lo) * f
        backoff.append(round(d, 3))
    return [0.0] * no_delay + [lo] * at_min + backoff + [hi] * at_max


def http_policy(subscription_policy: str | None, topic_policy: str | None) -> dict[str, Any]:
    """The healthyRetryPolicy in force for an HTTP/S subscription: the subscription's
    ``DeliveryPolicy`` unless the topic's says ``disableSubscriptionOverrides``, then the
    topic's ``http.defaultHealthyRetryPolicy``, then AWS's default. Unparsable JSON counts as
    absent (moto stored it without checking)."""
    topic = _json(topic_policy).get("http", {})
    sub = _json(subscription_policy)
    if isinstance(sub.get("healthyRetryPolicy"), dict) and not topic.get(
        "disableSubscriptionOverrides"
    ):
        return dict(sub["healthyRetryPolicy"])
    if isinstance(topic.get("defaultHealthyRetryPolicy"), dict):
        return dict(topic["defaultHealthyRetryPolicy"])
    return dict(DEFAULT_HTTP_POLICY)


def content_type(subscription_policy: str | None, topic_policy: str | None) -> str:
    """requestPolicy.headerContentType of the subscription or topic; AWS's default otherwise."""
    sub = _json(subscription_policy).get("requestPolicy", {})
    topic = _json(topic_policy).get("http", {}).get("defaultRequestPolicy", {})
    for src in (sub, topic):
        if isinstance(src, dict) and src.get("headerContentType"):
            return str(src["headerContentType"])
    return "text/plain; charset=UTF-8"


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        out = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


# ---------------------------------------------------------------------------- endpoints
def loopback_refusal(url: str) -> str | None:
    """None if ``url`` is an http(s) URL on this machine's loopback (127.0.0.0/8, ::1,
    localhost), else why bdlab will not contact it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        return f"endpoint {url!r} is not a valid URL ({exc})"
    if parts.scheme not in HTTP_PROTOCOLS or not host:
        return f"endpoint {url!r} is not an http(s) URL"
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"bdlab delivers only to loopback endpoints (127.0.0.1, localhost); "
        f"{host} was not contacted"
    )


# ---------------------------------------------------------------------------- envelopes
@dataclass
class Envelope:
    """One message to one subscription, as AWS sends it."""

    kind: str  # "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    subject: str | None = None
    token: str | None = None
    subscribe_url: str | None = None
    unsubscribe_url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def string_to_sign(self) -> str:
        """AWS's string to sign: name/value lines in its fixed order."""
        if self.kind == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn"]
            names.append("Type")
        values = {
            "Message": self.message,
            "MessageId": self.message_id,
            "Subject": self.subject,
            "Timestamp": self.timestamp,
            "TopicArn": self.topic_arn,
            "Type": self.kind,
            "SubscribeURL": self.subscribe_url,
            "Token": self.token,
        }
        return "".join(f"{n}\n{values[n]}\n" for n in names if values[n] is not None)

    def to_json(self, signer: Signer, version: str, cert_url: str) -> dict[str, Any]:
        """The JSON body AWS posts (and email-json mails)."""
        out: dict[str, Any] = {"Type": self.kind, "MessageId": self.message_id}
        if self.token is not None:
            out["Token"] = self.token
        out["TopicArn"] = self.topic_arn
        if self.subject is not None and self.kind == "Notification":
            out["Subject"] = self.subject
        out["Message"] = self.message
        if self.subscribe_url is not None:
            out["SubscribeURL"] = self.subscribe_url
        out["Timestamp"] = self.timestamp
        out["SignatureVersion"] = version
        out["Signature"] = signer.sign(self.string_to_sign(), version)
        out["SigningCertURL"] = cert_url
        if self.unsubscribe_url is not None and self.kind == "Notification":
            out["UnsubscribeURL"] = self.unsubscribe_url
        if self.attributes and self.kind == "Notification":
            out["MessageAttributes"] = {
                k: {"Type": v.get("Type", "String"), "Value": str(v.get("Value"))}
                for k, v in self.attributes.items()
            }
        return out


class Signer:
    """The emulator's SNS signing key (RSA 2048) and self-signed certificate, made once per
    state folder and kept in ``folder`` so a restart signs with the same key."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        folder.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = folder / "signing-key.pem", folder / "signing-cert.pem"
        if key_path.exists() and cert_path.exists():
            self._key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            self.cert_pem = cert_path.read_bytes()
            return
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        tmp = key_path.with_suffix(".tmp")
        tmp.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        tmp.replace(key_path)
        cert_path.write_bytes(self.cert_pem)
        self._key = key

    def sign(self, text: str, version: str = "1") -> str:
        """base64 of the RSA PKCS#1 v1.5 signature: SHA1 for version 1, SHA256 for 2."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        assert isinstance(self._key, rsa.RSAPrivateKey)
        algo: hashes.HashAlgorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303
        return base64.b64encode(self._key.sign(text.encode(), padding.PKCS1v15(), algo)).decode()


def confirmation_text(topic_arn: str) -> str:
    return (
        f"You have chosen to subscribe to the topic {topic_arn}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    )


def console_url(base: str, action: str, **params: str) -> str:
    """A gateway URL answering like SNS's own SubscribeURL / UnsubscribeURL (a plain GET)."""
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return f"{base}/?Action={action}&{query}"


# ---------------------------------------------------------------------------- email
def email_message(
    *,
    to: str,
    subject: str,
    body: str,
    sent_at: float,
    headers: dict[str, str],
    display_name: str = "",
    json_body: bool = False,
) -> email.message.EmailMessage:
    """An RFC 5322 message as SNS mails it: From ``<DisplayName or AWS Notifications>
    <no-reply@sns.amazonaws.com>``, Date on the emulator clock, SNS's ids as X- headers."""
    msg = email.message.EmailMessage()
    sender = display_name or "AWS Notifications"
    msg["From"] = email.utils.formataddr((sender, "no-reply@sns.amazonaws.com"))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(sent_at, usegmt=True)
    msg["Message-ID"] = email.utils.make_msgid(domain="email.amazonses.com")
    for k, v in headers.items():
        msg[k] = v
    if json_body:
        msg.set_content(body, subtype="plain", charset="utf-8")
    else:
        msg.set_content(body, charset="utf-8")
    return msg


def email_footer(unsubscribe_url: str) -> str:
    return (
        "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or "
        f"visit the link below to unsubscribe:\n{unsubscribe_url}\n\n"
        "Please do not reply directly to this email. If you have any questions or comments "
        "regarding this email, please contact us at https://aws.amazon.com/support"
    )


def confirmation_email_body(topic_arn: str, subscribe_url: str, auto: bool) -> str:
    text = (
        f"You have chosen to subscribe to the topic:\n{topic_arn}\n\n"
        "To confirm this subscription, click or visit the link below "
        "(If this was in error no action is necessary):\n"
        f"Confirm subscription: {subscribe_url}\n"
    )
    if auto:
        text += (
            "\n(bdlab confirmed this subscription for you: nobody reads this mailbox's links.)\n"
        )
    return text
