"""S3 as AWS answers it (issue 12, sections 2 and 3): nothing silently ignored, configurations
validated before they are stored. Real boto3 over HTTP, or raw HTTP where boto3 cannot express
the request; every expected value is AWS's documented (or recorded) answer, cited per test.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from sim.emulator.providers.s3 import surface

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def err(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    e = dict(exc.value.response["Error"])
    e["Status"] = exc.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return e


def xml_error(resp: requests.Response) -> dict[str, str]:
    root = ET.fromstring(resp.content)
    return {c.tag: c.text or "" for c in root}


@pytest.fixture()
def s3(aws: Callable[[str], Any]) -> Any:
    return aws("s3")


@pytest.fixture()
def url(profile: Any) -> str:
    return str(profile.endpoint_url)


# =================================================================== section 2
# -------------------------------------------------------- conditional writes
def test_put_if_none_match_with_an_etag_is_501_and_keeps_the_object(s3: Any, bucket: str) -> None:
    """AWS accepts only If-None-Match: * on PutObject; an ETag is 501 NotImplemented with
    Header If-None-Match (aws-sdk-ruby #3144; LocalStack's S3-validated snapshot)."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch=etag)
    got = err(e)
    assert got["Code"] == "NotImplemented" and got["Status"] == 501
    assert got["Header"] == "If-None-Match"
    assert got["Message"] == "A header you provided implies functionality that is not implemented"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_put_if_match_star_and_both_conditions_are_501(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch="*")
    assert (err(e)["Code"], err(e)["Header"]) == ("NotImplemented", "If-Match")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch="*", IfNoneMatch="*")
    assert err(e)["Header"] == "If-Match,If-None-Match"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert (err(e)["Code"], err(e)["Status"]) == ("PreconditionFailed", 412)


def test_delete_object_if_match(s3: Any, bucket: str) -> None:
    """DeleteObject If-Match on a general purpose bucket: 412 on a different ETag;
    x-amz-if-match-size is for directory buckets only, 501 (LocalStack's validated snapshots)."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0000"')
    assert (err(e)["Code"], err(e)["Condition"]) == ("PreconditionFailed", "If-Match")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=3)
    assert (err(e)["Code"], err(e)["Header"]) == ("NotImplemented", "x-amz-if-match-size")
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)


# ---------------------------------------------------------------- CopyObject
def _tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


@pytest.fixture()
def tagged(s3: Any, bucket: str) -> str:
    s3.put_object(
        Bucket=bucket,
        Key="src",
        Body=b"data",
        ContentType="text/csv",
        Metadata={"origin": "src"},
        Tagging="team=a&stage=raw",
    )
    return "src"


def test_copy_tagging_directive_replace_sets_the_new_tags(
    s3: Any, bucket: str, tagged: str
) -> None:
    """CopyObject x-amz-tagging-directive REPLACE: the copy has the request's tags."""
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": tagged},
        TaggingDirective="REPLACE",
        Tagging="stage=curated",
    )
    assert _tags(s3, bucket, "dst") == {"stage": "curated"}
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"origin": "src"} and head["ContentType"] == "text/csv"


def test_copy_metadata_replace_keeps_the_source_tags(s3: Any, bucket: str, tagged: str) -> None:
    """MetadataDirective REPLACE replaces metadata only; tags follow TaggingDirective (COPY)."""
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": tagged},
        MetadataDirective="REPLACE",
        Metadata={"origin": "copy"},
        ContentType="text/plain",
    )
    assert _tags(s3, bucket, "dst") == {"team": "a", "stage": "raw"}
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"origin": "copy"} and head["ContentType"] == "text/plain"


def test_copy_defaults_copy_metadata_and_tags(s3: Any, bucket: str, tagged: str) -> None:
    """Both directives default to COPY: the request's metadata and tags are not used."""
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": tagged},
        Metadata={"origin": "ignored"},
        Tagging="ignored=yes",
    )
    assert _tags(s3, bucket, "dst") == {"team": "a", "stage": "raw"}
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"origin": "src"}
    # REPLACE without x-amz-tagging: the copy has no tags.
    s3.copy_object(
        Bucket=bucket,
        Key="bare",
        CopySource={"Bucket": bucket, "Key": tagged},
        TaggingDirective="REPLACE",
    )
    assert _tags(s3, bucket, "bare") == {}


@pytest.mark.parametrize(
    ("header", "what"),
    [("x-amz-metadata-directive", "metadata"), ("x-amz-tagging-directive", "tagging")],
)
def test_copy_with_a_bogus_directive_is_invalid_argument(
    url: str, s3: Any, bucket: str, tagged: str, header: str, what: str
) -> None:
    """Directives are COPY | REPLACE (CopyObject); S3 answers InvalidArgument otherwise."""
    r = requests.put(
        f"{url}/{bucket}/dst", headers={"x-amz-copy-source": f"/{bucket}/{tagged}", header: "MOVE"}
    )
    assert r.status_code == 400
    body = xml_error(r)
    assert body["Code"] == "InvalidArgument"
    assert body["Message"] == f"Unknown {what} directive."
    assert (body["ArgumentName"], body["ArgumentValue"]) == (header, "MOVE")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dst")


