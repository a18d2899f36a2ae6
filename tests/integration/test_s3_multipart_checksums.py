"""FULL_OBJECT multipart checksums (CRC32, CRC32C, CRC64NVME) combined from the parts with
awscrt, and S3's CRC64NVME for a multipart upload created without an algorithm (issue 12 §5;
S3 user guide, "Checking object integrity")."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from awscrt import checksums
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

PART = 5 * 1024 * 1024


def crc(alg: str, data: bytes) -> str:
    if alg == "CRC32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if alg == "CRC32C":
        return base64.b64encode(checksums.crc32c(data).to_bytes(4, "big")).decode()
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_checksums(aws: Callable[[str], Any], bucket: str, alg: str) -> None:
    s3 = aws("s3")
    key = f"full-{alg}"
    parts = [b"a" * PART, b"b" * 1000]
    up = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=alg, ChecksumType="FULL_OBJECT"
    )
    assert up["ChecksumType"] == "FULL_OBJECT"
    done = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=up["UploadId"],
            PartNumber=n,
            Body=body,
            ChecksumAlgorithm=alg,
        )
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    whole = crc(alg, b"".join(parts))
    with pytest.raises(ClientError) as e:  # a wrong full-object value is refused
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=up["UploadId"],
            MultipartUpload={"Parts": done},
            ChecksumType="FULL_OBJECT",
            **{f"Checksum{alg}": crc(alg, b"other")},
        )
    assert e.value.response["Error"]["Code"] == "BadDigest"
    out = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": done},
        ChecksumType="FULL_OBJECT",
        **{f"Checksum{alg}": whole},
    )
    assert (out[f"Checksum{alg}"], out["ChecksumType"]) == (whole, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert (head[f"Checksum{alg}"], head["ChecksumType"]) == (whole, "FULL_OBJECT")


def test_a_multipart_upload_without_an_algorithm_gets_crc64nvme(
    aws: Callable[[str], Any], bucket: str
) -> None:
    s3 = aws("s3")
    up = s3.create_multipart_upload(Bucket=bucket, Key="plain")
    parts = [b"x" * PART, b"y" * 10]
    done = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(
            Bucket=bucket, Key="plain", UploadId=up["UploadId"], PartNumber=n, Body=body
        )
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="plain", UploadId=up["UploadId"], MultipartUpload={"Parts": done}
    )
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == crc("CRC64NVME", b"".join(parts))
    assert head["ChecksumType"] == "FULL_OBJECT"


def test_types_an_algorithm_does_not_allow(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    for alg, kind in (("CRC64NVME", "COMPOSITE"), ("SHA256", "FULL_OBJECT")):
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(
                Bucket=bucket, Key="k", ChecksumAlgorithm=alg, ChecksumType=kind
            )
        assert e.value.response["Error"]["Code"] == "InvalidRequest"
