"""S3's rules in plain Python: bucket names, limits, storage classes, conditional requests,
checksums, listing order, multipart planning. No HTTP (``api.py`` parses requests and renders
answers) and no SQL or file handling (``store.py`` keeps rows and bytes durable).

``S3Backend`` is the provider's domain API: it applies these rules and raises S3's errors
(``AwsError`` with AWS's code, message and status), and delegates storage to the
``S3Store`` it owns. Objects of at most ``INLINE_MAX`` bytes are kept in their row, larger
ones in their own data file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any, BinaryIO

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3.store import (
    ObjectInfo,
    PartInfo,
    S3Store,
    UploadInfo,
)
from sim.emulator.providers.s3.store import (
    append_file as append_file,  # re-exported: the model's import path predates store.py
)

MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last of a multipart upload, bytes
MAX_SINGLE_PUT = 5 * 1024**3  # PutObject and UploadPart: 5 GiB (aws-semantics.md, S3 limits)
INLINE_MAX = 256 * 1024  # objects up to this many bytes live in their row (docs/adr/0001)
MAX_PART_NUMBER = 10_000
MAX_DELETE_KEYS = 1000
MAX_KEY_BYTES = 1024
MAX_OBJECT_TAGS = 10
_LIST_SCAN_ROWS = 1000  # rows read per store query while listing (not S3's page size)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold"
_NOT_IMPLEMENTED_HEADER = "A header you provided implies functionality that is not implemented"
_MALFORMED_XML = (
    "The XML you provided was not well-formed or did not validate against our published schema"
)


@dataclass(frozen=True)
class StorageClass:
    """One S3 storage class, as the emulator treats it."""

    name: str
    waterfall: bool  # on the lifecycle waterfall (STORAGE_CLASSES lists it warm to cold)
    archive: bool  # GET needs a RestoreObject first (restore.py)
    min_transition_days: int = 0  # least ``Days`` a lifecycle Transition to it may say


# The one table of storage classes: what x-amz-storage-class accepts, the lifecycle
# waterfall (lifecycle.py) and the archive classes (restore.py) all derive from it.
STORAGE_CLASSES: tuple[StorageClass, ...] = (
    StorageClass("STANDARD", waterfall=True, archive=False),
    StorageClass("REDUCED_REDUNDANCY", waterfall=True, archive=False),
    StorageClass("STANDARD_IA", waterfall=True, archive=False, min_transition_days=30),
    StorageClass("INTELLIGENT_TIERING", waterfall=True, archive=False),
    StorageClass("ONEZONE_IA", waterfall=True, archive=False, min_transition_days=30),
    StorageClass("GLACIER_IR", waterfall=True, archive=False),
    StorageClass("GLACIER", waterfall=True, archive=True),
    StorageClass("DEEP_ARCHIVE", waterfall=True, archive=True),
    StorageClass("OUTPOSTS", waterfall=False, archive=False),
    StorageClass("SNOW", waterfall=False, archive=False),
    StorageClass("EXPRESS_ONEZONE", waterfall=False, archive=False),
)
STORAGE_CLASS_NAMES = frozenset(c.name for c in STORAGE_CLASSES)
WATERFALL = tuple(c.name for c in STORAGE_CLASSES if c.waterfall)
ARCHIVE_CLASSES = tuple(c.name for c in STORAGE_CLASSES if c.archive)
MIN_TRANSITION_DAYS = {c.name: c.min_transition_days for c in STORAGE_CLASSES}

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
    "object-lock": (
        "ObjectLockConfigurationNotFoundError",
        "Object Lock configuration does not exist for this bucket",
        404,
    ),
}


@dataclass
class Listing:
    contents: list[ObjectInfo]
    common_prefixes: list[str]
    truncated: bool
    next_marker: str | None


@dataclass
class VersionListing:
    """A page of ListObjectVersions: (version, is latest) pairs, common prefixes, and where
    the next page starts (key marker, version-id marker; "" for a common prefix)."""

    versions: list[tuple[ObjectInfo, bool]]
    common_prefixes: list[str]
    truncated: bool
    next_key: str | None
    next_version: str | None


VERSION_ID = re.compile(r"[A-Za-z0-9._\-+/=]{1,1024}")


def new_version_id() -> str:
    """A version id as S3 makes them: 32 URL-safe characters, unguessable."""
    import secrets

    return secrets.token_urlsafe(24)


def check_version_id(version_id: str) -> None:
    """InvalidArgument "Invalid version id specified" for a malformed ``versionId``."""
    if version_id != "null" and not VERSION_ID.fullmatch(version_id):
        raise AwsError(
            "InvalidArgument",
            "Invalid version id specified",
            ArgumentName="versionId",
            ArgumentValue=version_id,
        )


class NotModified(AwsError):
    """304 for a conditional GET or HEAD; carries the object, whose ETag and Last-Modified
    the answer repeats."""

    def __init__(self, obj: ObjectInfo) -> None:
        super().__init__("NotModified", "Not Modified", 304)
        self.obj = obj


def validate_bucket_name(name: str) -> None:
    """InvalidBucketName unless ``name`` follows S3's naming rules (3-63 characters, lower
    case, digits, dots and hyphens, no IP address, no ``xn--``)."""
    if not _BUCKET_RE.match(name) or ".." in name or _IP_RE.match(name) or name.startswith("xn--"):
        raise AwsError(
            "InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name
        )


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def validate_storage_class(name: str) -> str:
    """``name`` when it is a storage class of ``STORAGE_CLASSES``, else InvalidStorageClass."""
    if name not in STORAGE_CLASS_NAMES:
        raise AwsError(
            "InvalidStorageClass",
            "The storage class you specified is not valid",
            StorageClassRequested=name,
        )
    return name


def check_lifecycle_transitions(transitions: Iterable[tuple[str, str | None]]) -> None:
    """A lifecycle configuration's transitions as (StorageClass, Days text or None): AWS's
    minimum days per class (30 for the infrequent-access classes), InvalidArgument below it.
    Days that are not an integer raise ValueError for such classes."""
    for sclass, days in transitions:
        least = MIN_TRANSITION_DAYS.get(sclass, 0)
        if least and days is not None and int(days) < least:
            raise AwsError(
                "InvalidArgument",
                f"'Days' in Transition action must be greater "
                f"than or equal to {least} for storageClass '{sclass}'",
                ArgumentName="Days",
                ArgumentValue=days,
            )


def check_single_put_size(declared: str | None) -> None:
    """EntityTooLarge when a declared body size (decimal text, bytes) is over the 5 GiB a
    single PUT may carry; absent or non-numeric sizes pass (other checks refuse them)."""
    if declared is not None and declared.isdigit() and int(declared) > MAX_SINGLE_PUT:
        raise AwsError(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            ProposedSize=declared,
            MaxSizeAllowed=str(MAX_SINGLE_PUT),
        )


def check_content_md5(value: str) -> None:
    """InvalidDigest unless a Content-MD5 value is base64 of 16 bytes."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 16:
        raise AwsError("InvalidDigest", "The Content-MD5 you specified was not valid.")


