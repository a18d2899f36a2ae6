"""CRC32C and CRC64NVME computed and verified with awscrt, and CRC64NVME by default for an
upload that sends no checksum (issue 12 §5; S3 user guide, "Checking object integrity")."""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from awscrt import checksums
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


def test_crc32c_and_crc64nvme_are_verified(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    body = b"hello world" * 1000
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm="CRC32C")
    assert put["ChecksumCRC32C"] == b64(checksums.crc32c(body), 4)
    put = s3.put_object(Bucket=bucket, Key="n", Body=body, ChecksumAlgorithm="CRC64NVME")
    assert put["ChecksumCRC64NVME"] == b64(checksums.crc64nvme(body), 8)
    head = s3.head_object(Bucket=bucket, Key="n", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC64NVME"], head["ChecksumType"]) == (
        put["ChecksumCRC64NVME"],
        "FULL_OBJECT",
    )
    for wrong in ({"ChecksumCRC32C": "AAAAAA=="}, {"ChecksumCRC64NVME": "AAAAAAAAAAA="}):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="bad", Body=body, **wrong)
        assert e.value.response["Error"]["Code"] == "BadDigest"


def test_an_upload_without_a_checksum_gets_crc64nvme(profile: Any, bucket: str, aws: Any) -> None:
    req = urllib.request.Request(f"{profile.endpoint_url}/{bucket}/raw", data=b"abc", method="PUT")
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["x-amz-checksum-crc64nvme"] == b64(checksums.crc64nvme(b"abc"), 8)
    (listed,) = aws("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert listed["ChecksumAlgorithm"] == ["CRC64NVME"]
