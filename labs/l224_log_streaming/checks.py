"""Checks of lab 2.2.4, in order. Each docstring's first line is what the learner sees.

They read real state only: the web server's log files on disk (the truth), every record in
the stream, the results table and the consumer's lease table in DynamoDB.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from labs.harness import CheckFailed, LabContext, check
from labs.l224_log_streaming.lab import (
    TOTAL,
    consumer_app,
    counts_table,
    log_dir,
    stream_name,
)
from sim.kinesis.reader import StreamRecord, read_all
from sim.logship.processing import LogToJson

FIELDS = ("host", "datetime", "request", "response", "bytes")


def _truth(ctx: LabContext) -> list[dict[str, Any]]:
    """Every line of the web server's log files, parsed (the files are the truth)."""
    cache = ctx.options.setdefault("_l224", {})
    if "truth" not in cache:
        parse = LogToJson("COMBINEDAPACHELOG").parse
        rows = []
        for f in sorted(log_dir(ctx).glob("access.log*")):
            for line in f.read_text(encoding="utf-8").splitlines():
                parsed = parse(line)
                if parsed is not None:
                    rows.append(parsed)
        cache["truth"] = rows
    return list(cache["truth"])


def _stream(ctx: LabContext) -> list[StreamRecord]:
    cache = ctx.options.setdefault("_l224", {})
    if "records" not in cache:
        cache["records"] = read_all(ctx.client("kinesis"), stream_name(ctx))
    return list(cache["records"])


def _records(ctx: LabContext) -> list[bytes]:
    return [r.data for r in _stream(ctx)]


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get(f)) for f in FIELDS)


def minute_of(apache_time: str) -> str:
    return datetime.strptime(apache_time, "%d/%b/%Y:%H:%M:%S %z").strftime("%Y-%m-%dT%H:%M")


@check(1)
def logs_and_stream_ready(ctx: LabContext) -> None:
    """웹 서버 로그 5,000줄(로테이션된 파일 포함)과 스트림이 있다"""
    rows = _truth(ctx)
    if len(rows) != TOTAL:
        raise CheckFailed(
            f"{log_dir(ctx)}/access.log* 에 {TOTAL}줄",
            f"{len(rows)}줄",
            "`bdlab run 2.2.4`가 prepare()와 웹 서버(LogWriter)로 로그를 씁니다. 3000줄만 있다면 "
            "main()이 1~2단계(에이전트)에서 멈춘 것입니다: 그 단계를 채우고 다시 실행하세요.",
        )
    kinesis = ctx.client("kinesis")
    try:
        summary = kinesis.describe_stream_summary(StreamName=stream_name(ctx))
    except kinesis.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"스트림 {stream_name(ctx)}", "없음", "`bdlab run 2.2.4`를 다시 실행하세요."
        ) from None
    status = summary["StreamDescriptionSummary"]["StreamStatus"]
    if status != "ACTIVE":
        raise CheckFailed("StreamStatus ACTIVE", status, "스트림이 ACTIVE가 될 때까지 기다리세요.")


@check(2)
def records_are_json(ctx: LabContext) -> None:
    """스트림의 레코드가 로그 한 줄씩, LOGTOJSON으로 바뀐 JSON이다"""
    records = _records(ctx)
    if not records:
        raise CheckFailed(
            "스트림에 레코드가 있음",
            "0건",
            "2단계에서 Agent(...).run_once()와 stop()을 부르세요. 에이전트를 처음 켜기 전에 "
            "쓰인 줄도 보내려면 initialPosition을 START_OF_FILE로 두세요.",
        )
    bad = []
    for data in records:
        try:
            row = json.loads(data)
        except ValueError:
            bad.append(data)
            continue
        if not isinstance(row, dict) or any(f not in row for f in FIELDS):
            bad.append(data)
    if bad:
        sample = bad[0][:60].decode("utf-8", "replace")
        raise CheckFailed(
            f"JSON 레코드 (필드 {', '.join(FIELDS)} ...)",
            f"JSON이 아닌 레코드 {len(bad)}건 (예: {sample!r})",
            'flow에 "dataProcessingOptions": [{"optionName": "LOGTOJSON", '
            '"logFormat": "COMBINEDAPACHELOG"}]를 넣으세요.',
        )