# ------------------------------------------------------- GetObjectAttributes
def test_get_object_attributes_of_a_simple_object(s3: Any, bucket: str) -> None:
    """ETag without quotes, Checksum (FULL_OBJECT) when one was stored, no ObjectParts for a
    single PUT, StorageClass, ObjectSize (S3's answer in LocalStack's validated snapshot)."""
    s3.put_object(Bucket=bucket, Key="d.txt", Body=b"69\n420\n", ChecksumAlgorithm="CRC32")
    got = s3.get_object_attributes(
        Bucket=bucket,
        Key="d.txt",
        ObjectAttributes=["StorageClass", "ETag", "ObjectSize", "ObjectParts", "Checksum"],
    )
    assert got["ETag"] == hashlib.md5(b"69\n420\n").hexdigest()
    assert got["ObjectSize"] == 7 and got["StorageClass"] == "STANDARD"
    assert got["Checksum"] == {"ChecksumCRC32": "WC+ANw==", "ChecksumType": "FULL_OBJECT"}
    assert "ObjectParts" not in got and "LastModified" in got
    only = s3.get_object_attributes(Bucket=bucket, Key="d.txt", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only and only["ObjectSize"] == 7


def test_get_object_attributes_of_a_multipart_object(s3: Any, bucket: str) -> None:
    """ObjectParts of an upload without per-part checksums: TotalPartsCount only."""
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for n, body in ((1, b"a" * 5 * 1024 * 1024), (2, b"tail")):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts}
    )
    got = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"], MaxParts=1
    )
    assert got["ETag"].endswith("-2") and got["ObjectSize"] == 5 * 1024 * 1024 + 4
    assert got["ObjectParts"] == {"TotalPartsCount": 2}
    # GetObject ?partNumber reads that part as a range (206, PartsCount).
    part = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert part["Body"].read() == b"tail" and part["PartsCount"] == 2
    assert (
        part["ContentRange"] == f"bytes {5 * 1024 * 1024}-{5 * 1024 * 1024 + 3}/{got['ObjectSize']}"
    )
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert (err(e)["Code"], err(e)["Status"]) == ("InvalidPartNumber", 416)