def verify_content_md5(value: str, md5_hex: str) -> None:
    """BadDigest when a Content-MD5 value (base64) is not the received body's MD5 (hex)."""
    if base64.b64encode(bytes.fromhex(md5_hex)).decode() != value.strip():
        raise AwsError("BadDigest", "The Content-MD5 you specified did not match what we received.")


def verify_checksum(alg: str, sent: str | None, computed: str | None) -> dict[str, str]:
    """The checksums to keep with the object ({alg: sent value} or {}). BadDigest when the
    client sent a value for ``alg`` that differs from the one computed; None for ``computed``
    means the emulator does not compute ``alg`` (the sent value is kept unverified)."""
    if sent and computed and sent != computed:
        raise AwsError(
            "BadDigest",
            f"The {alg.upper()} you specified did not match the calculated checksum.",
        )
    return {alg: sent} if sent else {}


def check_body_length(declared: str | None, size: int) -> None:
    """IncompleteBody when a declared length (decimal text) is not the ``size`` received."""
    if declared is not None and declared.isdigit() and int(declared) != size:
        raise AwsError(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        )


def check_write_headers(if_none_match: str | None, if_match: str | None) -> None:
    """What S3 accepts on a conditional write (PutObject, CompleteMultipartUpload; user guide
    "Conditional writes"): ``If-None-Match: *`` or ``If-Match: <etag>``, one of them. Anything
    else is 501 NotImplemented naming the header, as S3 answers it (Header, and an
    additionalMessage field)."""
    if if_none_match is not None and if_match is not None:
        raise AwsError(
            "NotImplemented",
            _NOT_IMPLEMENTED_HEADER,
            501,
            sender=False,
            Header="If-Match,If-None-Match",
            additionalMessage="Multiple conditional request headers present in the request",
        )
    if if_none_match is not None and if_none_match.strip() != "*":
        raise AwsError(
            "NotImplemented",
            _NOT_IMPLEMENTED_HEADER,
            501,
            sender=False,
            Header="If-None-Match",
            additionalMessage="We don't accept the provided value of If-None-Match header for "
            "this API",
        )
    if if_match is not None and if_match.strip() == "*":
        raise AwsError(
            "NotImplemented",
            _NOT_IMPLEMENTED_HEADER,
            501,
            sender=False,
            Header="If-Match",
            additionalMessage="We don't accept the provided value of If-Match header for this API",
        )


