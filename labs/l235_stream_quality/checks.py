"""Checks of lab 2.3.5, in order. Each docstring's first line is what the learner sees.

They read real state only: every record in the stream (the truth: which events are clean and
which bad), the Delta table in the lake (its transaction log and files in S3), the quarantine
objects, and the metrics in CloudWatch. CloudWatch keeps the metrics of earlier runs (it has
no delete), so the metric checks read from the lake table's first commit on: this run's
(the quality job stamps each batch's metrics after its writes, at one-second resolution).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from labs import deltalog
from labs.harness import CheckFailed, LabContext, check
from labs.l235_stream_quality.lab import (
    BAD_RULES,
    BAD_TOTAL,
    CLEAN_FIRST,
    CLEAN_SECOND,
    COUNTRIES,
    EVENT_TYPES,
    LAKE_PREFIX,
    lake_bucket,
    pipeline_name,
    quarantine,
    stream_name,
)
from sim import s3util
from sim.dataquality import NAMESPACE
from sim.kinesis.reader import read_all

RUN = "`bdlab run 2.3.5`"

# Which rule of step 1 lets each kind of bad record through when it is missing.
RULE_HINT = {
    "missing": 'required에 "user_id"를 넣으세요.',
    "type": 'types에 "price": "float"를 넣으세요 (값 "free"는 float가 될 수 없습니다).',
    "range": 'ranges에 "price": (0, 10_000)을 넣으세요.',
    "country": f'allowed에 "country": {COUNTRIES}를 넣으세요.',
    "eventtype": f'allowed에 "event_type": {EVENT_TYPES}를 넣으세요.',
    "stale": 'freshness_s=3600을 두고, types에 "event_time": "datetime"을 넣으세요 '
    "(시각으로 바뀌어야 나이를 잴 수 있습니다).",
    "duplicate": 'unique="event_id"를 두고, 2단계의 두 번의 실행에 같은 seen을 넘기세요 '
    "(첫 실행에서 본 id를 다음 실행이 기억해야 중복을 압니다).",
    "json": "품질 작업은 JSON이 아닌 레코드를 규칙 json으로 격리합니다: "
    "spark/jobs/quality_stream.py를 그대로 쓰세요.",
}


@dataclass
class Truth:
    """The stream's records, sorted out: clean events once each, and the bad ones by kind."""

    clean: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id -> event
    bad: dict[str, list[Any]] = field(default_factory=dict)  # kind -> event ids or raw text
    total: int = 0

    def bad_count(self) -> int:
        return sum(len(v) for v in self.bad.values())


def _truth(ctx: LabContext) -> Truth:
    cache = ctx.options.setdefault("_l235", {})
    if "truth" not in cache:
        t = Truth()
        for r in read_all(ctx.client("kinesis"), stream_name(ctx)):
            t.total += 1
            text = r.data.decode("utf-8", "replace")
            try:
                doc = json.loads(text)
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
            except ValueError:
                t.bad.setdefault("json", []).append(text)
                continue
            eid = str(doc.get("event_id"))
            if eid.startswith("bad-"):
                t.bad.setdefault(eid.split("-")[1], []).append(eid)
            elif eid in t.clean:
                t.bad.setdefault("duplicate", []).append(eid)
            else:
                t.clean[eid] = doc
        cache["truth"] = t
    return cache["truth"]  # type: ignore[no-any-return]


def _lake(ctx: LabContext) -> tuple[deltalog.DeltaState, list[dict[str, Any]]]:
    """The Delta table of good events and its rows; the same failure for every check that
    needs it (the harness then reports it once)."""
    cache = ctx.options.setdefault("_l235", {})
    if "lake" not in cache:
        s3 = ctx.client("s3")
        state = deltalog.read(s3, lake_bucket(ctx), LAKE_PREFIX)
        if state is None or not state.files:
            raise CheckFailed(
                f"Delta 테이블 s3://{lake_bucket(ctx)}/{LAKE_PREFIX}/ (_delta_log)",
                "없음" if state is None else "파일 없는 테이블",
                "2단계에서 quality_stream.start(..., lake_uri(ctx), ..., "
                'good_format="delta", available_now=True)로 품질 작업을 돌리고 '
                "q.awaitTermination()으로 끝날 때까지 기다리세요.",
            )
        rows = deltalog.read_rows(s3, lake_bucket(ctx), LAKE_PREFIX, state).to_pylist()
        cache["lake"] = (state, rows)
    return cache["lake"]  # type: ignore[no-any-return]


def _quarantined(ctx: LabContext) -> list[dict[str, Any]]:
    cache = ctx.options.setdefault("_l235", {})
    if "quarantine" not in cache:
        s3 = ctx.client("s3")
        bucket, prefix = quarantine(ctx)
        lines = []
        for obj in s3util.list_objects(s3, bucket, prefix):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            lines += [json.loads(x) for x in body.splitlines() if x.strip()]
        cache["quarantine"] = lines
    return list(cache["quarantine"])