def test_get_object_attributes_needs_the_header(url: str, s3: Any, bucket: str) -> None:
    """Without x-amz-object-attributes S3 answers 400 InvalidRequest (versitygw #915 quotes
    S3's body), an unknown name InvalidArgument (#917); never the object's bytes."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret bytes")
    r = requests.get(f"{url}/{bucket}/k?attributes")
    assert r.status_code == 400 and b"secret" not in r.content
    assert xml_error(r)["Code"] == "InvalidRequest"
    r = requests.get(f"{url}/{bucket}/k?attributes", headers={"x-amz-object-attributes": "Dummy"})
    body = xml_error(r)
    assert (body["Code"], body["Message"]) == (
        "InvalidArgument",
        "Invalid attribute name specified.",
    )


# ------------------------------------------------------ ListMultipartUploads
def test_list_multipart_uploads_pages_with_markers(s3: Any, bucket: str) -> None:
    """max-uploads, key-marker and upload-id-marker; NextKeyMarker / NextUploadIdMarker name
    the last upload listed (ListMultipartUploads; S3's answers in LocalStack's snapshots)."""
    ids = {}
    for key in ("a", "b", "b", "c"):
        ids.setdefault(key, []).append(
            s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        )
    first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert [u["Key"] for u in first["Uploads"]] == ["a", "b"]
    assert first["IsTruncated"] is True and first["MaxUploads"] == 2
    assert (first["NextKeyMarker"], first["NextUploadIdMarker"]) == ("b", ids["b"][0])
    second = s3.list_multipart_uploads(
        Bucket=bucket,
        MaxUploads=2,
        KeyMarker=first["NextKeyMarker"],
        UploadIdMarker=first["NextUploadIdMarker"],
    )
    assert [(u["Key"], u["UploadId"]) for u in second["Uploads"]] == [
        ("b", ids["b"][1]),
        ("c", ids["c"][0]),
    ]
    assert second["IsTruncated"] is False
    after_b = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in after_b["Uploads"]] == ["c"]
    with pytest.raises(ClientError) as e:
        s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a", UploadIdMarker=ids["c"][0])
    assert (err(e)["Code"], err(e)["Message"]) == ("InvalidArgument", "Invalid uploadId marker")
    assert len(s3.list_multipart_uploads(Bucket=bucket, Prefix="b")["Uploads"]) == 2


def test_list_multipart_uploads_with_a_delimiter(s3: Any, bucket: str) -> None:
    for key in ("folder/aSub/f1", "folder/aSub/f2", "folder/file1"):
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    got = s3.list_multipart_uploads(Bucket=bucket, Prefix="folder/", Delimiter="/")
    assert [c["Prefix"] for c in got["CommonPrefixes"]] == ["folder/aSub/"]
    assert [u["Key"] for u in got["Uploads"]] == ["folder/file1"]
    # a key-marker inside a common prefix skips the whole prefix (S3's recorded answer)
    skipped = s3.list_multipart_uploads(
        Bucket=bucket, Prefix="folder/", Delimiter="/", KeyMarker="folder/aSub/f1"
    )
    assert "CommonPrefixes" not in skipped and len(skipped["Uploads"]) == 1


# ----------------------------------------------------------- browser POST
def test_presigned_post_stores_the_object_with_its_fields(s3: Any, url: str, bucket: str) -> None:
    """A browser form upload ("Browser-based uploads using POST"): ${filename} in the key,
    Content-Type and x-amz-meta-* from the form, success_action_status 201 answers a
    PostResponse document; the default answer is 204."""
    fields = {
        "Content-Type": "text/csv",
        "x-amz-meta-owner": "lab",
        "success_action_status": "201",
    }
    conditions: list[Any] = [
        {"Content-Type": "text/csv"},
        {"x-amz-meta-owner": "lab"},
        {"success_action_status": "201"},
        ["content-length-range", 1, 1024],
    ]
    post = s3.generate_presigned_post(
        bucket, "uploads/${filename}", Fields=fields, Conditions=conditions, ExpiresIn=300
    )
    r = requests.post(
        f"{url}/{bucket}", data=post["fields"], files={"file": ("day1.csv", b"a,b\n1,2\n")}
    )
    assert r.status_code == 201, r.text
    root = ET.fromstring(r.content)
    assert root.tag == "PostResponse" and root.findtext("Key") == "uploads/day1.csv"
    csv = b"a,b\n1,2\n"
    assert root.findtext("ETag") == f'"{hashlib.md5(csv).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="uploads/day1.csv")
    assert got["Body"].read() == b"a,b\n1,2\n"
    assert got["ContentType"] == "text/csv" and got["Metadata"] == {"owner": "lab"}

    plain = s3.generate_presigned_post(bucket, "plain.bin", ExpiresIn=300)
    r = requests.post(f"{url}/{bucket}", data=plain["fields"], files={"file": ("x", b"xyz")})
    assert r.status_code == 204 and r.headers["etag"] == f'"{hashlib.md5(b"xyz").hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="plain.bin")["Body"].read() == b"xyz"


def test_presigned_post_policy_is_enforced(s3: Any, url: str, bucket: str) -> None:
    """403 AccessDenied "Invalid according to Policy: ..." when the form breaks a condition,
    carries a field no condition names, or the policy expired; EntityTooLarge past
    content-length-range (POST policy reference; LocalStack's S3-validated snapshots)."""
    post = s3.generate_presigned_post(
        bucket, "k", Conditions=[["starts-with", "$Content-Type", "image/"]], ExpiresIn=300
    )
    r = requests.post(
        f"{url}/{bucket}",
        data={**post["fields"], "Content-Type": "text/html"},
        files={"file": ("x", b"<html>")},
    )
    body = xml_error(r)
    assert r.status_code == 403 and body["Code"] == "AccessDenied"
    assert body["Message"].startswith("Invalid according to Policy: Policy Condition failed:")
    extra = s3.generate_presigned_post(bucket, "k", Fields={"x-amz-meta-a": "1"}, ExpiresIn=300)
    r = requests.post(f"{url}/{bucket}", data=extra["fields"], files={"file": ("x", b"1")})
    assert (
        xml_error(r)["Message"] == "Invalid according to Policy: Extra input fields: x-amz-meta-a"
    )
    small = s3.generate_presigned_post(
        bucket, "k", Conditions=[["content-length-range", 0, 2]], ExpiresIn=300
    )
    r = requests.post(f"{url}/{bucket}", data=small["fields"], files={"file": ("x", b"12345")})
    assert xml_error(r)["Code"] == "EntityTooLarge"
    old = s3.generate_presigned_post(bucket, "k", ExpiresIn=-10)
    r = requests.post(f"{url}/{bucket}", data=old["fields"], files={"file": ("x", b"1")})
    assert (r.status_code, xml_error(r)["Message"]) == (
        403,
        "Invalid according to Policy: Policy expired.",
    )
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


# ------------------------------------------------------------------- CORS
CORS = {
    "CORSRules": [
        {
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["x-amz-*", "content-type"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3000,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
    ]
}


def test_cors_configuration_round_trip(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert (err(e)["Code"], err(e)["Status"]) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=CORS)
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == CORS["CORSRules"]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_cors_preflight_is_answered_from_the_rules(s3: Any, url: str, bucket: str) -> None:
    """OPTIONS: 200 with the rule's Access-Control-* headers; 403 AccessForbidden "CORSResponse:
    This CORS request is not allowed..." when no rule matches; "CORS is not enabled" without a
    configuration; 400 without an Origin (S3's answers in LocalStack's validated snapshots)."""
    r = requests.options(
        f"{url}/{bucket}/k",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
    )
    assert r.status_code == 403
    assert xml_error(r)["Message"] == "CORSResponse: CORS is not enabled for this bucket."
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=CORS)
    r = requests.options(
        f"{url}/{bucket}/k",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "X-Amz-Date, Content-Type",
        },
    )
    assert r.status_code == 200, r.text
    h = r.headers
    assert h["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert h["Access-Control-Allow-Methods"] == "GET, PUT"
    assert h["Access-Control-Allow-Headers"] == "x-amz-date, content-type"
    assert h["Access-Control-Max-Age"] == "3000"
    assert h["Access-Control-Expose-Headers"] == "ETag"
    assert h["Access-Control-Allow-Credentials"] == "true"
    for origin, method in (("https://evil.org", "PUT"), ("https://app.example.com", "DELETE")):
        r = requests.options(
            f"{url}/{bucket}/k",
            headers={"Origin": origin, "Access-Control-Request-Method": method},
        )
        body = xml_error(r)
        assert (r.status_code, body["Code"]) == (403, "AccessForbidden")
        assert body["Message"].startswith("CORSResponse: This CORS request is not allowed.")
        assert (body["Method"], body["ResourceType"]) == (method, "OBJECT")
    r = requests.options(f"{url}/{bucket}/k")
    assert r.status_code == 400
    assert xml_error(r)["Message"] == "Insufficient information. Origin request header needed."
    wild = requests.options(
        f"{url}/{bucket}/k",
        headers={"Origin": "http://x.org", "Access-Control-Request-Method": "HEAD"},
    )
    assert wild.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in wild.headers


def test_cors_headers_on_actual_responses(s3: Any, url: str, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=CORS)
    r = requests.get(f"{url}/{bucket}/k", headers={"Origin": "https://app.example.com"})
    assert r.content == b"v"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    r = requests.get(f"{url}/{bucket}/k", headers={"Origin": "https://evil.org"})
    assert r.content == b"v" and "Access-Control-Allow-Origin" not in r.headers
    r = requests.get(f"{url}/{bucket}/k")
    assert "Access-Control-Allow-Origin" not in r.headers


# ------------------------------------------------------------- the guard
def _send(
    url: str, method: str, path: str, headers: dict[str, str] | None = None
) -> requests.Response:
    body = b"<x/>" if method in ("PUT", "POST") else None
    return requests.request(method, f"{url}{path}", headers=headers or {}, data=body)


@pytest.mark.parametrize(
    ("level", "sub", "method", "operation"), surface.unimplemented(), ids=lambda v: str(v)
)
def test_every_unimplemented_sub_resource_is_501(
    s3: Any, url: str, bucket: str, level: str, sub: str, method: str, operation: str
) -> None:
    """Each entry the table marks unimplemented is answered 501 NotImplemented naming the
    operation, never served as another operation (e.g. GET ?torrent as the object's bytes)."""
    s3.put_object(Bucket=bucket, Key="obj", Body=b"bytes of the object")
    path = f"/{bucket}?{sub}" if level == "bucket" else f"/{bucket}/obj?{sub}"
    r = _send(url, method, path)
    assert r.status_code == 501, (r.status_code, r.text)
    body = xml_error(r)
    assert body["Code"] == "NotImplemented" and operation in body["Message"]
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"bytes of the object"


@pytest.mark.parametrize(
    "header",
    [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-object-lock-legal-hold", "ON"),
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-write-offset-bytes", "0"),
    ],
)
def test_unimplemented_headers_are_501_naming_them(
    s3: Any, url: str, bucket: str, header: tuple[str, str]
) -> None:
    r = requests.put(f"{url}/{bucket}/k", headers=dict([header]), data=b"v")
    body = xml_error(r)
    assert (r.status_code, body["Code"], body["Header"]) == (501, "NotImplemented", header[0])
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_boto3_calls_of_unimplemented_features_fail_loudly(s3: Any, bucket: str) -> None:
    for call in (
        lambda: s3.put_bucket_website(
            Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
        ),
        lambda: s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "EventBridgeConfiguration": {},
            },
        ),
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v", ObjectLockLegalHoldStatus="ON"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)["Code"] == "NotImplemented" and err(e)["Status"] == 501
    # What the table serves for features never enabled answers as AWS does for such a bucket.
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=bucket)
    assert err(e)["Code"] == "NoSuchWebsiteConfiguration"
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_acls_are_disabled_as_on_new_aws_buckets(s3: Any, bucket: str) -> None:
    """BucketOwnerEnforced: ACLs other than bucket-owner-full-control are 400
    AccessControlListNotSupported (user guide, Object Ownership error responses)."""
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    assert (err(e)["Code"], err(e)["Message"]) == (
        "AccessControlListNotSupported",
        "The bucket does not allow ACLs",
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="bucket-owner-full-control")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert err(e)["Code"] == "AccessControlListNotSupported"


