"""Lab 2.2.4 — 실시간 로그 스트리밍 (the learner's file).

Fill in the four TODO steps (see README.md), then:

    bdlab run 2.2.4      # runs main() below against the active profile
    bdlab check 2.2.4    # compares the log files, the stream and the counts in DynamoDB
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labs.harness import LabContext, LabInfo
from sim.datagen.logwriter import LogWriter
from sim.kinesis.consumer import Record

LAB = LabInfo(
    id="2.2.4",
    slug="l224_log_streaming",
    title="실시간 로그 스트리밍",
    part=2,
    summary="에이전트로 웹 서버 로그를 Kinesis에 보내고, 컨슈머가 분당 상태 코드를 셉니다.",
)

START = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
RATE = 20  # log lines per second of the web server's timeline (5,000 lines: ~4 minutes)
BEFORE_AGENT = 3_000  # lines written before the agent first runs
WHILE_STOPPED = 1_000  # lines written while the agent is stopped, before and after rotation
TOTAL = BEFORE_AGENT + 2 * WHILE_STOPPED
SHARDS = 2
SEED = 224
WORKER = "worker-1"  # the consumer's lease owner (one worker in this lab)


def stream_name(ctx: LabContext) -> str:
    return ctx.name("weblogs")


def counts_table(ctx: LabContext) -> str:
    """DynamoDB table of the results: (minute, status) -> requests."""
    return ctx.name("status-per-minute")


def consumer_app(ctx: LabContext) -> str:
    """The consumer's application name: its lease table in DynamoDB has this name (KCL's rule)."""
    return ctx.name("status-counter")


def lab_dir(ctx: LabContext) -> Path:
    """This lab's local folder (inside the bdlab state folder): logs and agent checkpoints."""
    return ctx.settings.state_path / "labs" / "l224"


def log_dir(ctx: LabContext) -> Path:
    """Where the simulated web server writes access.log."""
    return lab_dir(ctx) / "logs"


def web_server(ctx: LabContext) -> LogWriter:
    """Given: the web server's log writer (Apache combined format, rename rotation)."""
    log_dir(ctx).mkdir(parents=True, exist_ok=True)
    return LogWriter(log_dir(ctx) / "access.log", fmt="combined", seed=SEED, rate=RATE, start=START)


# --------------------------------------------------------------------------- TODO
def step1_agent_config(ctx: LabContext) -> dict[str, Any]:
    """1단계: Kinesis Agent 형식의 agent.json(딕셔너리)을 만듭니다."""
    # TODO(1단계): {"checkpointFile": ..., "flows": [{"filePattern": ..., "kinesisStream": ...,
    #              "initialPosition": ..., "partitionKeyOption": ..., "dataProcessingOptions": [...]}]}
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 agent.json을 만드세요.")


def step2_ship(ctx: LabContext, config: dict[str, Any]) -> dict[str, Any]:
    """2단계: 에이전트를 한 번 돌려 지금까지 쌓인 로그를 보내고, 얼마나 밀렸는지 본 뒤 멈춥니다."""
    # TODO(2단계): agent = Agent(AgentConfig.from_dict(config, lab_dir(ctx)), ctx.client)를
    #              만들고 status()로 밀린 양을 본 뒤 run_once(), 마지막에 stop()으로 남은 것을
    #              보내고 체크포인트하세요. {"sent": ..., "bytes_behind": ...}를 반환합니다.
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 로그를 보내세요.")


def step3_count(ctx: LabContext, shard_id: str, records: list[Record]) -> None:
    """3단계: 레코드 묶음에서 (분, 상태 코드)별 요청 수를 세어 DynamoDB에 더합니다."""
    # TODO(3단계): 레코드마다 json.loads(r["Data"])의 "datetime"과 "response"로 묶어 세고,
    #              dynamodb.update_item(... UpdateExpression="ADD requests :n" ...)
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 상태 코드를 세세요.")


def step4_consume(ctx: LabContext) -> dict[str, int]:
    """4단계: KCL 방식의 컨슈머로 스트림을 끝까지 읽으며 step3_count를 부릅니다."""
    # TODO(4단계): Consumer(kinesis, dynamodb, stream_name(ctx), consumer_app(ctx),
    #              lambda sid, recs: step3_count(ctx, sid, recs), owner=WORKER).run(...)
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 컨슈머를 돌리세요.")


# --------------------------------------------------------------------------- given
def prepare(ctx: LabContext) -> None:
    """Given: a fresh stream, an empty results table and an empty log folder."""
    reset(ctx)
    kinesis = ctx.client("kinesis")
    kinesis.create_stream(StreamName=stream_name(ctx), ShardCount=SHARDS)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    kinesis.add_tags_to_stream(
        StreamName=stream_name(ctx), Tags={"project": "bdlab", "lab": LAB.id}
    )
    ddb = ctx.client("dynamodb")
    ddb.create_table(
        TableName=counts_table(ctx),
        KeySchema=[
            {"AttributeName": "minute", "KeyType": "HASH"},
            {"AttributeName": "status", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "minute", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(
        TableName=counts_table(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 스트림, 결과 테이블, 빈 로그 폴더"):
        prepare(ctx)
        server = web_server(ctx)
        server.write(BEFORE_AGENT)
    with ctx.step("1단계: agent.json"):
        config = step1_agent_config(ctx)
    with ctx.step("2단계: 에이전트로 보내기"):
        first = step2_ship(ctx, config)
    with ctx.step("웹 서버: 에이전트가 멈춘 사이 로그를 더 쓰고 로테이션"):
        server.write(WHILE_STOPPED)
        server.rotate()  # access.log -> access.log.1, a new access.log
        server.write(WHILE_STOPPED)
        server.close()
    with ctx.step("2단계 다시: 에이전트 재시작 (체크포인트부터)"):
        second = step2_ship(ctx, config)
    with ctx.step("3~4단계: 컨슈머로 분당 상태 코드 세기"):
        consumed = step4_consume(ctx)
    return {"lines": TOTAL, "first_run": first, "after_restart": second, **consumed}


def reset(ctx: LabContext) -> dict[str, bool]:
    """Delete the lab's stream, its two DynamoDB tables, the logs and the agent's checkpoints."""
    import shutil

    done = {}
    kinesis = ctx.client("kinesis")
    try:
        kinesis.delete_stream(StreamName=stream_name(ctx), EnforceConsumerDeletion=True)
        kinesis.get_waiter("stream_not_exists").wait(
            StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        done["stream"] = True
    except kinesis.exceptions.ResourceNotFoundException:
        done["stream"] = False
    ddb = ctx.client("dynamodb")
    for table in (counts_table(ctx), consumer_app(ctx)):
        try:
            ddb.delete_table(TableName=table)
            ddb.get_waiter("table_not_exists").wait(
                TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
            done[table] = True
        except ddb.exceptions.ResourceNotFoundException:
            done[table] = False
    if lab_dir(ctx).exists():  # the logs and the agent's checkpoints of earlier runs
        shutil.rmtree(lab_dir(ctx))
    return done
