"""bdlab's CloudWatch alarms over HTTP with real boto3 (issue 15, items 1 and 3): alarms that
evaluate on the emulator clock and notifications that arrive in SQS through SNS.

The module has its own emulator, so its clock is ours: every test moves it with
``/_bdlab/clock {"advance": N}``, which answers once the alarms due in the skipped span are
evaluated and their notifications published; nothing waits for emulator time. The truth tables
themselves are unit tests (tests/unit/test_alarms.py); here a few rows run end to end.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from sim.emulator.providers.cloudwatch.alarms import INITIAL_REASON
from tests.integration.test_cloudwatch import PROTOCOLS, call
from tests.integration.test_firehose import Spawned

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def aprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


@pytest.fixture()
def cw(aprofile: profiles.Profile) -> Any:
    return clients.client("cloudwatch", aprofile, retries=False)


@pytest.fixture()
def admin(aprofile: profiles.Profile) -> Admin:
    return Admin.of(aprofile)


def minute(admin: Admin, back: int = 0) -> datetime:
    """The start of the emulator's current minute, ``back`` minutes ago."""
    now = admin.clock()["now"]
    return datetime.fromtimestamp(math.floor(now / 60) * 60 - 60 * back, UTC)


def put(cw: Any, ns: str, name: str, points: list[tuple[datetime, float]], **extra: Any) -> None:
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": name, "Timestamp": t, "Value": v, **extra} for t, v in points],
    )


def alarm(cw: Any, name: str, ns: str, **kw: Any) -> None:
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": ns,
        "MetricName": "lag",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 15.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    params.update(kw)
    cw.put_metric_alarm(**params)


def state(cw: Any, name: str, kind: str = "MetricAlarms") -> dict[str, Any]:
    types = ["MetricAlarm", "CompositeAlarm"]
    (found,) = cw.describe_alarms(AlarmNames=[name], AlarmTypes=types)[kind]
    return dict(found)


def advance(admin: Admin, seconds: float = 60) -> None:
    admin.set_clock(advance=seconds)


