"""S3's domain model: buckets, objects, multipart uploads, durable on local disk.

Plain Python with no HTTP in sight. Metadata lives in SQLite (WAL: a committed row survives
a kill -9). Small objects (<= 256 KiB) live inside their row: creating a file costs far more
than a WAL append on most file systems. Larger ones live in immutable files named by uuid: a
write goes bytes to a new file, then one committed row that points at it, then the answer.
Overwrites never touch the old file until the new row is committed, so readers always see a
whole object (strong consistency). Files no row points to (a crash between the two steps)
are swept at start-up.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
import shutil
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError

MIN_PART_SIZE = 5 * 1024 * 1024
INLINE_MAX = 256 * 1024
MAX_PART_NUMBER = 10_000
MAX_DELETE_KEYS = 1000
MAX_KEY_BYTES = 1024
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")

# Bucket sub-resources stored verbatim, with the error AWS gives when one is absent.
CONFIG_MISSING: dict[str, tuple[str, str, int]] = {
    "lifecycle": (
        "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist",
        404,
    ),
    "tagging": ("NoSuchTagSet", "The TagSet does not exist", 404),
    "policy": ("NoSuchBucketPolicy", "The bucket policy does not exist", 404),
    "cors": ("NoSuchCORSConfiguration", "The CORS configuration does not exist", 404),
    "website": (
        "NoSuchWebsiteConfiguration",
        "The specified bucket does not have a website configuration",
        404,
    ),
    "encryption": (
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found",
        404,
    ),
    "publicAccessBlock": (
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
        404,
    ),
    "ownershipControls": (
        "OwnershipControlsNotFoundError",
        "The bucket ownership controls were not found",
        404,
    ),
    "replication": (
        "ReplicationConfigurationNotFoundError",
        "The replication configuration was not found",
        404,
    ),
}


@dataclass
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes
    last_modified: float
    file: str  # "" when the bytes are inline in the row
    content_type: str = "binary/octet-stream"
    storage_class: str = "STANDARD"
    headers: dict[str, str] = field(default_factory=dict)  # system headers kept verbatim
    user_meta: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parts: int = 0
    inline: bytes | None = None  # the bytes of a small object being written
    restore: dict[str, Any] = field(default_factory=dict)  # RestoreObject's record (restore.py)


@dataclass
class UploadInfo:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    attrs: dict[str, Any]


@dataclass
class PartInfo:
    number: int
    size: int
    etag: str
    file: str
    last_modified: float


@dataclass
class Listing:
    contents: list[ObjectInfo]
    common_prefixes: list[str]
    truncated: bool
    next_marker: str | None


def validate_bucket_name(name: str) -> None:
    if not _BUCKET_RE.match(name) or ".." in name or _IP_RE.match(name) or name.startswith("xn--"):
        raise AwsError(
            "InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name
        )


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def append_file(src: BinaryIO, out: BinaryIO) -> None:
    """Append all of ``src`` to ``out``: in the kernel where the platform can
    (``os.copy_file_range``, Linux), else through a buffer (macOS, Windows, file systems that
    refuse it), so CompleteMultipartUpload works everywhere."""
    size = os.fstat(src.fileno()).st_size
    offset = 0
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        out.flush()
        try:
            while offset < size:
                n = copy_range(src.fileno(), out.fileno(), size - offset)
                if n == 0:
                    break
                offset += n
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
    src.seek(offset)
    out.seek(0, os.SEEK_END)
    shutil.copyfileobj(src, out, 1 << 20)


class S3Backend:
    """Buckets and objects of one emulator, stored under ``root``."""

    def __init__(
        self, root: Path, clock: Clock, fsync: bool = False, account_id: str = "000000000000"
    ) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.fsync = fsync
        self.account_id = account_id
        self.db = sqlite3.connect(root / "meta.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA wal_autocheckpoint=4000")
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS buckets(
              name TEXT PRIMARY KEY, region TEXT, created REAL, config TEXT NOT NULL DEFAULT '{}');
            CREATE TABLE IF NOT EXISTS objects(
              bucket TEXT, key TEXT, size INTEGER, etag TEXT, mtime REAL, file TEXT,
              ctype TEXT, sclass TEXT, attrs TEXT, data BLOB, PRIMARY KEY(bucket, key));
            CREATE TABLE IF NOT EXISTS uploads(
              id TEXT PRIMARY KEY, bucket TEXT, key TEXT, initiated REAL, attrs TEXT);
            CREATE TABLE IF NOT EXISTS parts(
              upload TEXT, num INTEGER, size INTEGER, etag TEXT, file TEXT, mtime REAL,
              PRIMARY KEY(upload, num)) WITHOUT ROWID;
            """
        )
        self._dirs: set[str] = set()
        # Bucket name -> region, mirrored in memory: every object call checks its bucket.
        self._buckets = dict(self.db.execute("SELECT name, region FROM buckets").fetchall())
        self.sweep()

    # ----------------------------------------------------------------- files
    def new_file(self) -> tuple[str, Path]:
        """A fresh data-file name (relative) and its absolute path."""
        name = uuid.uuid4().hex
        rel = f"{name[:2]}/{name}"
        path = self.data / rel
        if name[:2] not in self._dirs:
            path.parent.mkdir(exist_ok=True)
            self._dirs.add(name[:2])
        return rel, path

    def path_of(self, rel: str) -> Path:
        return self.data / rel

    def _unlink(self, rel: str | None) -> None:
        if rel:
            try:
                (self.data / rel).unlink()
            except FileNotFoundError:
                pass

    def sweep(self) -> int:
        """Delete data files no committed row points to (left by a crash mid-write)."""
        live = {r[0] for r in self.db.execute("SELECT file FROM objects")}
        live |= {r[0] for r in self.db.execute("SELECT file FROM parts")}
        removed = 0
        for sub in self.data.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f"{sub.name}/{f.name}" not in live:
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed

    def write_file(self, data: bytes) -> tuple[str, str]:
        """Store ``data`` in a new file; returns (relative name, md5 hex)."""
        rel, path = self.new_file()
        with open(path, "wb") as fh:
            fh.write(data)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        return rel, hashlib.md5(data).hexdigest()

    # --------------------------------------------------------------- buckets
    def create_bucket(self, name: str, region: str, location: str | None) -> None:
        validate_bucket_name(name)
        if location is None and region != "us-east-1":
            raise AwsError(
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region "
                "specific endpoint this request was sent to.",
            )
        bucket_region = location or "us-east-1"
        row = self.db.execute("SELECT region FROM buckets WHERE name=?", (name,)).fetchone()
        if row is not None:
            if bucket_region == "us-east-1" and row[0] == "us-east-1":
                return  # us-east-1 answers 200 to the owner re-creating its bucket
            raise AwsError(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you "
                "already own it.",
                409,
                BucketName=name,
            )
        self.db.execute(
            "INSERT INTO buckets(name, region, created) VALUES(?,?,?)",
            (name, bucket_region, self.clock.now()),
        )
        self._buckets[name] = bucket_region

    def bucket_region(self, name: str) -> str:
        region = self._buckets.get(name)
        if region is None:
            raise AwsError(
                "NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name
            )
        return str(region)

    def require_bucket(self, name: str) -> None:
        self.bucket_region(name)

    def bucket_exists(self, name: str) -> bool:
        return name in self._buckets

    def list_buckets(self) -> list[tuple[str, float, str]]:
        return [
            tuple(r)
            for r in self.db.execute(  # type: ignore[misc]
                "SELECT name, created, region FROM buckets ORDER BY name"
            )
        ]

    def delete_bucket(self, name: str) -> None:
        self.require_bucket(name)
        if self.db.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone():
            raise AwsError(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
                409,
                BucketName=name,
            )
        files = [
            r[0]
            for r in self.db.execute(
                "SELECT p.file FROM parts p JOIN uploads u ON p.upload=u.id WHERE u.bucket=?",
                (name,),
            )
        ]
        with self._tx():
            self.db.execute(
                "DELETE FROM parts WHERE upload IN (SELECT id FROM uploads WHERE bucket=?)", (name,)
            )
            self.db.execute("DELETE FROM uploads WHERE bucket=?", (name,))
            self.db.execute("DELETE FROM buckets WHERE name=?", (name,))
            self._buckets.pop(name, None)
        for f in files:
            self._unlink(f)

    def _config(self, bucket: str) -> dict[str, Any]:
        row = self.db.execute("SELECT config FROM buckets WHERE name=?", (bucket,)).fetchone()
        if row is None:
            raise AwsError(
                "NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket
            )
        return dict(json.loads(row[0]))

    def get_config(self, bucket: str, kind: str) -> str | None:
        return self._config(bucket).get(kind)

    def put_config(self, bucket: str, kind: str, value: str | None) -> None:
        cfg = self._config(bucket)
        if value is None:
            cfg.pop(kind, None)
        else:
            cfg[kind] = value
        self.db.execute("UPDATE buckets SET config=? WHERE name=?", (json.dumps(cfg), bucket))

    # --------------------------------------------------------------- objects
    def _row_to_obj(self, bucket: str, key: str, row: tuple[Any, ...]) -> ObjectInfo:
        size, etag, mtime, file, ctype, sclass, attrs = row
        a = json.loads(attrs) if attrs else {}
        return ObjectInfo(
            bucket,
            key,
            size,
            etag,
            mtime,
            file,
            ctype,
            sclass,
            a.get("h", {}),
            a.get("m", {}),
            a.get("c", {}),
            a.get("t", {}),
            a.get("p", 0),
            restore=a.get("r", {}),
        )

    def head(self, bucket: str, key: str) -> ObjectInfo:
        row = self.db.execute(
            "SELECT size, etag, mtime, file, ctype, sclass, attrs FROM objects "
            "WHERE bucket=? AND key=?",
            (bucket, key),
        ).fetchone()
        if row is None:
            self.require_bucket(bucket)
            raise AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)
        return self._row_to_obj(bucket, key, row)

    def exists(self, bucket: str, key: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM objects WHERE bucket=? AND key=?", (bucket, key)
            ).fetchone()
            is not None
        )

    def check_write_conditions(
        self, bucket: str, key: str, if_none_match: str | None, if_match: str | None
    ) -> None:
        """S3 conditional writes: evaluated at commit time, 412 when they fail."""
        if if_none_match is None and if_match is None:
            return
        try:
            current: ObjectInfo | None = self.head(bucket, key)
        except AwsError as exc:
            if exc.code != "NoSuchKey":
                raise
            current = None
        if if_none_match is not None and if_none_match.strip() == "*" and current is not None:
            raise AwsError(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                412,
                Condition="If-None-Match",
            )
        if if_match is not None:
            if current is None:
                raise AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)
            if if_match.strip().strip('"') != current.etag:
                raise AwsError(
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold",
                    412,
                    Condition="If-Match",
                )

    def commit_object(
        self, obj: ObjectInfo, if_none_match: str | None = None, if_match: str | None = None
    ) -> ObjectInfo:
        """Make ``obj`` (whose file is already written) the current version of its key."""
        if len(obj.key.encode()) > MAX_KEY_BYTES:
            self._unlink(obj.file)
            raise AwsError("KeyTooLongError", "Your key is too long", 400)
        try:
            self.require_bucket(obj.bucket)
            self.check_write_conditions(obj.bucket, obj.key, if_none_match, if_match)
        except AwsError:
            self._unlink(obj.file)
            raise
        old = self.db.execute(
            "SELECT file FROM objects WHERE bucket=? AND key=?", (obj.bucket, obj.key)
        ).fetchone()
        attrs = _attrs(obj)
        self.db.execute(
            "INSERT OR REPLACE INTO objects(bucket, key, size, etag, mtime, file, ctype, sclass,"
            " attrs, data) VALUES(?,?,?,?,?,?,?,?,?,?)",
            (
                obj.bucket,
                obj.key,
                obj.size,
                obj.etag,
                obj.last_modified,
                obj.file,
                obj.content_type,
                obj.storage_class,
                attrs,
                obj.inline,
            ),
        )
        obj.inline = None
        if old is not None and old[0] != obj.file:
            self._unlink(old[0])
        return obj

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str | None = None, **kw: Any
    ) -> ObjectInfo:
        """Convenience for the domain API and tests: store ``data`` at ``key``."""
        self.require_bucket(bucket)
        if len(data) <= INLINE_MAX:
            rel, md5, inline = "", hashlib.md5(data).hexdigest(), data
        else:
            (rel, md5), inline = self.write_file(data), None
        obj = ObjectInfo(
            bucket,
            key,
            len(data),
            md5,
            self.clock.now(),
            rel,
            content_type or "binary/octet-stream",
            inline=inline,
            **kw,
        )
        return self.commit_object(obj)

    def read_bytes(self, bucket: str, key: str) -> bytes:
        obj = self.head(bucket, key)
        return self.read_range(obj, 0, obj.size)

    def read_range(self, obj: ObjectInfo, start: int, length: int) -> bytes:
        """``length`` bytes of ``obj`` from ``start`` (for ranges and small bodies)."""
        if not obj.file:
            row = self.db.execute(
                "SELECT substr(data, ?, ?) FROM objects WHERE bucket=? AND key=?",
                (start + 1, length, obj.bucket, obj.key),
            ).fetchone()
            return bytes(row[0]) if row and row[0] is not None else b""
        with open(self.path_of(obj.file), "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def delete_object(self, bucket: str, key: str) -> None:
        self.require_bucket(bucket)
        row = self.db.execute(
            "SELECT file FROM objects WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        if row is None:
            return  # S3 answers 204 for a missing key too
        self.db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
        self._unlink(row[0])

    def delete_objects(self, bucket: str, keys: list[str]) -> list[tuple[str, AwsError | None]]:
        if len(keys) > MAX_DELETE_KEYS:
            raise AwsError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not "
                "validate against our published schema",
            )
        self.require_bucket(bucket)
        files = []
        with self._tx():
            for key in keys:
                row = self.db.execute(
                    "SELECT file FROM objects WHERE bucket=? AND key=?", (bucket, key)
                ).fetchone()
                if row is not None:
                    files.append(row[0])
                    self.db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
        for f in files:
            self._unlink(f)
        return [(k, None) for k in keys]

    def set_storage_class(self, bucket: str, key: str, storage_class: str) -> None:
        self.db.execute(
            "UPDATE objects SET sclass=? WHERE bucket=? AND key=?", (storage_class, bucket, key)
        )

    def set_tags(self, bucket: str, key: str, tags: dict[str, str] | None) -> None:
        obj = self.head(bucket, key)
        obj.tags = tags or {}
        self.db.execute(
            "UPDATE objects SET attrs=? WHERE bucket=? AND key=?", (_attrs(obj), bucket, key)
        )

    def set_restore(self, bucket: str, key: str, restore: dict[str, Any]) -> None:
        obj = self.head(bucket, key)
        obj.restore = restore
        self.db.execute(
            "UPDATE objects SET attrs=? WHERE bucket=? AND key=?", (_attrs(obj), bucket, key)
        )

    def copy_object(
        self, src_bucket: str, src_key: str, dst: ObjectInfo | None, bucket: str, key: str
    ) -> ObjectInfo:
        """Copy by hard link (files are immutable, so sharing them is safe)."""
        src = self.head(src_bucket, src_key)
        self.require_bucket(bucket)
        inline = None
        rel = ""
        if src.file:
            rel, path = self.new_file()
            try:
                os.link(self.path_of(src.file), path)
            except OSError:
                shutil.copyfile(self.path_of(src.file), path)
        else:
            inline = self.read_range(src, 0, src.size)
        base = dst or src
        obj = ObjectInfo(
            bucket,
            key,
            src.size,
            src.etag,
            self.clock.now(),
            rel,
            base.content_type,
            # CopyObject stores the copy as STANDARD unless x-amz-storage-class says otherwise
            dst.storage_class if dst is not None else "STANDARD",
            dict(base.headers),
            dict(base.user_meta),
            dict(src.checksums),
            dict(base.tags),
            src.parts,
            inline,
        )
        return self.commit_object(obj)

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> Listing:
        """Keys in UTF-8 binary order, rolling keys up to common prefixes at ``delimiter``."""
        self.require_bucket(bucket)
        contents: list[ObjectInfo] = []
        prefixes: list[str] = []
        cursor = max(start_after, prefix)
        inclusive = start_after == "" or start_after < prefix
        if (
            delimiter
            and start_after.startswith(prefix)
            and start_after.endswith(delimiter)
            and start_after.find(delimiter, len(prefix)) == len(start_after) - len(delimiter)
        ):
            # A marker that is a common prefix resumes after every key under it.
            cursor, inclusive = start_after[:-1] + chr(ord(start_after[-1]) + 1), True
        last = None
        if max_keys <= 0:
            return Listing([], [], False, None)
        while True:
            op = ">=" if inclusive else ">"
            rows = self.db.execute(
                f"SELECT key, size, etag, mtime, file, ctype, sclass, attrs FROM objects "
                f"WHERE bucket=? AND key {op} ? ORDER BY key LIMIT 1000",
                (bucket, cursor),
            ).fetchall()
            if not rows:
                return Listing(contents, prefixes, False, None)
            jumped = False
            for row in rows:
                key = row[0]
                if not key.startswith(prefix):
                    return Listing(contents, prefixes, False, None)
                if len(contents) + len(prefixes) >= max_keys:
                    return Listing(contents, prefixes, True, last)
                if delimiter:
                    idx = key.find(delimiter, len(prefix))
                    if idx >= 0:
                        cp = key[: idx + len(delimiter)]
                        prefixes.append(cp)
                        last = cp
                        # Jump past every key under cp: its successor string bounds them.
                        cursor = cp[:-1] + chr(ord(cp[-1]) + 1)
                        inclusive = True
                        jumped = True
                        break
                contents.append(self._row_to_obj(bucket, key, row[1:]))
                last = key
                cursor, inclusive = key, False
            if not jumped and len(rows) < 1000:
                return Listing(contents, prefixes, False, None)

    def iter_keys(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        marker = ""
        while True:
            page = self.list_objects(bucket, prefix, start_after=marker)
            yield from page.contents
            if not page.truncated or not page.contents:
                return
            marker = page.contents[-1].key

    def stats(self) -> dict[str, int]:
        b = self.db.execute("SELECT count(*) FROM buckets").fetchone()[0]
        o, s = self.db.execute("SELECT count(*), coalesce(sum(size),0) FROM objects").fetchone()
        return {"buckets": b, "objects": o, "bytes": s}

    # ------------------------------------------------------------- multipart
    def create_upload(self, bucket: str, key: str, attrs: dict[str, Any]) -> str:
        self.require_bucket(bucket)
        upload_id = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
        upload_id = upload_id.rstrip("=")
        self.db.execute(
            "INSERT INTO uploads VALUES(?,?,?,?,?)",
            (upload_id, bucket, key, self.clock.now(), json.dumps(attrs)),
        )
        return upload_id

    def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        row = self.db.execute(
            "SELECT bucket, key, initiated, attrs FROM uploads WHERE id=?", (upload_id,)
        ).fetchone()
        if row is None or row[0] != bucket or row[1] != key:
            self.require_bucket(bucket)
            raise AwsError(
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID "
                "may be invalid, or the upload may have been aborted or completed.",
                404,
                UploadId=upload_id,
            )
        return UploadInfo(upload_id, row[0], row[1], row[2], json.loads(row[3]))

    def put_part(
        self, bucket: str, key: str, upload_id: str, number: int, rel: str, size: int, etag: str
    ) -> None:
        if not 1 <= number <= MAX_PART_NUMBER:
            self._unlink(rel)
            raise AwsError(
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
                400,
                ArgumentName="partNumber",
                ArgumentValue=str(number),
            )
        try:
            self.get_upload(bucket, key, upload_id)
        except AwsError:
            self._unlink(rel)
            raise
        old = self.db.execute(
            "SELECT file FROM parts WHERE upload=? AND num=?", (upload_id, number)
        ).fetchone()
        self.db.execute(
            "INSERT OR REPLACE INTO parts VALUES(?,?,?,?,?,?)",
            (upload_id, number, size, etag, rel, self.clock.now()),
        )
        if old is not None:
            self._unlink(old[0])

    def list_parts(self, upload_id: str) -> list[PartInfo]:
        return [
            PartInfo(n, s, e, f, m)
            for n, s, e, f, m in self.db.execute(
                "SELECT num, size, etag, file, mtime FROM parts WHERE upload=? ORDER BY num",
                (upload_id,),
            )
        ]

    def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        self.require_bucket(bucket)
        return [
            UploadInfo(i, bucket, k, t, json.loads(a))
            for i, k, t, a in self.db.execute(
                "SELECT id, key, initiated, attrs FROM uploads WHERE bucket=? AND substr(key,1,?)=? "
                "ORDER BY key, initiated",
                (bucket, len(prefix), prefix),
            )
        ]

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.get_upload(bucket, key, upload_id)
        files = [p.file for p in self.list_parts(upload_id)]
        with self._tx():
            self.db.execute("DELETE FROM parts WHERE upload=?", (upload_id,))
            self.db.execute("DELETE FROM uploads WHERE id=?", (upload_id,))
        for f in files:
            self._unlink(f)

    def plan_complete(
        self, bucket: str, key: str, upload_id: str, requested: list[tuple[int, str]]
    ) -> tuple[UploadInfo, list[PartInfo]]:
        """Validate the part list of CompleteMultipartUpload as S3 does."""
        upload = self.get_upload(bucket, key, upload_id)
        if not requested:
            raise AwsError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not "
                "validate against our published schema",
            )
        have = {p.number: p for p in self.list_parts(upload_id)}
        chosen: list[PartInfo] = []
        previous = 0
        for number, etag in requested:
            if number <= previous:
                raise AwsError(
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. "
                    "Parts must be ordered by part number.",
                )
            previous = number
            part = have.get(number)
            if part is None or etag.strip('"') != part.etag:
                raise AwsError(
                    "InvalidPart",
                    "One or more of the specified parts could not be "
                    "found. The part may not have been uploaded, or the specified "
                    "entity tag may not match the part's entity tag.",
                    PartNumber=number,
                    ETag=etag,
                )
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise AwsError(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    ProposedSize=part.size,
                    MinSizeAllowed=MIN_PART_SIZE,
                    PartNumber=part.number,
                )
        return upload, chosen

    def assemble(self, parts: list[PartInfo]) -> tuple[str, int, str]:
        """Concatenate part files into a new data file (safe to run off the event loop)."""
        rel, path = self.new_file()
        md5s = b""
        total = 0
        with open(path, "wb") as out:
            for part in parts:
                with open(self.path_of(part.file), "rb") as src:
                    append_file(src, out)
                total += part.size
                md5s += bytes.fromhex(part.etag)
            if self.fsync:
                out.flush()
                os.fsync(out.fileno())
        return rel, total, f"{hashlib.md5(md5s).hexdigest()}-{len(parts)}"

    def finish_upload(
        self,
        upload: UploadInfo,
        rel: str,
        size: int,
        etag: str,
        if_none_match: str | None,
        if_match: str | None,
    ) -> ObjectInfo:
        a = upload.attrs
        obj = ObjectInfo(
            upload.bucket,
            upload.key,
            size,
            etag,
            self.clock.now(),
            rel,
            a.get("ctype", "binary/octet-stream"),
            a.get("sclass", "STANDARD"),
            a.get("h", {}),
            a.get("m", {}),
            {},
            a.get("t", {}),
            len(self.list_parts(upload.upload_id)),
        )
        if not self.db.execute("SELECT 1 FROM uploads WHERE id=?", (upload.upload_id,)).fetchone():
            self._unlink(rel)
            raise AwsError(
                "NoSuchUpload",
                "The specified upload does not exist.",
                404,
                UploadId=upload.upload_id,
            )
        files = [p.file for p in self.list_parts(upload.upload_id)]
        with self._tx():
            self.commit_object(obj, if_none_match, if_match)
            self.db.execute("DELETE FROM parts WHERE upload=?", (upload.upload_id,))
            self.db.execute("DELETE FROM uploads WHERE id=?", (upload.upload_id,))
        for f in files:
            self._unlink(f)
        return obj

    # ------------------------------------------------------------------ misc
    def _tx(self) -> _Tx:
        return _Tx(self.db)

    def close(self) -> None:
        self.db.close()


def _attrs(obj: ObjectInfo) -> str:
    """The object's attributes column (JSON)."""
    a: dict[str, Any] = {
        "h": obj.headers,
        "m": obj.user_meta,
        "c": obj.checksums,
        "t": obj.tags,
        "p": obj.parts,
    }
    if obj.restore:
        a["r"] = obj.restore
    return json.dumps(a)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
