"""Reference solution of lab 3.2.6 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import json
from typing import Any

from labs.harness import LabContext
from labs.l326_alerting.lab import (
    EMAIL,
    ERRORS_METRIC,
    NAMESPACE,
    consumer_alarm,
    queue_name,
    run,
    stream,
    throttle_alarm,
    topic_name,
)


def topic(
    ctx: LabContext,
    http_endpoint: str | None,
    protocols: tuple[str, ...] = ("sqs", "http", "email"),
) -> str:
    sns, sqs = ctx.client("sns"), ctx.client("sqs")
    arn = str(sns.create_topic(Name=topic_name(ctx))["TopicArn"])
    queue = sqs.create_queue(QueueName=queue_name(ctx))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # SNS may send to the queue only for this topic (AWS: without it nothing arrives)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": qarn,
                "Condition": {"ArnEquals": {"aws:SourceArn": arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
    if "sqs" in protocols:
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    if "http" in protocols and http_endpoint:
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=http_endpoint)
    if "email" in protocols:
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=EMAIL)
    return arn


def alarms(
    ctx: LabContext,
    topic_arn: str,
    treat_missing: str = "notBreaching",
    ok_actions: bool = True,
) -> None:
    cw = ctx.client("cloudwatch")
    common: dict[str, Any] = {
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        # no datapoint = nothing was throttled / nothing failed: that is fine, not a breach
        "TreatMissingData": treat_missing,
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn] if ok_actions else [],
    }
    cw.put_metric_alarm(
        AlarmName=throttle_alarm(ctx),
        AlarmDescription="Writes to the orders stream are throttled (shard over its limit)",
        Namespace="AWS/Kinesis",
        MetricName="WriteProvisionedThroughputExceeded",
        Dimensions=[{"Name": "StreamName", "Value": stream(ctx)}],
        **common,
    )
    cw.put_metric_alarm(
        AlarmName=consumer_alarm(ctx),
        AlarmDescription="The orders consumer fails on a record and stops making progress",
        Namespace=NAMESPACE,
        MetricName=ERRORS_METRIC,
        Dimensions=[{"Name": "StreamName", "Value": stream(ctx)}],
        **common,
    )


def main(ctx: LabContext) -> dict[str, Any]:
    return run(ctx, topic, alarms)
