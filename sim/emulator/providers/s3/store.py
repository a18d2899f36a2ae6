"""S3's durable storage: rows in SQLite, object bytes in immutable files, on local disk.

Metadata lives in SQLite (WAL: a committed row survives a kill -9). Small objects live inside
their row (the model decides which: creating a file costs far more than a WAL append on most
file systems). Larger ones live in immutable files named by uuid: a write goes bytes to a new
file, then one committed row that points at it, then the answer. A file is unlinked only
after the row that replaced or dropped it is written, so readers always see a whole object
(strong consistency). Files no row points to (a crash between the two steps) are swept when
the store opens.

This module knows rows and files, not S3's rules: it raises no S3 errors and answers None
(or False) where a row is missing; ``model.py`` turns that into S3's answers.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets(
  name TEXT PRIMARY KEY, region TEXT, created REAL, config TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS objects(
  bucket TEXT, key TEXT, size INTEGER, etag TEXT, mtime REAL, file TEXT,
  ctype TEXT, sclass TEXT, attrs TEXT, data BLOB, PRIMARY KEY(bucket, key));
CREATE TABLE IF NOT EXISTS uploads(
  id TEXT PRIMARY KEY, bucket TEXT, key TEXT, initiated REAL, attrs TEXT);
CREATE TABLE IF NOT EXISTS parts(
  upload TEXT, num INTEGER, size INTEGER, etag TEXT, file TEXT, mtime REAL,
  checksum TEXT NOT NULL DEFAULT '', PRIMARY KEY(upload, num)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions(
  bucket TEXT, key TEXT, vid TEXT, seq INTEGER, marker INTEGER, size INTEGER, etag TEXT,
  mtime REAL, file TEXT, ctype TEXT, sclass TEXT, attrs TEXT, data BLOB, since REAL,
  PRIMARY KEY(bucket, key, vid));
CREATE INDEX IF NOT EXISTS versions_by_seq ON versions(bucket, key, seq);
"""
_OBJECT_COLUMNS = "size, etag, mtime, file, ctype, sclass, attrs, vid"
# a version row (noncurrent version or delete marker) as ObjectInfo reads it
_VERSION_COLUMNS = "size, etag, mtime, file, ctype, sclass, attrs, vid, marker, since, data"


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
    part_sizes: list[int] = field(default_factory=list)  # bytes per part of a multipart object
    part_checksums: list[str] = field(default_factory=list)  # per part, COMPOSITE uploads
    version_id: str = "null"  # "null" unless written while the bucket's versioning was Enabled
    delete_marker: bool = False
    noncurrent_since: float = 0.0  # when a newer version replaced it (0: the current one)


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
    checksum: str = ""  # the part's checksum (base64) in its upload's algorithm, if any


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
                    break  # some file systems copy nothing instead of failing: finish below
                offset += n
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        if offset >= size:
            return
    src.seek(offset)
    out.seek(0, os.SEEK_END)
    shutil.copyfileobj(src, out, 1 << 20)


