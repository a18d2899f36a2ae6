"""S3 over HTTP with real boto3 (the way the labs and Spark use it)."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture()
def clocked(private_profile: Any, unique: Callable[[str], str]) -> tuple[Any, str, Any]:
    """(s3 client, fresh bucket, profile) on this module's own emulator: the tests that
    advance the clock by days must not age what later tests write on the session's."""
    from sim import clients

    s3 = clients.client("s3", private_profile)
    name = unique("clk")
    s3.create_bucket(Bucket=name)
    return s3, name, private_profile


def test_object_round_trip(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    r = s3.put_object(
        Bucket=bucket,
        Key="a/b c+d.txt",
        Body=b"hello",
        ContentType="text/plain",
        Metadata={"owner": "lab"},
    )
    assert r["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="a/b c+d.txt")
    assert got["Body"].read() == b"hello"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "lab"}
    head = s3.head_object(Bucket=bucket, Key="a/b c+d.txt")
    assert head["ContentLength"] == 5
    assert (
        s3.get_object(Bucket=bucket, Key="a/b c+d.txt", Range="bytes=1-3")["Body"].read() == b"ell"
    )
    assert s3.get_object(Bucket=bucket, Key="a/b c+d.txt", Range="bytes=-2")["Body"].read() == b"lo"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a/b c+d.txt", Range="bytes=10-20")
    assert code(e) == "InvalidRange"
    # S3's error fields: what was asked for and the object's size
    assert e.value.response["Error"]["RangeRequested"] == "bytes=10-20"
    assert e.value.response["Error"]["ActualObjectSize"] == "5"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "a/b c+d.txt"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"hello"
    s3.delete_object(Bucket=bucket, Key="copy")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="copy")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="copy")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_errors_have_aws_codes(
    aws: Callable[[str], Any], bucket: str, unique: Callable[[str], str]
) -> None:
    s3 = aws("s3")
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=unique("missing"))
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="No_Such")
    assert code(e) == "InvalidBucketName"
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code(e) == "BucketNotEmpty"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"2", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"1"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == "NoSuchLifecycleConfiguration"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "ia",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Transitions": [{"Days": 7, "StorageClass": "STANDARD_IA"}],
                    }
                ]
            },
        )
    assert code(e) == "InvalidArgument"


def test_listing_v1_v2_pagination_and_encoding(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    keys = [f"t/dt=2026-01-0{d}/part {i}.parquet" for d in range(1, 4) for i in range(4)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="t/", PaginationConfig={"PageSize": 5}
        )
    )
    assert len(pages) == 3
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys)
    r = s3.list_objects_v2(Bucket=bucket, Prefix="t/", Delimiter="/")
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == [
        f"t/dt=2026-01-0{d}/" for d in range(1, 4)
    ]
    v1 = list(
        s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7})
    )
    assert [o["Key"] for p in v1 for o in p.get("Contents", [])] == sorted(keys)
    assert s3.list_objects_v2(Bucket=bucket, StartAfter=keys[-2])["KeyCount"] == 1


