"""SNS delivery beyond SQS over HTTP with real boto3 (issue 15, item 3): HTTP/S endpoints with
AWS's subscription confirmation and retry policy, email as .eml files read by `bdlab inbox`,
the delivery log, filter policies, and CloudWatch alarm notifications reaching both.

The module has its own emulator, so its clock is ours: retries are driven by advancing it.
Endpoints are real http.server servers on 127.0.0.1 in threads.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import math
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from sim.emulator.server import ThreadedEmulator
from tests.conftest import bdlab_env, free_port, run_bdlab, settings_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    e = ThreadedEmulator(tmp_path_factory.mktemp("sns-state")).start()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def prof(emu: ThreadedEmulator) -> profiles.Profile:
    return profiles.resolve(settings_for(emu.gateway.state_dir, port=emu.port), "embedded")


@pytest.fixture(scope="module")
def sns(prof: profiles.Profile) -> Any:
    return clients.client("sns", prof, retries=False)


@pytest.fixture(scope="module")
def admin(prof: profiles.Profile) -> Admin:
    return Admin.of(prof)


class Endpoint:
    """A real HTTP endpoint on 127.0.0.1 (ephemeral port) recording every POST; ``statuses``
    maps a message type to the status it answers (200 otherwise)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("x-amz-sns-message-type", "")
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body.decode()}
                )
                self.send_response(outer.statuses.get(kind, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.requests if r["headers"].get("x-amz-sns-message-type") == kind]
            if len(got) >= count or time.monotonic() > deadline:
                assert len(got) >= count, f"{len(got)} {kind} POSTs, wanted {count}"
                return got
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.close()


def topic(sns: Any, unique: Callable[[str], str]) -> str:
    return str(sns.create_topic(Name=unique("topic"))["TopicArn"])


def confirmed_http(sns: Any, arn: str, ep: Endpoint, **attrs: str) -> str:
    """An http subscription of ``ep``, confirmed with the token it was sent."""
    sub = sns.subscribe(
        TopicArn=arn,
        Protocol="http",
        Endpoint=ep.url,
        Attributes=attrs,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    conf = [
        json.loads(r["body"])
        for r in ep.wait("SubscriptionConfirmation")
        if json.loads(r["body"])["TopicArn"] == arn
    ][-1]
    sns.confirm_subscription(TopicArn=arn, Token=conf["Token"])
    return str(sub)


def attempts(admin: Admin, **kw: Any) -> list[dict[str, Any]]:
    return list(admin.sns_deliveries(**kw)["attempts"])


def wait_for(fn: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            assert got, "timed out"
            return got
        time.sleep(0.05)


def verify_signature(doc: dict[str, Any]) -> None:
    """Check ``Signature`` with the certificate at ``SigningCertURL``, as AWS's guide says."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    with urllib.request.urlopen(doc["SigningCertURL"], timeout=5) as r:
        cert = x509.load_pem_x509_certificate(r.read())
    if doc["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{n}\n{doc[n]}\n" for n in names if n in doc)
    algo = hashes.SHA1() if doc["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(base64.b64decode(doc["Signature"]), text.encode(), padding.PKCS1v15(), algo)


# ---------------------------------------------------------------------- HTTP confirmation
def test_http_confirmation_flow_and_notification_envelope(
    sns: Any, admin: Admin, endpoint: Endpoint, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    out = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url)
    assert out["SubscriptionArn"] == "pending confirmation"
    (req,) = endpoint.wait("SubscriptionConfirmation")
    conf = json.loads(req["body"])
    assert req["headers"]["x-amz-sns-message-id"] == conf["MessageId"]
    assert req["headers"]["x-amz-sns-topic-arn"] == arn
    assert req["path"] == "/hook"
    for field in (
        "Type",
        "MessageId",
        "Token",
        "TopicArn",
        "Message",
        "SubscribeURL",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ):
        assert conf[field], field
    assert conf["Type"] == "SubscriptionConfirmation" and conf["TopicArn"] == arn
    assert "ConfirmSubscription" in conf["SubscribeURL"]
    verify_signature(conf)
    listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"]

    # nothing reaches an unconfirmed subscription
    sns.publish(TopicArn=arn, Message="too early")
    with pytest.raises(ClientError) as bad:
        sns.confirm_subscription(TopicArn=arn, Token="0" * 64)
    assert bad.value.response["Error"]["Code"] == "InvalidParameter"
    sub = sns.confirm_subscription(TopicArn=arn, Token=conf["Token"])["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "false"

    sns.publish(
        TopicArn=arn,
        Message="disk full",
        Subject="ops",
        MessageAttributes={"level": {"DataType": "String", "StringValue": "error"}},
    )
    (note,) = endpoint.wait("Notification")
    env = json.loads(note["body"])
    assert env["Message"] == "disk full" and env["Subject"] == "ops"
    assert env["Type"] == "Notification" and env["TopicArn"] == arn
    assert env["MessageAttributes"] == {"level": {"Type": "String", "Value": "error"}}
    assert env["UnsubscribeURL"] and env["Timestamp"].endswith("Z")
    assert note["headers"]["x-amz-sns-subscription-arn"] == sub
    assert note["headers"]["x-amz-sns-message-id"] == env["MessageId"]
    verify_signature(env)
    log = attempts(admin, subscription=sub)
    assert [(a["kind"], a["outcome"], a["statusCode"]) for a in log] == [
        ("SubscriptionConfirmation", "delivered", 200),
        ("Notification", "delivered", 200),
    ]
    assert log[1]["protocol"] == "http" and log[1]["endpoint"] == endpoint.url


def test_subscribe_url_get_confirms(
    sns: Any, endpoint: Endpoint, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    sub = sns.subscribe(
        TopicArn=arn, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    assert sub.startswith(arn + ":")
    conf = json.loads(endpoint.wait("SubscriptionConfirmation")[0]["body"])
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "true"
    with urllib.request.urlopen(conf["SubscribeURL"], timeout=5) as r:
        assert r.status == 200
        assert sub in r.read().decode()
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "false"


def test_raw_message_delivery(sns: Any, endpoint: Endpoint, unique: Callable[[str], str]) -> None:
    arn = topic(sns, unique)
    confirmed_http(sns, arn, endpoint, RawMessageDelivery="true")
    sns.publish(TopicArn=arn, Message='{"order": 7}')
    (note,) = endpoint.wait("Notification")
    assert note["body"] == '{"order": 7}'
    assert note["headers"]["x-amz-sns-rawdelivery"] == "true"


# ---------------------------------------------------------------------- retries and failures
def test_failing_endpoint_retried_on_the_clock_then_failed(
    sns: Any, admin: Admin, endpoint: Endpoint, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    sub = confirmed_http(sns, arn, endpoint)
    endpoint.statuses["Notification"] = 503
    t0 = time.monotonic()
    sns.publish(TopicArn=arn, Message="retry me")
    assert time.monotonic() - t0 < 2  # Publish never waits for the endpoint

    def notes() -> list[dict[str, Any]]:
        return [a for a in attempts(admin, subscription=sub) if a["kind"] == "Notification"]

    wait_for(lambda: len(notes()) == 1)
    # AWS's default HTTP/S policy: three retries 20 s apart, on the emulator clock
    for n in (2, 3, 4):
        admin.set_clock(advance=20)
        wait_for(lambda n=n: len(notes()) == n)
    log = notes()
    assert [a["attempt"] for a in log] == [1, 2, 3, 4]
    assert [a["outcome"] for a in log] == ["retrying", "retrying", "retrying", "failed"]
    assert all(a["statusCode"] == 503 for a in log)
    gaps = [b["at"] - a["at"] for a, b in zip(log, log[1:], strict=False)]
    assert all(20 <= g < 25 for g in gaps), gaps
    admin.set_clock(advance=600)
    time.sleep(0.5)
    assert len(notes()) == 4  # exhausted: never tried again
    assert len(endpoint.wait("Notification", 4)) == 4


def test_unreachable_and_non_loopback_endpoints_are_recorded_as_failed(
    sns: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    t0 = time.monotonic()
    sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=dead, ReturnSubscriptionArn=True)[
        "SubscriptionArn"
    ]
    assert time.monotonic() - t0 < 2
    first = wait_for(lambda: attempts(admin, subscription=sub))
    assert first[0]["outcome"] == "retrying" and first[0]["statusCode"] is None
    assert "Connection" in first[0]["error"] or "refused" in first[0]["error"].lower()
    for _ in range(3):
        admin.set_clock(advance=20)
        time.sleep(0.3)
    log = wait_for(lambda: [a for a in attempts(admin, subscription=sub) if a["attempt"] == 4])
    assert log[0]["outcome"] == "failed"

    far = sns.subscribe(
        TopicArn=arn,
        Protocol="https",
        Endpoint="https://hooks.example.com/services/T000/B000/XXXX",
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    (only,) = wait_for(lambda: attempts(admin, subscription=far))
    assert only["outcome"] == "failed" and only["attempt"] == 1
    assert "loopback" in only["error"] and "hooks.example.com" in only["error"]
    assert sns.list_topics()  # the emulator serves on


# ---------------------------------------------------------------------- email
def test_email_lands_in_the_mailbox_and_bdlab_inbox_shows_it(
    emu: ThreadedEmulator, sns: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    to = f"{unique('ops')}@example.com"
    sub = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=to, ReturnSubscriptionArn=True)[
        "SubscriptionArn"
    ]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "false"  # bdlab confirms email at once
    sns.publish(TopicArn=arn, Message="Consumer lag is 30 s", Subject="lag alarm")

    def mine() -> list[dict[str, Any]]:
        return [m for m in admin.inbox()["messages"] if m["to"] == to]

    confirm, note = wait_for(lambda: mine() if len(mine()) == 2 else None)
    assert confirm["subject"] == "AWS Notification - Subscription Confirmation"
    assert note["subject"] == "lag alarm" and note["topicArn"] == arn
    with open(note["file"], "rb") as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == "no-reply@sns.amazonaws.com"
    assert msg["X-Amz-Sns-Message-Type"] == "Notification"
    assert msg.get_content().startswith("Consumer lag is 30 s")
    log = attempts(admin, subscription=sub)
    assert [(a["protocol"], a["outcome"]) for a in log] == [("email", "delivered")] * 2

    env = bdlab_env(emu.gateway.state_dir, emu.port)
    listing = run_bdlab(["inbox", "--json"], env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert note["n"] in [m["n"] for m in json.loads(listing.stdout)["messages"]]
    shown = run_bdlab(["inbox", "show", str(note["n"])], env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "Subject: lag alarm" in shown.stdout and "Consumer lag is 30 s" in shown.stdout
    table = run_bdlab(["inbox"], env, timeout=60)
    assert table.returncode == 0 and "lag alarm" in table.stdout
    missing = run_bdlab(["inbox", "show", "999999"], env, timeout=60)
    assert missing.returncode == 2 and "no message 999999" in missing.stderr


def test_email_json_carries_the_envelope(
    sns: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    to = f"{unique('json')}@example.com"
    sns.subscribe(TopicArn=arn, Protocol="email-json", Endpoint=to)
    sns.publish(TopicArn=arn, Message="hello")

    def notes() -> list[dict[str, Any]]:
        return [
            m
            for m in admin.inbox()["messages"]
            if m["to"] == to and m["messageType"] == "Notification"
        ]

    (m,) = wait_for(notes)
    doc = json.loads(admin.inbox(m["n"])["body"])
    assert doc["Type"] == "Notification" and doc["Message"] == "hello"
    verify_signature(doc)


# ---------------------------------------------------------------------- filter policies
def _queue(
    prof: profiles.Profile,
    sns: Any,
    arn: str,
    name: str,
    policy: dict[str, Any],
    scope: str = "MessageAttributes",
) -> tuple[Any, str]:
    sqs = clients.client("sqs", prof)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=qarn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps(policy),
            "FilterPolicyScope": scope,
        },
    )
    return sqs, url


def _bodies(sqs: Any, url: str) -> set[str]:
    out: set[str] = set()
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out |= {m["Body"] for m in got}
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_filter_policies_on_attributes(
    prof: profiles.Profile, sns: Any, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    policy = {
        "level": [{"prefix": "err"}, {"equals-ignore-case": "WARN"}],
        "latency": [{"numeric": [">=", 100, "<", 500]}],
        "source_ip": [{"cidr": "10.0.0.0/24"}],
        "env": [{"anything-but": ["test", "dev"]}],
        "debug": [{"exists": False}],
    }
    sqs, url = _queue(prof, sns, arn, unique("fp"), policy)

    def pub(body: str, **attrs: Any) -> None:
        ma = {
            k: {"DataType": "Number" if isinstance(v, int) else "String", "StringValue": str(v)}
            for k, v in attrs.items()
        }
        sns.publish(TopicArn=arn, Message=body, MessageAttributes=ma)

    base = {"latency": 150, "source_ip": "10.0.0.7", "env": "prod"}
    pub("ok-error", level="error", **base)
    pub("ok-warn", level="warn", **base)
    pub("no-level", level="info", **base)
    pub("no-latency", level="error", **{**base, "latency": 500})
    pub("no-cidr", level="error", **{**base, "source_ip": "10.0.1.7"})
    pub("no-env", level="error", **{**base, "env": "dev"})
    pub("no-debug", level="error", debug="1", **base)
    pub("no-attrs")
    assert _bodies(sqs, url) == {"ok-error", "ok-warn"}


def test_filter_policy_on_the_body_with_or_and_suffix(
    prof: profiles.Profile, sns: Any, endpoint: Endpoint, unique: Callable[[str], str]
) -> None:
    arn = topic(sns, unique)
    policy = {
        "detail": {"state": ["ALARM"]},
        "$or": [{"name": [{"suffix": "-lag"}]}, {"severity": [{"numeric": [">", 2]}]}],
    }
    sqs, url = _queue(prof, sns, arn, unique("fpb"), policy, scope="MessageBody")
    # the same policy on an HTTP subscription: filtering applies to every protocol
    confirmed_http(
        sns,
        arn,
        endpoint,
        FilterPolicy=json.dumps(policy),
        FilterPolicyScope="MessageBody",
        RawMessageDelivery="true",
    )
    messages = [
        {"detail": {"state": "ALARM"}, "name": "consumer-lag"},
        {"detail": {"state": "ALARM"}, "name": "x", "severity": 3},
        {"detail": {"state": "OK"}, "name": "consumer-lag"},
        {"detail": {"state": "ALARM"}, "name": "x", "severity": 1},
    ]
    for m in messages:
        sns.publish(TopicArn=arn, Message=json.dumps(m))
    sns.publish(TopicArn=arn, Message="not json")
    want = {json.dumps(m) for m in messages[:2]}
    assert _bodies(sqs, url) == want
    got = {r["body"] for r in endpoint.wait("Notification", 2)}
    time.sleep(0.3)
    assert got == want and len(endpoint.wait("Notification", 2)) == 2


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("{not json", "Invalid parameter: FilterPolicy: failed to parse JSON."),
        ('{"a": [{"wildcard": "x*"}]}', "Invalid parameter: FilterPolicy: Unrecognized match"),
        ('{"a": {"b": ["c"]}}', "Invalid parameter: Filter policy scope MessageAttributes does"),
        ('{"a": [{"numeric": ["<", "x"]}]}', "Value of < must be numeric"),
        ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false"),
        ('{"a": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
        ('{"a": "b"}', 'Invalid parameter: FilterPolicy: "a" must be an object or an array'),
        ('{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}', "more than 5 keys"),
    ],
)
def test_malformed_filter_policy_is_invalid_parameter(
    sns: Any, endpoint: Endpoint, unique: Callable[[str], str], policy: str, message: str
) -> None:
    arn = topic(sns, unique)
    with pytest.raises(ClientError) as err:
        sns.subscribe(
            TopicArn=arn,
            Protocol="http",
            Endpoint=endpoint.url,
            Attributes={"FilterPolicy": policy},
        )
    e = err.value.response
    assert e["Error"]["Code"] == "InvalidParameter", e
    assert message in e["Error"]["Message"]
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    sub = sns.subscribe(
        TopicArn=arn, Protocol="email", Endpoint="a@example.com", ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    with pytest.raises(ClientError) as err2:
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=policy
        )
    assert err2.value.response["Error"]["Code"] == "InvalidParameter"
    assert message in err2.value.response["Error"]["Message"]


# ---------------------------------------------------------------------- CloudWatch alarms
def test_alarm_notification_reaches_http_and_the_mailbox(
    prof: profiles.Profile,
    sns: Any,
    admin: Admin,
    endpoint: Endpoint,
    unique: Callable[[str], str],
) -> None:
    cw = clients.client("cloudwatch", prof, retries=False)
    arn = topic(sns, unique)
    sub = confirmed_http(sns, arn, endpoint)
    to = f"{unique('oncall')}@example.com"
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=to)
    ns, name = unique("bdlab/sns"), unique("lag-high")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="lag",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=15.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[arn],
    )
    now = admin.clock()["now"]
    minute = datetime.fromtimestamp(math.floor(now / 60) * 60, UTC)
    cw.put_metric_data(
        Namespace=ns, MetricData=[{"MetricName": "lag", "Timestamp": minute, "Value": 30.0}]
    )
    admin.set_clock(advance=60)
    (note,) = endpoint.wait("Notification")
    env = json.loads(note["body"])
    assert env["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    alarm = json.loads(env["Message"])
    assert alarm["AlarmName"] == name and alarm["NewStateValue"] == "ALARM"
    assert note["headers"]["x-amz-sns-subscription-arn"] == sub

    def mails() -> list[dict[str, Any]]:
        return [
            m
            for m in admin.inbox()["messages"]
            if m["to"] == to and m["messageType"] == "Notification"
        ]

    (mail,) = wait_for(mails)
    assert mail["subject"] == env["Subject"]
    assert json.loads(admin.inbox(mail["n"])["body"].split("\n\n--\n")[0])["AlarmName"] == name


# ---------------------------------------------------------------------- durability
def test_kill_9_keeps_confirmations_and_pending_retries(tmp_path: Path, endpoint: Endpoint) -> None:
    from tests.integration.test_firehose import Spawned

    emu = Spawned(tmp_path / "state").start()
    try:
        sns = clients.client("sns", emu.profile, retries=False)
        arn = sns.create_topic(Name="crash-topic")["TopicArn"]
        sub = confirmed_http(sns, arn, endpoint)
        endpoint.statuses["Notification"] = 500
        sns.publish(TopicArn=arn, Message="survive")
        wait_for(lambda: len(emu.admin.sns_deliveries(subscription=sub)["attempts"]) == 2)
        emu.kill_9()
        emu.start()
        sns = clients.client("sns", emu.profile, retries=False)
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        assert attrs["PendingConfirmation"] == "false"  # the token was replayed
        assert emu.admin.sns_deliveries()["pending"] == 1
        endpoint.statuses["Notification"] = 200
        emu.admin.set_clock(advance=20)
        log = wait_for(
            lambda: [
                a
                for a in emu.admin.sns_deliveries(subscription=sub)["attempts"]
                if a["outcome"] == "delivered" and a["kind"] == "Notification"
            ]
        )
        assert log[0]["attempt"] == 2
        # the replay sent nothing again
        assert len(endpoint.wait("SubscriptionConfirmation")) == 1
        assert len(endpoint.wait("Notification", 2)) == 2
    finally:
        emu.stop()