def check_expected_owner(value: str | None, account_id: str) -> None:
    """x-amz-expected-bucket-owner (and x-amz-source-expected-bucket-owner): 400
    InvalidBucketOwnerAWSAccountID unless it is a 12-character account ID, 403 AccessDenied
    when the bucket belongs to another account (S3's answers, recorded in LocalStack's
    AWS-validated snapshots)."""
    if value is None:
        return
    if not re.fullmatch(r"\w{12}", value):
        raise AwsError(
            "InvalidBucketOwnerAWSAccountID",
            f"The value of the expected bucket owner parameter must be an AWS Account ID... "
            f"[{value}]",
        )
    if value != account_id:
        raise AwsError("AccessDenied", "Access Denied", 403)


def check_read_conditions(
    obj: ObjectInfo,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: float | None,
    if_unmodified_since: float | None,
) -> None:
    """GET/HEAD preconditions (RFC 7232 as S3 applies them; dates in epoch seconds, None when
    absent or unparsable): 412 PreconditionFailed, or ``NotModified`` (304). If-Match
    overrides If-Unmodified-Since, If-None-Match overrides If-Modified-Since."""
    if if_match is not None and if_match.strip('"') not in (obj.etag, "*"):
        raise AwsError("PreconditionFailed", _PRECONDITION_FAILED, 412, Condition="If-Match")
    if (
        if_unmodified_since is not None
        and if_match is None
        and int(obj.last_modified) > if_unmodified_since
    ):
        raise AwsError(
            "PreconditionFailed", _PRECONDITION_FAILED, 412, Condition="If-Unmodified-Since"
        )
    if if_none_match is not None and if_none_match.strip('"') in (obj.etag, "*"):
        raise NotModified(obj)
    if (
        if_modified_since is not None
        and if_none_match is None
        and int(obj.last_modified) <= if_modified_since
    ):
        raise NotModified(obj)


def check_copy_conditions(src: ObjectInfo, if_match: str | None, if_none_match: str | None) -> None:
    """x-amz-copy-source-if-match / -if-none-match against the source's ETag: 412."""
    if if_match is not None and if_match.strip('"') != src.etag:
        raise AwsError(
            "PreconditionFailed",
            _PRECONDITION_FAILED,
            412,
            Condition="x-amz-copy-source-If-Match",
        )
    if if_none_match is not None and if_none_match.strip('"') == src.etag:
        raise AwsError(
            "PreconditionFailed",
            _PRECONDITION_FAILED,
            412,
            Condition="x-amz-copy-source-If-None-Match",
        )


def check_copy_changes(
    src: tuple[str, str], dst: tuple[str, str], replaces_metadata: bool, storage_class: str | None
) -> None:
    """InvalidRequest for a copy of an object onto itself (``src`` and ``dst`` as (bucket,
    key)) that neither replaces its metadata nor names a storage class."""
    if src == dst and not replaces_metadata and storage_class is None:
        raise AwsError(
            "InvalidRequest",
            "This copy request is illegal because it is trying "
            "to copy an object to itself without changing the object's metadata, "
            "storage class, website redirect location or encryption attributes.",
        )


def multipart_etag(part_etags: list[str]) -> str:
    """S3's ETag of a completed multipart upload: MD5 of the parts' binary MD5s, "-", and
    the number of parts (the parts' ETags are hex, unquoted)."""
    md5s = b"".join(bytes.fromhex(e) for e in part_etags)
    return f"{hashlib.md5(md5s).hexdigest()}-{len(part_etags)}"


COMPOSITE_ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")


