"""Checks of lab 3.2.5, in order. Each docstring's first line is what the learner sees.

They read real state only, and nothing that needs time to pass: the custom metrics
(GetMetricStatistics of this run's minute; the run is the Kinesis stream's life, which
``prepare`` recreates), the metric filter (DescribeMetricFilters, TestMetricFilter over the
given log lines, the metric it published), the alarms' configuration (DescribeAlarms) and the
dashboard's body (GetDashboard). Alarm states are not required: they need minutes of clock.

CloudWatch cannot delete metrics, so a run in the same minute as an earlier one adds to its
datapoint: the checks compare Minimum and Maximum (unchanged by a repeat of the same data) and
ask SampleCount and Sum for at least one run's worth.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from labs.harness import CheckFailed, LabContext, check
from labs.l325_pipeline_monitoring.lab import (
    ALARMS,
    BUFFER_S,
    ERROR_METRIC,
    LATENCY_METRIC,
    NAMESPACE,
    PIPELINE,
    RECORDS_METRIC,
    STAGES,
    alarm_name,
    app_log,
    batches,
    dashboard_name,
    delivery_stream,
    expected_errors,
    expected_stats,
    lab_clusters,
    log_group,
    stream_name,
    topic_name,
)

RUN = "`bdlab run 3.2.5`로 실습을 끝까지 실행하세요"
UNITS = {RECORDS_METRIC: "Count", LATENCY_METRIC: "Milliseconds"}
GREATER = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")


def _run_window(ctx: LabContext) -> tuple[datetime, datetime]:
    """This run's minute: the one its batches are stamped in (``run_started``)."""
    kinesis = ctx.client("kinesis")
    try:
        created = kinesis.describe_stream_summary(StreamName=stream_name(ctx))[
            "StreamDescriptionSummary"
        ]["StreamCreationTimestamp"]
    except kinesis.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"파이프라인의 Kinesis 스트림 {stream_name(ctx)}",
            "없음 (실습을 아직 실행하지 않았거나 reset 뒤)",
            f"{RUN} (준비 단계가 스트림, 전송 스트림, 클러스터를 만들고 1단계가 지표를 보냅니다).",
        ) from None
    minute = created.replace(second=0, microsecond=0)
    return minute, minute + timedelta(minutes=1)


def _latest(
    ctx: LabContext, metric: str, dims: list[dict[str, str]], stats: list[str], **kw: Any
) -> dict[str, Any] | None:
    """The latest one-minute datapoint of this run (None when there is none)."""
    start, end = _run_window(ctx)
    points = ctx.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
        Dimensions=dims,
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=stats,
        **kw,
    )["Datapoints"]
    return max(points, key=lambda p: p["Timestamp"]) if points else None


def _dims_seen(ctx: LabContext, metric: str) -> str:
    """The dimension sets this namespace has for ``metric`` (what the learner did send)."""
    seen = set()
    pages = ctx.client("cloudwatch").get_paginator("list_metrics")
    for page in pages.paginate(Namespace=NAMESPACE, MetricName=metric):
        for m in page["Metrics"]:
            seen.add(", ".join(f"{d['Name']}={d['Value']}" for d in m["Dimensions"]) or "차원 없음")
    return "; ".join(sorted(seen)[:4]) or "이 이름의 지표 없음"


def _topic_arn(ctx: LabContext) -> str | None:
    sns = ctx.client("sns")
    for page in sns.get_paginator("list_topics").paginate():
        for t in page["Topics"]:
            if t["TopicArn"].rsplit(":", 1)[-1] == topic_name(ctx):
                return str(t["TopicArn"])
    return None


def _alarm(ctx: LabContext, kind: str) -> dict[str, Any]:
    name = alarm_name(ctx, kind)
    found = ctx.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        raise CheckFailed(
            f"경보 {name}",
            "없음",
            f"3단계에서 put_metric_alarm(AlarmName=alarm_name(ctx, {kind!r}), ...)을 부르세요. "
            f"이름이 다르면 확인이 찾지 못합니다. ({RUN})",
        )
    return dict(found[0])


def _dims(dims: list[dict[str, str]]) -> str:
    return ", ".join(f"{d['Name']}={d['Value']}" for d in dims) or "차원 없음"


def _notifies(ctx: LabContext, alarm: dict[str, Any]) -> None:
    topic = _topic_arn(ctx)
    if not alarm.get("ActionsEnabled", True) or topic not in alarm.get("AlarmActions", []):
        raise CheckFailed(
            f"AlarmActions에 SNS 주제 {topic or topic_name(ctx)}, ActionsEnabled true",
            f"AlarmActions {alarm.get('AlarmActions', [])}, "
            f"ActionsEnabled {alarm.get('ActionsEnabled')}",
            "경보는 알릴 곳이 있어야 쓸모가 있습니다: AlarmActions=[res.topic_arn]을 넣으세요 "
            "(OKActions도 같은 주제로 두면 복구도 알림이 옵니다).",
        )


