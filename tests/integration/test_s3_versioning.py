"""S3 versioning as the S3 API reference and user guide answer it (issue 12 §4): version ids,
the null version, delete markers, GET/HEAD/DELETE/copy by versionId, ListObjectVersions
paging, Suspended, MFA delete refused, the noncurrent lifecycle on the clock, kill -9."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles, s3util
from tests.conftest import free_port
from tests.integration.test_durability import Proc, _client

pytestmark = pytest.mark.integration


def err(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], str(r["Error"]["Code"])


@pytest.fixture()
def vbucket(aws: Callable[[str], Any], unique: Callable[[str], str]) -> Iterator[str]:
    """A versioning-enabled bucket, every version removed afterwards."""
    s3 = aws("s3")
    name = unique("ver")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    s3util.delete_bucket(s3, name)  # versions and delete markers included
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_versions_and_delete_markers(
    aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    s3 = aws("s3")
    b = unique("ver")
    s3.create_bucket(Bucket=b)
    assert "Status" not in s3.get_bucket_versioning(Bucket=b)  # never enabled
    first = s3.put_object(Bucket=b, Key="k", Body=b"v0")
    assert "VersionId" not in first  # unversioned buckets send no version id
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"v2" * 70_000)["VersionId"]  # a file, not inline
    assert len({v1, v2}) == 2 and "null" not in (v1, v2)
    got = s3.get_object(Bucket=b, Key="k")
    assert got["VersionId"] == v2 and got["Body"].read() == b"v2" * 70_000
    assert s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read() == b"v0"
    assert s3.head_object(Bucket=b, Key="k", VersionId=v1)["ContentLength"] == 2

    gone = s3.delete_object(Bucket=b, Key="k")
    assert gone["DeleteMarker"] is True and gone["VersionId"] not in (v1, v2, "null")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k")
    assert err(e) == (404, "NoSuchKey")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:  # a delete marker asked by version id
        s3.get_object(Bucket=b, Key="k", VersionId=gone["VersionId"])
    assert err(e) == (405, "MethodNotAllowed")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId="AbCdEfGhIjKlMnOpQrStUvWxYz012345")
    assert err(e) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId="not a version!")
    assert err(e) == (400, "InvalidArgument")

    listed = s3.list_object_versions(Bucket=b)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        (v2, False),
        (v1, False),
        ("null", False),
    ]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        (gone["VersionId"], True)
    ]
    # deleting the marker for good brings the newest version back
    undo = s3.delete_object(Bucket=b, Key="k", VersionId=gone["VersionId"])
    assert undo["DeleteMarker"] is True and undo["VersionId"] == gone["VersionId"]
    assert s3.get_object(Bucket=b, Key="k")["VersionId"] == v2
    # deleting the current version makes the previous one current
    s3.delete_object(Bucket=b, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"v1"

    copy = s3.copy_object(
        Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "k", "VersionId": "null"}
    )
    assert copy["CopySourceVersionId"] == "null" and copy["VersionId"] != "null"
    assert s3.get_object(Bucket=b, Key="copy")["Body"].read() == b"v0"

    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=b)
    assert err(e) == (409, "BucketNotEmpty")
    out = s3.delete_objects(
        Bucket=b,
        Delete={
            "Objects": [
                {"Key": "k", "VersionId": v1},
                {"Key": "k", "VersionId": "null"},
                {"Key": "copy"},  # no version: a delete marker
            ]
        },
    )
    answers = {(d["Key"], d.get("VersionId")): d for d in out["Deleted"]}
    assert set(answers) == {("k", v1), ("k", "null"), ("copy", None)}
    assert answers[("copy", None)]["DeleteMarker"] is True
    assert answers[("copy", None)]["DeleteMarkerVersionId"]
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=b, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=b)


def test_list_object_versions_pages(aws: Callable[[str], Any], vbucket: str) -> None:
    s3 = aws("s3")
    ids = {}
    for key in ("a/1", "a/2", "b"):
        ids[key] = [s3.put_object(Bucket=vbucket, Key=key, Body=b"x")["VersionId"] for _ in "xyz"]
    seen = []
    kw: dict[str, Any] = {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket=vbucket, MaxKeys=2, **kw)
        pages += 1
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert pages == 5
    assert seen == [(k, v) for k in ("a/1", "a/2", "b") for v in reversed(ids[k])]
    rolled = s3.list_object_versions(Bucket=vbucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    assert [v["Key"] for v in rolled["Versions"]] == ["b"] * 3
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=vbucket, VersionIdMarker=ids["b"][0])
    assert err(e) == (400, "InvalidArgument")


def test_suspended_versioning_writes_the_null_version(
    aws: Callable[[str], Any], vbucket: str
) -> None:
    s3 = aws("s3")
    kept = s3.put_object(Bucket=vbucket, Key="k", Body=b"enabled")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=vbucket, Key="k", Body=b"s1")["VersionId"] == "null"
    assert s3.put_object(Bucket=vbucket, Key="k", Body=b"s2")["VersionId"] == "null"
    versions = s3.list_object_versions(Bucket=vbucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (kept, False)]
    marker = s3.delete_object(Bucket=vbucket, Key="k")
    assert marker["DeleteMarker"] is True and marker["VersionId"] == "null"
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=vbucket)["Versions"]] == [kept]


def test_mfa_delete_and_bad_configurations_are_refused(
    aws: Callable[[str], Any], vbucket: str
) -> None:
    s3 = aws("s3")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(
            Bucket=vbucket,
            VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
            MFA="arn:aws:iam::123456789012:mfa/root 123456",
        )
    assert err(e)[0] == 501 and err(e)[1] == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "On"})
    assert err(e) == (400, "IllegalVersioningConfigurationException")


def test_noncurrent_lifecycle_runs_on_the_clock(
    private_profile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    """NoncurrentVersionExpiration with NewerNoncurrentVersions, NoncurrentVersionTransition,
    Expiration adding a delete marker, and ExpiredObjectDeleteMarker removing the last one."""
    s3 = clients.client("s3", private_profile)
    b = unique("lc")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    big = b"x" * (200 * 1024)  # over the 128 KiB transition minimum
    vs = [s3.put_object(Bucket=b, Key="logs/a", Body=big)["VersionId"] for _ in range(4)]
    s3.put_object(Bucket=b, Key="tmp/t", Body=b"t")
    s3.put_bucket_lifecycle_configuration(
        Bucket=b,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "NoncurrentVersionTransitions": [
                        {"NoncurrentDays": 30, "StorageClass": "GLACIER"}
                    ],
                    "NoncurrentVersionExpiration": {
                        "NoncurrentDays": 60,
                        "NewerNoncurrentVersions": 1,
                    },
                },
                {
                    "ID": "tmp",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "tmp/"},
                    "Expiration": {"Days": 1},
                },
                {
                    "ID": "markers",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "tmp/"},
                    "Expiration": {"ExpiredObjectDeleteMarker": True},
                },
            ]
        },
    )

    def ahead(days: float) -> dict[str, Any]:
        req = urllib.request.Request(
            private_profile.endpoint_url + "/_bdlab/lifecycle",
            data=json.dumps({"bucket": b, "ahead_days": days}).encode(),
            method="POST",
        )
        return dict(json.loads(urllib.request.urlopen(req).read()))

    done = ahead(2)
    assert done["this_pass"]["expired"] == 1  # tmp/t: a delete marker now
    tmp = s3.list_object_versions(Bucket=b, Prefix="tmp/")
    assert len(tmp["Versions"]) == 1 and tmp["DeleteMarkers"][0]["IsLatest"] is True
    ahead(32)
    versions = {
        v["VersionId"]: v for v in s3.list_object_versions(Bucket=b, Prefix="logs/")["Versions"]
    }
    assert versions[vs[3]]["StorageClass"] == "STANDARD"  # current: untouched
    assert {versions[v]["StorageClass"] for v in vs[:3]} == {"GLACIER"}
    ahead(62)
    left = [v["VersionId"] for v in s3.list_object_versions(Bucket=b, Prefix="logs/")["Versions"]]
    assert left == [vs[3], vs[2]]  # the newest noncurrent one is kept
    # the noncurrent tmp/t expired? no rule for it; remove it, then the lone marker goes
    (old,) = s3.list_object_versions(Bucket=b, Prefix="tmp/")["Versions"]
    s3.delete_object(Bucket=b, Key="tmp/t", VersionId=old["VersionId"])
    done = ahead(63)
    assert done["this_pass"]["markers_removed"] == 1
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=b, Prefix="tmp/")


def test_versions_survive_kill9(tmp_path: Path) -> None:
    proc = Proc(tmp_path / "state", free_port()).start()
    try:
        s3 = _client(proc.port, "s3")
        s3.create_bucket(Bucket="durable-versions")
        s3.put_bucket_versioning(
            Bucket="durable-versions", VersioningConfiguration={"Status": "Enabled"}
        )
        v1 = s3.put_object(Bucket="durable-versions", Key="k", Body=b"one")["VersionId"]
        s3.put_object(Bucket="durable-versions", Key="k", Body=b"two" * 50_000)
        marker = s3.delete_object(Bucket="durable-versions", Key="k")["VersionId"]
        proc.kill9()
        proc.start()
        s3 = _client(proc.port, "s3")
        listed = s3.list_object_versions(Bucket="durable-versions")
        assert len(listed["Versions"]) == 2
        assert listed["DeleteMarkers"][0]["VersionId"] == marker
        got = s3.get_object(Bucket="durable-versions", Key="k", VersionId=v1)["Body"].read()
        assert got == b"one"
    finally:
        proc.stop()