def _bad_injected(ctx: LabContext) -> Truth:
    """The stream's truth once step 3 put the bad records in; the same failure otherwise."""
    t = _truth(ctx)
    if t.bad_count() < BAD_TOTAL:
        have = ", ".join(f"{k} {len(v)}" for k, v in sorted(t.bad.items())) or "없음"
        raise CheckFailed(
            f"나쁜 레코드 {BAD_TOTAL}건 (종류 {len(BAD_RULES)}가지)",
            f"{t.bad_count()}건 ({have})",
            "3단계에서 send(ctx, as_bytes(clean_events(CLEAN_SECOND, first=CLEAN_FIRST)) + "
            "bad_records(sent))로 깨끗한 90건과 나쁜 10건을 스트림에 넣으세요.",
        )
    return t


def _since(ctx: LabContext) -> datetime:
    """When this run's quality job first wrote to the lake (the Delta table's first commit,
    the Spark driver's clock; the job stamps its metrics with the same clock, after each
    batch's writes): the metrics of earlier runs are older."""
    state, _ = _lake(ctx)
    first = min(int(c.get("timestamp", 0)) for c in state.commits)
    return datetime.fromtimestamp(first / 1000, UTC)


RUN_WINDOW = timedelta(minutes=20)  # a run's micro-batches all come within this of its first
HIGH_RESOLUTION_FOR = timedelta(hours=2, minutes=50)  # CloudWatch keeps 1 s data for 3 hours


def _metric(ctx: LabContext, name: str, dims: list[dict[str, str]], stats: list[str]) -> list[Any]:
    """This run's datapoints of ``name``. CloudWatch rounds StartTime down to the period:
    1-second periods (the job sends 1-second metrics) keep a run that ended seconds before
    this one out; once the data is older than CloudWatch keeps 1-second data, minutes."""
    since = _since(ctx)
    period = 1 if datetime.now(UTC) - since < HIGH_RESOLUTION_FOR else 60
    return list(
        ctx.client("cloudwatch").get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "Pipeline", "Value": pipeline_name(ctx)}, *dims],
            StartTime=since,
            EndTime=since + RUN_WINDOW,
            Period=period,
            Statistics=stats,
        )["Datapoints"]
    )


def _pass_rates(ctx: LabContext) -> list[Any]:
    """This run's PassRate datapoints; the same failure for every check when there are none."""
    points = _metric(ctx, "PassRate", [], ["Minimum", "Maximum", "SampleCount"])
    if not points:
        raise CheckFailed(
            f"네임스페이스 {NAMESPACE}, 지표 PassRate, 차원 Pipeline={pipeline_name(ctx)}",
            "이번 실행의 데이터 포인트 없음",
            "품질 작업이 지표를 이 이름으로 보내야 합니다: quality_stream.start(..., "
            "pipeline=pipeline_name(ctx))로 두고 namespace는 바꾸지 마세요 (기본값 "
            f"{NAMESPACE}). 실제 AWS에서는 지표가 보이기까지 1~2분 걸릴 수 있으니 잠시 뒤 "
            "다시 확인하세요.",
        )
    return points


# --------------------------------------------------------------------------- checks
@check(1)
def stream_with_clean_events(ctx: LabContext) -> None:
    """주문·클릭 이벤트 스트림과 레이크 버킷이 있고, 스트림에 깨끗한 이벤트 200건이 있다"""
    ctx.options.pop("_l235", None)  # a new round of checks reads everything afresh
    kinesis = ctx.client("kinesis")
    try:
        summary = kinesis.describe_stream_summary(StreamName=stream_name(ctx))
    except kinesis.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"스트림 {stream_name(ctx)}",
            "없음",
            f"{RUN}를 실행하세요: prepare()가 스트림과 버킷을 만들고 깨끗한 이벤트 200건을 "
            "보냅니다.",
        ) from None
    status = summary["StreamDescriptionSummary"]["StreamStatus"]
    if status != "ACTIVE":
        raise CheckFailed("StreamStatus ACTIVE", status, "스트림이 ACTIVE가 될 때까지 기다리세요.")
    s3 = ctx.client("s3")
    try:
        s3.head_bucket(Bucket=lake_bucket(ctx))
    except s3.exceptions.ClientError:
        raise CheckFailed(
            f"버킷 {lake_bucket(ctx)}", "없음", f"{RUN}의 prepare()가 만듭니다."
        ) from None
    clean = len(_truth(ctx).clean)
    if clean < CLEAN_FIRST:
        raise CheckFailed(
            f"깨끗한 이벤트 {CLEAN_FIRST}건 이상",
            f"{clean}건",
            f"{RUN}를 다시 실행하세요: 준비 단계가 이벤트를 보냅니다.",
        )