def _missing_data(alarm: dict[str, Any], want: str, why: str) -> None:
    got = alarm.get("TreatMissingData", "missing")
    if got != want:
        raise CheckFailed(f"TreatMissingData {want}", got, why)


# --------------------------------------------------------------------------- checks
@check(1)
def custom_metrics_per_stage(ctx: LabContext) -> None:
    """파이프라인이 단계별 처리 건수와 배치 지연을 사용자 지정 지표로 보냈다"""
    want = expected_stats()
    for metric, unit in UNITS.items():
        for stage in STAGES:
            dims = [{"Name": "Pipeline", "Value": PIPELINE}, {"Name": "Stage", "Value": stage}]
            stats = ["Minimum", "Maximum", "SampleCount"]
            point = _latest(ctx, metric, dims, stats, Unit=unit)
            if point is None:
                other = _latest(ctx, metric, dims, stats)
                if other is not None:
                    raise CheckFailed(
                        f"{metric} (Unit {unit})",
                        f"단위 {other.get('Unit', '?')}",
                        "지표의 Unit을 값의 뜻에 맞게 두세요: 처리 건수는 Count, 지연은 "
                        "Milliseconds (단위가 다르면 CloudWatch에서 다른 지표처럼 조회됩니다).",
                    )
                raise CheckFailed(
                    f"네임스페이스 {NAMESPACE}, 지표 {metric}, 차원 {_dims(dims)}의 이번 실행 값",
                    f"없음 (보낸 차원: {_dims_seen(ctx, metric)})",
                    "1단계에서 배치마다 put_metric_data로 두 지표를 보내세요. 차원은 "
                    "Pipeline과 Stage 두 개입니다: 차원 조합이 다르면 다른 지표입니다. "
                    "Timestamp는 batch.at으로 두세요.",
                )
            exp = want[(metric, stage)]
            if (
                abs(point["Maximum"] - exp["Maximum"]) > 1e-6
                or abs(point["Minimum"] - exp["Minimum"]) > 1e-6
                or point["SampleCount"] < exp["SampleCount"]
            ):
                raise CheckFailed(
                    f"{metric} {stage}: 최소 {exp['Minimum']:g}, 최대 {exp['Maximum']:g}, "
                    f"배치 {exp['SampleCount']:g}개 이상",
                    f"최소 {point['Minimum']:g}, 최대 {point['Maximum']:g}, "
                    f"배치 {point['SampleCount']:g}개",
                    "배치 하나에 값 하나를 그대로 보내세요 (batch.records, batch.latency_ms; "
                    "합치거나 초로 바꾸지 말고). 같은 1분 안에 다른 값으로 여러 번 실행했다면 "
                    "값이 섞입니다: 1분 뒤 `bdlab run 3.2.5`를 다시 실행하세요.",
                )