class Inbox:
    """An SQS queue subscribed to a new SNS topic (envelope or raw delivery)."""

    def __init__(self, prof: profiles.Profile, name: str, raw: bool = False) -> None:
        self.sqs = clients.client("sqs", prof)
        self.sns = clients.client("sns", prof)
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.topic = self.sns.create_topic(Name=name)["TopicArn"]
        self.sns.subscribe(
            TopicArn=self.topic,
            Protocol="sqs",
            Endpoint=qarn,
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )

    def take(self) -> list[dict[str, Any]]:
        """Every message waiting now (the publish happened before the clock call answered)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return out
            for m in got:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            out.extend(got)

    def alarms(self) -> list[dict[str, Any]]:
        """The alarm notifications waiting: (envelope Subject, parsed alarm JSON)."""
        out = []
        for m in self.take():
            env = json.loads(m["Body"])
            out.append({"Subject": env.get("Subject"), **json.loads(env["Message"])})
        return out


# ---------------------------------------------------------------------- the issue's example
def test_issue_example_new_alarm_insufficient_then_alarm(
    cw: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    ns, name = unique("bdlab/issue"), unique("avg-high")
    t = minute(admin)
    put(cw, ns, "lag", [(t - timedelta(minutes=3), 10.0), (t - timedelta(minutes=2), 20.0)])
    put(cw, ns, "lag", [(t - timedelta(minutes=1), 30.0)])
    alarm(cw, name, ns)
    a = state(cw, name)
    assert (a["StateValue"], a["StateReason"]) == ("INSUFFICIENT_DATA", INITIAL_REASON)
    assert a["AlarmArn"].endswith(f":alarm:{name}") and a["ActionsEnabled"] is True
    advance(admin)
    a = state(cw, name)
    # The most recent datapoint (30, one period) decides: 30 > 15.
    assert a["StateValue"] == "ALARM"
    assert a["StateReason"].startswith("Threshold Crossed: 1 datapoint [30.0 (")
    data = json.loads(a["StateReasonData"])
    assert data["threshold"] == 15.0 and data["statistic"] == "Average"


def test_put_metric_alarm_validation(cw: Any, unique: Callable[[str], str]) -> None:
    ns = unique("bdlab/bad")
    with pytest.raises(ClientError) as e:
        alarm(cw, unique("a"), ns, Period=45)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "10, 20, 30, or a multiple of 60" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        alarm(cw, unique("a"), ns, EvaluationPeriods=2, DatapointsToAlarm=3)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        alarm(cw, unique("a"), ns, AlarmActions=["not-an-arn"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        alarm(cw, unique("a"), ns, ExtendedStatistic="p99")
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName=unique("c"), AlarmRule="ALARM(nope) AND")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"].startswith("Error in AlarmRule [")
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName=unique("c"), AlarmRule='ALARM("does-not-exist")')
    assert "do not exist" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName=unique("none"), StateValue="OK", StateReason="x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


# ---------------------------------------------------------------------- evaluation rules
def test_m_of_n(cw: Any, admin: Admin, unique: Callable[[str], str]) -> None:
    ns, name = unique("bdlab/mofn"), unique("two-of-three")
    t = minute(admin)
    put(cw, ns, "lag", [(t - timedelta(minutes=3), 20.0), (t - timedelta(minutes=2), 5.0)])
    put(cw, ns, "lag", [(t - timedelta(minutes=1), 20.0)])
    alarm(cw, name, ns, EvaluationPeriods=3, DatapointsToAlarm=2)
    advance(admin)
    a = state(cw, name)
    assert a["StateValue"] == "ALARM"
    assert "2 out of the last 3 datapoints" in a["StateReason"]
    assert "(minimum 2 datapoints for OK -> ALARM transition)" in a["StateReason"]


@pytest.mark.parametrize(
    ("treat", "expected"),
    [
        ("missing", "INSUFFICIENT_DATA"),
        ("breaching", "ALARM"),
        ("notBreaching", "OK"),
        ("ignore", "INSUFFICIENT_DATA"),
    ],
)
def test_treat_missing_data_without_any_data(
    cw: Any, admin: Admin, unique: Callable[[str], str], treat: str, expected: str
) -> None:
    # The guide's row "- - - - -" (no datapoint in the evaluation range), 3 of 3.
    ns, name = unique("bdlab/missing"), unique(treat)
    alarm(cw, name, ns, EvaluationPeriods=3, TreatMissingData=treat)
    advance(admin)
    a = state(cw, name)
    assert a["StateValue"] == expected
    if treat == "ignore":  # "retain current state": the creation reason stays
        assert a["StateReason"] == INITIAL_REASON
    if treat == "breaching":
        assert "3 missing datapoints were treated as [Breaching]" in a["StateReason"]


def test_treat_missing_data_one_breaching_point_then_nothing(
    cw: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    # The guide's row "- - X - -" for 3 of 3: missing -> ALARM, notBreaching -> OK.
    ns = unique("bdlab/missing2")
    t = minute(admin)
    names = {}
    for treat in ("missing", "notBreaching", "breaching"):
        names[treat] = unique(treat)
        alarm(cw, names[treat], ns, EvaluationPeriods=3, TreatMissingData=treat)
    # at the next tick the window is minutes t-4 .. t; the breaching point sits in the middle
    put(cw, ns, "lag", [(t - timedelta(minutes=2), 20.0)])
    advance(admin)
    assert state(cw, names["missing"])["StateValue"] == "ALARM"
    assert state(cw, names["notBreaching"])["StateValue"] == "OK"
    assert state(cw, names["breaching"])["StateValue"] == "ALARM"


def test_metric_math_alarm(cw: Any, admin: Admin, unique: Callable[[str], str]) -> None:
    ns, name = unique("bdlab/math"), unique("error-rate")
    t = minute(admin)
    for back, errors, requests in ((3, 1.0, 100.0), (2, 2.0, 100.0), (1, 20.0, 100.0)):
        put(cw, ns, "errors", [(t - timedelta(minutes=back), errors)])
        put(cw, ns, "requests", [(t - timedelta(minutes=back), requests)])

    def stat(metric: str) -> dict[str, Any]:
        return {
            "Metric": {"Namespace": ns, "MetricName": metric},
            "Period": 60,
            "Stat": "Sum",
        }

    cw.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "e", "MetricStat": stat("errors"), "ReturnData": False},
            {"Id": "r", "MetricStat": stat("requests"), "ReturnData": False},
            {"Id": "rate", "Expression": "100 * e / r", "Label": "error %", "ReturnData": True},
        ],
    )
    advance(admin)
    a = state(cw, name)
    assert a["StateValue"] == "ALARM"
    assert a["StateReason"].startswith("Threshold Crossed: 1 datapoint [20.0 (")
    assert [m["Id"] for m in a["Metrics"]] == ["e", "r", "rate"]
    assert "MetricName" not in a


def test_composite_alarm_follows_its_children(
    cw: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    ns = unique("bdlab/comp")
    a1, a2, comp = unique("child-a"), unique("child-b"), unique("both")
    alarm(cw, a1, ns)
    alarm(cw, a2, ns)
    cw.put_composite_alarm(AlarmName=comp, AlarmRule=f'ALARM("{a1}") AND ALARM({a2})')
    c = state(cw, comp, "CompositeAlarms")
    assert (c["StateValue"], c["StateReason"]) == ("INSUFFICIENT_DATA", INITIAL_REASON)
    # DescribeAlarms' default AlarmTypes is metric alarms only
    assert cw.describe_alarms(AlarmNames=[comp])["CompositeAlarms"] == []
    children = cw.describe_alarms(ChildrenOfAlarmName=comp)["MetricAlarms"]
    assert sorted(x["AlarmName"] for x in children) == sorted([a1, a2])
    parents = cw.describe_alarms(ParentsOfAlarmName=a1)["CompositeAlarms"]
    assert [x["AlarmName"] for x in parents] == [comp]
    cw.set_alarm_state(AlarmName=a1, StateValue="ALARM", StateReason="test")
    assert state(cw, comp, "CompositeAlarms")["StateValue"] == "OK"
    cw.set_alarm_state(AlarmName=a2, StateValue="ALARM", StateReason="test")
    c = state(cw, comp, "CompositeAlarms")
    assert c["StateValue"] == "ALARM"
    assert (
        c["StateReason"].startswith("arn:aws:cloudwatch:us-east-1:") and "ALARM" in c["StateReason"]
    )
    assert json.loads(c["StateReasonData"])["triggeringAlarms"][0]["arn"].endswith(a2)
    cw.set_alarm_state(AlarmName=a1, StateValue="OK", StateReason="test")
    assert state(cw, comp, "CompositeAlarms")["StateValue"] == "OK"


def test_set_alarm_state_lasts_until_the_next_evaluation(
    cw: Any, admin: Admin, unique: Callable[[str], str]
) -> None:
    ns, name = unique("bdlab/set"), unique("set")
    alarm(cw, name, ns)
    put(cw, ns, "lag", [(minute(admin), 30.0)])
    advance(admin)
    assert state(cw, name)["StateValue"] == "ALARM"
    cw.set_alarm_state(
        AlarmName=name, StateValue="OK", StateReason="drill", StateReasonData='{"by": "test"}'
    )
    a = state(cw, name)
    assert (a["StateValue"], a["StateReason"], a["StateReasonData"]) == (
        "OK",
        "drill",
        '{"by": "test"}',
    )
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="x", StateReasonData="{")
    assert e.value.response["Error"]["Code"] == "InvalidFormat"
    put(cw, ns, "lag", [(minute(admin), 30.0)])
    advance(admin)
    assert state(cw, name)["StateValue"] == "ALARM"


def test_describe_alarms_filters_and_paging(cw: Any, unique: Callable[[str], str]) -> None:
    ns, prefix = unique("bdlab/desc"), unique("page")
    topic = "arn:aws:sns:us-east-1:123456789012:" + unique("topic")
    for i in range(5):
        alarm(cw, f"{prefix}-{i}", ns, AlarmActions=[topic] if i % 2 else [])
    names = []
    token = None
    while True:
        kw = {"NextToken": token} if token else {}
        page = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2, **kw)
        assert len(page["MetricAlarms"]) <= 2
        names += [a["AlarmName"] for a in page["MetricAlarms"]]
        token = page.get("NextToken")
        if not token:
            break
    assert names == [f"{prefix}-{i}" for i in range(5)]
    with_action = cw.describe_alarms(ActionPrefix=topic)["MetricAlarms"]
    assert [a["AlarmName"] for a in with_action] == [f"{prefix}-1", f"{prefix}-3"]
    cw.set_alarm_state(AlarmName=f"{prefix}-2", StateValue="ALARM", StateReason="t")
    in_alarm = cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in in_alarm] == [f"{prefix}-2"]
    found = cw.describe_alarms_for_metric(Namespace=ns, MetricName="lag")["MetricAlarms"]
    assert len(found) == 5
    assert (
        cw.describe_alarms_for_metric(Namespace=ns, MetricName="lag", Period=300)["MetricAlarms"]
        == []
    )
    arn = state(cw, f"{prefix}-0")["AlarmArn"]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "data"}])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    with pytest.raises(ClientError) as e:
        cw.delete_alarms(AlarmNames=[f"{prefix}-0", unique("none")])
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    cw.delete_alarms(AlarmNames=[f"{prefix}-{i}" for i in range(5)])
    assert cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []


def test_describe_alarm_history(cw: Any, admin: Admin, unique: Callable[[str], str]) -> None:
    ns, name = unique("bdlab/hist"), unique("hist")
    alarm(cw, name, ns)
    alarm(cw, name, ns, Threshold=16.0)  # an update
    put(cw, ns, "lag", [(minute(admin), 30.0)])
    advance(admin)
    items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    kinds = [i["HistoryItemType"] for i in items]
    assert kinds == ["StateUpdate", "ConfigurationUpdate", "ConfigurationUpdate"]  # newest first
    created = json.loads(items[-1]["HistoryData"])
    assert items[-1]["HistorySummary"] == f'Alarm "{name}" created'
    assert created["type"] == "Create" and created["createdAlarm"]["threshold"] == 15.0
    assert json.loads(items[1]["HistoryData"])["updatedAlarm"]["threshold"] == 16.0
    update = json.loads(items[0]["HistoryData"])
    assert items[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert update["oldState"] == {"stateValue": "INSUFFICIENT_DATA", "stateReason": INITIAL_REASON}
    assert update["newState"]["stateValue"] == "ALARM"
    assert update["newState"]["stateReasonData"]["threshold"] == 16.0
    asc = cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending")
    assert [i["HistoryItemType"] for i in asc["AlarmHistoryItems"]] == kinds[::-1]
    only = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    assert len(only["AlarmHistoryItems"]) == 1
    first = cw.describe_alarm_history(AlarmName=name, MaxRecords=2)
    rest = cw.describe_alarm_history(AlarmName=name, MaxRecords=2, NextToken=first["NextToken"])
    assert len(first["AlarmHistoryItems"]) == 2 and len(rest["AlarmHistoryItems"]) == 1
    assert "NextToken" not in rest
    t = items[0]["Timestamp"]
    window = cw.describe_alarm_history(
        AlarmName=name, StartDate=t, EndDate=t + timedelta(seconds=1)
    )["AlarmHistoryItems"]
    assert [i["HistoryItemType"] for i in window] == ["StateUpdate"]
    cw.delete_alarms(AlarmNames=[name])
    # history outlives the alarm (AWS keeps it for 30 days)
    after = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert after[0]["HistorySummary"] == f'Alarm "{name}" deleted'


# ---------------------------------------------------------------------- notifications
def test_one_notification_per_transition_and_recovery(
    cw: Any, admin: Admin, aprofile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    inbox = Inbox(aprofile, unique("alarm-inbox"))
    ns, name = unique("bdlab/notify"), unique("lag-high")
    alarm(
        cw,
        name,
        ns,
        AlarmDescription="consumer lag",
        AlarmActions=[inbox.topic],
        OKActions=[inbox.topic],
        Dimensions=[{"Name": "Stream", "Value": "clicks"}],
    )
    dims = [{"Name": "Stream", "Value": "clicks"}]

    def lag(value: float) -> None:
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[
                {
                    "MetricName": "lag",
                    "Dimensions": dims,
                    "Timestamp": minute(admin),
                    "Value": value,
                }
            ],
        )

    lag(30.0)
    advance(admin)
    assert state(cw, name)["StateValue"] == "ALARM"
    (n,) = inbox.alarms()
    assert n["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    assert n["AlarmName"] == name and n["AlarmDescription"] == "consumer lag"
    assert (n["OldStateValue"], n["NewStateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert n["Region"] == "US East (N. Virginia)" and n["AWSAccountId"].isdigit()
    assert n["AlarmArn"] == state(cw, name)["AlarmArn"]
    assert n["NewStateReason"].startswith("Threshold Crossed")
    assert n["StateChangeTime"].endswith("+0000")
    assert n["Trigger"] == {
        "MetricName": "lag",
        "Namespace": ns,
        "StatisticType": "Statistic",
        "Statistic": "AVERAGE",
        "Unit": None,
        "Dimensions": [{"value": "clicks", "name": "Stream"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 15.0,
        "TreatMissingData": "missing",
        "EvaluateLowSampleCountPercentile": "",
    }
    # the state persists for three more evaluations: no notification
    for _ in range(3):
        lag(40.0)
        advance(admin)
    assert state(cw, name)["StateValue"] == "ALARM"
    assert inbox.alarms() == []
    # recovery: exactly one more notification
    lag(1.0)
    advance(admin)
    assert state(cw, name)["StateValue"] == "OK"
    (ok,) = inbox.alarms()
    assert (ok["OldStateValue"], ok["NewStateValue"]) == ("ALARM", "OK")
    assert ok["Subject"] == f'OK: "{name}" in US East (N. Virginia)'
    actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")
    items = actions["AlarmHistoryItems"]
    assert len(items) == 2
    assert all(i["HistorySummary"] == f"Successfully executed action {inbox.topic}" for i in items)
    data = json.loads(items[0]["HistoryData"])
    assert data["actionState"] == "Succeeded" and data["notificationResource"] == inbox.topic
    assert json.loads(data["publishedMessage"])["NewStateValue"] == "OK"


def test_a_large_clock_step_catches_up_tick_by_tick(
    cw: Any, admin: Admin, aprofile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    # Breach then recovery inside one 10-minute jump: every tick in between is evaluated, so
    # both transitions happen (and notify) at the minute they would have on a running clock.
    inbox = Inbox(aprofile, unique("jump-inbox"))
    ns, name = unique("bdlab/jump"), unique("jump")
    t0 = minute(admin)
    alarm(cw, name, ns, AlarmActions=[inbox.topic], OKActions=[inbox.topic])
    for k, v in ((1, 30.0), (2, 30.0), (3, 1.0), (4, 1.0)):
        put(cw, ns, "lag", [(t0 + timedelta(minutes=k), v)])
    advance(admin, 600)
    notes = inbox.alarms()
    assert [(n["OldStateValue"], n["NewStateValue"]) for n in notes] == [
        ("INSUFFICIENT_DATA", "ALARM"),
        ("ALARM", "OK"),
    ]
    assert notes[0]["StateChangeTime"].startswith(
        (t0 + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:00.000")
    )
    assert notes[1]["StateChangeTime"].startswith(
        (t0 + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:00.000")
    )
    updates = cw.describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate", ScanBy="TimestampAscending"
    )["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in updates] == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to INSUFFICIENT_DATA",  # the data stopped: range empty again
    ]
    assert [i["Timestamp"] - t0 for i in updates] == [
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
    ]


def test_raw_delivery_and_failed_action(
    cw: Any, admin: Admin, aprofile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    inbox = Inbox(aprofile, unique("raw-inbox"), raw=True)
    missing_topic = f"arn:aws:sns:us-east-1:123456789012:{unique('gone')}"
    ns, name = unique("bdlab/raw"), unique("raw")
    alarm(cw, name, ns, AlarmActions=[inbox.topic, missing_topic])
    put(cw, ns, "lag", [(minute(admin), 30.0)])
    advance(admin)
    (m,) = inbox.take()
    body = json.loads(m["Body"])  # raw: the alarm JSON itself, no envelope
    assert body["NewStateValue"] == "ALARM" and body["AlarmName"] == name
    items = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    by_resource = {json.loads(i["HistoryData"])["notificationResource"]: i for i in items}
    assert json.loads(by_resource[inbox.topic]["HistoryData"])["actionState"] == "Succeeded"
    failed = json.loads(by_resource[missing_topic]["HistoryData"])
    assert failed["actionState"] == "Failed" and "NotFound" in failed["error"]


def test_disabled_actions_send_nothing(
    cw: Any, admin: Admin, aprofile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    inbox = Inbox(aprofile, unique("quiet-inbox"))
    ns, name = unique("bdlab/quiet"), unique("quiet")
    alarm(cw, name, ns, AlarmActions=[inbox.topic], OKActions=[inbox.topic])
    cw.disable_alarm_actions(AlarmNames=[name])
    assert state(cw, name)["ActionsEnabled"] is False
    put(cw, ns, "lag", [(minute(admin), 30.0)])
    advance(admin)
    assert state(cw, name)["StateValue"] == "ALARM"
    assert inbox.take() == []
    assert (
        cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
        == []
    )
    cw.enable_alarm_actions(AlarmNames=[name])
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="re-enabled")
    (n,) = inbox.alarms()
    assert (n["OldStateValue"], n["NewStateValue"]) == ("ALARM", "OK")


@pytest.mark.parametrize("raw", [True, False])
def test_sns_to_sqs_with_message_attributes(
    aprofile: profiles.Profile, unique: Callable[[str], str], raw: bool
) -> None:
    # moto's raw delivery of a Binary attribute crashed SQS's MD5 (bdlab patches it).
    inbox = Inbox(aprofile, unique("attrs"), raw=raw)
    attrs = {
        "kind": {"DataType": "String", "StringValue": "alarm"},
        "n": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    }
    inbox.sns.publish(TopicArn=inbox.topic, Message="disk full", MessageAttributes=attrs)
    (m,) = inbox.take()
    if raw:
        assert m["Body"] == "disk full"
        got = m["MessageAttributes"]
        assert got["kind"]["StringValue"] == "alarm" and got["n"]["StringValue"] == "3"
        assert got["blob"]["BinaryValue"] == b"\x00\x01\xff"
    else:
        env = json.loads(m["Body"])
        assert env["Type"] == "Notification" and env["Message"] == "disk full"
        assert env["MessageAttributes"]["kind"] == {"Type": "String", "Value": "alarm"}


# ---------------------------------------------------------------------- protocols
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_and_describe_in_each_protocol(
    aprofile: profiles.Profile, admin: Admin, unique: Callable[[str], str], protocol: str
) -> None:
    name, ns = unique(f"proto-{protocol[:4]}"), unique("bdlab/proto")
    call(
        aprofile,
        protocol,
        "PutMetricAlarm",
        AlarmName=name,
        Namespace=ns,
        MetricName="lag",
        Dimensions=[{"Name": "Stream", "Value": "s"}],
        ExtendedStatistic="p90",
        Period=10,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=1.5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    out = call(aprofile, protocol, "DescribeAlarms", AlarmNames=[name])
    (a,) = out["MetricAlarms"]
    assert a["AlarmName"] == name and a["ExtendedStatistic"] == "p90"
    assert (a["Period"], a["EvaluationPeriods"], a["DatapointsToAlarm"]) == (10, 3, 2)
    assert a["Threshold"] == 1.5 and isinstance(a["StateUpdatedTimestamp"], datetime)
    assert a["Dimensions"] == [{"Name": "Stream", "Value": "s"}]
    # a high-resolution alarm is evaluated every 10 s: notBreaching with no data -> OK
    advance(admin, 10)
    (a,) = call(aprofile, protocol, "DescribeAlarms", AlarmNames=[name])["MetricAlarms"]
    assert a["StateValue"] == "OK"
    with pytest.raises(ClientError) as e:
        call(aprofile, protocol, "PutMetricAlarm", **{**_minimal(name, ns), "Period": 7})
    assert e.value.response["Error"]["Code"] == "ValidationError"
    call(aprofile, protocol, "DeleteAlarms", AlarmNames=[name])


def _minimal(name: str, ns: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "Namespace": ns,
        "MetricName": "lag",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }


# ---------------------------------------------------------------------- AWS/Kinesis
def test_kinesis_incoming_records_alarm_from_the_emulators_own_metrics(
    cw: Any, admin: Admin, aprofile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    inbox = Inbox(aprofile, unique("kinesis-inbox"))
    kin = clients.client("kinesis", aprofile)
    stream = unique("clicks")
    kin.create_stream(StreamName=stream, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    dims = [{"Name": "StreamName", "Value": stream}]
    cw.put_metric_alarm(
        AlarmName=unique("burst"),
        Namespace="AWS/Kinesis",
        MetricName="IncomingRecords",
        Dimensions=dims,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=20,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[inbox.topic],
    )
    t0 = minute(admin)
    kin.put_records(
        StreamName=stream,
        Records=[{"Data": b"x", "PartitionKey": str(i)} for i in range(50)],
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the Kinesis provider publishes its metrics every 2 s
        points = cw.get_metric_statistics(
            Namespace="AWS/Kinesis",
            MetricName="IncomingRecords",
            Dimensions=dims,
            StartTime=t0 - timedelta(minutes=1),
            EndTime=t0 + timedelta(minutes=2),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        if sum(p["Sum"] for p in points) >= 50:
            break
        time.sleep(0.2)
    else:
        pytest.fail("AWS/Kinesis IncomingRecords never reached CloudWatch")
    advance(admin, 60)
    (n,) = inbox.alarms()
    assert n["NewStateValue"] == "ALARM" and n["Trigger"]["Namespace"] == "AWS/Kinesis"
    assert n["Trigger"]["Dimensions"] == [{"value": stream, "name": "StreamName"}]


# ---------------------------------------------------------------------- durability
def test_kill_9_keeps_alarms_state_and_history(tmp_path: Path) -> None:
    emu = Spawned(tmp_path / "state").start()
    try:
        cw = clients.client("cloudwatch", emu.profile, retries=False)
        t = datetime.fromtimestamp(math.floor(emu.admin.clock()["now"] / 60) * 60, UTC)
        cw.put_metric_data(
            Namespace="crash", MetricData=[{"MetricName": "lag", "Timestamp": t, "Value": 30.0}]
        )
        inbox = Inbox(emu.profile, "crash-inbox")
        alarm(cw, "crash-alarm", "crash")
        cw.put_composite_alarm(
            AlarmName="crash-composite", AlarmRule="ALARM(crash-alarm)", AlarmActions=[inbox.topic]
        )
        cw.tag_resource(
            ResourceARN=state(cw, "crash-alarm")["AlarmArn"], Tags=[{"Key": "k", "Value": "v"}]
        )
        emu.admin.set_clock(advance=60)
        assert state(cw, "crash-alarm")["StateValue"] == "ALARM"
        emu.kill_9()
        emu.start()
        cw = clients.client("cloudwatch", emu.profile, retries=False)
        a = state(cw, "crash-alarm")
        assert a["StateValue"] == "ALARM" and a["Threshold"] == 15.0
        assert state(cw, "crash-composite", "CompositeAlarms")["StateValue"] == "ALARM"
        assert [
            i["HistorySummary"]
            for i in cw.describe_alarm_history(
                AlarmName="crash-composite",
                AlarmTypes=["CompositeAlarm"],
                HistoryItemType="StateUpdate",
            )["AlarmHistoryItems"]
        ] == ["Alarm updated from INSUFFICIENT_DATA to ALARM"]
        assert cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"] == [
            {"Key": "k", "Value": "v"}
        ]
        kinds = [
            i["HistoryItemType"]
            for i in cw.describe_alarm_history(AlarmName="crash-alarm")["AlarmHistoryItems"]
        ]
        assert kinds == ["StateUpdate", "ConfigurationUpdate"]
        # the composite's notification, delivered before the crash, is still in the queue
        inbox = Inbox(emu.profile, "crash-inbox")  # create_queue/topic are idempotent
        (n,) = inbox.alarms()  # one: the restart did not notify the same transition again
        assert n["AlarmName"] == "crash-composite" and n["NewStateValue"] == "ALARM"
        assert n["AlarmRule"] == "ALARM(crash-alarm)"
        assert n["TriggeringChildren"][0]["Arn"].endswith(":alarm:crash-alarm")
        assert "Trigger" not in n
    finally:
        emu.stop()
