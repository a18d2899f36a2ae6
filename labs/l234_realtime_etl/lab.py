"""Lab 2.3.4 — 실시간 ETL: 변환, Parquet 변환, 동적 파티셔닝 (the learner's file).

Fill in transform.py (1단계) and the TODO steps below (see README.md), then:

    bdlab run 2.3.4      # runs main() below against the active profile
    bdlab check 2.3.4    # reads the delivery stream, the Glue table and what landed in S3
"""

from __future__ import annotations

import importlib.util
import io
import json
import random
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from labs import streaming
from labs.harness import LabContext, LabInfo
from sim import s3util

LAB = LabInfo(
    id="2.3.4",
    slug="l234_realtime_etl",
    title="실시간 ETL: 변환, Parquet 변환, 동적 파티셔닝",
    part=2,
    summary="Firehose가 Lambda로 주문을 다듬고 Glue 스키마로 Parquet을 만들어 카테고리·날짜별로 "
    "S3에 나눠 씁니다.",
)

SEED = 234
ORDERS = 400
START = datetime(2026, 3, 9, 21, 0, tzinfo=UTC)
EVERY = timedelta(minutes=10)  # 400 orders over ~2.8 days: several dt= partitions
TEST_EVERY = 40  # every 40th order is a synthetic monitoring order ("test": true)
CATEGORIES = ("books", "electronics", "fashion", "home")
COUNTRIES = ("kr", "KR", "us", "US", "jp", "de")
# what a broken client sends now and then: none of it is JSON
MALFORMED = (b'{"order_id": "o-bad-1", "price": ', b"not json at all", b"\x00\x01 binary")
BUFFER_S = 60  # the delivery buffer's interval (dynamic partitioning needs 60 s or more)
DATA_PREFIX = "orders/"
ERROR_PREFIX = "errors/"
TRANSFORM_FILE = Path(__file__).with_name("transform.py")
# The Glue table's columns the checks expect (name -> Hive type), in this order.
SCHEMA = {
    "order_id": "string",
    "event_time": "timestamp",
    "country": "string",
    "category": "string",
    "price": "double",
    "quantity": "int",
    "revenue": "double",
}


def bucket(ctx: LabContext) -> str:
    return ctx.name("etl")


def delivery_stream(ctx: LabContext) -> str:
    return ctx.name("orders-etl")


def function_name(ctx: LabContext) -> str:
    return ctx.name("order-transform")


def glue_database(ctx: LabContext) -> str:
    return ctx.name("etl").replace("-", "_")  # Athena and Hive want no '-' in names


GLUE_TABLE = "orders"


def orders() -> list[bytes]:
    """Given: what the shop's backend sends, in order: JSON orders (prices as strings,
    countries in any case, some synthetic test orders) and three malformed records."""
    rng = random.Random(SEED)
    out = []
    for i in range(ORDERS):
        test = i % TEST_EVERY == TEST_EVERY - 1
        doc = {
            "order_id": f"test-{i:05d}" if test else f"o-{i:05d}",
            "event_time": (START + i * EVERY).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "country": rng.choice(COUNTRIES),
            "category": rng.choice(CATEGORIES),
            "price": f"{rng.uniform(3, 300):.2f}",
            "quantity": rng.randint(1, 5),
        }
        if test:
            doc["test"] = True
        out.append(json.dumps(doc).encode())
    for n, bad in enumerate(MALFORMED):
        out.insert(100 * (n + 1), bad)
    return out


def expected_rows() -> dict[str, dict[str, Any]]:
    """order_id -> the row the transform should make of each real order (the checks' truth)."""
    rows = {}
    for raw in orders():
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if doc.get("test"):
            continue
        price = float(doc["price"])
        rows[doc["order_id"]] = {
            **doc,
            "country": doc["country"].upper(),
            "price": price,
            "revenue": round(price * doc["quantity"], 2),
        }
    return rows