@check(2)
def error_metric_filter(ctx: LabContext) -> None:
    """앱 로그의 지표 필터가 level이 ERROR인 줄만 세어 ErrorCount를 만든다"""
    logs = ctx.client("logs")
    try:
        filters = logs.describe_metric_filters(logGroupName=log_group(ctx))["metricFilters"]
    except logs.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"로그 그룹 {log_group(ctx)}", "없음", f"{RUN} (준비 단계가 로그 그룹을 만듭니다)."
        ) from None
    ours = [
        (f, t)
        for f in filters
        for t in f.get("metricTransformations", [])
        if (t.get("metricNamespace"), t.get("metricName")) == (NAMESPACE, ERROR_METRIC)
    ]
    if not ours:
        made = [
            f"{t.get('metricNamespace')}/{t.get('metricName')}"
            for f in filters
            for t in f.get("metricTransformations", [])
        ]
        raise CheckFailed(
            f"{log_group(ctx)}에 {NAMESPACE}/{ERROR_METRIC}를 만드는 지표 필터",
            f"지표 필터: {', '.join(made) or '없음'}",
            "2단계에서 put_metric_filter의 metricTransformations에 "
            f"metricNamespace={NAMESPACE!r}, metricName={ERROR_METRIC!r}를 두세요.",
        )
    f, t = ours[0]
    if str(t.get("metricValue")) != "1" or t.get("defaultValue") != 0:
        raise CheckFailed(
            "metricValue '1', defaultValue 0",
            f"metricValue {t.get('metricValue')!r}, defaultValue {t.get('defaultValue')}",
            "ERROR 줄 하나에 1을 더하고(metricValue '1'), 오류가 없던 분에는 0을 남기세요 "
            "(defaultValue 0): 값이 아예 없으면 그래프가 끊기고 경보는 '데이터 없음'으로 봅니다.",
        )
    lines = app_log(batches())
    matched = logs.test_metric_filter(filterPattern=f["filterPattern"], logEventMessages=lines)[
        "matches"
    ]
    levels = [json.loads(m["eventMessage"]).get("level") for m in matched]
    if len(matched) != expected_errors() or set(levels) != {"ERROR"}:
        raise CheckFailed(
            f"주어진 로그 {len(lines)}줄 중 level이 ERROR인 {expected_errors()}줄",
            f"패턴 {f['filterPattern']!r}이 {len(matched)}줄 (level: "
            f"{', '.join(str(x) for x in levels) or '없음'})",
            "로그가 JSON이면 JSON 패턴으로 필드를 비교하세요: '{ $.level = \"ERROR\" }'. "
            "단어 패턴 ERROR는 메시지에 ERROR라는 글자가 있는 WARN 줄도 세고, 값 비교는 "
            "대소문자를 가립니다('error'는 맞지 않습니다).",
        )
    point = _latest(ctx, ERROR_METRIC, [], ["Sum"])
    if point is None or point["Sum"] < expected_errors():
        raise CheckFailed(
            f"이번 실행의 {ERROR_METRIC} 합계 {expected_errors()} 이상",
            "없음" if point is None else f"{point['Sum']:g}",
            "지표 필터는 만든 뒤에 들어온 로그만 셉니다: 필터를 만든 다음 로그를 보내야 "
            f"합니다 (main의 순서 그대로). {RUN}.",
        )


@check(3)
def kinesis_iterator_age_alarm(ctx: LabContext) -> None:
    """Kinesis 스트림의 IteratorAge 경보가 올바른 지표·통계·주기·알림으로 설정되어 있다"""
    a = _alarm(ctx, "kinesis-iterator-age")
    want_dims = [{"Name": "StreamName", "Value": stream_name(ctx)}]
    got = (a.get("Namespace"), a.get("MetricName"))
    if got != ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"):
        raise CheckFailed(
            "AWS/Kinesis GetRecords.IteratorAgeMilliseconds",
            f"{got[0]} {got[1]}",
            "컨슈머가 얼마나 밀렸는지는 GetRecords.IteratorAgeMilliseconds가 보여 줍니다.",
        )
    if a.get("Dimensions", []) != want_dims:
        raise CheckFailed(
            f"차원 {_dims(want_dims)}",
            _dims(a.get("Dimensions", [])),
            "경보의 차원은 지표의 차원과 정확히 같아야 합니다. 다르면 경보는 존재하지 않는 "
            "지표를 보며 영원히 INSUFFICIENT_DATA(또는 TreatMissingData대로)에 머뭅니다. "
            "스트림 수준 지표의 차원은 StreamName 하나입니다: stream_name(ctx).",
        )
    if a.get("Statistic") != "Maximum" or a.get("Period") != 60:
        raise CheckFailed(
            "Statistic Maximum, Period 60",
            f"Statistic {a.get('Statistic') or a.get('ExtendedStatistic')}, "
            f"Period {a.get('Period')}",
            "가장 늦은 샤드가 문제입니다: 평균은 밀린 샤드 하나를 가립니다. Maximum을 1분 "
            "주기로 보세요.",
        )
    threshold = float(a.get("Threshold", 0))
    if a.get("ComparisonOperator") not in GREATER or not 0 < threshold <= 86_400_000:
        raise CheckFailed(
            "GreaterThanThreshold, 0 < Threshold <= 86,400,000 ms (보존 기간 24시간)",
            f"{a.get('ComparisonOperator')} {threshold:g}",
            "IteratorAge가 임계값보다 '클 때' 울려야 합니다. 보존 기간(24시간)에 가까워지면 "
            "레코드를 잃으니 그보다 훨씬 작게(예: 60,000 ms) 두세요.",
        )
    _missing_data(
        a,
        "breaching",
        "IteratorAge는 컨슈머가 GetRecords를 부를 때만 나옵니다. 데이터가 없다는 것은 "
        "컨슈머가 멈췄다는 뜻이니 breaching으로 두세요.",
    )
    _notifies(ctx, a)


