"""Opt-in IAM enforcement: identity policies decide every request, as in AWS.

Off by default (like moto and LocalStack). When on (``POST /_bdlab/iam {"enforce": true}``),
a request signed with an access key of an IAM user (or an assumed role's temporary key) is
allowed only if that principal's identity policies allow the action on the resource and none
denies it. The course's admin credentials (``test``, and any key that is neither an IAM user's
nor a role session's) stay all-powerful, so labs can set things up. Policy documents are
evaluated with moto's IAM policy engine (Action/NotAction, Resource/NotResource, wildcards,
explicit deny); resource-based policies (bucket policies, trust policies) are not consulted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from sim.emulator.protocol import AwsError, Request

# IAM action prefix per bdlab service key, where it differs from the key.
ACTION_PREFIX = {"emr": "elasticmapreduce", "stepfunctions": "states", "cloudwatch": "cloudwatch"}
S3_ACTIONS = {
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListBuckets": "s3:ListAllMyBuckets",
    "HeadObject": "s3:GetObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObjects": "s3:DeleteObject",
    "GetBucketLifecycle": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketTagging": "s3:GetBucketTagging",
    "PutBucketTagging": "s3:PutBucketTagging",
    "GetBucketPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutBucketPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    # The S3 API reference's operation names (s3/surface.py) -> Service Authorization
    # Reference actions, where the two differ.
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "ListObjectVersions": "s3:ListBucketVersions",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "PostObject": "s3:PutObject",
}
# A CORS preflight carries no credentials; S3 answers it from the bucket's CORS rules alone.
ALWAYS_ALLOWED = {"sts:GetCallerIdentity", "s3:PreflightRequest"}


class IamEnforcer:
    """Whether enforcement is on (saved in the state folder) and the decision per request."""

    def __init__(self, state_file: Path, account_id: str = "123456789012") -> None:
        self.state_file = state_file
        self.account_id = account_id
        self.enforce = False
        if state_file.exists():
            self.enforce = bool(json.loads(state_file.read_text()).get("enforce"))

    def set(self, enforce: bool) -> dict[str, Any]:
        self.enforce = bool(enforce)
        self.state_file.write_text(json.dumps({"enforce": self.enforce}))
        return self.state()

    def state(self) -> dict[str, Any]:
        return {"enforce": self.enforce}

    # ------------------------------------------------------------ request -> (action, arn)
    def action_and_resource(self, req: Request, body: bytes, operation: str) -> tuple[str, str]:
        region, acct = req.region, self.account_id
        if req.service == "s3":
            action = S3_ACTIONS.get(operation, f"s3:{operation}")
            if not req.bucket:
                return action, "*"
            key = _s3_key(req)
            arn = f"arn:aws:s3:::{req.bucket}" + (f"/{key}" if key else "")
            return action, arn
        prefix = ACTION_PREFIX.get(req.service, req.service)
        params: dict[str, Any] = {}
        if req.target:
            try:
                params = json.loads(body) if body.strip() else {}
            except ValueError:
                params = {}
        else:
            params = dict(parse_qsl(req.query_string))
            if body:
                params.update(parse_qsl(body.decode("utf-8", "replace")))
        return f"{prefix}:{operation}", _resource(req.service, params, region, acct)

    def check(self, req: Request, action: str, resource: str, access_key: str | None) -> None:
        """Raise AccessDenied unless the caller's identity policies allow ``action``."""
        if not self.enforce or action in ALWAYS_ALLOWED:
            return
        if access_key is None:
            raise _denied(req, "anonymous", action, resource)
        from moto.iam.access_control import (
            CreateAccessKeyFailure,
            IAMPolicy,
            PermissionResult,
            create_access_key,
        )

        headers = {
            ("X-Amz-Security-Token" if k == "x-amz-security-token" else k): v
            for k, v in req.headers.items()
        }
        try:
            principal = create_access_key(self.account_id, "aws", access_key, headers)
        except CreateAccessKeyFailure:
            return  # not an IAM user's or role session's key: the course's admin credentials
        allowed = False
        for policy in principal.collect_policies():
            result = IAMPolicy(policy).is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                raise _denied(req, principal.arn, action, resource, explicit=True)
            allowed = allowed or result == PermissionResult.PERMITTED
        if not allowed:
            raise _denied(req, principal.arn, action, resource)

    # ------------------------------------------------------------ SimulatePrincipalPolicy
    def simulate(
        self, source_arn: str, actions: list[str], resources: list[str]
    ) -> list[tuple[str, str, str]]:
        """IAM's SimulatePrincipalPolicy over the identity policies of a user or role (no side
        effect, enforcement on or off): ``[(action, resource, EvalDecision)]`` with
        EvalDecision ``allowed`` | ``explicitDeny`` | ``implicitDeny``. Raises AwsError
        NoSuchEntity for an unknown principal, InvalidInput for another ARN kind. Runs on
        the moto thread (it reads moto's IAM backend).

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
        """
        from moto.iam.access_control import IAMPolicy, PermissionResult

        policies = _principal_policies(self.account_id, source_arn)
        out = []
        for action in actions:
            for resource in resources or ["*"]:
                decision = "implicitDeny"
                for policy in policies:
                    result = IAMPolicy(policy).is_action_permitted(action, resource)
                    if result == PermissionResult.DENIED:
                        decision = "explicitDeny"
                        break
                    if result == PermissionResult.PERMITTED:
                        decision = "allowed"
                out.append((action, resource, decision))
        return out


