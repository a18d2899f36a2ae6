"""Clock and fault settings through the admin endpoints, seen by real boto3 calls."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients

pytestmark = pytest.mark.integration


def admin(
    profile: Any, path: str, body: dict[str, Any] | None = None, method: str | None = None
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        profile.endpoint_url + path, data=data, method=method or ("POST" if data else "GET")
    )
    return json.loads(urllib.request.urlopen(req).read())


@pytest.fixture()
def no_faults(profile: Any) -> Iterator[None]:
    yield
    admin(profile, "/_bdlab/faults", method="DELETE")


def no_retry(profile: Any, service: str) -> Any:
    """A client without retries, to see the raw fault."""
    return clients.client(service, profile, retries=False)


def test_clock_moves_s3_timestamps(private_profile: Any) -> None:
    # its own emulator: 40 days ahead on the session's would put every later test's
    # wall-clock timestamps (CloudWatch metrics) outside AWS's two-week window
    s3 = clients.client("s3", private_profile)
    bucket = "clock-moves"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="before", Body=b"x")
    t0 = s3.head_object(Bucket=bucket, Key="before")["LastModified"]
    state = admin(private_profile, "/_bdlab/clock", {"advance": 40 * 86400})
    assert state["offset"] >= 40 * 86400 - 5
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    t1 = s3.head_object(Bucket=bucket, Key="after")["LastModified"]
    assert (t1 - t0).days >= 39


def test_faults_throttle_and_outage(profile: Any, bucket: str, no_faults: None) -> None:
    s3 = no_retry(profile, "s3")
    admin(profile, "/_bdlab/faults", {"service": "s3", "throttle_rate": 1.0})
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert e.value.response["Error"]["Code"] == "SlowDown"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    kin = no_retry(profile, "kinesis")
    kin.list_streams()  # faults are scoped: kinesis unaffected
    admin(profile, "/_bdlab/faults", {"service": "kinesis", "throttle_rate": 1.0})
    with pytest.raises(ClientError) as e:
        kin.list_streams()
    assert e.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    admin(profile, "/_bdlab/faults", method="DELETE")
    admin(profile, "/_bdlab/faults", {"outage": True})
    with pytest.raises(ClientError) as e:
        no_retry(profile, "sqs").list_queues()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    admin(profile, "/_bdlab/faults", method="DELETE")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # back to normal


def test_bad_admin_input_is_a_clear_400(profile: Any) -> None:
    for body in ({"error_rate": 5}, {"explode": 1}):
        req = urllib.request.Request(
            profile.endpoint_url + "/_bdlab/faults", data=json.dumps(body).encode(), method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 400 and "error" in json.loads(e.value.read())


def test_request_counts_by_s3_operation(
    profile: Any, aws: Callable[[str], Any], bucket: str
) -> None:
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.get_object(Bucket=bucket, Key="a")
    s3.head_object(Bucket=bucket, Key="a")
    s3.list_objects_v2(Bucket=bucket)
    counts = admin(profile, "/_bdlab/requests")
    mine = {k.split(" ", 1)[1]: v for k, v in counts.items() if k.startswith(f"s3:{bucket} ")}
    assert mine == {
        "CreateBucket": 1,
        "PutObject": 1,
        "GetObject": 1,
        "HeadObject": 1,
        "ListObjectsV2": 1,
    }
    assert counts["s3 PutObject"] >= 1


def test_the_aws_cost_model_makes_a_copy_cost_its_size(profile: Any, aws: Any, bucket: str) -> None:
    """Off: a local copy costs nothing. On: first byte + bytes / 88 MB/s, a copy as much as
    rewriting the data (sim/emulator/providers/s3/costs.py)."""
    import time

    from sim.admin import Admin

    admin = Admin.of(profile, "cost_model")
    s3 = aws("s3")
    body = b"x" * 22_000_000  # 0.25 s at 88 MB/s
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    try:
        t = time.perf_counter()
        s3.copy_object(Bucket=bucket, Key="copy0.bin", CopySource=f"{bucket}/big.bin")
        free = time.perf_counter() - t
        assert admin.set_costs("aws")["model"] == "aws"
        t = time.perf_counter()
        s3.copy_object(Bucket=bucket, Key="copy1.bin", CopySource=f"{bucket}/big.bin")
        costed = time.perf_counter() - t
        t = time.perf_counter()
        s3.head_object(Bucket=bucket, Key="big.bin")
        head = time.perf_counter() - t
    finally:
        admin.set_costs("off")
    assert costed >= 0.28 > free, (free, costed)
    assert 0.03 <= head < 0.25
    assert admin.costs()["model"] == "off"
