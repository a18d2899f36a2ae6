"""The chat-style webhook (AWS Chatbot's stand-in): an SNS ``http`` subscription to
``/_bdlab/chat/<channel>`` is confirmed by the room itself, and each notification becomes a
chat line, CloudWatch alarms rendered as Chatbot renders them; ``bdlab chat`` lists them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from sim import clients
from sim.admin import Admin
from tests.conftest import bdlab_env, run_bdlab

pytestmark = pytest.mark.integration


def lines(admin: Admin, channel: str, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The channel's lines once there are ``n`` (SNS delivers off the request, in the emulator)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = admin.chat(channel)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_a_channel_confirms_its_subscription_and_renders_alarms(
    profile: Any, unique: Any, tmp_path: Any
) -> None:
    sns = clients.client("sns", profile)
    admin = Admin.of(profile)
    channel = unique("ops")
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="http",
        Endpoint=admin.chat_url(channel),
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    (hello,) = lines(admin, channel, 1)
    assert hello["kind"] == "system" and hello["title"] == "subscribed" and hello["text"] == topic
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "false"  # the room confirmed it, as Chatbot does

    sns.publish(TopicArn=topic, Subject="deploy", Message="v2 is live")
    alarm = {
        "AlarmName": "orders-throttled",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [12.0] was greater than 0.0",
        "Region": "US East (N. Virginia)",
    }
    sns.publish(TopicArn=topic, Subject="ALARM", Message=json.dumps(alarm))
    got = lines(admin, channel, 3)
    assert [(g["kind"], g["title"]) for g in got[1:]] == [
        ("message", "deploy"),
        ("alarm", "ALARM | orders-throttled | US East (N. Virginia)"),
    ]
    assert got[1]["text"] == "v2 is live" and got[2]["state"] == "ALARM"
    assert got[2]["text"].startswith("Threshold Crossed")
    assert admin.chat(channel, since=got[1]["n"]) == got[2:]

    # the CLI reads the same channel (a second bdlab process, against this emulator)
    port = int(profile.endpoint_url.rsplit(":", 1)[1])
    env = bdlab_env(tmp_path / "cli-state", port)
    env["BDLAB_STATE_DIR"] = str(profile_state(admin))
    out = run_bdlab(["chat", channel, "--json"], env)
    assert out.returncode == 0, out.stderr
    assert [x["n"] for x in json.loads(out.stdout)] == [g["n"] for g in got]


def profile_state(admin: Admin) -> str:
    return str(admin.health()["state_dir"])


def test_a_bad_channel_or_body_is_one_clear_error(profile: Any) -> None:
    import urllib.error
    import urllib.request

    base = Admin.of(profile).endpoint_url
    for path, body in (("/_bdlab/chat/bad%20name", b"{}"), ("/_bdlab/chat/ok", b"not json")):
        req = urllib.request.Request(
            base + path,
            data=body,
            method="POST",
            headers={"x-amz-sns-message-type": "Notification"},
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 400 and "error" in json.loads(e.value.read())
