"""S3's domain model, without HTTP."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3.api import ChunkedDecoder
from sim.emulator.providers.s3.model import MIN_PART_SIZE, S3Backend


@pytest.fixture()
def s3(tmp_path: Path) -> S3Backend:
    b = S3Backend(tmp_path, Clock())
    b.create_bucket("lake", "us-east-1", None)
    return b


def test_bucket_rules(s3: S3Backend) -> None:
    for bad in ("ab", "Upper", "a..b", "192.168.1.1", "-x-y", "x" * 64):
        with pytest.raises(AwsError) as e:
            s3.create_bucket(bad, "us-east-1", None)
        assert e.value.code == "InvalidBucketName"
    s3.create_bucket("lake", "us-east-1", None)  # us-east-1 owner re-create: 200
    with pytest.raises(AwsError) as e:
        s3.create_bucket("other", "eu-west-1", None)
    assert e.value.code == "IllegalLocationConstraintException"
    s3.create_bucket("other", "eu-west-1", "eu-west-1")
    assert s3.bucket_region("other") == "eu-west-1"
    with pytest.raises(AwsError) as e:
        s3.create_bucket("other", "eu-west-1", "eu-west-1")
    assert e.value.code == "BucketAlreadyOwnedByYou" and e.value.status == 409
    s3.put_bytes("other", "k", b"x")
    with pytest.raises(AwsError) as e:
        s3.delete_bucket("other")
    assert e.value.code == "BucketNotEmpty"


def test_listing_with_delimiter_and_pages(s3: S3Backend) -> None:
    keys = [f"t/dt=2026-01-{d:02d}/part-{i}.parquet" for d in range(1, 6) for i in range(3)]
    keys += ["t/_delta_log/0.json", "t/readme", "u/x"]
    for k in keys:
        s3.put_bytes("lake", k, b"1")
    page = s3.list_objects("lake", "t/", "/")
    assert [o.key for o in page.contents] == ["t/readme"]
    assert page.common_prefixes == ["t/_delta_log/"] + [
        f"t/dt=2026-01-{d:02d}/" for d in range(1, 6)
    ]
    # Paging two at a time visits every prefix once, resuming after a prefix marker.
    seen: list[str] = []
    marker = ""
    while True:
        p = s3.list_objects("lake", "t/", "/", marker, 2)
        seen += p.common_prefixes + [o.key for o in p.contents]
        if not p.truncated:
            break
        marker = p.next_marker or ""
    assert sorted(seen) == sorted(page.common_prefixes + ["t/readme"])
    assert len(seen) == len(set(seen))
    flat = [o.key for o in s3.iter_keys("lake")]
    assert flat == sorted(keys)


def test_conditional_writes(s3: S3Backend) -> None:
    first = s3.put_bytes("lake", "c", b"v1" * 200_000)  # big enough to live in a file
    assert first.file
    rel, md5 = s3.write_file(b"v2")
    from sim.emulator.providers.s3.model import ObjectInfo

    obj = ObjectInfo("lake", "c", 2, md5, 0, rel)
    with pytest.raises(AwsError) as e:
        s3.commit_object(obj, if_none_match="*")
    assert e.value.status == 412
    assert not s3.path_of(rel).exists()  # the rejected bytes are not kept
    rel, md5 = s3.write_file(b"v2")
    with pytest.raises(AwsError):
        s3.commit_object(ObjectInfo("lake", "c", 2, md5, 0, rel), if_match='"nope"')
    rel, md5 = s3.write_file(b"v2")
    s3.commit_object(ObjectInfo("lake", "c", 2, md5, 0, rel), if_match=f'"{first.etag}"')
    assert s3.read_bytes("lake", "c") == b"v2"
    assert not s3.path_of(first.file).exists()  # overwritten file released


def test_multipart_rules(s3: S3Backend) -> None:
    uid = s3.create_upload("lake", "big", {})
    big = b"a" * MIN_PART_SIZE
    for n, data in ((1, big), (2, b"tail")):
        rel, md5 = s3.write_file(data)
        s3.put_part("lake", "big", uid, n, rel, len(data), md5)
    parts = s3.list_parts(uid)
    with pytest.raises(AwsError) as e:
        s3.plan_complete("lake", "big", uid, [(2, parts[1].etag), (1, parts[0].etag)])
    assert e.value.code == "InvalidPartOrder"
    with pytest.raises(AwsError) as e:
        s3.plan_complete("lake", "big", uid, [(1, "bad"), (2, parts[1].etag)])
    assert e.value.code == "InvalidPart"
    upload, chosen = s3.plan_complete("lake", "big", uid, [(1, parts[0].etag), (2, parts[1].etag)])
    rel, size, etag = s3.assemble(chosen)
    obj = s3.finish_upload(upload, rel, size, etag, None, None)
    assert obj.etag.endswith("-2") and s3.read_bytes("lake", "big") == big + b"tail"
    assert s3.list_uploads("lake") == []
    # every part but the last must be >= 5 MiB
    uid = s3.create_upload("lake", "small", {})
    for n in (1, 2):
        rel, md5 = s3.write_file(b"x")
        s3.put_part("lake", "small", uid, n, rel, 1, md5)
    p = s3.list_parts(uid)
    with pytest.raises(AwsError) as e:
        s3.plan_complete("lake", "small", uid, [(1, p[0].etag), (2, p[1].etag)])
    assert e.value.code == "EntityTooSmall"


def test_orphan_files_are_swept_on_start(tmp_path: Path) -> None:
    b = S3Backend(tmp_path, Clock())
    b.create_bucket("lake", "us-east-1", None)
    b.put_bytes("lake", "kept", b"1")
    rel, _ = b.write_file(b"never committed")  # a crash between file and row
    b.close()
    b2 = S3Backend(tmp_path, Clock())
    assert not b2.path_of(rel).exists()
    assert b2.read_bytes("lake", "kept") == b"1"


@pytest.mark.parametrize("step", [1, 3, 7, 64, 10_000])
def test_aws_chunked_decoder_any_split(step: int) -> None:
    payload = bytes(range(256)) * 40
    body = b""
    for i in range(0, len(payload), 4096):
        chunk = payload[i : i + 4096]
        body += f"{len(chunk):x};chunk-signature=abc\r\n".encode() + chunk + b"\r\n"
    body += b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    d = ChunkedDecoder()
    out = b"".join(d.feed(body[i : i + step]) for i in range(0, len(body), step))
    assert out == payload
    assert d.trailers["x-amz-checksum-crc32"] == "AAAAAA=="


def test_restore_record_survives_a_restart_and_tagging(tmp_path: Path) -> None:
    b = S3Backend(tmp_path, Clock())
    b.create_bucket("lake", "us-east-1", None)
    b.put_bytes("lake", "cold.csv", b"x")
    b.set_storage_class("lake", "cold.csv", "GLACIER")
    record = {"tier": "Bulk", "days": 1, "ready": 1.0, "expiry": 2.0}
    b.set_restore("lake", "cold.csv", record)
    b.set_tags("lake", "cold.csv", {"zone": "raw"})
    b.close()
    again = S3Backend(tmp_path, Clock()).head("lake", "cold.csv")
    assert again.restore == record and again.tags == {"zone": "raw"}
    assert again.storage_class == "GLACIER"


def test_parts_are_assembled_where_copy_file_range_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS has no os.copy_file_range: every CompleteMultipartUpload failed there."""
    from sim.emulator.providers.s3 import model, store

    assert model.append_file is store.append_file  # still importable from the model
    src = tmp_path / "part"
    src.write_bytes(b"0123456789" * 100_000)
    for mode in ("missing", "copies nothing", "native"):
        out_path = tmp_path / f"out-{mode}"
        if mode == "missing":
            monkeypatch.delattr(store.os, "copy_file_range", raising=False)
        elif mode == "copies nothing":  # what some file systems do instead of failing
            monkeypatch.setattr(store.os, "copy_file_range", lambda *a: 0, raising=False)
        with open(out_path, "wb") as out:
            out.write(b"head:")
            for _ in range(2):
                with open(src, "rb") as fh:
                    store.append_file(fh, out)
            out.write(b":tail")
        assert out_path.read_bytes() == b"head:" + src.read_bytes() * 2 + b":tail"
        monkeypatch.undo()


def test_a_replaced_objects_file_outlives_a_rolled_back_transaction(s3: S3Backend) -> None:
    """CompleteMultipartUpload replaces an object inside a transaction: the old data file may
    go only once the new row is committed (a crash in between must not lose the old object)."""
    old = s3.put_bytes("lake", "k", b"o" * (300 * 1024))
    old_path = s3.path_of(old.file)
    rel, _md5 = s3.write_file(b"n" * (300 * 1024))
    new = replace(old, file=rel, etag="x", inline=None)
    with pytest.raises(RuntimeError), s3.store.tx():
        s3.store.put_object(new)
        assert old_path.exists()  # not yet: the row is not committed
        raise RuntimeError("crash before COMMIT")
    assert old_path.exists() and s3.read_bytes("lake", "k") == b"o" * (300 * 1024)
    with s3.store.tx():
        s3.store.put_object(new)
        assert old_path.exists()
    assert not old_path.exists() and s3.read_bytes("lake", "k") == b"n" * (300 * 1024)
