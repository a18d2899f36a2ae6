"""Reference solution of lab 3.2.5 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import json
from typing import Any

from labs.harness import LabContext
from labs.l325_pipeline_monitoring.lab import (
    BUFFER_S,
    ERROR_METRIC,
    LATENCY_METRIC,
    METRIC_FILTER,
    NAMESPACE,
    PIPELINE,
    RECORDS_METRIC,
    STAGES,
    Batch,
    Resources,
    alarm_name,
    app_log,
    batches,
    dashboard_name,
    delivery_stream,
    log_group,
    prepare,
    run_pipeline,
    run_started,
    ship_logs,
    stream_name,
)

# JSON pattern: only lines whose level IS "ERROR" (a term pattern `ERROR` also matches the
# WARN line that mentions ERROR; JSON comparisons are case-sensitive)
PATTERN = '{ $.level = "ERROR" }'
ITERATOR_AGE_MS = 60_000  # a consumer a minute behind is late for a "real-time" pipeline
FRESHNESS_S = BUFFER_S + 240  # the buffer interval plus a margin for one slow delivery


def publish_batch_metrics(ctx: LabContext, batch: Batch) -> None:
    dims = [{"Name": "Pipeline", "Value": PIPELINE}, {"Name": "Stage", "Value": batch.stage}]
    ctx.client("cloudwatch").put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": RECORDS_METRIC,
                "Dimensions": dims,
                "Timestamp": batch.at,
                "Value": batch.records,
                "Unit": "Count",
                "StorageResolution": 60,  # summed per minute on the dashboard: 1 min is enough
            },
            {
                "MetricName": LATENCY_METRIC,
                "Dimensions": dims,
                "Timestamp": batch.at,
                "Value": batch.latency_ms,
                "Unit": "Milliseconds",
                "StorageResolution": 1,  # high resolution: a 10 s alarm can see a slow batch
            },
        ],
    )


def metric_filter(ctx: LabContext, pattern: str = PATTERN) -> None:
    ctx.client("logs").put_metric_filter(
        logGroupName=log_group(ctx),
        filterName=METRIC_FILTER,
        filterPattern=pattern,
        metricTransformations=[
            {
                "metricNamespace": NAMESPACE,
                "metricName": ERROR_METRIC,
                "metricValue": "1",
                "defaultValue": 0,  # a minute of logs without errors is 0, not missing
                "unit": "Count",
            }
        ],
    )


def alarms(
    ctx: LabContext, res: Resources, kinesis_dims: list[dict[str, str]] | None = None
) -> None:
    cw = ctx.client("cloudwatch")
    common: dict[str, Any] = {
        "AlarmActions": [res.topic_arn],
        "OKActions": [res.topic_arn],
        "ActionsEnabled": True,
    }
    cw.put_metric_alarm(
        AlarmName=alarm_name(ctx, "kinesis-iterator-age"),
        AlarmDescription="The consumer of the click stream is more than a minute behind.",
        Namespace="AWS/Kinesis",
        MetricName="GetRecords.IteratorAgeMilliseconds",
        Dimensions=kinesis_dims or [{"Name": "StreamName", "Value": stream_name(ctx)}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=5,
        DatapointsToAlarm=3,
        Threshold=ITERATOR_AGE_MS,
        ComparisonOperator="GreaterThanThreshold",
        # no GetRecords call, no datapoint: a consumer that stopped is the worst lag of all
        TreatMissingData="breaching",
        **common,
    )
    cw.put_metric_alarm(
        AlarmName=alarm_name(ctx, "firehose-data-freshness"),
        AlarmDescription="The oldest record waiting in Firehose is older than buffer + margin.",
        Namespace="AWS/Firehose",
        MetricName="DeliveryToS3.DataFreshness",
        Dimensions=[{"Name": "DeliveryStreamName", "Value": delivery_stream(ctx)}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=FRESHNESS_S,
        ComparisonOperator="GreaterThanThreshold",
        # no datapoint: nothing is waiting to be delivered, which is fine
        TreatMissingData="notBreaching",
        **common,
    )
    cw.put_metric_alarm(
        AlarmName=alarm_name(ctx, "emr-step-failures"),
        AlarmDescription="A step of the pipeline's EMR cluster failed in the last 5 minutes.",
        Metrics=[
            {
                "Id": "failed",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ElasticMapReduce",
                        "MetricName": "AppsFailed",
                        "Dimensions": [{"Name": "JobFlowId", "Value": res.cluster_id}],
                    },
                    "Period": 300,  # EMR sends its metrics every 5 minutes
                    "Stat": "Maximum",
                },
                "ReturnData": False,
            },
            {
                # AppsFailed counts for the cluster's whole life: the new failures of a
                # period are its difference from the period before
                "Id": "new_failures",
                "Expression": "DIFF(failed)",
                "Label": "new failed steps",
                "ReturnData": True,
            },
        ],
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        # no datapoint: the cluster ended (or has not reported yet), not a failure
        TreatMissingData="notBreaching",
        **common,
    )


WIDGETS = ("throughput", "latency", "errors", "kinesis", "firehose", "emr", "alarms")


def dashboard_body(ctx: LabContext, res: Resources, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    cw = ctx.client("cloudwatch")
    arns = {
        a["AlarmName"]: a["AlarmArn"]
        for a in cw.describe_alarms(
            AlarmNames=[
                alarm_name(ctx, k)
                for k in ("kinesis-iterator-age", "firehose-data-freshness", "emr-step-failures")
            ]
        )["MetricAlarms"]
    }
    region = ctx.profile.region or "us-east-1"

    def metric(title: str, rows: list[list[Any]], **props: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 8,
            "height": 6,
            "properties": {
                "title": title,
                "metrics": rows,
                "region": region,
                "view": "timeSeries",
                "period": 60,
                **props,
            },
        }

    widgets = {
        "throughput": metric(
            "단계별 처리 건수 (분당 합계)",
            [[NAMESPACE, RECORDS_METRIC, "Pipeline", PIPELINE, "Stage", s] for s in STAGES],
            stat="Sum",
        ),
        "latency": metric(
            "단계별 배치 지연 (p90, ms)",
            [[NAMESPACE, LATENCY_METRIC, "Pipeline", PIPELINE, "Stage", s] for s in STAGES],
            stat="p90",
        ),
        "errors": metric("앱 로그 ERROR 수", [[NAMESPACE, ERROR_METRIC]], stat="Sum"),
        "kinesis": metric(
            "Kinesis 컨슈머 지연 (IteratorAge, ms)",
            [
                [
                    "AWS/Kinesis",
                    "GetRecords.IteratorAgeMilliseconds",
                    "StreamName",
                    stream_name(ctx),
                ]
            ],
            stat="Maximum",
            annotations={"alarms": [arns[alarm_name(ctx, "kinesis-iterator-age")]]},
        ),
        "firehose": metric(
            "Firehose 데이터 신선도 (s)",
            [
                [
                    "AWS/Firehose",
                    "DeliveryToS3.DataFreshness",
                    "DeliveryStreamName",
                    delivery_stream(ctx),
                ]
            ],
            stat="Maximum",
            annotations={"alarms": [arns[alarm_name(ctx, "firehose-data-freshness")]]},
        ),
        "emr": metric(
            "EMR 실패한 스텝 (누적)",
            [["AWS/ElasticMapReduce", "AppsFailed", "JobFlowId", res.cluster_id]],
            stat="Maximum",
            period=300,
        ),
        "alarms": {
            "type": "alarm",
            "width": 24,
            "height": 3,
            "properties": {"title": "파이프라인 경보", "alarms": sorted(arns.values())},
        },
    }
    laid = []
    for i, name in enumerate(n for n in WIDGETS if n not in skip):
        w = dict(widgets[name])
        if w["type"] == "alarm":
            w.update(x=0, y=12)
        else:
            w.update(x=(i % 3) * 8, y=(i // 3) * 6)
        laid.append(w)
    return {"widgets": laid}


def dashboard(ctx: LabContext, res: Resources, skip: tuple[str, ...] = ()) -> None:
    ctx.client("cloudwatch").put_dashboard(
        DashboardName=dashboard_name(ctx),
        DashboardBody=json.dumps(dashboard_body(ctx, res, skip), ensure_ascii=False),
    )


def main(ctx: LabContext) -> dict[str, Any]:
    res = prepare(ctx)
    at = run_started(ctx)
    out = run_pipeline(ctx, publish_batch_metrics, at)
    metric_filter(ctx)
    out["log_lines"] = ship_logs(ctx, app_log(batches(at)), at)
    alarms(ctx, res)
    dashboard(ctx, res)
    return {**out, "cluster": res.cluster_id, "topic": res.topic_arn}