# --------------------------------------------------------------------------- given
def load_transform(path: Path = TRANSFORM_FILE) -> Any:
    """Import ``path`` as a module (the handler file the Lambda function runs)."""
    spec = importlib.util.spec_from_file_location("l234_transform", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def try_locally(path: Path = TRANSFORM_FILE) -> dict[str, int]:
    """Call the handler here with three records before deploying it (like `sam local invoke`):
    one order, one test order, one malformed record. Returns the results by kind."""
    import base64

    samples = [orders()[0], orders()[TEST_EVERY - 1], MALFORMED[1]]
    event = {
        "invocationId": "local-test",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/local",
        "region": "us-east-1",
        "records": [
            {
                "recordId": str(i),
                "approximateArrivalTimestamp": 0,
                "data": base64.b64encode(d).decode(),
            }
            for i, d in enumerate(samples)
        ],
    }
    answer = load_transform(path).handler(event, None)
    results = [r.get("result") for r in answer["records"]]
    return {k: results.count(k) for k in ("Ok", "Dropped", "ProcessingFailed")}


def deploy_transform(ctx: LabContext, path: Path = TRANSFORM_FILE) -> str:
    """Zip ``path`` as transform.py and create (or replace) the Lambda function; its ARN."""
    iam = ctx.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    try:
        role = iam.create_role(
            RoleName=ctx.name("lambda-role"), AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=ctx.name("lambda-role"))["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("transform.py", path.read_text(encoding="utf-8"))
    lam = ctx.client("lambda")
    try:
        lam.delete_function(FunctionName=function_name(ctx))
    except lam.exceptions.ResourceNotFoundException:
        pass
    fn = lam.create_function(
        FunctionName=function_name(ctx),
        Runtime="python3.12",
        Role=role,
        Handler="transform.handler",
        Code={"ZipFile": buf.getvalue()},
        Timeout=60,
        Tags={"project": "bdlab", "lab": LAB.id},
    )
    return str(fn["FunctionArn"])


def prepare(ctx: LabContext) -> str:
    """Given: a fresh bucket and the role Firehose assumes. Returns the role's ARN."""
    reset(ctx)
    s3util.ensure_bucket(ctx.client("s3"), bucket(ctx), ctx.profile.region)
    return streaming.firehose_role(ctx, ctx.name("firehose-role"), bucket(ctx))


def send(ctx: LabContext) -> dict[str, int]:
    """Given: send every order with PutRecordBatch (500 a call), then wait until it is in S3."""
    fh = ctx.client("firehose")
    records = orders()
    failed = 0
    for i in range(0, len(records), 500):
        r = fh.put_record_batch(
            DeliveryStreamName=delivery_stream(ctx),
            Records=[{"Data": d} for d in records[i : i + 500]],
        )
        failed += r["FailedPutCount"]
    keys = streaming.deliver(ctx, delivery_stream(ctx), bucket(ctx), BUFFER_S)
    return {"sent": len(records), "failed": failed, "objects": len(keys)}


# --------------------------------------------------------------------------- TODO
def step2_glue_table(ctx: LabContext) -> None:
    """2단계: Glue 데이터베이스 glue_database(ctx)와 테이블 orders(SCHEMA의 열)를 만듭니다."""
    # TODO(2단계): glue.create_database(DatabaseInput={"Name": ...}) 다음
    #              glue.create_table(DatabaseName=..., TableInput={"Name": GLUE_TABLE,
    #              "StorageDescriptor": {"Columns": [{"Name": ..., "Type": ...}, ...]}})
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 Glue 테이블을 만드세요.")


def step3_delivery_stream(ctx: LabContext, role_arn: str, function_arn: str) -> None:
    """3단계: Lambda 변환 + Parquet 변환 + 동적 파티셔닝을 켠 전송 스트림을 만듭니다."""
    # TODO(3단계): firehose.create_delivery_stream(DeliveryStreamName=delivery_stream(ctx),
    #              DeliveryStreamType="DirectPut", ExtendedS3DestinationConfiguration={...})
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 전송 스트림을 만드세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("1단계: transform.py를 여기서 먼저 시험"):
        local = try_locally()
        print(f"로컬 시험: {local}")
    with ctx.step("준비: 버킷과 Firehose 역할"):
        role = prepare(ctx)
    with ctx.step("1단계: 변환 Lambda 배포"):
        function_arn = deploy_transform(ctx)
    with ctx.step("2단계: Glue 테이블"):
        step2_glue_table(ctx)
    with ctx.step("3단계: 전송 스트림"):
        step3_delivery_stream(ctx, role, function_arn)
        streaming.wait_active(ctx, delivery_stream(ctx))
    with ctx.step("4단계: 주문 보내고 S3에 닿을 때까지 기다리기"):
        sent = send(ctx)
    return {"local_test": local, **sent}


def reset(ctx: LabContext) -> dict[str, Any]:
    """Delete the lab's delivery stream, function, Glue database, roles and bucket."""
    done: dict[str, Any] = {
        "delivery_stream": streaming.delete_delivery_stream(ctx, delivery_stream(ctx))
    }
    lam = ctx.client("lambda")
    try:
        lam.delete_function(FunctionName=function_name(ctx))
        done["function"] = True
    except lam.exceptions.ResourceNotFoundException:
        done["function"] = False
    glue = ctx.client("glue")
    try:
        glue.delete_database(Name=glue_database(ctx))
        done["glue"] = True
    except glue.exceptions.EntityNotFoundException:
        done["glue"] = False
    done["roles"] = [
        streaming.delete_role(ctx, ctx.name(r)) for r in ("firehose-role", "lambda-role")
    ]
    done["objects"] = s3util.delete_bucket(ctx.client("s3"), bucket(ctx))
    return done