@check(4)
def firehose_freshness_alarm(ctx: LabContext) -> None:
    """Firehose DataFreshness 경보의 임계값이 버퍼 간격보다 크고 15분 이하다"""
    a = _alarm(ctx, "firehose-data-freshness")
    want_dims = [{"Name": "DeliveryStreamName", "Value": delivery_stream(ctx)}]
    got = (a.get("Namespace"), a.get("MetricName"))
    if got != ("AWS/Firehose", "DeliveryToS3.DataFreshness"):
        raise CheckFailed(
            "AWS/Firehose DeliveryToS3.DataFreshness",
            f"{got[0]} {got[1]}",
            "S3로 가는 전송 스트림의 신선도(가장 오래 기다린 레코드의 나이, 초)는 "
            "DeliveryToS3.DataFreshness입니다.",
        )
    if a.get("Dimensions", []) != want_dims:
        raise CheckFailed(
            f"차원 {_dims(want_dims)}",
            _dims(a.get("Dimensions", [])),
            "Firehose 지표의 차원은 DeliveryStreamName 하나입니다: delivery_stream(ctx).",
        )
    if a.get("Statistic") != "Maximum" or a.get("Period") not in (60, 300):
        raise CheckFailed(
            "Statistic Maximum, Period 60 (또는 300)",
            f"Statistic {a.get('Statistic') or a.get('ExtendedStatistic')}, "
            f"Period {a.get('Period')}",
            "가장 오래 기다린 레코드가 기준입니다: Maximum으로 보세요.",
        )
    threshold = float(a.get("Threshold", 0))
    if a.get("ComparisonOperator") not in GREATER or not BUFFER_S < threshold <= 900:
        raise CheckFailed(
            f"GreaterThanThreshold, {BUFFER_S} < Threshold <= 900 (초)",
            f"{a.get('ComparisonOperator')} {threshold:g}",
            f"버퍼 간격({BUFFER_S}초) 동안 기다리는 것은 정상입니다: 임계값이 그보다 작으면 "
            "평소에도 울립니다. AWS는 버퍼 한도(최대 15분)를 넘으면 알리라고 권합니다: "
            "버퍼 간격 + 여유(예: 300초)로 두세요.",
        )
    _missing_data(
        a,
        "notBreaching",
        "DataFreshness는 전달할 레코드가 있을 때만 나옵니다. 데이터가 없다는 것은 기다리는 "
        "레코드가 없다는 뜻이니 notBreaching으로 두세요.",
    )
    _notifies(ctx, a)


