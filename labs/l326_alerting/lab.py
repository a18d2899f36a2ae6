"""Lab 3.2.6 — 장애 감지 및 자동 알림 (the learner's file).

Fill in the two TODO steps below (see README.md), then:

    bdlab run 3.2.6      # builds the alerting, injects two faults, recovers from both
    bdlab check 3.2.6    # reads the alarms' history, the queue, the HTTP receiver and the mailbox

Given here: the stream, a consumer that a poison record stops, the HTTP receiver on
127.0.0.1, the faults and their recovery, and the waits for the alarm states. On the emulator
the waits use ``/_bdlab/cloudwatch/evaluate`` (capability ``alarm_evaluate``): the lab's alarms
are evaluated as they would be a few minutes from now, without moving the shared clock. Where
that is absent (real AWS) the lab waits for CloudWatch's own evaluations (minutes).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from labs.harness import LabContext, LabInfo

LAB = LabInfo(
    id="3.2.6",
    slug="l326_alerting",
    title="장애 감지 및 자동 알림",
    part=3,
    summary="샤드 스로틀링과 독 레코드로 멈춘 소비자를 일부러 일으키고, 알맞은 경보가 울려 SQS·HTTP·"
    "이메일로 전이마다 한 번씩 알림이 오고, 복구되면 OK로 돌아오는지 봅니다.",
)

NAMESPACE = "Bdlab/Orders"  # the consumer's own metrics (custom namespace)
ERRORS_METRIC = "ProcessingErrors"
EMAIL = "oncall-l326@example.com"
BURST_RECORDS = 500  # one PutRecords call: 500 x 10,000 bytes = 5 MB into a 1 MiB/s shard
BURST_BYTES = 10_000
POISON = b'{"order_id": "o-poison", "price": "12,50"}'  # a price the consumer cannot parse
# How far ahead the emulator evaluates: the minute with the fault closes within 120 s; the
# fault's minute leaves the N + 2 = 3 minute evaluation range within 360 s.
ARM_AHEAD_S, FAULT_AHEAD_S, RECOVER_AHEAD_S = 60, 120, 360


def stream(ctx: LabContext) -> str:
    return ctx.name("orders")


def topic_name(ctx: LabContext) -> str:
    return ctx.name("alerts")


def queue_name(ctx: LabContext) -> str:
    return ctx.name("alerts")


def throttle_alarm(ctx: LabContext) -> str:
    return ctx.name("shard-throttled")


def consumer_alarm(ctx: LabContext) -> str:
    return ctx.name("consumer-failing")


def receiver_log(ctx: LabContext) -> Path:
    """Where the lab's HTTP receiver writes every POST it gets (one JSON a line)."""
    return ctx.settings.state_path / "labs" / "l326-http-receiver.jsonl"