def _principal_policies(account_id: str, arn: str) -> list[Any]:
    """The identity policies of the user or role ``arn`` (inline, attached, and for users
    their groups'), as moto's IAM backend holds them."""
    from moto.core.exceptions import ServiceException
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    kind, _, path = arn.partition(":iam::")[2].partition(":")[2].partition("/")
    name = path.rsplit("/", 1)[-1]
    try:
        if kind == "user":
            backend.get_user(name)
            policies: list[Any] = [
                backend.get_user_policy(name, p) for p in backend.list_user_policies(name)
            ]
            policies += backend.list_attached_user_policies(name)[0]
            for group in backend.get_groups_for_user(name):
                policies += [
                    backend.get_group_policy(group.name, p)
                    for p in backend.list_group_policies(group.name)
                ]
                policies += backend.list_attached_group_policies(group.name)[0]
            return policies
        if kind == "role":
            backend.get_role(name)
            policies = [
                backend.get_role_policy(name, p)[1] for p in backend.list_role_policies(name)
            ]
            return policies + list(backend.list_attached_role_policies(name)[0])
    except ServiceException as exc:
        raise AwsError(
            "NoSuchEntity", f"The {kind} with name {name} cannot be found.", 404
        ) from exc
    raise AwsError(
        "InvalidInput",
        f"Invalid Entity Arn: {arn} does not clearly define entity type of user or role.",
    )


def _s3_key(req: Request) -> str:
    path = unquote(req.raw_path.lstrip("/"))
    if path.startswith(req.bucket + "/"):
        return path[len(req.bucket) + 1 :]
    return "" if path == req.bucket else path


def _resource(service: str, p: dict[str, Any], region: str, acct: str) -> str:
    if service == "kinesis":
        if p.get("StreamARN"):
            return str(p["StreamARN"])
        if p.get("StreamName"):
            return f"arn:aws:kinesis:{region}:{acct}:stream/{p['StreamName']}"
    if service == "firehose" and p.get("DeliveryStreamName"):
        return f"arn:aws:firehose:{region}:{acct}:deliverystream/{p['DeliveryStreamName']}"
    if service == "dynamodb" and p.get("TableName"):
        return f"arn:aws:dynamodb:{region}:{acct}:table/{p['TableName']}"
    if service == "sqs" and p.get("QueueUrl"):
        return f"arn:aws:sqs:{region}:{acct}:{str(p['QueueUrl']).rstrip('/').rsplit('/', 1)[-1]}"
    if service == "sns" and p.get("TopicArn"):
        return str(p["TopicArn"])
    if service == "logs" and p.get("logGroupName"):
        return f"arn:aws:logs:{region}:{acct}:log-group:{p['logGroupName']}"
    if service == "emr" and (p.get("ClusterId") or p.get("JobFlowId")):
        cid = p.get("ClusterId") or p.get("JobFlowId")
        return f"arn:aws:elasticmapreduce:{region}:{acct}:cluster/{cid}"
    return "*"


def _denied(req: Request, who: str, action: str, resource: str, explicit: bool = False) -> AwsError:
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    msg = f"User: {who} is not authorized to perform: {action} on resource: {resource} {why}"
    if req.service == "s3":
        return AwsError("AccessDenied", msg, 403)
    if req.target:
        return AwsError("AccessDeniedException", msg, 400)
    return AwsError("AccessDenied", msg, 403)