@check(2)
def clean_events_in_lake(ctx: LabContext) -> None:
    """깨끗한 이벤트가 모두 레이크의 Delta 테이블에 한 번씩 들어갔다"""
    truth = _truth(ctx)
    _, rows = _lake(ctx)
    got = Counter(str(r.get("event_id")) for r in rows)
    missing = [eid for eid in truth.clean if got[eid] == 0]
    if missing:
        why = Counter(
            str(q.get("dq_rule")) for q in _quarantined(ctx) if q.get("event_id") in missing
        )
        if why:
            rule, n = why.most_common(1)[0]
            raise CheckFailed(
                f"깨끗한 이벤트 {len(truth.clean)}건 모두",
                f"{len(missing)}건 빠짐 (그중 {n}건이 규칙 {rule}로 격리됨)",
                f"규칙 {rule}이 너무 엄격합니다: 깨끗한 이벤트는 통과해야 합니다. README의 "
                "1단계 표(필드, 타입, 범위, 허용 값)와 맞춰 보세요.",
            )
        raise CheckFailed(
            f"깨끗한 이벤트 {len(truth.clean)}건 모두",
            f"{len(missing)}건 빠짐 (예: {missing[0]})",
            "나쁜 레코드를 넣은 뒤(3단계) 품질 작업을 한 번 더 돌려(2단계 다시) 다음 "
            "마이크로 배치를 처리하세요. 같은 checkpoint_dir(ctx)를 써야 이어서 읽습니다.",
        )
    if len(truth.clean) < CLEAN_FIRST + CLEAN_SECOND:
        # all clean events are in, but step 3's clean ones never came: checks 3+ say so
        return
    twice = sorted(eid for eid in truth.clean if got[eid] > 1)
    if twice:
        raise CheckFailed(
            "깨끗한 이벤트마다 한 행",
            f"{len(twice)}건이 두 번 이상 (예: {twice[0]})",
            "품질 작업은 Spark의 체크포인트부터 이어 읽습니다: 매번 같은 "
            f"checkpoint_dir(ctx)를 쓰세요. 처음부터 다시 하려면 {RUN}를 실행하세요.",
        )


@check(3)
def bad_records_injected(ctx: LabContext) -> None:
    """나쁜 레코드 10건(8가지: 빠진 필드, 틀린 타입, 범위 밖 가격, 모르는 값, 오래됨, JSON 아님, 중복)이 스트림에 있다"""
    t = _bad_injected(ctx)
    kinds = set(BAD_RULES) - set(t.bad)
    if kinds:
        raise CheckFailed(
            f"나쁜 레코드 종류 {len(BAD_RULES)}가지",
            f"빠진 종류: {', '.join(sorted(kinds))}",
            "3단계에서 bad_records(sent)가 주는 레코드를 모두 보내세요.",
        )


@check(4)
def no_bad_record_in_lake(ctx: LabContext) -> None:
    """나쁜 레코드는 하나도 레이크에 들어가지 않았다"""
    t = _bad_injected(ctx)
    _, rows = _lake(ctx)
    got = Counter(str(r.get("event_id")) for r in rows)
    leaked: dict[str, int] = {}
    for kind, ids in t.bad.items():
        if kind == "json":
            continue
        if kind == "duplicate":
            n = sum(max(0, got[eid] - 1) for eid in set(ids))
        else:
            n = sum(got[eid] for eid in ids)
        if n:
            leaked[kind] = n
    if leaked:
        kind = sorted(leaked)[0]
        raise CheckFailed(
            "레이크에 나쁜 레코드 0건",
            ", ".join(f"{k}({BAD_RULES[k]}) {n}건" for k, n in sorted(leaked.items())),
            f"1단계의 규칙이 '{kind}' 레코드를 통과시켰습니다: {RULE_HINT[kind]}",
        )