def _crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) as S3 computes it, from awscrt (AWS's checksum library)."""
    from awscrt import checksums

    return int(checksums.crc32c(data))


def full_object_checksum(alg: str, parts: list[tuple[str, int]]) -> str:
    """S3's FULL_OBJECT checksum of a multipart object: the CRC (``crc32``, ``crc32c`` or
    ``crc64nvme``) of all its bytes, combined from each part's (base64 CRC, size) without
    reading them again (awscrt's combine functions, the ones AWS's SDKs use)."""
    from awscrt import checksums

    combine = {
        "crc32": checksums.combine_crc32,
        "crc32c": checksums.combine_crc32c,
        "crc64nvme": checksums.combine_crc64nvme,
    }[alg]
    width = 8 if alg == "crc64nvme" else 4
    total = None
    for value, size in parts:
        crc = int.from_bytes(base64.b64decode(value), "big")
        total = crc if total is None else combine(total, crc, size)
    return base64.b64encode((total or 0).to_bytes(width, "big")).decode()


def composite_checksum(alg: str, part_checksums: list[str]) -> str:
    """S3's COMPOSITE checksum of a multipart object (user guide, "Checking object
    integrity": checksums of checksums): ``alg`` over the concatenated binary checksums of
    the parts, base64, then "-" and the number of parts."""
    raw = b"".join(base64.b64decode(c) for c in part_checksums)
    if alg == "crc32":
        digest = zlib.crc32(raw).to_bytes(4, "big")
    elif alg == "crc32c":
        digest = _crc32c(raw).to_bytes(4, "big")
    else:
        digest = hashlib.new(alg, raw).digest()
    return f"{base64.b64encode(digest).decode()}-{len(part_checksums)}"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _no_such_bucket(name: str) -> AwsError:
    return AwsError("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name)


def _no_such_key(key: str) -> AwsError:
    return AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)


class S3Backend:
    """Buckets and objects of one emulator, stored under ``root`` (see ``S3Store``)."""

    def __init__(
        self, root: Path, clock: Clock, fsync: bool = False, account_id: str = "123456789012"
    ) -> None:
        self.root = root
        self.clock = clock
        self.account_id = account_id
        self.store = S3Store(root, fsync)
        self._versioning: dict[str, str | None] = {}
        # told of events the lifecycle causes (the provider sends S3 event notifications):
        # listener(event, bucket, key)
        self.listener: Callable[..., None] | None = None

    @property
    def fsync(self) -> bool:
        """Whether data reaches the device before a write is answered."""
        return self.store.fsync

    # ----------------------------------------------------------------- files
    def new_file(self) -> tuple[str, Path]:
        """A fresh data-file name (relative) and its absolute path."""
        return self.store.new_file()

    def path_of(self, rel: str) -> Path:
        """The absolute path of data file ``rel``."""
        return self.store.path_of(rel)

    def sweep(self) -> int:
        """Delete data files no committed row points to; returns how many."""
        return self.store.sweep()

    def sync(self, fh: BinaryIO) -> None:
        """Flush an open data file to the device when running with ``fsync`` (blocking: run
        it off the event loop)."""
        self.store.sync(fh)

    def write_file(self, data: bytes) -> tuple[str, str]:
        """Store ``data`` in a new file; returns (relative name, md5 hex)."""
        return self.store.write_file(data), hashlib.md5(data).hexdigest()

    # --------------------------------------------------------------- buckets
    def create_bucket(self, name: str, region: str, location: str | None) -> None:
        """CreateBucket sent to ``region`` with LocationConstraint ``location`` (None when
        the body names none)."""
        validate_bucket_name(name)
        if location is None and region != "us-east-1":
            raise AwsError(
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region "
                "specific endpoint this request was sent to.",
            )
        bucket_region = location or "us-east-1"
        existing = self.store.bucket_region(name)
        if existing is not None:
            if bucket_region == "us-east-1" and existing == "us-east-1":
                return  # us-east-1 answers 200 to the owner re-creating its bucket
            raise AwsError(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you "
                "already own it.",
                409,
                BucketName=name,
            )
        self.store.insert_bucket(name, bucket_region, self.clock.now())

    def bucket_region(self, name: str) -> str:
        """The bucket's region; NoSuchBucket."""
        region = self.store.bucket_region(name)
        if region is None:
            raise _no_such_bucket(name)
        return str(region)

    def require_bucket(self, name: str) -> None:
        """NoSuchBucket unless the bucket exists."""
        self.bucket_region(name)

    def bucket_exists(self, name: str) -> bool:
        return self.store.bucket_region(name) is not None

    def list_buckets(self) -> list[tuple[str, float, str]]:
        """(name, created epoch seconds, region) of every bucket, by name."""
        return self.store.list_buckets()

    def delete_bucket(self, name: str) -> None:
        """NoSuchBucket, or BucketNotEmpty while it holds objects; its multipart uploads go
        with it."""
        self.require_bucket(name)
        if self.store.bucket_has_objects(name):
            raise AwsError(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
                409,
                BucketName=name,
            )
        self.store.delete_bucket(name)
        self._versioning.pop(name, None)

    def _config(self, bucket: str) -> dict[str, Any]:
        cfg = self.store.get_config(bucket)
        if cfg is None:
            raise _no_such_bucket(bucket)
        return cfg

    def get_config(self, bucket: str, kind: str) -> str | None:
        """The document stored for sub-resource ``kind`` (e.g. "lifecycle"), or None;
        NoSuchBucket."""
        return self._config(bucket).get(kind)

    def put_config(self, bucket: str, kind: str, value: str | None) -> None:
        """Store (None: remove) the document of sub-resource ``kind``; NoSuchBucket."""
        cfg = self._config(bucket)
        if value is None:
            cfg.pop(kind, None)
        else:
            cfg[kind] = value
        self.store.set_config(bucket, cfg)
        if kind == "versioning":
            self._versioning.pop(bucket, None)

    def versioning(self, bucket: str) -> str | None:
        """The bucket's versioning state: None (never enabled), "Enabled" or "Suspended"
        (S3 user guide, "Using versioning in S3 buckets"); NoSuchBucket."""
        if bucket not in self._versioning:
            doc = self.get_config(bucket, "versioning")
            status = None
            if doc:
                found = re.search(r"<Status>\s*(Enabled|Suspended)\s*</Status>", doc)
                status = found.group(1) if found else None
            self._versioning[bucket] = status
        return self._versioning[bucket]

    # --------------------------------------------------------------- objects
    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        """The object's record (its version ``version_id`` when given); NoSuchBucket,
        NoSuchKey (with the delete marker's headers when the newest version is one),
        NoSuchVersion, InvalidArgument for a malformed version id, or 405 for a version that
        is a delete marker."""
        if version_id is not None:
            check_version_id(version_id)
            obj = self.store.get_version(bucket, key, version_id)
            if obj is None:
                self.require_bucket(bucket)
                raise AwsError(
                    "NoSuchVersion",
                    "The specified version does not exist.",
                    404,
                    Key=key,
                    VersionId=version_id,
                )
            if obj.delete_marker:
                err = AwsError(
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                    405,
                    ResourceType="DeleteMarker",
                )
                err.headers = [
                    ("x-amz-delete-marker", "true"),
                    ("x-amz-version-id", version_id),
                    ("allow", "DELETE"),
                    ("last-modified", formatdate(obj.last_modified, usegmt=True)),
                ]
                raise err
            return obj
        obj = self.store.get_object(bucket, key)
        if obj is None:
            self.require_bucket(bucket)
            err = _no_such_key(key)
            marker = self.store.latest_marker(bucket, key)
            if marker is not None:
                err.headers = [
                    ("x-amz-delete-marker", "true"),
                    ("x-amz-version-id", marker.version_id),
                ]
            raise err
        return obj

    def exists(self, bucket: str, key: str) -> bool:
        return self.store.object_exists(bucket, key)

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
                "PreconditionFailed", _PRECONDITION_FAILED, 412, Condition="If-None-Match"
            )
        if if_match is not None:
            if current is None:
                raise _no_such_key(key)
            if if_match.strip().strip('"') != current.etag:
                raise AwsError(
                    "PreconditionFailed", _PRECONDITION_FAILED, 412, Condition="If-Match"
                )

    def commit_object(
        self, obj: ObjectInfo, if_none_match: str | None = None, if_match: str | None = None
    ) -> ObjectInfo:
        """Make ``obj`` (whose file is already written) the current version of its key.
        KeyTooLongError, NoSuchBucket or a failed condition release ``obj``'s file."""
        if len(obj.key.encode()) > MAX_KEY_BYTES:
            self.store.unlink(obj.file)
            raise AwsError("KeyTooLongError", "Your key is too long", 400)
        try:
            self.require_bucket(obj.bucket)
            self.check_write_conditions(obj.bucket, obj.key, if_none_match, if_match)
        except AwsError:
            self.store.unlink(obj.file)
            raise
        status = self.versioning(obj.bucket)
        obj.version_id = new_version_id() if status == "Enabled" else "null"
        self.store.put_object(obj, status)
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
        """The whole object; NoSuchBucket or NoSuchKey."""
        obj = self.head(bucket, key)
        return self.read_range(obj, 0, obj.size)

    def read_range(self, obj: ObjectInfo, start: int, length: int) -> bytes:
        """``length`` bytes of ``obj`` from ``start`` (for ranges and small bodies)."""
        if obj.inline is not None:
            return obj.inline[start : start + length]
        vid = obj.version_id if obj.noncurrent_since else None
        return self.store.read_range(obj.bucket, obj.key, obj.file, start, length, vid)

    def delete_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> tuple[str | None, bool]:
        """DeleteObject: (the version id to answer, whether it is a delete marker).
        Unversioned: the object is gone (a missing key is no error, S3 answers 204 too).
        Versioned: a delete marker becomes the newest version; with ``version_id`` that
        version is deleted for good. NoSuchBucket; InvalidArgument for a malformed id."""
        self.require_bucket(bucket)
        if version_id is not None:
            check_version_id(version_id)
            _, marker = self.store.delete_version(bucket, key, version_id)
            return version_id, marker
        status = self.versioning(bucket)
        if status is None:
            self.store.delete_object(bucket, key)
            return None, False
        vid = new_version_id() if status == "Enabled" else "null"
        self.store.add_delete_marker(bucket, key, status, vid, self.clock.now())
        return vid, True

    def delete_objects(
        self, bucket: str, keys: list[str], versions: list[str | None] | None = None
    ) -> list[tuple[str, AwsError | None, tuple[str | None, bool]]]:
        """DeleteObjects: per key, in request order, (key, error or None, (version id, delete
        marker) as :meth:`delete_object` answers). ``versions``: each key's VersionId or
        None. MalformedXML for no keys or more than ``MAX_DELETE_KEYS``; NoSuchBucket."""
        if not keys or len(keys) > MAX_DELETE_KEYS:
            raise AwsError("MalformedXML", _MALFORMED_XML)
        self.require_bucket(bucket)
        out: list[tuple[str, AwsError | None, tuple[str | None, bool]]] = []
        with self.store.tx():
            for key, vid in zip(keys, versions or [None] * len(keys), strict=True):
                try:
                    out.append((key, None, self.delete_object(bucket, key, vid)))
                except AwsError as exc:
                    out.append((key, exc, (vid, False)))
        return out

    def set_storage_class(self, bucket: str, key: str, storage_class: str) -> None:
        """Move an object to ``storage_class`` in place (lifecycle transitions)."""
        self.store.set_storage_class(bucket, key, storage_class)

    def set_tags(self, bucket: str, key: str, tags: dict[str, str] | None) -> None:
        """Replace the object's tags (None: remove them); NoSuchBucket or NoSuchKey."""
        obj = self.head(bucket, key)
        obj.tags = tags or {}
        self.store.set_attrs(obj)

    def set_restore(self, bucket: str, key: str, restore: dict[str, Any]) -> None:
        """Store the object's restore record (restore.py); NoSuchBucket or NoSuchKey."""
        obj = self.head(bucket, key)
        obj.restore = restore
        self.store.set_attrs(obj)

    def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst: ObjectInfo | None,
        bucket: str,
        key: str,
        src_version: str | None = None,
    ) -> ObjectInfo:
        """Copy the source's bytes (its version ``src_version`` when given) to
        ``bucket``/``key`` with ``dst``'s attributes (None: the source's, storage class
        STANDARD). Shares the source's file where it can."""
        src = self.source(src_bucket, src_key, src_version)
        self.require_bucket(bucket)
        inline = None
        rel = ""
        if src.file:
            rel = self.store.link_file(src.file)
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
            part_sizes=list(src.part_sizes),
            part_checksums=list(src.part_checksums),
        )
        return self.commit_object(obj)

    def source(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        """A copy's source: as :meth:`head`, but naming a delete marker by version id is
        InvalidRequest (S3 API reference, CopyObject)."""
        try:
            return self.head(bucket, key, version_id)
        except AwsError as exc:
            if exc.code == "MethodNotAllowed":
                raise AwsError(
                    "InvalidRequest",
                    "The source of a copy request may not specifically refer to a delete "
                    "marker by version id.",
                ) from None
            raise

    def list_versions(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_marker: str = "",
        max_keys: int = 1000,
    ) -> VersionListing:
        """ListObjectVersions: versions by key, newest first, delete markers among them,
        common prefixes at ``delimiter``; resumes after ``key_marker`` (and, within that key,
        after ``version_marker``). S3 API reference, ListObjectVersions."""
        self.require_bucket(bucket)
        if version_marker and not key_marker:
            raise AwsError(
                "InvalidArgument",
                "A version-id marker cannot be specified without a key marker.",
                ArgumentName="version-id-marker",
                ArgumentValue=version_marker,
            )
        entries: list[tuple[ObjectInfo, bool]] = []
        prefixes: list[str] = []
        # where to resume: after every version of key_marker, or after its version_marker
        cursor: tuple[str, int | None] = (max(key_marker, prefix), None)
        skip_key = key_marker if key_marker and not version_marker else None
        waiting = version_marker or None  # versions of key_marker up to this one are skipped
        previous_key = None
        last: tuple[str, str] = ("", "")
        while True:
            rows = self.store.versions_from(bucket, cursor[0], cursor[1], _LIST_SCAN_ROWS)
            for obj, seq in rows:
                k = obj.key
                latest = k != previous_key
                previous_key = k
                cursor = (k, seq)
                if not k.startswith(prefix):
                    if k > prefix:
                        return VersionListing(entries, prefixes, False, None, None)
                    continue
                if k == skip_key:
                    continue
                if waiting is not None and k == key_marker:
                    if obj.version_id == waiting:
                        waiting = None
                    continue
                waiting = None
                if delimiter:
                    idx = k.find(delimiter, len(prefix))
                    if idx >= 0:
                        cp = k[: idx + len(delimiter)]
                        if cp == last[0] or (prefixes and prefixes[-1] == cp):
                            continue
                        if len(entries) + len(prefixes) >= max_keys:
                            return VersionListing(entries, prefixes, True, *last)
                        prefixes.append(cp)
                        last = (cp, "")
                        continue
                if len(entries) + len(prefixes) >= max_keys:
                    return VersionListing(entries, prefixes, True, *last)
                entries.append((obj, latest))
                last = (k, obj.version_id)
            if len(rows) < _LIST_SCAN_ROWS:
                return VersionListing(entries, prefixes, False, None, None)

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
            seen = 0
            jumped = False
            for obj in self.store.objects_from(bucket, cursor, inclusive, _LIST_SCAN_ROWS):
                seen += 1
                key = obj.key
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
                contents.append(obj)
                last = key
                cursor, inclusive = key, False
            if seen == 0 or (not jumped and seen < _LIST_SCAN_ROWS):
                return Listing(contents, prefixes, False, None)

    def iter_keys(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, page after page."""
        marker = ""
        while True:
            page = self.list_objects(bucket, prefix, start_after=marker)
            yield from page.contents
            if not page.truncated or not page.contents:
                return
            marker = page.contents[-1].key

    def storage_usage(self) -> list[tuple[str, str, int, int]]:
        """(bucket, storage class, objects, bytes) rows for the daily storage metrics."""
        return self.store.storage_usage()

    def stats(self) -> dict[str, int]:
        """{"buckets", "objects", "bytes"}: counts and the objects' total size."""
        return self.store.stats()

    # ------------------------------------------------------------- multipart
    def create_upload(self, bucket: str, key: str, attrs: dict[str, Any]) -> str:
        """A new multipart upload's id; ``attrs`` are the object's attributes to be (keys
        "h", "m", "t", "sclass", "ctype", as api.py builds them). NoSuchBucket."""
        self.require_bucket(bucket)
        upload_id = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
        upload_id = upload_id.rstrip("=")
        self.store.insert_upload(UploadInfo(upload_id, bucket, key, self.clock.now(), attrs))
        return upload_id

    def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        """The upload, which must belong to ``bucket``/``key``; NoSuchBucket or NoSuchUpload."""
        upload = self.store.get_upload(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            self.require_bucket(bucket)
            raise AwsError(
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID "
                "may be invalid, or the upload may have been aborted or completed.",
                404,
                UploadId=upload_id,
            )
        return upload

    def put_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        rel: str,
        size: int,
        etag: str,
        checksum: str = "",
    ) -> None:
        """Record part ``number`` (1-10000, InvalidArgument otherwise) from data file ``rel``,
        with its checksum (base64, in the upload's algorithm; "" for none), replacing an
        earlier part with that number. The file is released on any error."""
        if not 1 <= number <= MAX_PART_NUMBER:
            self.store.unlink(rel)
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
            self.store.unlink(rel)
            raise
        self.store.put_part(
            upload_id, PartInfo(number, size, etag, rel, self.clock.now(), checksum)
        )

    def list_parts(self, upload_id: str) -> list[PartInfo]:
        """The upload's parts by part number."""
        return self.store.list_parts(upload_id)

    def list_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        """The bucket's uploads under ``prefix``, by key then initiation; NoSuchBucket."""
        self.require_bucket(bucket)
        return self.store.list_uploads(bucket, prefix)

    def list_uploads_page(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> tuple[list[UploadInfo], list[str], bool]:
        """One page of ListMultipartUploads, as the API reference and S3's recorded answers
        describe it: uploads by key then initiation; after ``key_marker`` (keys equal to it
        only past ``upload_id_marker``, which must be an upload of that key: InvalidArgument
        "Invalid uploadId marker" otherwise; without ``key_marker`` it is ignored); keys with
        ``delimiter`` after ``prefix`` rolled into common prefixes, which count toward
        ``max_uploads`` and are skipped when not after ``key_marker``. Returns (uploads,
        common prefixes, truncated)."""
        uploads = self.list_uploads(bucket, prefix)
        after_id: float | None = None
        if key_marker and upload_id_marker:
            marked = [u for u in uploads if u.key == key_marker and u.upload_id == upload_id_marker]
            if not marked:
                raise AwsError(
                    "InvalidArgument",
                    "Invalid uploadId marker",
                    ArgumentName="upload-id-marker",
                    ArgumentValue=upload_id_marker,
                )
            after_id = marked[0].initiated
        page: list[UploadInfo] = []
        prefixes: list[str] = []
        truncated = False
        for u in uploads:
            cp = None
            if delimiter:
                idx = u.key.find(delimiter, len(prefix))
                if idx >= 0:
                    cp = u.key[: idx + len(delimiter)]
            if cp is not None:
                if (key_marker and cp <= key_marker) or (prefixes and prefixes[-1] == cp):
                    continue
            elif key_marker and (
                u.key < key_marker
                or (
                    u.key == key_marker
                    and (
                        after_id is None
                        or (u.initiated, u.upload_id) <= (after_id, upload_id_marker)
                    )
                )
            ):
                continue
            if len(page) + len(prefixes) >= max_uploads:
                truncated = True
                break
            if cp is not None:
                prefixes.append(cp)
            else:
                page.append(u)
        return page, prefixes, truncated

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; NoSuchBucket or NoSuchUpload."""
        self.get_upload(bucket, key, upload_id)
        self.store.delete_upload(upload_id)

    def plan_complete(
        self, bucket: str, key: str, upload_id: str, requested: list[tuple[int, str]]
    ) -> tuple[UploadInfo, list[PartInfo]]:
        """Validate the part list of CompleteMultipartUpload as S3 does: ``requested`` is
        (part number, ETag) in request order. Returns the upload and the chosen parts;
        MalformedXML, InvalidPartOrder, InvalidPart, EntityTooSmall."""
        upload = self.get_upload(bucket, key, upload_id)
        if not requested:
            raise AwsError("MalformedXML", _MALFORMED_XML)
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
        """Concatenate part files into a new data file (safe to run off the event loop);
        returns (its name, size in bytes, multipart ETag)."""
        rel = self.store.assemble([p.file for p in parts])
        return rel, sum(p.size for p in parts), multipart_etag([p.etag for p in parts])

    def finish_upload(
        self,
        upload: UploadInfo,
        rel: str,
        size: int,
        etag: str,
        if_none_match: str | None,
        if_match: str | None,
        part_sizes: list[int] | None = None,
        composite: tuple[str, list[str]] | None = None,
        full: tuple[str, str] | None = None,
    ) -> ObjectInfo:
        """Commit the assembled file ``rel`` as the upload's object and drop the upload, in
        one transaction. ``part_sizes``: the bytes of each part completed, in order (kept for
        GetObject ?partNumber and GetObjectAttributes). NoSuchUpload when it was aborted
        meanwhile; write conditions as in ``commit_object``. ``composite``: (algorithm, the
        parts' checksums) of an upload created with a COMPOSITE checksum."""
        a = upload.attrs
        sizes = (
            part_sizes
            if part_sizes is not None
            else [p.size for p in self.list_parts(upload.upload_id)]
        )
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
            {composite[0]: composite_checksum(*composite)}
            if composite
            else ({full[0]: full[1]} if full else {}),
            a.get("t", {}),
            len(sizes),
            part_sizes=sizes,
            part_checksums=composite[1] if composite else [],
        )
        if not self.store.upload_exists(upload.upload_id):
            self.store.unlink(rel)
            raise AwsError(
                "NoSuchUpload",
                "The specified upload does not exist.",
                404,
                UploadId=upload.upload_id,
            )
        files = [p.file for p in self.list_parts(upload.upload_id)]
        with self.store.tx():
            self.commit_object(obj, if_none_match, if_match)
            self.store.drop_upload_rows(upload.upload_id)
        for f in files:
            self.store.unlink(f)
        return obj

    # ------------------------------------------------------------------ misc
    def close(self) -> None:
        self.store.close()