def test_the_docs_list_exactly_the_table() -> None:
    """docs/emulator.md carries the generated table (python -m sim.emulator.providers.s3.surface)."""
    doc = (ROOT / "docs" / "emulator.md").read_text()
    assert surface.markdown_table() in doc


# =================================================================== section 3
def _lifecycle_error(s3: Any, bucket: str, rule: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [rule]}
        )
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert err(gone)["Code"] == "NoSuchLifecycleConfiguration"  # nothing was stored
    return err(e)


def test_lifecycle_rule_without_an_action(s3: Any, bucket: str) -> None:
    got = _lifecycle_error(s3, bucket, {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "a/"}})
    assert (got["Code"], got["Message"]) == (
        "InvalidRequest",
        "At least one action needs to be specified in a rule",
    )


def test_lifecycle_expiration_days_zero(s3: Any, bucket: str) -> None:
    got = _lifecycle_error(
        s3, bucket, {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}
    )
    assert (got["Code"], got["Message"]) == (
        "InvalidArgument",
        "'Days' for Expiration action must be a positive integer",
    )


def test_lifecycle_expiration_not_after_transition(s3: Any, bucket: str) -> None:
    got = _lifecycle_error(
        s3,
        bucket,
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {"Prefix": "logs/"},
            "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
            "Expiration": {"Days": 90},
        },
    )
    assert (got["Code"], got["Message"]) == (
        "InvalidArgument",
        "'Days' in the Expiration action for filter '(prefix=logs/)' must be greater than "
        "'Days' in the Transition action",
    )


