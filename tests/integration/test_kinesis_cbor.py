"""Kinesis over AWS CBOR (application/x-amz-cbor-1.1), the wire format of the Java SDK, the KCL
and the Spark connectors. boto3 cannot speak it, so these tests sign and send CBOR bodies
themselves, byte for byte as the Java SDK v2 does (blobs as byte strings, timestamps as tag 1
holding epoch milliseconds)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sim import clients, profiles
from sim.admin import Admin

pytestmark = pytest.mark.integration

CBOR = "application/x-amz-cbor-1.1"


def call(profile: profiles.Profile, op: str, body: bytes) -> tuple[int, dict[str, str], Any]:
    """A signed Kinesis call with a CBOR body; the answer decoded without tag semantics."""
    url = f"{profile.endpoint_url}/"
    req = AWSRequest(
        "POST",
        url,
        data=body,
        headers={"Content-Type": CBOR, "X-Amz-Target": f"Kinesis_20131202.{op}"},
    )
    creds = Credentials(profile.access_key or "test", profile.secret_key or "test")
    SigV4Auth(creds, "kinesis", profile.region or "us-east-1").add_auth(req)
    prepared = urllib.request.Request(url, data=body, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(prepared, timeout=30) as r:
            status, raw = r.status, r.read()
            headers = {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
        headers = {k.lower(): v for k, v in e.headers.items()}
    # tag 1 kept as a CBORTag so the test sees exactly what came over the wire
    return status, headers, cbor2.loads(raw, semantic_decoders={1: lambda v, _i: ("tag1", v)})


def test_cbor_round_trip_as_the_java_sdk_sends_it(private_profile: profiles.Profile) -> None:
    kin = clients.client("kinesis", private_profile, retries=False)
    kin.create_stream(StreamName="cbor-a", ShardCount=1)
    now = Admin(str(private_profile.endpoint_url)).clock()["now"]

    data = bytes(range(256))  # not UTF-8: a blob must survive as raw bytes
    status, headers, out = call(
        private_profile,
        "PutRecord",
        cbor2.dumps({"StreamName": "cbor-a", "Data": data, "PartitionKey": "k"}),
    )
    assert status == 200, out
    assert headers["content-type"] == CBOR
    assert out["ShardId"] == "shardId-000000000000" and len(out["SequenceNumber"]) == 56

    # AT_TIMESTAMP with a tag-1 millisecond timestamp a second before the put
    status, _, it = call(
        private_profile,
        "GetShardIterator",
        cbor2.dumps(
            {
                "StreamName": "cbor-a",
                "ShardId": "shardId-000000000000",
                "ShardIteratorType": "AT_TIMESTAMP",
                "Timestamp": cbor2.CBORTag(1, int((now - 1) * 1000)),
            }
        ),
    )
    assert status == 200, it
    status, _, got = call(
        private_profile, "GetRecords", cbor2.dumps({"ShardIterator": it["ShardIterator"]})
    )
    assert status == 200, got
    (rec,) = got["Records"]
    assert rec["Data"] == data  # a byte string, not base64 text
    kind, millis = rec["ApproximateArrivalTimestamp"]
    assert kind == "tag1" and isinstance(millis, int)
    assert abs(millis / 1000 - now) < 5  # milliseconds on the emulator clock, not seconds
    assert rec["SequenceNumber"] == out["SequenceNumber"]

    # boto3 (JSON) reads the same record the CBOR client wrote
    shard_it = kin.get_shard_iterator(
        StreamName="cbor-a", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert kin.get_records(ShardIterator=shard_it)["Records"][0]["Data"] == data

    status, _, summary = call(
        private_profile, "DescribeStreamSummary", cbor2.dumps({"StreamName": "cbor-a"})
    )
    created = summary["StreamDescriptionSummary"]["StreamCreationTimestamp"]
    assert created[0] == "tag1" and abs(created[1] / 1000 - now) < 60


def test_cbor_put_records_batch(private_profile: profiles.Profile) -> None:
    kin = clients.client("kinesis", private_profile, retries=False)
    kin.create_stream(StreamName="cbor-b", ShardCount=2)
    entries = [{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(50)]
    status, _, out = call(
        private_profile,
        "PutRecords",
        cbor2.dumps({"StreamName": "cbor-b", "Records": entries}),
    )
    assert status == 200 and out["FailedRecordCount"] == 0 and len(out["Records"]) == 50
    assert {r["ShardId"] for r in out["Records"]} == {
        "shardId-000000000000",
        "shardId-000000000001",
    }


def test_cbor_errors_come_back_in_cbor_with_aws_codes(private_profile: profiles.Profile) -> None:
    status, headers, out = call(
        private_profile, "DescribeStreamSummary", cbor2.dumps({"StreamName": "no-such"})
    )
    assert status == 400
    assert headers["content-type"] == CBOR
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert out["__type"] == "ResourceNotFoundException" and "no-such" in out["message"]

    status, _, out = call(private_profile, "DescribeStreamSummary", b"\xff\x00not cbor")
    assert status == 400 and out["__type"] == "SerializationException"

    # a required member missing: the same validation as the JSON protocol
    status, _, out = call(private_profile, "PutRecord", cbor2.dumps({"StreamName": "x"}))
    assert status == 400 and out["__type"] == "ValidationException"
    assert "Member must not be null" in out["message"]


def test_http2_prior_knowledge_as_the_java_sdk_connects(private_profile: profiles.Profile) -> None:
    """The Java SDK v2 opens Kinesis connections with the HTTP/2 preface (h2c); the same port
    serves them, several streams on one connection, and HTTP/1.1 as before."""
    import httpx

    kin = clients.client("kinesis", private_profile, retries=False)
    kin.create_stream(StreamName="h2-a", ShardCount=1)
    url = f"{private_profile.endpoint_url}/"
    creds = Credentials(private_profile.access_key or "test", private_profile.secret_key or "t")

    def signed(op: str, body: bytes) -> dict[str, str]:
        req = AWSRequest(
            "POST",
            url,
            data=body,
            headers={"Content-Type": CBOR, "X-Amz-Target": f"Kinesis_20131202.{op}"},
        )
        SigV4Auth(creds, "kinesis", private_profile.region or "us-east-1").add_auth(req)
        return dict(req.headers)

    big = b"x" * 300_000  # beyond the default 64 KiB HTTP/2 window: flow control must work
    with httpx.Client(http1=False, http2=True, timeout=30) as h2c:
        for i in range(3):
            body = cbor2.dumps({"StreamName": "h2-a", "Data": big, "PartitionKey": f"k{i}"})
            r = h2c.post(url, content=body, headers=signed("PutRecord", body))
            assert r.http_version == "HTTP/2" and r.status_code == 200, r.content[:200]
        body = cbor2.dumps(
            {
                "StreamName": "h2-a",
                "ShardId": "shardId-000000000000",
                "ShardIteratorType": "TRIM_HORIZON",
            }
        )
        it = cbor2.loads(
            h2c.post(url, content=body, headers=signed("GetShardIterator", body)).content
        )
        body = cbor2.dumps({"ShardIterator": it["ShardIterator"]})
        r = h2c.post(url, content=body, headers=signed("GetRecords", body))
        assert r.http_version == "HTTP/2"
        got = cbor2.loads(r.content, semantic_decoders={1: lambda v, _i: v})
        assert [rec["Data"] for rec in got["Records"]] == [big] * 3
        # an error over HTTP/2 keeps AWS's shape
        body = cbor2.dumps({"StreamName": "no-such"})
        r = h2c.post(url, content=body, headers=signed("DescribeStreamSummary", body))
        assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    with httpx.Client(http1=True, http2=False, timeout=30) as h1:
        body = cbor2.dumps({"StreamName": "h2-a"})
        r = h1.post(url, content=body, headers=signed("DescribeStreamSummary", body))
        assert r.http_version == "HTTP/1.1" and r.status_code == 200