def _emr_metric(a: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """(the AppsFailed metric, its period): of the alarm itself, or of the MetricStat in its
    metric-math ``Metrics`` (``DIFF(m) > 0``: new failures, see README)."""
    if a.get("MetricName"):
        metric = {k: a.get(k) for k in ("Namespace", "MetricName", "Dimensions")}
        return metric, int(a.get("Period", 0))
    for q in a.get("Metrics", []):
        stat = q.get("MetricStat")
        if stat and stat["Metric"].get("MetricName") == "AppsFailed":
            return dict(stat["Metric"]), int(stat.get("Period", 0))
    return {}, 0


@check(5)
def emr_step_failure_alarm(ctx: LabContext) -> None:
    """EMR 클러스터의 스텝 실패(AppsFailed) 경보가 5분 주기로 이 실습의 클러스터를 본다"""
    a = _alarm(ctx, "emr-step-failures")
    metric, period = _emr_metric(a)
    if (metric.get("Namespace"), metric.get("MetricName")) != (
        "AWS/ElasticMapReduce",
        "AppsFailed",
    ):
        raise CheckFailed(
            "AWS/ElasticMapReduce AppsFailed (직접, 또는 Metrics의 MetricStat으로)",
            f"{metric.get('Namespace')} {metric.get('MetricName')}",
            "EMR은 실패한 애플리케이션(스텝) 수를 AppsFailed로 보냅니다.",
        )
    clusters = lab_clusters(ctx)
    dims = metric.get("Dimensions") or []
    if len(dims) != 1 or dims[0]["Name"] != "JobFlowId" or dims[0]["Value"] not in clusters:
        raise CheckFailed(
            f"차원 JobFlowId={' 또는 '.join(clusters) or '(이 실습의 클러스터)'}",
            _dims(dims),
            "EMR 지표의 차원은 JobFlowId(클러스터 ID) 하나입니다: 준비 단계가 만든 "
            "res.cluster_id를 쓰세요. 지난 실행의 클러스터는 reset이 종료했습니다.",
        )
    if period != 300:
        raise CheckFailed(
            "Period 300",
            f"Period {period}",
            "EMR은 지표를 5분마다 보냅니다. 1분 주기로 보면 5분 중 4분은 데이터가 없습니다.",
        )
    if a.get("ComparisonOperator") not in GREATER or float(a.get("Threshold", -1)) < 0:
        raise CheckFailed(
            "GreaterThanThreshold 0 (새 실패가 하나라도 있으면)",
            f"{a.get('ComparisonOperator')} {a.get('Threshold')}",
            "실패가 하나만 있어도 알려야 합니다: Threshold 0, GreaterThanThreshold.",
        )
    _missing_data(
        a,
        "notBreaching",
        "클러스터가 끝나면 지표가 더 나오지 않습니다. 그것은 실패가 아니니 notBreaching으로 "
        "두세요.",
    )
    _notifies(ctx, a)


def _rows(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of a metric widget's rows, "." and "..." expanded."""
    out = []
    prev: list[Any] = []
    for row in widget.get("properties", {}).get("metrics", []) or []:
        if not isinstance(row, list):
            continue
        items = [x for x in row if not isinstance(x, dict)]
        if not items:
            continue  # an expression row ({"expression": ...})
        if items[0] == "...":
            items = prev[: max(len(prev) - (len(items) - 1), 0)] + items[1:]
        items = [prev[i] if x == "." and i < len(prev) else x for i, x in enumerate(items)]
        prev = items
        if len(items) >= 2:
            dims = {str(items[i]): str(items[i + 1]) for i in range(2, len(items) - 1, 2)}
            out.append((str(items[0]), str(items[1]), dims))
    return out


@check(6)
def dashboard_shows_pipeline(ctx: LabContext) -> None:
    """대시보드가 사용자 지정 지표, 오류 수, Kinesis·Firehose·EMR 지표와 경보 세 개를 보여 준다"""
    cw = ctx.client("cloudwatch")
    try:
        body = json.loads(cw.get_dashboard(DashboardName=dashboard_name(ctx))["DashboardBody"])
    except (cw.exceptions.DashboardNotFoundError, cw.exceptions.ResourceNotFound):
        raise CheckFailed(
            f"대시보드 {dashboard_name(ctx)}",
            "없음",
            "4단계에서 put_dashboard(DashboardName=dashboard_name(ctx), DashboardBody=...)를 "
            "부르세요.",
        ) from None
    widgets = [w for w in body.get("widgets", []) if isinstance(w, dict)]
    rows = [r for w in widgets if w.get("type") == "metric" for r in _rows(w)]
    shown_alarms = set()
    for w in widgets:
        props = w.get("properties", {})
        if w.get("type") == "alarm":
            shown_alarms.update(props.get("alarms", []))
        shown_alarms.update(props.get("annotations", {}).get("alarms", []) or [])
    clusters = set(lab_clusters(ctx))
    wanted = {
        "처리 건수": lambda ns, m, d: (
            (ns, m) == (NAMESPACE, RECORDS_METRIC) and d.get("Pipeline") == PIPELINE
        ),
        "배치 지연": lambda ns, m, d: (
            (ns, m) == (NAMESPACE, LATENCY_METRIC) and d.get("Pipeline") == PIPELINE
        ),
        "ERROR 수": lambda ns, m, d: (ns, m) == (NAMESPACE, ERROR_METRIC),
        "Kinesis IteratorAge": lambda ns, m, d: (
            (ns, m) == ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds")
            and d.get("StreamName") == stream_name(ctx)
        ),
        "Firehose DataFreshness": lambda ns, m, d: (
            (ns, m) == ("AWS/Firehose", "DeliveryToS3.DataFreshness")
            and d.get("DeliveryStreamName") == delivery_stream(ctx)
        ),
        "EMR AppsFailed": lambda ns, m, d: (
            (ns, m) == ("AWS/ElasticMapReduce", "AppsFailed") and d.get("JobFlowId") in clusters
        ),
    }
    missing = [label for label, ok in wanted.items() if not any(ok(*r) for r in rows)]
    alarms = cw.describe_alarms(AlarmNames=[alarm_name(ctx, k) for k in ALARMS])["MetricAlarms"]
    missing += [f"경보 {a['AlarmName']}" for a in alarms if a["AlarmArn"] not in shown_alarms]
    if missing:
        raise CheckFailed(
            "지표 위젯 6개 분량(처리 건수, 배치 지연, ERROR 수, IteratorAge, DataFreshness, "
            "AppsFailed)과 경보 3개",
            f"빠진 것: {', '.join(missing)}",
            "metric 위젯의 metrics 행은 [네임스페이스, 지표, 차원 이름, 값, ...]입니다 (차원은 "
            "경보와 똑같이). 경보는 type 'alarm' 위젯의 alarms나 metric 위젯의 "
            "annotations.alarms에 경보 ARN으로 넣으세요.",
        )