def test_multipart_upload_and_download(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    data = bytes(range(256)) * (24 * 1024 * 4 + 1)  # ~24 MiB, not a part multiple
    cfg = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-4"')
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out, Config=cfg)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()
    uid = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=1, Body=b"x")
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == ["aborted"]
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_delete_objects_and_tagging(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x", Tagging="zone=raw")
    assert s3.get_object_tagging(Bucket=bucket, Key="k0")["TagSet"] == [
        {"Key": "zone", "Value": "raw"}
    ]
    r = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}, {"Key": "nope"}]}
    )
    assert sorted(d["Key"] for d in r["Deleted"]) == ["k0", "k1", "nope"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k2"]


def test_presigned_url_and_unsigned_health(
    aws: Callable[[str], Any], bucket: str, profile: Any
) -> None:
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"})
    assert urllib.request.urlopen(url).read() == b"presigned"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{profile.endpoint_url}/{bucket}/absent")
    assert e.value.code == 404 and b"<Code>NoSuchKey</Code>" in e.value.read()


def test_malformed_requests_get_aws_errors_not_tracebacks(profile: Any, bucket: str) -> None:
    base = profile.endpoint_url
    cases = [
        ("POST", f"/{bucket}?delete", b"<Delete><Object>"),
        ("POST", f"/{bucket}/k?uploadId=nope", b"not xml"),
        ("PUT", f"/{bucket}/k?partNumber=x&uploadId=nope", b"x"),
        ("GET", f"/{bucket}?list-type=2&max-keys=abc", b""),
        ("PUT", "/UPPER", b""),
    ]
    for method, path, body in cases:
        req = urllib.request.Request(base + path, data=body or None, method=method)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        text = e.value.read().decode()
        assert 400 <= e.value.code < 500, (path, e.value.code, text)
        assert "<Code>" in text and "Traceback" not in text


def test_lifecycle_runs_on_the_emulator_clock(clocked: tuple[Any, str, Any]) -> None:
    import json

    s3, bucket, profile = clocked
    s3.put_object(Bucket=bucket, Key="logs/app.log", Body=b"x" * (256 * 1024))
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "archive",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
                }
            ]
        },
    )
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Transitions"][0]["StorageClass"] == "GLACIER"
    assert s3.get_object(Bucket=bucket, Key="logs/app.log")["Body"].read()[:1] == b"x"

    def admin(path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            profile.endpoint_url + path, method="POST", data=json.dumps(body or {}).encode()
        )
        return json.loads(urllib.request.urlopen(req).read())

    admin("/_bdlab/clock", {"advance": 31 * 86400})
    admin("/_bdlab/lifecycle")
    head = s3.head_object(Bucket=bucket, Key="logs/app.log")
    assert head["StorageClass"] == "GLACIER"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="logs/")["Contents"][0]
    assert listed["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="logs/app.log")
    assert code(e) == "InvalidObjectState"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_restore_archived_objects_on_the_emulator_clock(clocked: tuple[Any, str, Any]) -> None:
    """RestoreObject: 202 then RestoreAlreadyInProgress while the retrieval runs, readable
    (still GLACIER) until the copy expires at midnight UTC after Days, 200 to extend it."""
    import json
    from email.utils import parsedate_to_datetime

    s3, bucket, profile = clocked

    def advance(seconds: float) -> float:
        req = urllib.request.Request(
            profile.endpoint_url + "/_bdlab/clock",
            method="POST",
            data=json.dumps({"advance": seconds}).encode(),
        )
        return float(json.loads(urllib.request.urlopen(req).read())["now"])

    def expiry(key: str) -> float:
        restore = s3.head_object(Bucket=bucket, Key=key)["Restore"]
        assert restore.startswith('ongoing-request="false", expiry-date="'), restore
        return parsedate_to_datetime(restore.split('expiry-date="')[1].rstrip('"')).timestamp()

    body = b"archived " * 1000
    s3.put_object(Bucket=bucket, Key="cold/a.csv", Body=body, StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="warm.csv", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="warm.csv", RestoreRequest={"Days": 1})
    assert code(e) == "InvalidObjectState"
    with pytest.raises(ClientError) as e:
        s3.copy_object(
            Bucket=bucket, Key="b.csv", CopySource={"Bucket": bucket, "Key": "cold/a.csv"}
        )
    assert code(e) == "ObjectNotInActiveTierError"

    req = {"Days": 2, "GlacierJobParameters": {"Tier": "Expedited"}}
    r = s3.restore_object(Bucket=bucket, Key="cold/a.csv", RestoreRequest=req)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert s3.head_object(Bucket=bucket, Key="cold/a.csv")["Restore"] == 'ongoing-request="true"'
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="cold/a.csv")
    assert code(e) == "InvalidObjectState"
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="cold/a.csv", RestoreRequest=req)
    assert code(e) == "RestoreAlreadyInProgress"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    listed = s3.list_objects_v2(
        Bucket=bucket, Prefix="cold/", OptionalObjectAttributes=["RestoreStatus"]
    )["Contents"][0]
    assert listed["RestoreStatus"] == {"IsRestoreInProgress": True}

    now = advance(5 * 60 + 1)  # Expedited: within 5 minutes
    got = s3.get_object(Bucket=bucket, Key="cold/a.csv")
    assert got["Body"].read() == body and got["StorageClass"] == "GLACIER"
    until = expiry("cold/a.csv")
    assert until % 86400 == 0 and 2 * 86400 <= until - now <= 3 * 86400  # midnight UTC after Days
    r = s3.restore_object(Bucket=bucket, Key="cold/a.csv", RestoreRequest={"Days": 5})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200  # already restored: new expiry
    assert expiry("cold/a.csv") == until + 3 * 86400
    listed = s3.list_objects_v2(
        Bucket=bucket, Prefix="cold/", OptionalObjectAttributes=["RestoreStatus"]
    )["Contents"][0]
    assert listed["RestoreStatus"]["IsRestoreInProgress"] is False

    with pytest.raises(ClientError) as e:
        s3.copy_object(
            Bucket=bucket,
            Key="cold/a.csv",
            CopySource={"Bucket": bucket, "Key": "cold/a.csv"},
            StorageClass="COLD",
        )
    assert code(e) == "InvalidStorageClass"
    # a restored object can be copied out of the archive (the copy is STANDARD by default)
    s3.copy_object(Bucket=bucket, Key="b.csv", CopySource={"Bucket": bucket, "Key": "cold/a.csv"})
    assert s3.head_object(Bucket=bucket, Key="b.csv").get("StorageClass", "STANDARD") == "STANDARD"

    advance(6 * 86400)  # past the expiry: archived again
    head = s3.head_object(Bucket=bucket, Key="cold/a.csv")
    assert "Restore" not in head and head["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="cold/a.csv")
    assert code(e) == "InvalidObjectState"
    assert s3.get_object(Bucket=bucket, Key="b.csv")["Body"].read() == body

    s3.put_object(Bucket=bucket, Key="cold/deep.csv", Body=b"d", StorageClass="DEEP_ARCHIVE")
    up = s3.create_multipart_upload(Bucket=bucket, Key="parts.csv")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="parts.csv",
            UploadId=up,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "cold/deep.csv"},
        )
    assert code(e) == "ObjectNotInActiveTierError"
    s3.abort_multipart_upload(Bucket=bucket, Key="parts.csv", UploadId=up)
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="cold/deep.csv", RestoreRequest=req)
    assert code(e) == "InvalidArgument"  # no Expedited tier for DEEP_ARCHIVE
    s3.restore_object(Bucket=bucket, Key="cold/deep.csv", RestoreRequest={"Days": 1})
    advance(11 * 3600)
    assert s3.head_object(Bucket=bucket, Key="cold/deep.csv")["Restore"] == 'ongoing-request="true"'
    advance(3600 + 1)  # DEEP_ARCHIVE Standard: within 12 hours
    assert s3.get_object(Bucket=bucket, Key="cold/deep.csv")["Body"].read() == b"d"


def test_error_bodies_named_in_issue_12(aws: Callable[[str], Any], bucket: str) -> None:
    """CompleteMultipartUpload with an unknown upload id: 404 NoSuchUpload naming it (not
    400 MalformedXML); ListParts carries Initiator; a bad Range names RangeRequested."""
    s3 = aws("s3")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId="no-such-upload",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0"'}]},
        )
    r = e.value.response
    assert (r["ResponseMetadata"]["HTTPStatusCode"], code(e)) == (404, "NoSuchUpload")
    assert r["Error"]["UploadId"] == "no-such-upload"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Initiator"]["ID"]
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    s3.put_object(Bucket=bucket, Key="small", Body=b"abc")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="small", Range="bytes=10-20")
    assert code(e) == "InvalidRange"
    assert e.value.response["Error"]["RangeRequested"] == "bytes=10-20"
    assert e.value.response["Error"]["ActualObjectSize"] == "3"