@check(3)
def every_line_once(ctx: LabContext) -> None:
    """로그의 모든 줄이 스트림에 정확히 한 번씩 있다 (재시작과 로테이션에도 빠짐·중복 없음)"""
    want = Counter(_key(r) for r in _truth(ctx))
    got = Counter(_key(json.loads(d)) for d in _records(ctx))
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    if missing:
        raise CheckFailed(
            f"{TOTAL}줄 모두",
            f"{missing}줄 빠짐",
            "에이전트를 켜기 전에 쓰인 줄이 빠졌다면 initialPosition=START_OF_FILE, 로테이션 "
            "직전에 쓰인 줄이 빠졌다면 filePattern이 access.log.1도 잡도록 'access.log*'로 "
            "두세요.",
        )
    if extra:
        raise CheckFailed(
            "중복 0줄",
            f"{extra}줄 중복",
            "재시작하면 체크포인트부터 이어 읽습니다. 같은 checkpointFile을 쓰고, 멈출 때는 "
            "stop()으로 보낼 것을 다 보낸 뒤 체크포인트하게 하세요.",
        )


@check(4)
def status_counts_match(ctx: LabContext) -> None:
    """DynamoDB의 (분, 상태 코드)별 요청 수가 로그 파일과 정확히 같다"""
    want = Counter((minute_of(str(r["datetime"])), str(r["response"])) for r in _truth(ctx))
    ddb = ctx.client("dynamodb")
    got: Counter[tuple[str, str]] = Counter()
    try:
        pages = ddb.get_paginator("scan").paginate(TableName=counts_table(ctx))
        for page in pages:
            for item in page["Items"]:
                key = (item["minute"]["S"], item["status"]["S"])
                got[key] += int(item.get("requests", {}).get("N", "0"))
    except ddb.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"테이블 {counts_table(ctx)}", "없음", "`bdlab run 2.2.4`의 prepare()가 만듭니다."
        ) from None
    if got == want:
        return
    if not got:
        raise CheckFailed(
            f"(분, 상태 코드) {len(want)}개",
            "빈 테이블",
            "4단계에서 Consumer(...).run()을 부르고, 3단계 step3_count가 update_item으로 "
            "더하게 하세요.",
        )
    wrong = sorted(set(want) ^ set(got) | {k for k in want if want[k] != got.get(k)})
    k = wrong[0]
    raise CheckFailed(
        f"{k[0]} 상태 {k[1]}: {want.get(k, 0)}건",
        f"{got.get(k, 0)}건 (틀린 칸 {len(wrong)}개)",
        "분은 로그의 datetime('09/Mar/2026:09:01:05 +0000')을 '2026-03-09T09:01'로, 상태 "
        "코드는 response 필드로 묶으세요. 여러 번 실행했다면 결과가 두 번 더해졌을 수 "
        "있습니다: `bdlab run 2.2.4`를 다시 돌리면 처음부터 시작합니다.",
    )


@check(5)
def consumer_checkpointed(ctx: LabContext) -> None:
    """컨슈머가 모든 샤드를 끝까지 읽고 리스 테이블에 체크포인트했다"""
    ddb = ctx.client("dynamodb")
    try:
        items = ddb.scan(TableName=consumer_app(ctx))["Items"]
    except ddb.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"리스 테이블 {consumer_app(ctx)}",
            "없음",
            "Consumer의 application 이름이 리스 테이블 이름입니다: consumer_app(ctx)를 쓰세요.",
        ) from None
    leases = {i["leaseKey"]["S"]: i.get("checkpoint", {}).get("S") for i in items}
    last: dict[str, str] = {}
    for r in _stream(ctx):  # in sequence order per shard: the last one wins
        last[r.shard_id] = r.sequence_number
    for sid, seq in sorted(last.items()):
        if leases.get(sid) != seq:
            raise CheckFailed(
                f"{sid}의 체크포인트 = 마지막 레코드 …{seq[-8:]}",
                f"{leases.get(sid) or '없음'}",
                "체크포인트는 처리(DynamoDB 쓰기)가 끝난 뒤에 합니다. Consumer.run()이 "
                "idle_passes만큼 새 레코드가 없을 때까지 돌게 하세요.",
            )