def test_lifecycle_abort_incomplete_upload_days_zero(s3: Any, bucket: str) -> None:
    got = _lifecycle_error(
        s3,
        bucket,
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0},
        },
    )
    assert (got["Code"], got["Message"]) == (
        "InvalidArgument",
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive "
        "integer",
    )


@pytest.mark.parametrize("sclass", ["STANDARD_IA", "ONEZONE_IA"])
def test_lifecycle_infrequent_access_needs_30_days(s3: Any, bucket: str, sclass: str) -> None:
    got = _lifecycle_error(
        s3,
        bucket,
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {},
            "Transitions": [{"Days": 29, "StorageClass": sclass}],
        },
    )
    assert (got["Code"], got["Message"]) == (
        "InvalidArgument",
        f"'Days' in Transition action must be greater than or equal to 30 for storageClass "
        f"'{sclass}'",
    )


def test_lifecycle_duplicate_ids_and_same_class_twice(s3: Any, bucket: str) -> None:
    rule = {"ID": "same", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [rule, dict(rule)]}
        )
    assert (err(e)["Code"], err(e)["Message"]) == (
        "InvalidArgument",
        "Rule ID must be unique. Found same ID for more than one rule",
    )
    got = _lifecycle_error(
        s3,
        bucket,
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {},
            "Transitions": [
                {"Days": 30, "StorageClass": "GLACIER"},
                {"Days": 60, "StorageClass": "GLACIER"},
            ],
        },
    )
    assert got["Code"] == "InvalidRequest" and "'StorageClass' must be different" in got["Message"]


@pytest.mark.parametrize(
    "rule",
    [
        # two predicates directly in a Filter (not in And)
        "<Filter><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"
        "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
        # neither Filter nor Prefix
        "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
        # Status is case-sensitive
        "<Filter/><Status>enabled</Status><Expiration><Days>1</Days></Expiration>",
        # Days and Date in one Expiration
        "<Filter/><Status>Enabled</Status><Expiration><Days>1</Days>"
        "<Date>2030-01-01T00:00:00Z</Date></Expiration>",
    ],
)
def test_lifecycle_documents_s3_finds_malformed(url: str, bucket: str, rule: str) -> None:
    body = f"<LifecycleConfiguration><Rule><ID>r</ID>{rule}</Rule></LifecycleConfiguration>"
    r = requests.put(f"{url}/{bucket}?lifecycle", data=body.encode())
    assert (r.status_code, xml_error(r)["Code"]) == (400, "MalformedXML")


def test_lifecycle_filter_rules(s3: Any, bucket: str) -> None:
    got = _lifecycle_error(
        s3,
        bucket,
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {"Tag": {"Key": "k", "Value": "v"}},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
        },
    )
    assert (got["Code"], got["Message"]) == (
        "InvalidRequest",
        "AbortIncompleteMultipartUpload cannot be specified with Tags.",
    )
    got = _lifecycle_error(
        s3,
        bucket,
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {"And": {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}},
            "Expiration": {"Days": 3},
        },
    )
    assert (got["Code"], got["Message"]) == (
        "InvalidRequest",
        "Duplicate Tag Keys are not allowed.",
    )
    when = (datetime.now(UTC) + timedelta(days=30)).replace(hour=12, minute=0, second=0)
    got = _lifecycle_error(
        s3, bucket, {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": when}}
    )
    assert (got["Code"], got["Message"]) == ("InvalidArgument", "'Date' must be at midnight GMT")


def test_a_valid_lifecycle_is_stored(s3: Any, bucket: str) -> None:
    rules = [
        {
            "ID": "tier",
            "Status": "Enabled",
            "Filter": {"Prefix": "raw/"},
            "Transitions": [
                {"Days": 30, "StorageClass": "STANDARD_IA"},
                {"Days": 0 + 90, "StorageClass": "GLACIER"},
            ],
            "Expiration": {"Days": 365},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
        {
            "ID": "tags",
            "Status": "Disabled",
            "Filter": {"And": {"Prefix": "t/", "Tags": [{"Key": "k", "Value": "v"}]}},
            "Expiration": {"Days": 1},
        },
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == [
        "tier",
        "tags",
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]},
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
        ),
        (
            {"AllowedOrigins": ["*"], "AllowedMethods": ["*"]},
            "Found unsupported HTTP method in CORS config. Unsupported method is *",
        ),
        (
            {"AllowedOrigins": ["https://*.*.example.com"], "AllowedMethods": ["GET"]},
            'AllowedOrigin "https://*.*.example.com" can not have more than one wildcard.',
        ),
    ],
)
def test_cors_rules_s3_refuses(s3: Any, bucket: str, rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert (err(e)["Code"], err(e)["Message"]) == ("InvalidRequest", message)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_cors_more_than_100_rules(s3: Any, bucket: str) -> None:
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 101})
    assert err(e)["Code"] == "MalformedXML"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 100})


# ----------------------------------------------------------------- tags
def _tag_error(s3: Any, bucket: str, tags: list[tuple[str, str]]) -> dict[str, Any]:
    s3.put_object(Bucket=bucket, Key="t", Body=b"v")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(
            Bucket=bucket,
            Key="t",
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags]},
        )
    assert _tags(s3, bucket, "t") == {}
    return err(e)


def test_tagging_duplicate_keys(s3: Any, bucket: str) -> None:
    got = _tag_error(s3, bucket, [("k", "1"), ("k", "2")])
    assert (got["Code"], got["Message"]) == (
        "InvalidTag",
        "Cannot provide multiple Tags with the same key",
    )