@check(5)
def bad_records_quarantined_with_rule(ctx: LabContext) -> None:
    """나쁜 레코드가 모두 격리 구역(quarantine/orders/)에 어긴 규칙과 함께 있다"""
    no_bad_record_in_lake(ctx)  # a bad record in the lake: check 4's failure, reported once
    t = _bad_injected(ctx)
    lines = _quarantined(ctx)
    if not lines:
        raise CheckFailed(
            f"s3://{quarantine(ctx)[0]}/{quarantine(ctx)[1]} 아래 JSON 줄 {BAD_TOTAL}개",
            "격리된 레코드 없음",
            "나쁜 레코드를 넣은 뒤(3단계) 품질 작업을 한 번 더 돌려 다음 마이크로 배치를 "
            "처리하세요 (main()의 '2단계 다시').",
        )
    by_id = {str(q.get("event_id")): q for q in lines if q.get("dq_rule") != "json"}
    raws = {str(q.get("raw")) for q in lines if q.get("dq_rule") == "json"}
    for kind, items in sorted(t.bad.items()):
        want = BAD_RULES[kind]
        for item in items:
            if kind == "json":
                if item not in raws:
                    raise CheckFailed(
                        f"JSON이 아닌 레코드 {item[:30]!r}가 규칙 json으로",
                        "격리 구역에 없음",
                        f"{RULE_HINT['json']} 3단계 뒤 작업을 다시 돌렸는지도 보세요.",
                    )
                continue
            q = by_id.get(item)
            if q is None:
                raise CheckFailed(
                    f"{item}가 격리 구역에 (규칙 {want})",
                    "없음",
                    f"'{kind}' 레코드를 잡는 규칙이 없거나, 3단계 뒤 작업을 다시 돌리지 "
                    f"않았습니다: {RULE_HINT[kind]}",
                )
            if q.get("dq_rule") != want:
                raise CheckFailed(
                    f"{item}의 규칙 {want}",
                    f"{q.get('dq_rule')}",
                    f"'{kind}' 레코드는 {want}로 걸려야 합니다: {RULE_HINT[kind]}",
                )
    clean_there = sorted(
        eid for eid in by_id if eid in t.clean and eid not in t.bad.get("duplicate", [])
    )
    if clean_there:
        raise CheckFailed(
            "격리 구역에 깨끗한 이벤트 0건",
            f"{len(clean_there)}건 (예: {clean_there[0]}, 규칙 {by_id[clean_there[0]].get('dq_rule')})",
            "규칙이 너무 엄격합니다: README의 1단계 표와 맞춰 보세요.",
        )


@check(6)
def pass_rate_dropped(ctx: LabContext) -> None:
    """CloudWatch의 PassRate가 깨끗한 배치에서 100%였다가, 나쁜 레코드가 든 배치에서 떨어졌다"""
    bad_records_quarantined_with_rule(ctx)  # wrong rules: checks 4-5 say so first
    t = _bad_injected(ctx)
    points = _pass_rates(ctx)
    high = max(float(p["Maximum"]) for p in points)
    low = min(float(p["Minimum"]) for p in points)
    batches = int(sum(float(p["SampleCount"]) for p in points))
    if high < 100.0:
        raise CheckFailed(
            "깨끗한 마이크로 배치의 PassRate 100%",
            f"가장 높은 값 {high:.1f}% (배치 {batches}개)",
            "나쁜 레코드를 넣기 전에 품질 작업을 한 번 돌려(2단계) 깨끗한 배치만 따로 "
            "처리하세요. 그래도 100%가 아니면 규칙이 깨끗한 이벤트를 막고 있습니다.",
        )
    # the batch with the bad ones: 90 clean of 100 when run as main() does
    expected = 100.0 * CLEAN_SECOND / (CLEAN_SECOND + t.bad_count())
    if low >= 100.0:
        raise CheckFailed(
            f"나쁜 레코드가 든 배치의 PassRate {expected:.0f}%",
            f"가장 낮은 값 {low:.1f}% (배치 {batches}개: 떨어진 적 없음)",
            "3단계 뒤 품질 작업을 다시 돌려 나쁜 레코드가 든 마이크로 배치를 처리하세요.",
        )
    if abs(low - expected) > 0.5:
        raise CheckFailed(
            f"나쁜 레코드가 든 배치의 PassRate {expected:.0f}%",
            f"{low:.1f}%",
            "나쁜 10건 중 일부가 통과했거나 깨끗한 이벤트가 걸렸습니다: 4·5번 확인과 "
            "1단계 규칙을 보세요.",
        )


@check(7)
def failed_records_by_rule(ctx: LabContext) -> None:
    """규칙별 FailedRecords 지표가 격리된 레코드 수와 같다"""
    _bad_injected(ctx)
    _pass_rates(ctx)  # no metrics at all: check 6's failure, reported once
    want = Counter(str(q.get("dq_rule")) for q in _quarantined(ctx))
    for rule, n in sorted(want.items()):
        points = _metric(ctx, "FailedRecords", [{"Name": "Rule", "Value": rule}], ["Sum"])
        got = sum(float(p["Sum"]) for p in points)
        if got != n:
            raise CheckFailed(
                f"FailedRecords(Rule={rule}) 합계 {n}",
                f"{got:g}",
                "품질 작업이 마이크로 배치마다 규칙별 FailedRecords를 보냅니다: 3단계 뒤 "
                "작업을 다시 돌렸는지, 같은 pipeline 이름을 썼는지 보세요.",
            )
