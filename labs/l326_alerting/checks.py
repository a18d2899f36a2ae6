"""Checks of lab 3.2.6, in order. Each docstring's first line is what the learner sees.

They read real state only: the topic's subscriptions, the alarms' configuration and state
history (DescribeAlarmHistory), the SQS queue's messages (received and made visible again,
never deleted), the lab's HTTP receiver log with the emulator's SNS delivery log, and the
emulator's mailbox. The truth is the history: one notification per transition to ALARM or OK
on every channel, no more (none while a state persists), none missing (recovery included).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from labs.harness import CheckFailed, LabContext, check
from labs.l326_alerting.lab import (
    EMAIL,
    ERRORS_METRIC,
    NAMESPACE,
    consumer_alarm,
    receiver_log,
    stream,
    throttle_alarm,
    topic_name,
    transitions,
)

NOTIFIED = ("ALARM", "OK")  # the states whose transitions must notify


def _cache(ctx: LabContext) -> dict[str, Any]:
    return ctx.options.setdefault("_l326", {})  # type: ignore[no-any-return]


def _topic_arn(ctx: LabContext) -> str:
    return f"arn:aws:sns:{ctx.profile.region or 'us-east-1'}:{ctx.account_id()}:{topic_name(ctx)}"


def _subscriptions(ctx: LabContext) -> list[dict[str, Any]]:
    cache = _cache(ctx)
    if "subs" not in cache:
        sns = ctx.client("sns")
        try:
            cache["subs"] = sns.list_subscriptions_by_topic(TopicArn=_topic_arn(ctx))[
                "Subscriptions"
            ]
        except sns.exceptions.NotFoundException:
            cache["subs"] = None
    return cache["subs"]  # type: ignore[no-any-return]


def _alarms(ctx: LabContext) -> dict[str, dict[str, Any]]:
    cache = _cache(ctx)
    if "alarms" not in cache:
        names = [throttle_alarm(ctx), consumer_alarm(ctx)]
        found = ctx.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
        cache["alarms"] = {a["AlarmName"]: a for a in found}
    return dict(cache["alarms"])


def _created(ctx: LabContext, alarm: str) -> datetime | None:
    """When this alarm (this incarnation of the name) was created, from its history."""
    cw = ctx.client("cloudwatch")
    out = cw.describe_alarm_history(
        AlarmName=alarm, HistoryItemType="ConfigurationUpdate", ScanBy="TimestampDescending"
    )
    for it in out["AlarmHistoryItems"]:
        if json.loads(it["HistoryData"]).get("type") == "Create":
            return it["Timestamp"]  # type: ignore[no-any-return]
    return None


def _expected(ctx: LabContext) -> dict[str, Counter[tuple[str, str]]]:
    """Alarm -> the transitions to ALARM/OK since it was created (what must be notified)."""
    cache = _cache(ctx)
    if "expected" not in cache:
        cache["expected"] = {
            a: Counter(t for t in transitions(ctx, a) if t[1] in NOTIFIED)
            for a in (throttle_alarm(ctx), consumer_alarm(ctx))
        }
    return dict(cache["expected"])


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _received(ctx: LabContext, messages: list[str]) -> dict[str, Counter[tuple[str, str]]]:
    """Alarm -> (old, new) of the alarm notifications in ``messages`` (CloudWatch's JSON)
    about this incarnation of the lab's alarms."""
    since = {a: _created(ctx, a) for a in (throttle_alarm(ctx), consumer_alarm(ctx))}
    out: dict[str, Counter[tuple[str, str]]] = {a: Counter() for a in since}
    for text in messages:
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        name = doc.get("AlarmName") if isinstance(doc, dict) else None
        if name not in since:
            continue
        created = since[name]
        if created is not None and _parse_time(doc["StateChangeTime"]) < created:
            continue  # an earlier run's alarm of the same name
        out[name][(doc["OldStateValue"], doc["NewStateValue"])] += 1
    return out


def _compare(
    ctx: LabContext, channel: str, got: dict[str, Counter[tuple[str, str]]], hint_more: str
) -> None:
    for alarm, want in _expected(ctx).items():
        have = got.get(alarm, Counter())
        missing, extra = want - have, have - want
        if missing:
            kinds = ", ".join(f"{o}→{n} {c}건" for (o, n), c in sorted(missing.items()))
            recovery = any(n == "OK" for _, n in missing)
            raise CheckFailed(
                f"{alarm}: 전이마다 {channel} 알림 한 번 ({_fmt(want)})",
                f"빠짐: {kinds}",
                (
                    "복구(OK) 알림이 없습니다: 경보의 OKActions에도 주제 ARN을 넣으세요. "
                    "AlarmActions는 ALARM으로 갈 때만 알립니다."
                    if recovery
                    else "경보의 AlarmActions에 주제 ARN을 넣으세요. "
                )
                + hint_more,
            )
        if extra:
            kinds = ", ".join(f"{o}→{n} {c}건" for (o, n), c in sorted(extra.items()))
            raise CheckFailed(
                f"{alarm}: 전이마다 {channel} 알림 한 번 ({_fmt(want)})",
                f"더 옴: {kinds}",
                "CloudWatch는 상태가 바뀔 때만 알립니다. 같은 주제를 두 번 구독했거나 "
                "AlarmActions에 같은 ARN을 두 번 넣지 않았는지 보세요.",
            )


def _fmt(c: Counter[tuple[str, str]]) -> str:
    return ", ".join(f"{o}→{n}" + (f" {k}번" if k > 1 else "") for (o, n), k in sorted(c.items()))


@check(1)
def topic_and_subscriptions(ctx: LabContext) -> None:
    """SNS 주제에 SQS 큐, HTTP 엔드포인트(에뮬레이터), 이메일 구독이 있다"""
    subs = _subscriptions(ctx)
    if subs is None:
        raise CheckFailed(
            f"SNS 주제 {topic_name(ctx)}",
            "없음",
            "`bdlab run 3.2.6`로 실습을 끝까지 실행하세요 (1단계가 주제와 구독을 만듭니다).",
        )
    by = Counter(s["Protocol"] for s in subs)
    want = ["sqs", "email"] + (["http"] if ctx.can("sns_local") else [])
    missing = [p for p in want if not by[p]]
    if missing:
        raise CheckFailed(
            f"구독 {', '.join(want)}",
            f"빠짐: {', '.join(missing)} (있는 것: {', '.join(sorted(by)) or '없음'})",
            "1단계에서 sns.subscribe를 세 번 부르세요: Protocol='sqs'(Endpoint는 큐 ARN), "
            "'http'(Endpoint는 lab이 주는 수신기 주소), 'email'(Endpoint는 EMAIL).",
        )
    pending = [s["Protocol"] for s in subs if s["SubscriptionArn"] == "PendingConfirmation"]
    if ctx.can("sns_local") and pending:
        raise CheckFailed(
            "구독이 모두 확인됨",
            f"확인 대기: {', '.join(pending)}",
            "HTTP 구독은 엔드포인트가 SubscriptionConfirmation의 SubscribeURL을 방문해야 "
            "확인됩니다. lab의 수신기가 그 일을 하니 `bdlab run 3.2.6`을 다시 실행하세요.",
        )
    if [s for s in subs if s["Protocol"] == "email"][0]["Endpoint"] != EMAIL:
        raise CheckFailed(f"이메일 구독 {EMAIL}", "다른 주소", "Endpoint=EMAIL로 구독하세요.")


@check(2)
def alarms_watch_the_right_metrics(ctx: LabContext) -> None:
    """두 경보가 알맞은 지표(스트림의 스로틀링, 소비자의 처리 오류)를 보고 주제로 알린다"""
    found = _alarms(ctx)
    want = {
        throttle_alarm(ctx): ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
        consumer_alarm(ctx): (NAMESPACE, ERRORS_METRIC),
    }
    for name, (ns, metric) in want.items():
        a = found.get(name)
        if a is None:
            raise CheckFailed(
                f"경보 {name}", "없음", "2단계에서 cloudwatch.put_metric_alarm으로 만드세요."
            )
        dims = {d["Name"]: d["Value"] for d in a.get("Dimensions", [])}
        got = (a.get("Namespace"), a.get("MetricName"), dims)
        if got != (ns, metric, {"StreamName": stream(ctx)}):
            raise CheckFailed(
                f"{name}: {ns} {metric}, StreamName={stream(ctx)}",
                f"{got[0]} {got[1]}, {dims}",
                "지표 이름, 네임스페이스, 차원이 하나라도 다르면 경보는 데이터를 못 찾습니다 "
                "(오류 없이 INSUFFICIENT_DATA나 OK에 머뭅니다). README의 2단계 표를 보세요.",
            )
        rule = (a.get("Statistic"), a.get("ComparisonOperator"), a.get("Threshold"))
        if rule != ("Sum", "GreaterThanThreshold", 0.0):
            raise CheckFailed(
                f"{name}: Sum > 0 (한 건이라도 있으면)",
                f"{rule[0]} {rule[1]} {rule[2]}",
                "세는 지표(건수)는 Statistic='Sum', ComparisonOperator='GreaterThanThreshold', "
                "Threshold=0으로 두면 한 건만 있어도 울립니다.",
            )
        if _topic_arn(ctx) not in a.get("AlarmActions", []):
            raise CheckFailed(
                f"{name}: AlarmActions에 주제 {topic_name(ctx)}",
                f"{a.get('AlarmActions') or '없음'}",
                "AlarmActions=[topic_arn]: ALARM이 될 때 주제에 알림을 보냅니다.",
            )


@check(3)
def alarm_fired_and_recovered(ctx: LabContext) -> None:
    """장애마다 알맞은 경보가 ALARM이 되었고, 복구 뒤 OK로 돌아왔다"""
    found = _alarms(ctx)
    for name in (throttle_alarm(ctx), consumer_alarm(ctx)):
        seq = transitions(ctx, name)
        states = [new for _, new in seq]
        if "ALARM" not in states:
            raise CheckFailed(
                f"{name}: ALARM으로 간 기록",
                f"상태 변화: {' → '.join(states) or '없음'}",
                "`bdlab run 3.2.6`을 끝까지 실행하세요 (3단계가 장애를 일으킵니다). 그래도 "
                "없다면 경보의 지표와 차원이 장애가 남기는 지표와 같은지 보세요.",
            )
        now = found[name]["StateValue"]
        if now != "OK" or states[-1] != "OK":
            raise CheckFailed(
                f"{name}: ALARM 다음 OK (지금 OK)",
                f"지금 {now}, 상태 변화: {' → '.join(states)}",
                "복구 뒤에는 지표가 아예 오지 않습니다 (스로틀링도 오류도 없으면 0건이 아니라 "
                "'데이터 없음'). TreatMissingData='breaching'은 빈 기간을 위반으로 세어 ALARM에 "
                "머물게 합니다: 'notBreaching'으로 두세요.",
            )


@check(4)
def sqs_one_per_transition(ctx: LabContext) -> None:
    """SQS 큐에 전이마다 알림이 정확히 한 번 왔다 (복구 알림 포함)"""
    subs = _subscriptions(ctx) or []
    queue_arn = next(s["Endpoint"] for s in subs if s["Protocol"] == "sqs")
    sqs = ctx.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    bodies: dict[str, str] = {}
    handles: list[str] = []
    for _ in range(20):  # receive all (hidden meanwhile), then make them visible again
        msgs = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=1
        ).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            bodies[m["MessageId"]] = m["Body"]
            handles.append(m["ReceiptHandle"])
    for i in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for j, h in enumerate(handles[i : i + 10])
            ],
        )
    messages = []
    for body in bodies.values():
        try:
            envelope = json.loads(body)
        except ValueError:
            continue
        messages.append(envelope.get("Message", "") if isinstance(envelope, dict) else "")
    _compare(ctx, "SQS", _received(ctx, messages), "")


