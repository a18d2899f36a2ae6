"""Lab 2.1.3 — Kinesis Data Streams 생성 (the learner's file).

Fill in the five TODO steps (see README.md), then:

    bdlab run 2.1.3      # runs main() below against the active profile
    bdlab check 2.1.3    # reads the stream back and checks what is really in it
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from labs.harness import LabContext, LabInfo
from sim.datagen import clickstream

LAB = LabInfo(
    id="2.1.3",
    slug="l213_kinesis_streams",
    title="Kinesis Data Streams 생성",
    part=2,
    summary="스트림과 샤드를 만들고, 핫 키를 찾아 고치고, 리샤딩과 스로틀링을 다룹니다.",
)

START = datetime(2026, 3, 2, tzinfo=UTC)
EVENTS = 2_000  # events of steps 2 and 3 (the same events, keyed two ways)
SHARDS = 2  # at creation
TARGET_SHARDS = 4  # after step 4
RESHARD_KEYS = 10  # step 4: users whose order is followed across the resharding
RESHARD_PER_KEY = 100
BURST = 6_000  # step 5: more than 4 shards take in one second (4 x 1,000 records/s)
SEED = 213
TAGS = {"project": "bdlab", "lab": "2.1.3"}

# The "phase" field of each record says which step sent it (the checks read it).
PHASE_COUNTRY, PHASE_USER, PHASE_RESHARD, PHASE_BURST = (
    "country-key",
    "user-key",
    "reshard",
    "burst",
)


def stream_name(ctx: LabContext) -> str:
    """The lab's stream (names are per account and region; this one is per lab too)."""
    return ctx.name("clicks")


def sample_events() -> pa.Table:
    """The lab's click events (deterministic, so the checks know what to expect)."""
    return clickstream.generate(EVENTS, START, 1, seed=SEED)


def record(event: dict[str, Any], phase: str) -> bytes:
    """One Kinesis record's data: the event as JSON with the step's phase added."""
    body = {**event, "phase": phase}
    body["event_time"] = str(body["event_time"])
    return json.dumps(body, separators=(",", ":")).encode()


def reshard_items() -> list[tuple[bytes, str]]:
    """Step 4's records, ``(data, partition_key)`` in sending order: users user-0 .. user-9
    each number theirs 0, 1, 2, ...; each user's first record is 600 KB. A shard takes 1 MB a
    second, so of two first records on one shard one is throttled while the small records
    after it go through: resent later, it lands after them (``ordered=True`` prevents that)."""
    items = []
    for n in range(RESHARD_PER_KEY):
        for k in range(RESHARD_KEYS):
            body = {"user": f"user-{k}", "n": n, "event_time": "", "pad": ""}
            if n == 0:
                body["pad"] = "p" * 600_000
            items.append((record(body, PHASE_RESHARD), f"user-{k}"))
    return items


# --------------------------------------------------------------------------- TODO
def step1_create_stream(ctx: LabContext) -> str:
    """1단계: 샤드 2개짜리 프로비저닝 스트림을 만들고 ACTIVE가 될 때까지 기다린 뒤 태그를 답니다."""
    kinesis = ctx.client("kinesis")  # noqa: F841  (use it below)
    name = stream_name(ctx)  # noqa: F841
    # TODO(1단계): kinesis.create_stream(...), kinesis.get_waiter("stream_exists").wait(...),
    #              kinesis.add_tags_to_stream(...) 후 StreamARN을 반환하세요.
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 스트림을 만드세요.")


def step2_hot_key(ctx: LabContext, events: pa.Table) -> Counter[str]:
    """2단계: 국가 코드를 파티션 키로 보내고, 샤드별로 몇 건씩 갔는지 셉니다 (핫 샤드 찾기)."""
    # TODO(2단계): 각 이벤트를 record(e, PHASE_COUNTRY)로 만들고 PartitionKey=e["country"]로
    #              Producer(ctx.client("kinesis"), stream_name(ctx))로 보낸 뒤,
    #              샤드별 건수(Counter)를 반환하세요.
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 핫 키를 확인하세요.")


def step3_spread_keys(ctx: LabContext, events: pa.Table) -> Counter[str]:
    """3단계: 같은 이벤트를 user_id 키로 다시 보내 샤드에 고르게 퍼지는지 봅니다."""
    # TODO(3단계): record(e, PHASE_USER), PartitionKey=str(e["user_id"])
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 키를 바꾸세요.")


def step4_reshard_while_producing(ctx: LabContext) -> dict[str, Any]:
    """4단계: 순서를 지키는 프로듀서가 보내는 동안 샤드를 4개로 늘립니다 (UpdateShardCount)."""
    # TODO(4단계): items = reshard_items()의 앞 절반을 먼저 보내고, 나머지를 스레드에서
    #              Producer(..., ordered=True)로 보내는 동안
    #              kinesis.update_shard_count(TargetShardCount=TARGET_SHARDS,
    #              ScalingType="UNIFORM_SCALING") 후 stream_exists 웨이터로 기다리세요.
    #              {"reshard_records": len(items), "open_shards": 열린 샤드 수}를 반환합니다.
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 리샤딩하세요.")


def step5_burst_with_retry(ctx: LabContext) -> dict[str, int]:
    """5단계: 한 번에 6,000건을 보내 스로틀링을 겪고, 실패한 레코드만 다시 보내 전부 넣습니다."""
    # TODO(5단계): put_records 응답의 FailedRecordCount와 레코드별 ErrorCode를 보고
    #              실패한 항목만 백오프+지터로 다시 보내세요 (Producer가 그렇게 합니다).
    raise NotImplementedError("TODO 5단계: README.md의 '5단계'를 보고 재시도를 넣으세요.")


# --------------------------------------------------------------------------- run
def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 지난 실행의 스트림 지우기, 클릭 이벤트 생성"):
        reset(ctx)  # every run starts from an empty stream, so the checks can count exactly
        events = sample_events()
    with ctx.step("1단계: 스트림 만들기"):
        arn = step1_create_stream(ctx)
    with ctx.step("2단계: 국가 코드 키 (핫 샤드)"):
        hot = step2_hot_key(ctx, events)
        print(f"국가 코드 키: 샤드별 {dict(hot)}")
    with ctx.step("3단계: user_id 키"):
        spread = step3_spread_keys(ctx, events)
        print(f"user_id 키: 샤드별 {dict(spread)}")
    with ctx.step("4단계: 보내는 중에 리샤딩"):
        reshard = step4_reshard_while_producing(ctx)
    with ctx.step("5단계: 몰아 보내기와 재시도"):
        burst = step5_burst_with_retry(ctx)
        print(f"몰아 보내기: {burst}")
    return {"stream": arn, "hot": dict(hot), "spread": dict(spread), **reshard, **burst}


def reset(ctx: LabContext) -> bool:
    """Delete the lab's stream (and its records); True when there was one."""
    kinesis = ctx.client("kinesis")
    try:
        kinesis.delete_stream(StreamName=stream_name(ctx), EnforceConsumerDeletion=True)
    except kinesis.exceptions.ResourceNotFoundException:
        return False
    kinesis.get_waiter("stream_not_exists").wait(
        StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    return True
