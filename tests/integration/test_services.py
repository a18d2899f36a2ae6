"""A basic round trip through every provider, with real boto3 over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def test_sts_and_iam(aws: Callable[[str], Any], unique: Callable[[str], str]) -> None:
    account = aws("sts").get_caller_identity()["Account"]
    assert account.isdigit() and len(account) == 12
    iam = aws("iam")
    role = unique("role")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "firehose.amazonaws.com"},
            }
        ],
    }
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert arn == f"arn:aws:iam::{account}:role/{role}"
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=unique("nobody"))
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"


def test_sns_to_sqs(aws: Callable[[str], Any], unique: Callable[[str], str]) -> None:
    sqs, sns = aws("sqs"), aws("sns")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"}
    )
    sns.publish(TopicArn=topic, Message="disk full")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["disk full"]


def test_logs_dynamodb_glue(
    aws: Callable[[str], Any], profile: Any, unique: Callable[[str], str]
) -> None:
    from sim.admin import Admin

    logs = aws("logs")
    # stamped on the emulator's clock: PutLogEvents refuses events older than 14 days by it,
    # and earlier tests may have advanced the session's clock
    now_ms = int(Admin(profile.endpoint_url).clock()["now"] * 1000)
    group = unique("/bdlab/app")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now_ms, "message": "ERROR x"}],
    )
    assert (
        logs.get_log_events(logGroupName=group, logStreamName="s")["events"][0]["message"]
        == "ERROR x"
    )
    ddb = aws("dynamodb")
    table = unique("leases")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(
        TableName=table, Item={"leaseKey": {"S": "shardId-000"}, "checkpoint": {"S": "42"}}
    )
    assert (
        ddb.get_item(TableName=table, Key={"leaseKey": {"S": "shardId-000"}})["Item"]["checkpoint"][
            "S"
        ]
        == "42"
    )
    glue = aws("glue")
    db = unique("lake").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "events",
            "StorageDescriptor": {
                "Columns": [{"Name": "event_id", "Type": "string"}],
                "Location": "s3://lake/curated/",
            },
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        },
    )
    assert (
        glue.get_table(DatabaseName=db, Name="events")["Table"]["PartitionKeys"][0]["Name"] == "dt"
    )


def test_kinesis_firehose_cloudwatch_emr_seams(
    aws: Callable[[str], Any], unique: Callable[[str], str], emulator: Any
) -> None:
    kin = aws("kinesis")
    stream = unique("clicks")
    kin.create_stream(StreamName=stream, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    kin.put_record(StreamName=stream, Data=b'{"a":1}', PartitionKey="u1")
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    assert [r["Data"] for r in kin.get_records(ShardIterator=it)["Records"]] == [b'{"a":1}']
    fh = aws("firehose")
    name = unique("fh")
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/fh",
            "BucketARN": "arn:aws:s3:::x",
        },
    )
    assert (
        fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
            "DeliveryStreamName"
        ]
        == name
    )
    cw = aws("cloudwatch")
    ns = unique("bdlab/test")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "lag", "Value": 5.0}])
    assert [m["MetricName"] for m in cw.list_metrics(Namespace=ns)["Metrics"]] == ["lag"]
    lag_high = unique("lag-high")
    cw.put_metric_alarm(
        AlarmName=lag_high,
        Namespace=ns,
        MetricName="lag",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    # bdlab's own alarms: a new alarm starts in INSUFFICIENT_DATA (moto said OK)
    (found,) = cw.describe_alarms(AlarmNames=[lag_high])["MetricAlarms"]
    assert found["StateValue"] == "INSUFFICIENT_DATA"
    emr = aws("emr")
    cid = emr.run_job_flow(
        Name=unique("c"),
        ReleaseLabel="emr-7.5.0",
        Instances={
            "InstanceCount": 1,
            "MasterInstanceType": "m5.xlarge",
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    assert emr.describe_cluster(ClusterId=cid)["Cluster"]["Id"] == cid
    providers = emulator.gateway.health()["providers"]
    assert providers["cloudwatch"] == "CloudWatchProvider"
    assert providers["firehose"] == "FirehoseProvider"
    assert providers["kinesis"] == "KinesisProvider"
    assert providers["emr"] == "EmrProvider"
    assert providers["s3"] == "S3Provider"


def test_moto_served_services_enforce_aws_input_contract(profile: Any) -> None:
    """moto trusts its input; bdlab answers what AWS would (from botocore's models)."""
    import urllib.error
    import urllib.request

    def call(target: str, service: str, body: bytes) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(
            profile.endpoint_url + "/",
            data=body,
            method="POST",
            headers={
                "X-Amz-Target": target,
                "Content-Type": "application/x-amz-json-1.1",
                "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
                "SignedHeaders=host, Signature=x",
            },
        )
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert (
        call("Kinesis_20131202.PutRecord", "kinesis", b"{not json")[1]["__type"]
        == "SerializationException"
    )
    assert (
        call("Kinesis_20131202.Explode", "kinesis", b"{}")[1]["__type"]
        == "UnknownOperationException"
    )
    status, err = call(
        "Kinesis_20131202.CreateStream", "kinesis", b'{"StreamName": "", "ShardCount": 0}'
    )
    assert status == 400 and err["__type"] == "ValidationException"
    assert "greater than or equal to 1" in err["message"]
    status, err = call("AmazonSQS.SendMessage", "sqs", b"{}")
    assert err["__type"] == "ValidationException" and "messageBody" in err["message"]


def test_query_protocol_missing_parameter(aws: Callable[[str], Any], profile: Any) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        profile.endpoint_url + "/",
        data=b"Action=CreateRole&Version=2010-05-08",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x"
        },
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    body = e.value.read().decode()
    assert e.value.code == 400 and "<Code>MissingParameter</Code>" in body and "RoleName" in body
    with pytest.raises(ClientError) as ce:
        aws("iam").create_role(RoleName="x" * 65, AssumeRolePolicyDocument="{}")
    assert ce.value.response["Error"]["Code"] in (
        "ValidationError",
        "ValidationException",
        "InvalidInput",
    )