@check(5)
def http_one_per_transition(ctx: LabContext) -> None:
    """HTTP 수신기에 전이마다 알림이 정확히 한 번 왔다 (에뮬레이터에서)"""
    if not ctx.can("sns_local"):
        return  # an HTTP endpoint on AWS needs a public URL: the guide's "AWS에서" part
    sub = next(s for s in _subscriptions(ctx) or [] if s["Protocol"] == "http")
    log = receiver_log(ctx)
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    posts = [json.loads(x) for x in lines if x.strip()]
    notes = [p for p in posts if p["type"] == "Notification"]
    twice = [m for m, n in Counter(p["messageId"] for p in notes).items() if n > 1]
    if twice:
        raise CheckFailed(
            "메시지마다 한 번",
            f"같은 메시지 {len(twice)}건이 두 번 이상",
            "수신기가 200으로 답하지 않으면 SNS가 다시 보냅니다: 수신기 로그를 보세요.",
        )
    attempts = ctx.admin("sns_local").sns_deliveries(subscription=sub["SubscriptionArn"])[
        "attempts"
    ]
    failed = [a for a in attempts if a["outcome"] in ("failed", "retrying")]
    if failed:
        raise CheckFailed(
            "배달 기록의 시도가 모두 delivered",
            f"{failed[0]['outcome']} {failed[0].get('statusCode') or failed[0].get('error')}",
            "실습이 끝나면 수신기도 멈춥니다. 그 뒤에 온 알림은 배달되지 못합니다: "
            "`bdlab run 3.2.6`을 다시 실행하세요.",
        )
    messages = [json.loads(p["body"]).get("Message", "") for p in notes]
    _compare(ctx, "HTTP", _received(ctx, messages), f"수신기 로그: {log}")


@check(6)
def email_one_per_transition(ctx: LabContext) -> None:
    """메일함(bdlab inbox)에 전이마다 이메일이 정확히 한 번 왔다 (에뮬레이터에서)"""
    if not ctx.can("sns_local"):
        return  # real email needs a real mailbox and the confirmation link clicked
    admin = ctx.admin("sns_local")
    mails = [
        m
        for m in admin.inbox()["messages"]
        if m["to"] == EMAIL
        and m["messageType"] == "Notification"
        and str(m.get("topicArn", "")).strip() == _topic_arn(ctx)
    ]
    messages = [admin.inbox(m["n"])["body"].split("\n\n--\n")[0] for m in mails]
    _compare(ctx, "이메일", _received(ctx, messages), "메일은 `bdlab inbox`로 볼 수 있습니다.")
