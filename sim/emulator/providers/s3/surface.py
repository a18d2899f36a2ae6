"""What bdlab's S3 implements: one table of sub-resources (``?lifecycle``, ``?website``, ...)
and request headers, with the AWS operation each method is.

``guard`` answers every request that names a sub-resource, a method of one, or a header that
is not implemented with 501 NotImplemented in the shape S3 uses for it (Code, Message, and
``Header`` naming the header), so nothing is served as another operation or silently dropped.
``docs/emulator.md`` lists the same table (``markdown_table``; tests/integration/test_s3_fidelity.py
checks the two agree). No HTTP here: ``api.py`` hands in the method, the query and the headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.emulator.protocol import AwsError

# S3's own wording for a feature it does not offer in a request (API reference, "Error
# responses": NotImplemented, 501); AWS names the header in a ``Header`` element.
NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented"


@dataclass(frozen=True)
class SubResource:
    """One S3 sub-resource: ``ops`` maps each HTTP method to its AWS operation name and whether
    bdlab implements it (False: answered 501). ``note`` says what is not emulated."""

    name: str
    level: str  # "bucket" or "object"
    ops: dict[str, tuple[str, bool]]
    note: str = ""


@dataclass(frozen=True)
class HeaderGap:
    """A request header bdlab does not implement (any request carrying it gets 501)."""

    name: str  # lower case; a trailing "*" matches any suffix
    note: str


def _ops(**methods: tuple[str, bool]) -> dict[str, tuple[str, bool]]:
    return dict(methods)


_Y, _N = True, False

SUBRESOURCES: tuple[SubResource, ...] = (
    # -------------------------------------------------------------- bucket level
    SubResource(
        "accelerate",
        "bucket",
        _ops(
            GET=("GetBucketAccelerateConfiguration", _Y),
            PUT=("PutBucketAccelerateConfiguration", _N),
        ),
        "Transfer Acceleration (a different endpoint); GET answers it is not configured",
    ),
    SubResource(
        "acl",
        "bucket",
        _ops(GET=("GetBucketAcl", _Y), PUT=("PutBucketAcl", _Y)),
        "ACLs are disabled (ObjectOwnership BucketOwnerEnforced): only the owner's "
        "FULL_CONTROL is accepted",
    ),
    SubResource(
        "analytics",
        "bucket",
        _ops(
            GET=("GetBucketAnalyticsConfiguration", _N),
            PUT=("PutBucketAnalyticsConfiguration", _N),
            DELETE=("DeleteBucketAnalyticsConfiguration", _N),
        ),
        "Storage Class Analysis",
    ),
    SubResource(
        "cors",
        "bucket",
        _ops(GET=("GetBucketCors", _Y), PUT=("PutBucketCors", _Y), DELETE=("DeleteBucketCors", _Y)),
    ),
    SubResource(
        "delete",
        "bucket",
        _ops(POST=("DeleteObjects", _Y)),
    ),
    SubResource(
        "encryption",
        "bucket",
        _ops(
            GET=("GetBucketEncryption", _Y),
            PUT=("PutBucketEncryption", _Y),
            DELETE=("DeleteBucketEncryption", _Y),
        ),
        "stored and reported; bytes are not encrypted at rest",
    ),
    SubResource(
        "intelligent-tiering",
        "bucket",
        _ops(
            GET=("GetBucketIntelligentTieringConfiguration", _N),
            PUT=("PutBucketIntelligentTieringConfiguration", _N),
            DELETE=("DeleteBucketIntelligentTieringConfiguration", _N),
        ),
        "Intelligent-Tiering archive tiers",
    ),
    SubResource(
        "inventory",
        "bucket",
        _ops(
            GET=("GetBucketInventoryConfiguration", _N),
            PUT=("PutBucketInventoryConfiguration", _N),
            DELETE=("DeleteBucketInventoryConfiguration", _N),
        ),
        "S3 Inventory reports",
    ),
    SubResource(
        "lifecycle",
        "bucket",
        _ops(
            GET=("GetBucketLifecycleConfiguration", _Y),
            PUT=("PutBucketLifecycleConfiguration", _Y),
            DELETE=("DeleteBucketLifecycle", _Y),
        ),
    ),
    SubResource("location", "bucket", _ops(GET=("GetBucketLocation", _Y))),
    SubResource(
        "logging",
        "bucket",
        _ops(GET=("GetBucketLogging", _Y), PUT=("PutBucketLogging", _N)),
        "server access logs are not written; GET answers logging is off",
    ),
    SubResource(
        "metadataConfiguration",
        "bucket",
        _ops(
            GET=("GetBucketMetadataConfiguration", _N),
            POST=("CreateBucketMetadataConfiguration", _N),
            DELETE=("DeleteBucketMetadataConfiguration", _N),
        ),
        "S3 Metadata tables",
    ),
    SubResource(
        "metadataTable",
        "bucket",
        _ops(
            GET=("GetBucketMetadataTableConfiguration", _N),
            POST=("CreateBucketMetadataTableConfiguration", _N),
            DELETE=("DeleteBucketMetadataTableConfiguration", _N),
        ),
        "S3 Metadata tables",
    ),
    SubResource(
        "metrics",
        "bucket",
        _ops(
            GET=("GetBucketMetricsConfiguration", _Y),
            PUT=("PutBucketMetricsConfiguration", _Y),
            DELETE=("DeleteBucketMetricsConfiguration", _Y),
        ),
        "GET without id is ListBucketMetricsConfigurations; AWS/S3 request metrics per minute "
        "on the emulator clock; no access points, so an AccessPointArn filter matches nothing",
    ),
    SubResource(
        "notification",
        "bucket",
        _ops(
            GET=("GetBucketNotificationConfiguration", _Y),
            PUT=("PutBucketNotificationConfiguration", _Y),
        ),
        "destinations SQS and SNS; Lambda and EventBridge answer 501",
    ),
    SubResource(
        "object-lock",
        "bucket",
        _ops(
            GET=("GetObjectLockConfiguration", _Y),
            PUT=("PutObjectLockConfiguration", _N),
        ),
        "Object Lock (needs versioning); GET answers the bucket has none",
    ),
    SubResource(
        "ownershipControls",
        "bucket",
        _ops(
            GET=("GetBucketOwnershipControls", _Y),
            PUT=("PutBucketOwnershipControls", _Y),
            DELETE=("DeleteBucketOwnershipControls", _N),
        ),
        "only BucketOwnerEnforced (ACLs disabled) is accepted; deleting it would enable ACLs",
    ),
    SubResource(
        "policy",
        "bucket",
        _ops(
            GET=("GetBucketPolicy", _Y),
            PUT=("PutBucketPolicy", _Y),
            DELETE=("DeleteBucketPolicy", _Y),
        ),
    ),
    SubResource(
        "policyStatus",
        "bucket",
        _ops(GET=("GetBucketPolicyStatus", _N)),
        "public-access analysis of bucket policies",
    ),
    SubResource(
        "publicAccessBlock",
        "bucket",
        _ops(
            GET=("GetPublicAccessBlock", _Y),
            PUT=("PutPublicAccessBlock", _Y),
            DELETE=("DeletePublicAccessBlock", _Y),
        ),
    ),
    SubResource(
        "replication",
        "bucket",
        _ops(
            GET=("GetBucketReplication", _Y),
            PUT=("PutBucketReplication", _N),
            DELETE=("DeleteBucketReplication", _Y),
        ),
        "replication (needs versioning); GET answers there is none",
    ),
    SubResource(
        "requestPayment",
        "bucket",
        _ops(GET=("GetBucketRequestPayment", _Y), PUT=("PutBucketRequestPayment", _N)),
        "Requester Pays; GET answers BucketOwner",
    ),
    SubResource(
        "session", "bucket", _ops(GET=("CreateSession", _N)), "S3 Express directory buckets"
    ),
    SubResource(
        "tagging",
        "bucket",
        _ops(
            GET=("GetBucketTagging", _Y),
            PUT=("PutBucketTagging", _Y),
            DELETE=("DeleteBucketTagging", _Y),
        ),
    ),
    SubResource("uploads", "bucket", _ops(GET=("ListMultipartUploads", _Y))),
    SubResource(
        "versioning",
        "bucket",
        _ops(GET=("GetBucketVersioning", _Y), PUT=("PutBucketVersioning", _Y)),
        "MFA delete (MfaDelete Enabled answers 501)",
    ),
    SubResource("versions", "bucket", _ops(GET=("ListObjectVersions", _Y))),
    SubResource(
        "website",
        "bucket",
        _ops(
            GET=("GetBucketWebsite", _Y),
            PUT=("PutBucketWebsite", _N),
            DELETE=("DeleteBucketWebsite", _Y),
        ),
        "static website hosting; GET answers there is none",
    ),
    # -------------------------------------------------------------- object level
    SubResource(
        "acl",
        "object",
        _ops(GET=("GetObjectAcl", _Y), PUT=("PutObjectAcl", _Y)),
        "ACLs are disabled (BucketOwnerEnforced): only the owner's FULL_CONTROL is accepted",
    ),
    SubResource("attributes", "object", _ops(GET=("GetObjectAttributes", _Y))),
    SubResource(
        "legal-hold",
        "object",
        _ops(GET=("GetObjectLegalHold", _N), PUT=("PutObjectLegalHold", _N)),
        "Object Lock",
    ),
    SubResource("renameObject", "object", _ops(PUT=("RenameObject", _N)), "S3 Express only"),
    SubResource("restore", "object", _ops(POST=("RestoreObject", _Y))),
    SubResource(
        "retention",
        "object",
        _ops(GET=("GetObjectRetention", _N), PUT=("PutObjectRetention", _N)),
        "Object Lock",
    ),
    SubResource("select", "object", _ops(POST=("SelectObjectContent", _N)), "S3 Select"),
    SubResource(
        "tagging",
        "object",
        _ops(
            GET=("GetObjectTagging", _Y),
            PUT=("PutObjectTagging", _Y),
            DELETE=("DeleteObjectTagging", _Y),
        ),
    ),
    SubResource("torrent", "object", _ops(GET=("GetObjectTorrent", _N)), "BitTorrent"),
    SubResource("uploads", "object", _ops(POST=("CreateMultipartUpload", _Y))),
)

HEADER_GAPS: tuple[HeaderGap, ...] = (
    HeaderGap("x-amz-object-lock-mode", "Object Lock"),
    HeaderGap("x-amz-object-lock-retain-until-date", "Object Lock"),
    HeaderGap("x-amz-object-lock-legal-hold", "Object Lock"),
    HeaderGap("x-amz-bypass-governance-retention", "Object Lock"),
    HeaderGap("x-amz-bucket-object-lock-enabled", "Object Lock"),
    HeaderGap("x-amz-server-side-encryption-customer-*", "SSE-C (customer-provided keys)"),
    HeaderGap("x-amz-copy-source-server-side-encryption-customer-*", "SSE-C"),
    HeaderGap("x-amz-mfa", "MFA delete (needs versioning)"),
    HeaderGap("x-amz-write-offset-bytes", "appends (S3 Express only)"),
    # AWS itself answers 501 for these on general purpose buckets (directory buckets only).
    HeaderGap("x-amz-if-match-last-modified-time", "directory buckets only (AWS: 501)"),
    HeaderGap("x-amz-if-match-size", "directory buckets only (AWS: 501)"),
    HeaderGap("x-amz-if-match-initiated-time", "directory buckets only (AWS: 501)"),
)

# The operations on a plain bucket or object (no sub-resource), as api.operation_name names
# them; all implemented.
PLAIN_OPERATIONS: tuple[str, ...] = (
    "ListBuckets",
    "CreateBucket",
    "HeadBucket",
    "DeleteBucket",
    "ListObjects",
    "ListObjectsV2",
    "PostObject",
    "GetObject",
    "HeadObject",
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
)


def served_operations() -> list[str]:
    """Every S3 operation bdlab implements (plain ones and the implemented sub-resources')."""
    subs = {op for s in SUBRESOURCES for op, implemented in s.ops.values() if implemented}
    return sorted(subs | set(PLAIN_OPERATIONS))


_BY_KEY: dict[tuple[str, str], SubResource] = {(s.level, s.name): s for s in SUBRESOURCES}
SUBRESOURCE_NAMES = frozenset(s.name for s in SUBRESOURCES)


@dataclass
class Decision:
    """What ``classify`` found: the sub-resource named (None: a plain object or bucket call)
    and its operation name ("" when the method is not one S3 has for it)."""

    sub: str | None = None
    operation: str = ""
    implemented: bool = True
    note: str = field(default="")


def classify(level: str, method: str, query: dict[str, str]) -> Decision:
    """The sub-resource a request at ``level`` ("bucket" | "object") names and whether bdlab
    implements ``method`` on it. Several sub-resources in one query: the first known one."""
    for name in query:
        sub = _BY_KEY.get((level, name))
        if sub is None:
            continue
        op = sub.ops.get(method)
        if op is None:
            return Decision(name, "", False, "method")
        return Decision(name, op[0], op[1], sub.note)
    return Decision()


def guard(level: str, method: str, query: dict[str, str], headers: dict[str, str]) -> Decision:
    """501 NotImplemented for a sub-resource method or a header of the table that bdlab does
    not implement; MethodNotAllowed (405) for a method S3 has no operation for on a
    sub-resource. Returns the decision otherwise."""
    for name in headers:
        for gap in HEADER_GAPS:
            if name == gap.name or (gap.name.endswith("*") and name.startswith(gap.name[:-1])):
                raise AwsError(
                    "NotImplemented",
                    NOT_IMPLEMENTED,
                    501,
                    sender=False,
                    Header=name,
                    additionalMessage=f"bdlab does not implement {gap.note}",
                )
    decision = classify(level, method, query)
    if decision.sub is not None and not decision.operation:
        raise AwsError(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            405,
            Method=method,
            ResourceType=decision.sub.upper(),
        )
    if not decision.implemented:
        sub = _BY_KEY[(level, decision.sub or "")]
        raise AwsError(
            "NotImplemented",
            f"{decision.operation} (?{decision.sub}) is not implemented by bdlab ({sub.note})",
            501,
            sender=False,
        )
    return decision


def unimplemented() -> list[tuple[str, str, str, str]]:
    """(level, ?sub-resource, method, operation) of every method the guard answers 501."""
    return [
        (s.level, s.name, m, op)
        for s in SUBRESOURCES
        for m, (op, done) in s.ops.items()
        if not done
    ]


def markdown_table() -> str:
    """The table as docs/emulator.md shows it (generated; keep the doc in step with
    ``python -m sim.emulator.providers.s3.surface``)."""
    lines = [
        "| Level | Sub-resource | Answered 501 NotImplemented | Served | Note |",
        "|---|---|---|---|---|",
    ]
    for s in SUBRESOURCES:
        missing = ", ".join(f"{op} ({m})" for m, (op, done) in s.ops.items() if not done)
        served = ", ".join(f"{op} ({m})" for m, (op, done) in s.ops.items() if done)
        lines.append(
            f"| {s.level} | `?{s.name}` | {missing or '-'} | {served or '-'} | {s.note or ''} |"
        )
    lines.append("")
    lines.append("| Request header | Answered 501 NotImplemented because |")
    lines.append("|---|---|")
    for h in HEADER_GAPS:
        lines.append(f"| `{h.name}` | {h.note} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - prints the section for docs/emulator.md
    print(markdown_table())