def test_tagging_eleven_tags(s3: Any, bucket: str) -> None:
    got = _tag_error(s3, bucket, [(f"k{i}", "v") for i in range(11)])
    assert (got["Code"], got["Message"]) == ("BadRequest", "Object tags cannot be greater than 10")


@pytest.mark.parametrize(
    ("pair", "code", "message"),
    [
        (("k" * 129, "v"), "InvalidTag", "The TagKey you have provided is invalid"),
        (("k", "v" * 257), "InvalidTag", "The TagValue you have provided is invalid"),
        (("aws:owner", "me"), "InvalidTag", "Your TagKey cannot be prefixed with aws:"),
    ],
)
def test_tagging_limits(
    s3: Any, bucket: str, pair: tuple[str, str], code: str, message: str
) -> None:
    got = _tag_error(s3, bucket, [pair])
    assert (got["Code"], got["Message"]) == (code, message)
    ok = [("k" * 128, "v" * 256)] + [(f"k{i}", "v") for i in range(9)]
    s3.put_object_tagging(
        Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in ok]}
    )


def test_tagging_header_rules(s3: Any, bucket: str) -> None:
    """x-amz-tagging on PutObject: a repeated key is InvalidArgument (aws-cli #2841), 11 tags
    BadRequest (terraform-provider-aws #19895); nothing is stored."""
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="h", Body=b"v", Tagging="a=1&a=2")
    assert err(e)["Code"] == "InvalidArgument" and err(e)["ArgumentName"] == "x-amz-tagging"
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket, Key="h", Body=b"v", Tagging="&".join(f"k{i}=v" for i in range(11))
        )
    assert (err(e)["Code"], err(e)["Message"]) == (
        "BadRequest",
        "Object tags cannot be greater than 10",
    )
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="h", Body=b"v", Tagging="aws:x=1")
    assert err(e)["Code"] == "InvalidTag"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="h")


# ------------------------------------------------------- lists and deletes
def test_delete_objects_with_an_empty_list_is_malformed_xml(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": []})
    assert (err(e)["Code"], err(e)["Status"]) == ("MalformedXML", 400)


def test_a_bogus_continuation_token_is_invalid_argument(s3: Any, bucket: str) -> None:
    """A well-formed token S3 did not issue: InvalidArgument "The continuation token provided
    is incorrect", ArgumentName continuation-token (LocalStack's validated snapshot)."""
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"v")
    token = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)["NextContinuationToken"]
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, ContinuationToken=token)
    assert [o["Key"] for o in page["Contents"]] == ["k1"]
    for bogus in ("aGVsbG8gd29ybGQ=", "azE=", "not a token"):
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket=bucket, ContinuationToken=bogus)
        got = err(e)
        assert (got["Code"], got["Message"], got["ArgumentName"]) == (
            "InvalidArgument",
            "The continuation token provided is incorrect",
            "continuation-token",
        )


def test_list_parts_with_an_empty_max_parts(s3: Any, url: str, bucket: str) -> None:
    """An empty max-parts= (and part-number-marker=) is ignored by S3: MaxParts 1000
    (LocalStack's validated snapshot), never a 500."""
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"data")
    r = requests.get(f"{url}/{bucket}/mp?uploadId={up}&max-parts=&part-number-marker=")
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.findtext(f"{NS}MaxParts") == "1000"
    assert [p.findtext(f"{NS}PartNumber") for p in root.iter(f"{NS}Part")] == ["1"]
    r = requests.get(f"{url}/{bucket}/mp?uploadId={up}&max-parts=many")
    assert (r.status_code, xml_error(r)["Code"]) == (400, "InvalidArgument")


def test_policy_and_encryption_documents_are_validated(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy="not json")
    assert (err(e)["Code"], err(e)["Message"]) == (
        "MalformedPolicy",
        "Policies must be valid JSON and the first byte must be '{'",
    )
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17"}))
    assert err(e)["Message"] == "Missing required field Statement"
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    for change, message in (
        ({}, "Missing required field Principal"),
        ({"Principal": "*", "Action": "sqs:SendMessage"}, "Policy has invalid action"),
        (
            {"Principal": "*", "Resource": "arn:aws:s3:::other-bucket/*"},
            "Policy has invalid resource",
        ),
    ):
        doc = {"Version": "2012-10-17", "Statement": [{**statement, **change}]}
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(doc))
        assert (err(e)["Code"], err(e)["Message"]) == ("MalformedPolicy", message)
    good = {"Version": "2012-10-17", "Statement": [{**statement, "Principal": "*"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(good))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == good
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert got["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "AES256",
                            "KMSMasterKeyID": "k",
                        }
                    }
                ]
            },
        )
    assert err(e)["Code"] == "InvalidArgument"


def test_expected_bucket_owner_is_checked(s3: Any, aws: Callable[[str], Any], bucket: str) -> None:
    """x-amz-expected-bucket-owner: another account is 403 AccessDenied, a value that is not an
    account ID 400 InvalidBucketOwnerAWSAccountID (LocalStack's AWS-validated snapshots)."""
    me = aws("sts").get_caller_identity()["Account"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ExpectedBucketOwner=me)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="999999999999")
    assert (err(e)["Code"], err(e)["Status"]) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner="abcd")
    assert err(e)["Status"] == 400