class S3Store:
    """The database ``root/meta.db`` and the data files under ``root/data``.

    ``fsync``: flush data files to the device before their row is written, and run SQLite
    with ``synchronous=FULL`` (survives power loss, not only a killed process).
    """

    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._deferred: list[str] | None = None  # files to delete when the open tx commits
        self.db = sqlite3.connect(root / "meta.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA wal_autocheckpoint=4000")
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.executescript(_SCHEMA)
        # Stores made before parts kept their checksum gain the column (SQLite appends it).
        if "checksum" not in {r[1] for r in self.db.execute("PRAGMA table_info(parts)")}:
            self.db.execute("ALTER TABLE parts ADD COLUMN checksum TEXT NOT NULL DEFAULT ''")
        # ... and objects their version id and order (versioning, S3 user guide)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(objects)")}
        if "vid" not in columns:
            self.db.execute("ALTER TABLE objects ADD COLUMN vid TEXT NOT NULL DEFAULT 'null'")
        if "seq" not in columns:
            self.db.execute("ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        self._seq = max(
            self.db.execute("SELECT coalesce(max(seq), 0) FROM objects").fetchone()[0],
            self.db.execute("SELECT coalesce(max(seq), 0) FROM versions").fetchone()[0],
        )
        self._dirs: set[str] = set()
        # Bucket name -> region, mirrored in memory: every object call checks its bucket.
        self._buckets: dict[str, str] = dict(
            self.db.execute("SELECT name, region FROM buckets").fetchall()
        )
        self.sweep()

    def tx(self) -> _Tx:
        """A ``with`` block that commits its statements together (rolls back on error).
        Files released inside it are deleted only after the COMMIT (see :meth:`release`)."""
        return _Tx(self)

    def release(self, rel: str | None) -> None:
        """Delete a data file a row no longer points to: at once outside a transaction, after
        its COMMIT inside one. Deleting it before the COMMIT would lose an acknowledged object
        if the process died in between (the rolled-back row would point at nothing)."""
        if self._deferred is not None:
            if rel:
                self._deferred.append(rel)
            return
        self.unlink(rel)

    def close(self) -> None:
        self.db.close()

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
        """The absolute path of data file ``rel``."""
        return self.data / rel

    def unlink(self, rel: str | None) -> None:
        """Delete data file ``rel`` if there is one ("" and None: an inline object)."""
        if rel:
            try:
                (self.data / rel).unlink()
            except FileNotFoundError:
                pass

    def sweep(self) -> int:
        """Delete data files no committed row points to (left by a crash mid-write); returns
        how many."""
        live = {r[0] for r in self.db.execute("SELECT file FROM objects")}
        live |= {r[0] for r in self.db.execute("SELECT file FROM parts")}
        live |= {r[0] for r in self.db.execute("SELECT file FROM versions")}
        removed = 0
        for sub in self.data.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f"{sub.name}/{f.name}" not in live:
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed

    def sync(self, fh: BinaryIO) -> None:
        """Flush an open data file to the device when the store runs with ``fsync``."""
        if self.fsync:
            fh.flush()
            os.fsync(fh.fileno())

    def write_file(self, data: bytes) -> str:
        """Store ``data`` in a new data file; returns its relative name."""
        rel, path = self.new_file()
        with open(path, "wb") as fh:
            fh.write(data)
            self.sync(fh)
        return rel

    def link_file(self, rel: str) -> str:
        """A new data file with the bytes of ``rel``: a hard link where the file system allows
        (files are immutable, so sharing them is safe), else a copy. Returns its name."""
        new, path = self.new_file()
        try:
            os.link(self.path_of(rel), path)
        except OSError:
            shutil.copyfile(self.path_of(rel), path)
        return new

    def assemble(self, files: list[str]) -> str:
        """Concatenate data files, in order, into a new one; returns its name (blocking file
        I/O: safe to run off the event loop)."""
        rel, path = self.new_file()
        with open(path, "wb") as out:
            for name in files:
                with open(self.path_of(name), "rb") as src:
                    append_file(src, out)
            self.sync(out)
        return rel

    def read_range(
        self, bucket: str, key: str, file: str, start: int, length: int, vid: str | None = None
    ) -> bytes:
        """``length`` bytes from offset ``start`` of an object: from data file ``file``, or
        from the row of ``bucket``/``key`` when ``file`` is "" (b"" if the row is gone); of
        the noncurrent version ``vid`` when given."""
        if not file and vid is not None:
            row = self.db.execute(
                "SELECT substr(data, ?, ?) FROM versions WHERE bucket=? AND key=? AND vid=?",
                (start + 1, length, bucket, key, vid),
            ).fetchone()
            return bytes(row[0]) if row and row[0] is not None else b""
        if not file:
            row = self.db.execute(
                "SELECT substr(data, ?, ?) FROM objects WHERE bucket=? AND key=?",
                (start + 1, length, bucket, key),
            ).fetchone()
            return bytes(row[0]) if row and row[0] is not None else b""
        with open(self.path_of(file), "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    # --------------------------------------------------------------- buckets
    def bucket_region(self, name: str) -> str | None:
        """The bucket's region, None when there is no such bucket."""
        return self._buckets.get(name)

    def insert_bucket(self, name: str, region: str, created: float) -> None:
        self.db.execute(
            "INSERT INTO buckets(name, region, created) VALUES(?,?,?)", (name, region, created)
        )
        self._buckets[name] = region

    def list_buckets(self) -> list[tuple[str, float, str]]:
        """(name, created epoch seconds, region) of every bucket, by name."""
        return [
            tuple(r)
            for r in self.db.execute(  # type: ignore[misc]
                "SELECT name, created, region FROM buckets ORDER BY name"
            )
        ]

    def bucket_has_objects(self, name: str) -> bool:
        """Whether any object, noncurrent version or delete marker is left in the bucket."""
        for table in ("objects", "versions"):
            found = self.db.execute(f"SELECT 1 FROM {table} WHERE bucket=? LIMIT 1", (name,))
            if found.fetchone() is not None:
                return True
        return False

    def delete_bucket(self, name: str) -> None:
        """Drop the bucket row with its multipart uploads and their part files."""
        files = [
            r[0]
            for r in self.db.execute(
                "SELECT p.file FROM parts p JOIN uploads u ON p.upload=u.id WHERE u.bucket=?",
                (name,),
            )
        ]
        with self.tx():
            self.db.execute(
                "DELETE FROM parts WHERE upload IN (SELECT id FROM uploads WHERE bucket=?)", (name,)
            )
            self.db.execute("DELETE FROM uploads WHERE bucket=?", (name,))
            self.db.execute("DELETE FROM buckets WHERE name=?", (name,))
            self._buckets.pop(name, None)
        for f in files:
            self.unlink(f)

    def get_config(self, bucket: str) -> dict[str, Any] | None:
        """The bucket's stored sub-resources (kind -> document), None without the bucket."""
        row = self.db.execute("SELECT config FROM buckets WHERE name=?", (bucket,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def set_config(self, bucket: str, config: dict[str, Any]) -> None:
        self.db.execute("UPDATE buckets SET config=? WHERE name=?", (json.dumps(config), bucket))

    # --------------------------------------------------------------- objects
    def get_object(self, bucket: str, key: str) -> ObjectInfo | None:
        row = self.db.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        return None if row is None else _row_to_obj(bucket, key, row)

    def object_exists(self, bucket: str, key: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM objects WHERE bucket=? AND key=?", (bucket, key)
            ).fetchone()
            is not None
        )

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _to_versions(self, bucket: str, key: str, since: float) -> None:
        """Move the key's current row to the noncurrent versions (inside a transaction)."""
        self.db.execute(
            "INSERT OR REPLACE INTO versions(bucket, key, vid, seq, marker, size, etag, mtime,"
            " file, ctype, sclass, attrs, data, since) SELECT bucket, key, vid, seq, 0, size,"
            " etag, mtime, file, ctype, sclass, attrs, data, ? FROM objects"
            " WHERE bucket=? AND key=?",
            (since, bucket, key),
        )
        self.db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))

    def _drop_version(self, bucket: str, key: str, vid: str) -> tuple[bool, bool]:
        """Delete a noncurrent version or marker row and release its file: (found, marker)."""
        row = self.db.execute(
            "SELECT file, marker FROM versions WHERE bucket=? AND key=? AND vid=?",
            (bucket, key, vid),
        ).fetchone()
        if row is None:
            return False, False
        self.db.execute(
            "DELETE FROM versions WHERE bucket=? AND key=? AND vid=?", (bucket, key, vid)
        )
        self.release(row[0])
        return True, bool(row[1])

    def _promote(self, bucket: str, key: str) -> None:
        """With no current row, the newest version becomes current unless it is a delete
        marker (S3: deleting the current version makes the previous one current)."""
        if self.object_exists(bucket, key):
            return
        row = self.db.execute(
            "SELECT vid, marker FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC LIMIT 1",
            (bucket, key),
        ).fetchone()
        if row is None or row[1]:
            return
        self.db.execute(
            "INSERT INTO objects(bucket, key, size, etag, mtime, file, ctype, sclass, attrs,"
            " data, vid, seq) SELECT bucket, key, size, etag, mtime, file, ctype, sclass, attrs,"
            " data, vid, seq FROM versions WHERE bucket=? AND key=? AND vid=?",
            (bucket, key, row[0]),
        )
        self.db.execute(
            "DELETE FROM versions WHERE bucket=? AND key=? AND vid=?", (bucket, key, row[0])
        )

    def put_object(self, obj: ObjectInfo, versioning: str | None = None) -> None:
        """Write ``obj``'s row (its file already written, or its bytes in ``obj.inline``) as
        the key's current version. Unversioned (``versioning`` None) it replaces the previous
        row, whose file is released; Enabled keeps the previous one as a noncurrent version;
        Suspended replaces only a "null" version (current or not) and keeps the others."""
        with self.tx():
            old = self.db.execute(
                "SELECT file, vid FROM objects WHERE bucket=? AND key=?", (obj.bucket, obj.key)
            ).fetchone()
            if versioning is not None:
                if old is not None and not (versioning == "Suspended" and old[1] == "null"):
                    self._to_versions(obj.bucket, obj.key, obj.last_modified)
                    old = None
                if versioning == "Suspended":
                    self._drop_version(obj.bucket, obj.key, "null")
            self.db.execute(
                "INSERT OR REPLACE INTO objects(bucket, key, size, etag, mtime, file, ctype,"
                " sclass, attrs, data, vid, seq) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    obj.bucket,
                    obj.key,
                    obj.size,
                    obj.etag,
                    obj.last_modified,
                    obj.file,
                    obj.content_type,
                    obj.storage_class,
                    _attrs(obj),
                    obj.inline,
                    obj.version_id,
                    self._next_seq(),
                ),
            )
            obj.inline = None  # the row holds the bytes now
            if old is not None and old[0] != obj.file:
                self.release(old[0])

    def delete_object(self, bucket: str, key: str) -> None:
        """Drop the key's row, then its file; nothing when there is no such row."""
        row = self.db.execute(
            "SELECT file FROM objects WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        if row is None:
            return
        self.db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
        self.release(row[0])

    def add_delete_marker(
        self, bucket: str, key: str, versioning: str, vid: str, now: float
    ) -> None:
        """DeleteObject without a version on a versioned bucket: the current version becomes
        noncurrent (Suspended: a current "null" version is removed), and a delete marker
        ``vid`` becomes the newest version (Suspended: it replaces any "null" version)."""
        with self.tx():
            cur = self.db.execute(
                "SELECT file, vid FROM objects WHERE bucket=? AND key=?", (bucket, key)
            ).fetchone()
            if cur is not None:
                if versioning == "Suspended" and cur[1] == "null":
                    self.delete_object(bucket, key)
                else:
                    self._to_versions(bucket, key, now)
            if versioning == "Suspended":
                self._drop_version(bucket, key, "null")
            self.db.execute(
                "INSERT OR REPLACE INTO versions(bucket, key, vid, seq, marker, size, etag,"
                " mtime, file, ctype, sclass, attrs, data, since)"
                " VALUES(?,?,?,?,1,0,'',?,'','','','',NULL,0)",
                (bucket, key, vid, self._next_seq(), now),
            )

    def delete_version(self, bucket: str, key: str, vid: str) -> tuple[bool, bool]:
        """Delete version ``vid`` for good: (found, it was a delete marker). Deleting the
        current version (or the newest marker) makes the next newest one current."""
        with self.tx():
            cur = self.db.execute(
                "SELECT vid FROM objects WHERE bucket=? AND key=?", (bucket, key)
            ).fetchone()
            if cur is not None and cur[0] == vid:
                self.delete_object(bucket, key)
                found, marker = True, False
            else:
                found, marker = self._drop_version(bucket, key, vid)
            if found:
                self._promote(bucket, key)
        return found, marker

    def get_version(self, bucket: str, key: str, vid: str) -> ObjectInfo | None:
        """Version ``vid`` of the key: the current row, a noncurrent version or a marker."""
        row = self.db.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key=? AND vid=?",
            (bucket, key, vid),
        ).fetchone()
        if row is not None:
            return _row_to_obj(bucket, key, row)
        row = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=? AND vid=?",
            (bucket, key, vid),
        ).fetchone()
        return None if row is None else _version_to_obj(bucket, key, row)

    def latest_marker(self, bucket: str, key: str) -> ObjectInfo | None:
        """The delete marker that is the key's newest version, if that is what it is."""
        if self.object_exists(bucket, key):
            return None
        row = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND key=?"
            " ORDER BY seq DESC LIMIT 1",
            (bucket, key),
        ).fetchone()
        if row is None or not row[8]:
            return None
        return _version_to_obj(bucket, key, row)

    def versions_from(
        self, bucket: str, key: str, seq: int | None, limit: int
    ) -> list[tuple[ObjectInfo, int]]:
        """Up to ``limit`` versions (current, noncurrent, delete markers) in ListObjectVersions'
        order: by key, newest first. They start at ``key`` (``seq`` None), or just after the
        version ``seq`` of ``key``. Each comes with its sequence number (the cursor)."""
        if seq is None:
            where, args = "key>=?", (key,)
        else:
            where, args = "(key>? OR (key=? AND seq<?))", (key, key, seq)  # type: ignore[assignment]
        rows = self.db.execute(
            f"SELECT key, seq, {_OBJECT_COLUMNS}, 0, 0, NULL FROM objects"
            f" WHERE bucket=? AND {where}"
            f" UNION ALL SELECT key, seq, {_VERSION_COLUMNS} FROM versions"
            f" WHERE bucket=? AND {where} ORDER BY 1, 2 DESC LIMIT ?",
            (bucket, *args, bucket, *args, limit),
        ).fetchall()
        return [(_version_to_obj(bucket, r[0], r[2:]), int(r[1])) for r in rows]

    def noncurrent(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Every noncurrent version and delete marker under ``prefix``, by key, newest first
        (for the lifecycle's noncurrent actions)."""
        rows = self.db.execute(
            f"SELECT key, {_VERSION_COLUMNS} FROM versions WHERE bucket=? AND substr(key,1,?)=?"
            " ORDER BY key, seq DESC",
            (bucket, len(prefix), prefix),
        ).fetchall()
        return [_version_to_obj(bucket, r[0], r[1:]) for r in rows]

    def set_version_class(self, bucket: str, key: str, vid: str, storage_class: str) -> None:
        self.db.execute(
            "UPDATE versions SET sclass=? WHERE bucket=? AND key=? AND vid=?",
            (storage_class, bucket, key, vid),
        )

    def delete_objects(self, bucket: str, keys: list[str]) -> None:
        """Drop the rows of ``keys`` (absent ones ignored) in one transaction, then their
        files."""
        with self.tx():
            for key in keys:
                self.delete_object(bucket, key)

    def set_storage_class(self, bucket: str, key: str, storage_class: str) -> None:
        self.db.execute(
            "UPDATE objects SET sclass=? WHERE bucket=? AND key=?", (storage_class, bucket, key)
        )

    def set_attrs(self, obj: ObjectInfo) -> None:
        """Rewrite the attributes column (headers, metadata, checksums, tags, parts, restore)
        of ``obj``'s row from ``obj``."""
        self.db.execute(
            "UPDATE objects SET attrs=? WHERE bucket=? AND key=?",
            (_attrs(obj), obj.bucket, obj.key),
        )

    def objects_from(
        self, bucket: str, cursor: str, inclusive: bool, limit: int
    ) -> Iterator[ObjectInfo]:
        """Up to ``limit`` objects of ``bucket`` whose keys sort after ``cursor`` (or at it,
        when ``inclusive``), in key order (UTF-8 binary: SQLite's default for TEXT). Rows are
        read at once and decoded as the caller iterates: a lister that stops early pays for
        the rows it used."""
        op = ">=" if inclusive else ">"
        rows = self.db.execute(
            f"SELECT key, {_OBJECT_COLUMNS} FROM objects "
            f"WHERE bucket=? AND key {op} ? ORDER BY key LIMIT ?",
            (bucket, cursor, limit),
        ).fetchall()
        return (_row_to_obj(bucket, row[0], row[1:]) for row in rows)

    def stats(self) -> dict[str, int]:
        """Counts of buckets and objects, and the objects' total size in bytes."""
        b = self.db.execute("SELECT count(*) FROM buckets").fetchone()[0]
        o, s = self.db.execute("SELECT count(*), coalesce(sum(size),0) FROM objects").fetchone()
        return {"buckets": b, "objects": o, "bytes": s}

    def storage_usage(self) -> list[tuple[str, str, int, int]]:
        """(bucket, storage class, objects, bytes) for every bucket and class it holds."""
        rows = self.db.execute(
            "SELECT bucket, sclass, count(*), coalesce(sum(size),0) FROM ("
            "SELECT bucket, sclass, size FROM objects UNION ALL "
            "SELECT bucket, sclass, size FROM versions WHERE marker=0) GROUP BY bucket, sclass"
        ).fetchall()
        return [(str(b), str(c or "STANDARD"), int(n), int(s)) for b, c, n, s in rows]

    # ------------------------------------------------------------- multipart
    def insert_upload(self, upload: UploadInfo) -> None:
        self.db.execute(
            "INSERT INTO uploads VALUES(?,?,?,?,?)",
            (
                upload.upload_id,
                upload.bucket,
                upload.key,
                upload.initiated,
                json.dumps(upload.attrs),
            ),
        )

    def get_upload(self, upload_id: str) -> UploadInfo | None:
        row = self.db.execute(
            "SELECT bucket, key, initiated, attrs FROM uploads WHERE id=?", (upload_id,)
        ).fetchone()
        if row is None:
            return None
        return UploadInfo(upload_id, row[0], row[1], row[2], json.loads(row[3]))

    def upload_exists(self, upload_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM uploads WHERE id=?", (upload_id,)).fetchone() is not None
        )

    def put_part(self, upload_id: str, part: PartInfo) -> None:
        """Write the part's row (its file already written), then release the file of the
        part it replaces."""
        old = self.db.execute(
            "SELECT file FROM parts WHERE upload=? AND num=?", (upload_id, part.number)
        ).fetchone()
        self.db.execute(
            "INSERT OR REPLACE INTO parts(upload, num, size, etag, file, mtime, checksum)"
            " VALUES(?,?,?,?,?,?,?)",
            (
                upload_id,
                part.number,
                part.size,
                part.etag,
                part.file,
                part.last_modified,
                part.checksum,
            ),
        )
        if old is not None:
            self.release(old[0])

    def list_parts(self, upload_id: str) -> list[PartInfo]:
        """The upload's parts by part number."""
        return [
            PartInfo(n, s, e, f, m, c)
            for n, s, e, f, m, c in self.db.execute(
                "SELECT num, size, etag, file, mtime, checksum FROM parts WHERE upload=?"
                " ORDER BY num",
                (upload_id,),
            )
        ]

    def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        """The bucket's uploads whose keys start with ``prefix``, by key then initiation."""
        return [
            UploadInfo(i, bucket, k, t, json.loads(a))
            for i, k, t, a in self.db.execute(
                "SELECT id, key, initiated, attrs FROM uploads WHERE bucket=? AND substr(key,1,?)=? "
                "ORDER BY key, initiated",
                (bucket, len(prefix), prefix),
            )
        ]

    def drop_upload_rows(self, upload_id: str) -> None:
        """Delete the upload's row and its parts' rows, not their files (the caller holds a
        transaction and unlinks the files once it commits)."""
        self.db.execute("DELETE FROM parts WHERE upload=?", (upload_id,))
        self.db.execute("DELETE FROM uploads WHERE id=?", (upload_id,))

    def delete_upload(self, upload_id: str) -> None:
        """Drop the upload and its parts in one transaction, then the part files."""
        files = [p.file for p in self.list_parts(upload_id)]
        with self.tx():
            self.drop_upload_rows(upload_id)
        for f in files:
            self.unlink(f)


def _row_to_obj(bucket: str, key: str, row: tuple[Any, ...]) -> ObjectInfo:
    size, etag, mtime, file, ctype, sclass, attrs, vid = row[:8]
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
        part_sizes=a.get("ps", []),
        part_checksums=a.get("pc", []),
        version_id=vid or "null",
    )


def _version_to_obj(bucket: str, key: str, row: tuple[Any, ...]) -> ObjectInfo:
    """A row of _VERSION_COLUMNS (a noncurrent version or a delete marker)."""
    obj = _row_to_obj(bucket, key, row[:8])
    obj.delete_marker = bool(row[8])
    obj.noncurrent_since = float(row[9] or 0)
    if row[10] is not None and not obj.file:
        obj.inline = bytes(row[10])  # a small noncurrent version's bytes
    return obj


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
    if obj.part_sizes:
        a["ps"] = obj.part_sizes
    if obj.part_checksums:
        a["pc"] = obj.part_checksums
    return json.dumps(a)


class _Tx:
    """One transaction; a ``with`` inside another joins it (the outer one commits)."""

    def __init__(self, store: S3Store) -> None:
        self.store = store
        self.nested = False

    def __enter__(self) -> None:
        if self.store._deferred is not None:
            self.nested = True
            return
        # IMMEDIATE takes the write lock up front, so the block cannot fail half-way on a
        # lock upgrade.
        self.store.db.execute("BEGIN IMMEDIATE")
        self.store._deferred = []

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self.nested:
            return
        deferred, self.store._deferred = self.store._deferred or [], None
        self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
        if not exc_type:
            for rel in deferred:
                self.store.unlink(rel)
