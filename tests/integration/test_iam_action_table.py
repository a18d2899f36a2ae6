"""Every operation the emulator serves is in the operation -> IAM action table, and that
table's actions and resource types are the Service Authorization Reference's (issue 12 §1)."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from sim.emulator.authz import actions
from sim.emulator.providers.s3 import surface

pytestmark = pytest.mark.integration

# services moto serves behind the gateway (health()'s list, less bdlab's own providers)
MOTO_SERVED = ("sts", "iam", "sns", "sqs", "logs", "dynamodb", "glue")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("_s_q_l", "_sql")


def _moto_ops(service: str) -> list[str]:
    """The operations of ``service`` that moto implements (its responses class has them)."""
    import importlib

    import moto.core.models  # noqa: F401  (moto's own import order: core before a service)
    from moto.core.responses import BaseResponse

    module = importlib.import_module(f"moto.{service}.responses")
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseResponse) and c.__module__ == module.__name__
    ]
    model = botocore.session.get_session().get_service_model(service)
    return [
        op
        for op in model.operation_names
        if any(hasattr(c, _snake(op)) or hasattr(c, op) for c in classes)
    ]


def served(emulator: Any) -> dict[str, list[str]]:
    gw = emulator.gateway
    out: dict[str, list[str]] = {"s3": surface.served_operations()}
    for name in ("kinesis", "firehose", "emr"):
        provider = gw.providers[name]
        out[name] = [n[len("op_") :] for n in dir(provider) if n.startswith("op_")]
    out["cloudwatch"] = list(gw.providers["cloudwatch"].ops)
    for name in MOTO_SERVED:
        out[name] = _moto_ops(name)
    return out


def test_every_served_operation_has_its_sar_action(emulator: Any) -> None:
    ops = served(emulator)
    assert len(ops["s3"]) > 60 and len(ops["kinesis"]) > 25 and len(ops["sqs"]) > 15
    assert all(len(names) >= 5 for names in ops.values()), {k: len(v) for k, v in ops.items()}
    missing = []
    for service, names in ops.items():
        for op in names:
            try:
                found = actions.actions_for(service, op)
            except actions.UnknownOperation as exc:
                missing.append(str(exc))
                continue
            for action in found:
                assert actions.action_exists(action), action
    assert not missing, missing


def test_resource_arns_follow_the_sar_formats() -> None:
    """The examples of the issue and the multi-resource operations, with the SAR's types."""
    v = {"partition": "aws", "region": "us-east-1", "account": "123456789012"}
    s3 = {**v, "bucketname": "dst", "objectname": "a/b.csv"}
    pref = ("object", "bucket")
    assert actions.resolve("s3", "DeleteBucketLifecycle", s3, pref) == [
        actions.Need("s3:PutLifecycleConfiguration", "arn:aws:s3:::dst", "bucket")
    ]
    assert actions.resolve("s3", "ListObjectVersions", s3, pref)[0].action == (
        "s3:ListBucketVersions"
    )
    assert [n.action for n in actions.resolve("s3", "CopyObject", s3, pref)] == [
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert actions.resolve("s3", "HeadObject", s3, pref) == [
        actions.Need("s3:GetObject", "arn:aws:s3:::dst/a/b.csv", "object")
    ]
    assert actions.resolve("s3", "ListBuckets", s3) == [actions.Need("s3:ListAllMyBuckets", "*")]
    stream = {**v, "streamname": "clicks"}
    assert actions.resolve("kinesis", "PutRecords", stream) == [
        actions.Need(
            "kinesis:PutRecords", "arn:aws:kinesis:us-east-1:123456789012:stream/clicks", "stream"
        )
    ]
    given = ["arn:aws:sns:us-east-1:123456789012:alerts"]
    assert actions.resolve("sns", "Publish", v, arns=given)[0].resource == given[0]
    assert actions.actions_for("sqs", "SendMessageBatch") == ("sqs:SendMessage",)
    items = {
        "TransactItems": [
            {"Put": {"TableName": "leases"}},
            {"ConditionCheck": {"TableName": "leases"}},
        ]
    }
    assert actions.dynamodb_items("TransactWriteItems", items) == [
        ("dynamodb:PutItem", "leases"),
        ("dynamodb:ConditionCheckItem", "leases"),
    ]
    assert actions.dynamodb_items("ExecuteStatement", {"Statement": 'SELECT * FROM "t1"'}) == [
        ("dynamodb:PartiQLSelect", "t1")
    ]