# S3's answers for these parts, recorded against AWS in LocalStack's validated snapshots
# (test_complete_multipart_parts_checksum_composite).
COMPOSITE_VECTORS = {
    "CRC32": (["NRU+Sw==", "NRU+Sw==", "TBHN8A=="], "5FRUiw=="),
    "SHA256": (
        [
            "DjU70AB1bON8k0n0fVHv2PJQVWcA/jWsITp6ti20Tbs=",
            "DjU70AB1bON8k0n0fVHv2PJQVWcA/jWsITp6ti20Tbs=",
            "vyy1imj2hNlaO3jvj2Ycmk5bCegsyPnMiMzpBSjK6yc=",
        ],
        "9o++y6AejqboiJ7MZCx0fahK2Vu5YC/qnNhhYsCLciI=",
    ),
}


@pytest.mark.parametrize("alg", sorted(COMPOSITE_VECTORS))
def test_get_object_attributes_pages_the_parts_of_a_composite_upload(
    s3: Any, bucket: str, alg: str
) -> None:
    """An upload created with a checksum algorithm: per-part checksums, the COMPOSITE
    checksum ("-3"), and GetObjectAttributes' ObjectParts listing the parts with paging."""
    part_sums, whole = COMPOSITE_VECTORS[alg]
    up = s3.create_multipart_upload(
        Bucket=bucket, Key="c", ChecksumAlgorithm=alg, ChecksumType="COMPOSITE"
    )
    assert (up["ChecksumAlgorithm"], up["ChecksumType"]) == (alg, "COMPOSITE")
    data = b"a" * (5 * 1024 * 1024 + 1)
    parts = []
    for n, body in ((1, data), (2, data), (3, data[:10])):
        r = s3.upload_part(
            Bucket=bucket,
            Key="c",
            UploadId=up["UploadId"],
            PartNumber=n,
            Body=body,
            ChecksumAlgorithm=alg,
        )
        assert r[f"Checksum{alg}"] == part_sums[n - 1]
        parts.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{alg}": r[f"Checksum{alg}"]})
    listed = s3.list_parts(Bucket=bucket, Key="c", UploadId=up["UploadId"])
    assert [p[f"Checksum{alg}"] for p in listed["Parts"]] == part_sums
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="c", UploadId=up["UploadId"], MultipartUpload={"Parts": bare}
        )
    assert (err(e)["Code"], err(e)["Message"]) == (
        "InvalidRequest",
        f"The upload was created using a {alg.lower()} checksum. The complete request must "
        "include the checksum for each part. It was missing for part 1 in the request.",
    )
    wrong = [{**p, f"Checksum{alg}": part_sums[2]} for p in parts[:1]] + parts[1:]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="c", UploadId=up["UploadId"], MultipartUpload={"Parts": wrong}
        )
    assert (err(e)["Code"], err(e)["PartNumber"]) == ("InvalidPart", "1")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert (done[f"Checksum{alg}"], done["ChecksumType"]) == (f"{whole}-3", "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert (head[f"Checksum{alg}"], head["ChecksumType"]) == (f"{whole}-3", "COMPOSITE")
    part3 = s3.get_object(Bucket=bucket, Key="c", PartNumber=3, ChecksumMode="ENABLED")
    assert part3["Body"].read() == data[:10] and part3[f"Checksum{alg}"] == part_sums[2]
    attrs = s3.get_object_attributes(
        Bucket=bucket, Key="c", ObjectAttributes=["Checksum", "ObjectParts"], MaxParts=2
    )
    assert attrs["Checksum"] == {f"Checksum{alg}": whole, "ChecksumType": "COMPOSITE"}
    first = attrs["ObjectParts"]
    assert (first["TotalPartsCount"], first["IsTruncated"], first["NextPartNumberMarker"]) == (
        3,
        True,
        2,
    )
    assert [(p["PartNumber"], p["Size"]) for p in first["Parts"]] == [
        (1, len(data)),
        (2, len(data)),
    ]
    rest = s3.get_object_attributes(
        Bucket=bucket,
        Key="c",
        ObjectAttributes=["ObjectParts"],
        MaxParts=2,
        PartNumberMarker=first["NextPartNumberMarker"],
    )["ObjectParts"]
    assert rest["IsTruncated"] is False and rest["PartNumberMarker"] == 2
    assert rest["Parts"] == [{"PartNumber": 3, "Size": 10, f"Checksum{alg}": part_sums[2]}]


def test_create_multipart_upload_checksum_headers(url: str, s3: Any, bucket: str) -> None:
    """S3's answers for checksum headers on CreateMultipartUpload (recorded); FULL_OBJECT
    multipart checksums are answered (test_s3_multipart_checksums.py)."""
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumType="COMPOSITE")
    assert err(e)["Message"] == (
        "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
    )
    r = requests.post(f"{url}/{bucket}/c?uploads", headers={"x-amz-checksum-algorithm": "MD5"})
    assert xml_error(r)["Code"] == "InvalidRequest"
    up = s3.create_multipart_upload(
        Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    assert (up["ChecksumAlgorithm"], up["ChecksumType"]) == ("CRC32", "FULL_OBJECT")
    s3.abort_multipart_upload(Bucket=bucket, Key="c", UploadId=up["UploadId"])


def test_sse_kms_headers_are_kept(s3: Any, bucket: str) -> None:
    """SSE-KMS request headers are stored and answered (PutObject / HeadObject), not dropped."""
    put = s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"v",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/k1",
        BucketKeyEnabled=True,
    )
    assert put["SSEKMSKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/k1"
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms" and head["BucketKeyEnabled"] is True
    assert head["SSEKMSKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/k1"


def test_answers_carry_the_headers_aws_always_sends(aws: Callable[[str], Any]) -> None:
    """Date on every answer; S3's Server and x-amz-id-2 next to x-amz-request-id (issue 12,
    section 5: clients and proxies log them)."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="headers-always")
    s3.put_object(Bucket="headers-always", Key="k", Body=b"x")
    for h in (
        s3.head_object(Bucket="headers-always", Key="k")["ResponseMetadata"]["HTTPHeaders"],
        s3.list_buckets()["ResponseMetadata"]["HTTPHeaders"],
    ):
        assert h["server"] == "AmazonS3"
        assert len(h["x-amz-id-2"]) == 76 and h["x-amz-request-id"]
        assert h["date"].endswith(" GMT")
    sqs = aws("sqs").list_queues()["ResponseMetadata"]["HTTPHeaders"]
    assert sqs["date"].endswith(" GMT") and "x-amz-id-2" not in sqs


@pytest.mark.parametrize(
    "suffix",
    [
        "s3.amazonaws.com",
        "s3.us-east-1.amazonaws.com",
        "s3-us-east-1.amazonaws.com",
        "s3.dualstack.us-east-1.amazonaws.com",
        "s3.us-east-1.localhost.localstack.cloud",
    ],
)
def test_region_qualified_virtual_hosts_name_the_bucket(
    aws: Callable[[str], Any], profile: Any, suffix: str
) -> None:
    """A missing bucket addressed by a region-qualified virtual host got ListBuckets (issue 12,
    section 5); the bucket in the host name is the bucket of the request."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="vhost-bucket")
    s3.put_object(Bucket="vhost-bucket", Key="a/b.txt", Body=b"hello")
    base = profile.endpoint_url
    got = requests.get(f"{base}/a/b.txt", headers={"Host": f"vhost-bucket.{suffix}"}, timeout=10)
    assert got.status_code == 200 and got.content == b"hello"
    listing = requests.get(f"{base}/", headers={"Host": f"vhost-bucket.{suffix}"}, timeout=10)
    assert b"<ListBucketResult" in listing.content and b"a/b.txt" in listing.content
    missing = requests.get(f"{base}/", headers={"Host": f"no-such-bucket-x.{suffix}"}, timeout=10)
    assert missing.status_code == 404 and xml_error(missing)["Code"] == "NoSuchBucket"


def test_sse_s3_by_default_on_every_write_and_read(aws: Callable[[str], Any]) -> None:
    """Since 2023 every bucket encrypts new objects with SSE-S3 and S3 says so: writes, reads,
    HEAD, copies and the multipart answers carry ServerSideEncryption AES256 (issue 12,
    section 5: 88 AWS-validated tests missed it)."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="sse-default")
    assert s3.put_object(Bucket="sse-default", Key="k", Body=b"x")["ServerSideEncryption"] == (
        "AES256"
    )
    assert s3.head_object(Bucket="sse-default", Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket="sse-default", Key="k")["ServerSideEncryption"] == "AES256"
    copy = s3.copy_object(
        Bucket="sse-default", Key="c", CopySource={"Bucket": "sse-default", "Key": "k"}
    )
    assert copy["ServerSideEncryption"] == "AES256"
    up = s3.create_multipart_upload(Bucket="sse-default", Key="m")
    assert up["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(
        Bucket="sse-default", Key="m", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 10
    )
    assert part["ServerSideEncryption"] == "AES256"
    done = s3.complete_multipart_upload(
        Bucket="sse-default",
        Key="m",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert done["ServerSideEncryption"] == "AES256"
    # asked for, SSE-KMS is kept (stored and answered, not enforced: docs/emulator.md)
    kms = s3.put_object(Bucket="sse-default", Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    assert kms["ServerSideEncryption"] == "aws:kms"
    assert s3.head_object(Bucket="sse-default", Key="kms")["ServerSideEncryption"] == "aws:kms"
    kcopy = s3.copy_object(
        Bucket="sse-default", Key="kc", CopySource={"Bucket": "sse-default", "Key": "kms"}
    )
    assert kcopy["ServerSideEncryption"] == "AES256"  # the destination's default, as S3 does


def test_checksums_boto3_sends_are_reported_in_answers_and_listings(
    aws: Callable[[str], Any],
) -> None:
    """Current boto3 sends a CRC32 with every upload; S3 keeps it and reports it with its
    ChecksumType on the PUT, on HEAD (checksum mode) and in listings (issue 12, section 5)."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="sums-listed")
    put = s3.put_object(Bucket="sums-listed", Key="k", Body=b"hello")
    assert put["ChecksumCRC32"] and put["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket="sums-listed", Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == put["ChecksumCRC32"] and head["ChecksumType"] == "FULL_OBJECT"
    (obj,) = s3.list_objects_v2(Bucket="sums-listed")["Contents"]
    assert obj["ChecksumAlgorithm"] == ["CRC32"] and obj["ChecksumType"] == "FULL_OBJECT"
    (obj,) = s3.list_objects(Bucket="sums-listed")["Contents"]
    assert obj["ChecksumAlgorithm"] == ["CRC32"]
