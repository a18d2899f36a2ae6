"""What the emulator must refuse (issue 11, part 4): a body that did not arrive whole is never
stored; an oversize claim is answered at once; a malformed Content-MD5 is InvalidDigest."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def _raw(profile: Any, head: str, body: bytes, read: bool = True, timeout: float = 5.0) -> bytes:
    host, port = profile.endpoint_url.split("://", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        if not read:
            return b""
        out = b""
        try:
            while b"</Error>" not in out and b"\r\n\r\n" not in out[-4:]:
                data = sock.recv(65536)
                if not data:
                    break
                out += data
        except TimeoutError:
            pass
        return out


def _absent(aws: Any, bucket: str, key: str) -> bool:
    try:
        aws("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def _gone_within(aws: Any, bucket: str, key: str, seconds: float = 3.0) -> bool:
    """The server handles the dropped connection asynchronously: give it a moment, then
    the object must still not exist (it never may)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert _absent(aws, bucket, key), "a partial body was stored"
        time.sleep(0.2)
    return True


def test_aws_chunked_put_cut_mid_chunk_is_not_stored(profile: Any, aws: Any, bucket: str) -> None:
    key = "cut/aws-chunked.bin"
    head = (
        f"PUT /{bucket}/{key} HTTP/1.1\r\nHost: s3.amazonaws.com\r\n"
        "Content-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
        "Content-Length: 110\r\n"
    )
    # A 100-byte chunk announced, 10 bytes sent, then the connection closes.
    _raw(profile, head, b"64\r\n" + b"x" * 10, read=False)
    assert _gone_within(aws, bucket, key)


def test_http_chunked_put_cut_mid_chunk_is_not_stored(profile: Any, aws: Any, bucket: str) -> None:
    key = "cut/http-chunked.bin"
    head = (
        f"PUT /{bucket}/{key} HTTP/1.1\r\nHost: s3.amazonaws.com\r\nTransfer-Encoding: chunked\r\n"
    )
    _raw(profile, head, b"64\r\n" + b"y" * 10, read=False)
    assert _gone_within(aws, bucket, key)


def test_a_6_gb_claim_is_refused_at_once(profile: Any, aws: Any, bucket: str) -> None:
    key = "huge.bin"
    head = (
        f"PUT /{bucket}/{key} HTTP/1.1\r\nHost: s3.amazonaws.com\r\n"
        f"Content-Length: {6 * 1024**3}\r\n"
    )
    t0 = time.monotonic()
    out = _raw(profile, head, b"z" * 10)
    assert time.monotonic() - t0 < 4, "the answer waited for the claimed body"
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert b"<Code>EntityTooLarge</Code>" in out
    assert b"<MaxSizeAllowed>5368709120</MaxSizeAllowed>" in out
    assert _absent(aws, bucket, key)


def test_content_md5_that_is_not_base64_is_invalid_digest(aws: Any, bucket: str) -> None:
    s3 = aws("s3")
    for bad in ("not-base64!!", "AAAA"):  # not base64; base64 but not 16 bytes
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket=bucket, Key="md5.txt", Body=b"hello", ContentMD5=bad)
        assert info.value.response["Error"]["Code"] == "InvalidDigest", bad
    with pytest.raises(ClientError) as info:  # valid base64 of the wrong digest
        s3.put_object(
            Bucket=bucket, Key="md5.txt", Body=b"hello", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA=="
        )
    assert info.value.response["Error"]["Code"] == "BadDigest"
    assert _absent(aws, bucket, "md5.txt")