# --------------------------------------------------------------------------- given
class Receiver:
    """A tiny HTTP endpoint on 127.0.0.1 for SNS: it logs every POST and confirms a
    subscription by visiting its SubscribeURL, as AWS's guide says an endpoint must."""

    def __init__(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        self.log = log
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("x-amz-sns-message-type", "")
                outer.record(kind, self.headers.get("x-amz-sns-message-id", ""), body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if kind == "SubscriptionConfirmation":
                    url = json.loads(body)["SubscribeURL"]
                    threading.Thread(target=outer.confirm, args=(url,), daemon=True).start()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, kind: str, message_id: str, body: bytes) -> None:
        line = json.dumps({"type": kind, "messageId": message_id, "body": body.decode()})
        with self._lock, self.log.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    @staticmethod
    def confirm(url: str) -> None:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (SNS's own URL)
            r.read()

    def notifications(self) -> int:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return sum(json.loads(x)["type"] == "Notification" for x in lines if x.strip())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Consumer(threading.Thread):
    """The order consumer (one shard, GetRecords as a KCL worker would). A record it cannot
    process stops it: it reads that record again and again, counting ProcessingErrors in
    CloudWatch each time, until :meth:`fix` is called (the fixed version moves it aside)."""

    def __init__(self, ctx: LabContext, stream_name: str) -> None:
        super().__init__(daemon=True)
        self.kin, self.cw = ctx.client("kinesis"), ctx.client("cloudwatch")
        self.stream = stream_name
        self.processed = self.errors = 0
        self.dead_letters: list[bytes] = []
        self.last_seq: str | None = None
        self._halt = threading.Event()
        self._fixed = threading.Event()

    def fix(self) -> None:
        self._fixed.set()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def _iterator(self, kind: str, seq: str | None = None) -> str:
        shard = self.kin.list_shards(StreamName=self.stream)["Shards"][0]["ShardId"]
        kw = {"StartingSequenceNumber": seq} if seq else {}
        return str(
            self.kin.get_shard_iterator(
                StreamName=self.stream, ShardId=shard, ShardIteratorType=kind, **kw
            )["ShardIterator"]
        )

    def run(self) -> None:
        it = self._iterator("LATEST")
        while not self._halt.wait(0.25):  # 4 calls a second: under the 5 a shard allows
            try:
                out = self.kin.get_records(ShardIterator=it, Limit=100)
            except ClientError as exc:  # throttled: again; expired: after what was read
                if exc.response["Error"]["Code"] == "ExpiredIteratorException":
                    seq = self.last_seq
                    it = (
                        self._iterator("AFTER_SEQUENCE_NUMBER", seq)
                        if seq
                        else self._iterator("LATEST")
                    )
                continue
            it = out["NextShardIterator"]
            for r in out["Records"]:
                if r["Data"] == POISON:
                    if not self._fixed.is_set():
                        self.errors += 1
                        self.cw.put_metric_data(
                            Namespace=NAMESPACE,
                            MetricData=[
                                {
                                    "MetricName": ERRORS_METRIC,
                                    "Dimensions": [{"Name": "StreamName", "Value": self.stream}],
                                    "Value": 1,
                                    "Unit": "Count",
                                }
                            ],
                        )
                        # not checkpointed: the next read starts at the same record again
                        it = self._iterator("AT_SEQUENCE_NUMBER", r["SequenceNumber"])
                        break
                    self.dead_letters.append(r["Data"])
                else:
                    self.processed += 1
                self.last_seq = r["SequenceNumber"]


def prepare(ctx: LabContext) -> None:
    """Given: a fresh one-shard stream (and nothing left of an earlier run)."""
    reset(ctx)
    kin = ctx.client("kinesis")
    kin.create_stream(StreamName=stream(ctx), ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream(ctx), WaiterConfig={"Delay": 1})


def wait_confirmed(ctx: LabContext, topic_arn: str, timeout_s: float = 20.0) -> list[str]:
    """Given: wait until no subscription of the topic is pending (email on real AWS stays
    pending until someone clicks the link: not waited for). Returns the protocols."""
    sns = ctx.client("sns")
    deadline = time.monotonic() + timeout_s
    while True:
        subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        pending = [
            s["Protocol"]
            for s in subs
            if s["SubscriptionArn"] == "PendingConfirmation" and s["Protocol"] != "email"
        ]
        if not pending or time.monotonic() > deadline:
            return sorted(s["Protocol"] for s in subs)
        time.sleep(0.2)


def wait_state(ctx: LabContext, alarm: str, state: str, ahead_s: float) -> str:
    """Given: wait until ``alarm`` is in ``state``; returns the state it is in at the end.
    The emulator evaluates it ``ahead_s`` seconds ahead at once (the shared clock does not
    move); real CloudWatch evaluates every minute, so there we poll for minutes."""
    cw = ctx.client("cloudwatch")
    if ctx.can("alarm_evaluate"):
        ctx.admin("alarm_evaluate").evaluate_alarms([alarm], ahead_s)
        timeout_s, every_s = 2.0, 0.1
    else:
        timeout_s, every_s = 120.0 + 2 * ahead_s, 2.0
    deadline = time.monotonic() + timeout_s
    while True:
        now = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
        if now == state or time.monotonic() > deadline:
            print(f"경보 {alarm}: {now}" + ("" if now == state else f" ({state}을 기다렸지만)"))
            return str(now)
        time.sleep(every_s)


def throttle_burst(ctx: LabContext) -> int:
    """Fault 1 (given): 5 MB in one PutRecords call into a shard that takes 1 MiB/s. Returns
    how many records the shard refused (ProvisionedThroughputExceededException)."""
    records = [
        {"Data": bytes([65 + i % 26]) * BURST_BYTES, "PartitionKey": f"burst-{i}"}
        for i in range(BURST_RECORDS)
    ]
    out = ctx.client("kinesis").put_records(StreamName=stream(ctx), Records=records)
    return int(out["FailedRecordCount"])


def poison(ctx: LabContext, consumer: Consumer, timeout_s: float = 20.0) -> int:
    """Fault 2 (given): one record the consumer cannot process; waits until it has failed
    on it a few times. Returns the errors counted so far."""
    ctx.client("kinesis").put_record(StreamName=stream(ctx), Data=POISON, PartitionKey="poison")
    deadline = time.monotonic() + timeout_s
    while consumer.errors < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    return consumer.errors


def transitions(ctx: LabContext, alarm: str) -> list[tuple[str, str]]:
    """(old state, new state) of every transition of ``alarm`` since it was created."""
    cw = ctx.client("cloudwatch")
    items: list[dict[str, Any]] = []
    kw: dict[str, Any] = {"AlarmName": alarm, "ScanBy": "TimestampAscending"}
    while True:
        out = cw.describe_alarm_history(**kw)
        items += out["AlarmHistoryItems"]
        if not out.get("NextToken"):
            break
        kw["NextToken"] = out["NextToken"]
    created = [
        i
        for i, it in enumerate(items)
        if it["HistoryItemType"] == "ConfigurationUpdate"
        and json.loads(it["HistoryData"]).get("type") == "Create"
    ]
    out_: list[tuple[str, str]] = []
    for it in items[created[-1] if created else 0 :]:
        if it["HistoryItemType"] == "StateUpdate":
            d = json.loads(it["HistoryData"])
            out_.append((d["oldState"]["stateValue"], d["newState"]["stateValue"]))
    return out_


def drill(ctx: LabContext, topic_arn: str, consumer: Consumer) -> dict[str, Any]:
    """Given (3단계, 4단계): arm both alarms, then each fault, its ALARM, its recovery, OK."""
    report: dict[str, Any] = {}
    with ctx.step("3단계: 경보 무장 (정상 상태에서 OK)"):
        report["armed"] = [
            wait_state(ctx, a, "OK", ARM_AHEAD_S)
            for a in (throttle_alarm(ctx), consumer_alarm(ctx))
        ]
    with ctx.step("3단계: 장애 1 — 샤드 스로틀링"):
        report["throttled"] = throttle_burst(ctx)
        report["throttle_alarm"] = wait_state(ctx, throttle_alarm(ctx), "ALARM", FAULT_AHEAD_S)
    with ctx.step("4단계: 복구 1 — 쓰기를 샤드 한도 아래로"):
        report["throttle_recovered"] = wait_state(ctx, throttle_alarm(ctx), "OK", RECOVER_AHEAD_S)
    with ctx.step("3단계: 장애 2 — 독 레코드로 멈춘 소비자"):
        report["errors"] = poison(ctx, consumer)
        report["consumer_alarm"] = wait_state(ctx, consumer_alarm(ctx), "ALARM", FAULT_AHEAD_S)
    with ctx.step("4단계: 복구 2 — 고친 소비자가 독 레코드를 옆으로"):
        consumer.fix()
        deadline = time.monotonic() + 10
        while not consumer.dead_letters and time.monotonic() < deadline:
            time.sleep(0.1)
        report["consumer_recovered"] = wait_state(ctx, consumer_alarm(ctx), "OK", RECOVER_AHEAD_S)
    return report


def wait_http(ctx: LabContext, receiver: Receiver, timeout_s: float = 15.0) -> int:
    """Given: wait until the emulator has no SNS delivery left to try (so every notification
    of the drill has reached the HTTP receiver) before the receiver stops."""
    admin = ctx.admin("sns_local")
    deadline = time.monotonic() + timeout_s
    while admin.sns_deliveries()["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return receiver.notifications()


def run(
    ctx: LabContext,
    topic: Callable[[LabContext, str | None], str],
    alarms: Callable[[LabContext, str], None],
) -> dict[str, Any]:
    """The whole lab around the learner's two steps (``topic``, ``alarms``)."""
    with ctx.step("준비: 스트림과 소비자"):
        prepare(ctx)
    receiver = Receiver(receiver_log(ctx)) if ctx.can("sns_local") else None
    consumer = Consumer(ctx, stream(ctx))
    consumer.start()
    try:
        with ctx.step("1단계: SNS 주제와 구독 (SQS, HTTP, 이메일)"):
            topic_arn = topic(ctx, receiver.url if receiver else None)
            report: dict[str, Any] = {"subscriptions": wait_confirmed(ctx, topic_arn)}
        with ctx.step("2단계: 경보 두 개"):
            alarms(ctx, topic_arn)
        report.update(drill(ctx, topic_arn, consumer))
        if receiver is not None:
            report["http_notifications"] = wait_http(ctx, receiver)
        report["processed"] = consumer.processed
        return report
    finally:
        consumer.stop()
        if receiver is not None:
            receiver.close()


# --------------------------------------------------------------------------- TODO
def step1_topic(ctx: LabContext, http_endpoint: str | None) -> str:
    """1단계: SNS 주제 topic_name(ctx)를 만들고 SQS 큐 queue_name(ctx), HTTP 엔드포인트
    (http_endpoint, None이면 건너뜀), 이메일 EMAIL을 구독시킵니다. 주제 ARN을 돌려줍니다."""
    # TODO(1단계): sns.create_topic -> sqs.create_queue(+ SNS가 보내도록 허락하는 Policy)
    #              -> sns.subscribe(Protocol="sqs" / "http" / "email", ...)
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 SNS 주제와 구독을 만드세요.")


def step2_alarms(ctx: LabContext, topic_arn: str) -> None:
    """2단계: 경보 두 개: throttle_alarm(ctx)(스트림의 WriteProvisionedThroughputExceeded)와
    consumer_alarm(ctx)(소비자의 ProcessingErrors). 둘 다 ALARM과 OK에 topic_arn으로 알림."""
    # TODO(2단계): cloudwatch.put_metric_alarm(AlarmName=..., Namespace=..., MetricName=...,
    #              Dimensions=[...], Statistic="Sum", Period=60, EvaluationPeriods=1,
    #              Threshold=0, ComparisonOperator="GreaterThanThreshold",
    #              TreatMissingData=..., AlarmActions=[topic_arn], OKActions=[topic_arn])
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 경보 두 개를 만드세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    return run(ctx, step1_topic, step2_alarms)


def reset(ctx: LabContext) -> dict[str, Any]:
    """Delete the lab's alarms, topic (and its subscriptions), queue and stream."""
    done: dict[str, Any] = {}
    cw = ctx.client("cloudwatch")
    names = [throttle_alarm(ctx), consumer_alarm(ctx)]
    found = [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=names)["MetricAlarms"]]
    if found:
        cw.delete_alarms(AlarmNames=found)
    done["alarms"] = found
    sns = ctx.client("sns")
    arn = f"arn:aws:sns:{ctx.profile.region or 'us-east-1'}:{ctx.account_id()}:{topic_name(ctx)}"
    try:
        for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
            if s["SubscriptionArn"].startswith("arn:"):
                sns.unsubscribe(SubscriptionArn=s["SubscriptionArn"])
        sns.delete_topic(TopicArn=arn)
        done["topic"] = True
    except ClientError:
        done["topic"] = False
    sqs = ctx.client("sqs")
    try:
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queue_name(ctx))["QueueUrl"])
        done["queue"] = True
    except ClientError:
        done["queue"] = False
    kin = ctx.client("kinesis")
    try:
        kin.delete_stream(StreamName=stream(ctx), EnforceConsumerDeletion=True)
        kin.get_waiter("stream_not_exists").wait(StreamName=stream(ctx), WaiterConfig={"Delay": 1})
        done["stream"] = True
    except kin.exceptions.ResourceNotFoundException:
        done["stream"] = False
    return done
