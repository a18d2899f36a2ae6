"""Opt-in IAM enforcement: every request authorized as AWS authorizes it.

Off by default (like moto and LocalStack). When on (``POST /_bdlab/iam {"enforce": true}``):

- the caller is found from the request's access key: an IAM user's key or an assumed role's
  temporary key (moto's IAM and STS hold them); any other key is the course's admin
  credentials, standing for the account itself (all identity checks pass; an explicit deny in
  a bucket policy still applies, as it does to an account's root user); an unsigned request
  is anonymous (only a resource policy can allow it);
- the operation's actions and resource ARNs come from the Service Authorization Reference
  (``actions.py``): each resource an operation touches is authorized (a copy reads its source
  and writes its target; DeleteObjects and browser POST uploads are authorized per key by the
  S3 provider through ``Request.authorize_item``);
- identity policies, the role's permissions boundary and the resource's policy (S3 bucket
  policies, SQS queue and SNS topic policies, with Principal) are evaluated with the request's condition keys (``policy.py``).

Not evaluated (docs/emulator.md): SCPs and RCPs (no AWS Organizations), session policies
passed to AssumeRole, permissions boundaries of users (moto keeps them for roles only),
resource policies of services other than S3, SQS and SNS.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from sim.emulator.authz import actions, policy, sigv4
from sim.emulator.authz.policy import Principal, RequestContext
from sim.emulator.protocol import AwsError, Request

ADMIN_KEYS = {"test": "test"}
ResourcePolicy = Callable[[str], Awaitable[dict[str, Any] | None]]
ResourceKeys = Callable[[str], Awaitable[dict[str, list[str]]]]


@dataclass
class Caller:
    """Who signed a request and the policies that speak for them."""

    principal: Principal
    identity: list[dict[str, Any]]
    boundary: list[dict[str, Any]] | None = None
    all_powerful: bool = False
    tags: dict[str, str] | None = None
    secret: str | None = None  # what the request's signature must verify with


def _document(p: Any) -> dict[str, Any]:
    """A moto policy object (managed Policy, inline dict, or JSON text) as a dict."""
    from moto.iam.models import Policy

    text: Any
    if isinstance(p, Policy):
        text = next(v.document for v in p.versions if v.is_default)
    elif isinstance(p, str):
        text = p
    elif isinstance(p, dict) and "policy_document" in p:
        text = p["policy_document"]
    else:
        text = getattr(p, "policy_document", None) or getattr(p, "document", "{}")
    doc = json.loads(unquote(text)) if isinstance(text, str) else text
    return dict(doc) if isinstance(doc, dict) else {}


def _tags(pairs: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in pairs or []:
        if isinstance(t, dict) and "Key" in t:
            out[str(t["Key"])] = str(t.get("Value", ""))
    return out


class IamEnforcer:
    """Whether enforcement is on (saved in the state folder) and the decision per request."""

    def __init__(
        self,
        state_file: Path,
        account_id: str = "123456789012",
        now: Callable[[], float] = time.time,
        admin_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.state_file = state_file
        self.account_id = account_id
        self.now = now
        # the course's admin credentials: the account itself (LocalStack's test/test too)
        self.admin_keys = dict(admin_keys or ADMIN_KEYS)
        self.enforce = False
        if state_file.exists():
            self.enforce = bool(json.loads(state_file.read_text()).get("enforce"))

    def set(self, enforce: bool) -> dict[str, Any]:
        self.enforce = bool(enforce)
        self.state_file.write_text(json.dumps({"enforce": self.enforce}))
        return self.state()

    def state(self) -> dict[str, Any]:
        return {"enforce": self.enforce}

    # ------------------------------------------------------------ who calls
    def caller(self, req: Request, access_key: str | None) -> Caller:
        """The caller of ``req`` signed with ``access_key`` (None: anonymous), with the secret
        its signature must verify with. Raises AWS's error for a key nobody has
        (InvalidAccessKeyId, ...) or a session token that is not the key's or has expired.
        Runs on the moto thread (it reads moto's IAM and STS backends)."""
        if access_key is None:
            return Caller(policy.ANONYMOUS, [])
        from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        hdrs = {
            ("X-Amz-Security-Token" if k == "x-amz-security-token" else k): v
            for k, v in req.headers.items()
        }
        token = _query_value(req, "X-Amz-Security-Token")
        if token and "X-Amz-Security-Token" not in hdrs:
            hdrs["X-Amz-Security-Token"] = token
        acct = self.account_id
        try:
            key = create_access_key(acct, "aws", access_key, hdrs)
        except CreateAccessKeyFailure as exc:
            if getattr(exc, "reason", "") == "InvalidToken":
                raise sigv4.bad_token(req) from None
            if access_key in self.admin_keys:
                root = Principal(f"arn:aws:iam::{acct}:root", acct, "Account", userid=acct)
                return Caller(root, [], all_powerful=True, secret=self.admin_keys[access_key])
            raise sigv4.unknown_key(req, access_key) from None
        backend = iam_backends[acct]["global"]
        identity = [_document(p) for p in key.collect_policies()]
        arn = key.arn
        secret = str(key._secret_access_key)  # noqa: SLF001  (moto keeps it there)
        if ":assumed-role/" in arn:
            for session in sts_backends[acct]["aws"].assumed_roles:
                expires = getattr(session, "expiration", None)
                if session.access_key_id == access_key and expires is not None:
                    at = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires
                    if at.timestamp() < time.time():
                        raise sigv4.bad_token(req, expired=True)
            role_name = arn.split("/")[1]
            role = backend.get_role(role_name)
            boundary = None
            if role.permissions_boundary_arn:
                boundary = [_document(backend.get_policy(role.permissions_boundary_arn))]
            principal = Principal(
                arn,
                acct,
                "AssumedRole",
                role_arn=role.arn,
                userid=f"{role.id}:{arn.rsplit('/', 1)[-1]}",
            )
            tags = _tags(backend.list_role_tags(role_name, None)[0])
            return Caller(principal, identity, boundary, tags=tags, secret=secret)
        name = arn.rsplit("/", 1)[-1]
        user = backend.get_user(name)
        tags = _tags(backend.list_user_tags(name))
        who = Principal(arn, acct, "User", name=name, userid=user.id)
        return Caller(who, identity, tags=tags, secret=secret)

    # ------------------------------------------------------------ the request's context
    def context_keys(
        self, req: Request, caller: Caller, params: dict[str, Any]
    ) -> dict[str, list[str]]:
        """The global condition keys (aws:*) and the service's (s3:*) of one request."""
        now = self.now()
        p = caller.principal
        keys: dict[str, list[str]] = {
            "aws:SourceIp": [req.client_ip or "127.0.0.1"],
            "aws:SecureTransport": ["true" if req.secure else "false"],
            "aws:CurrentTime": [datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
            "aws:EpochTime": [str(int(now))],
            "aws:RequestedRegion": [req.region],
            "aws:PrincipalType": [p.kind],
        }
        if p.arn:
            # a session's aws:PrincipalArn is its role's ARN (global condition context keys)
            keys["aws:PrincipalArn"] = [p.role_arn or p.arn]
            keys["aws:PrincipalAccount"] = [p.account]
            keys["aws:userid"] = [p.userid]
        if p.name:
            keys["aws:username"] = [p.name]
        for k, v in (caller.tags or {}).items():
            keys[f"aws:PrincipalTag/{k}"] = [v]
        request_tags = _request_tags(params)
        for k, v in request_tags.items():
            keys[f"aws:RequestTag/{k}"] = [v]
        if request_tags:
            keys["aws:TagKeys"] = list(request_tags)
        if req.service == "s3":
            keys.update(_s3_keys(req, self.account_id))
        return keys

    # ------------------------------------------------------------ authorization
    async def authorize(
        self,
        req: Request,
        operation: str,
        body: bytes,
        run: Callable[..., Awaitable[Any]],
        resource_policy: ResourcePolicy,
        resource_keys: ResourceKeys,
    ) -> None:
        """Raise AccessDenied unless the caller may do everything ``operation`` needs.
        ``run(fn, *args)`` runs ``fn`` on the moto thread; ``resource_policy(arn)`` and
        ``resource_keys(arn)`` are the provider's (bucket policies, existing tags)."""
        svc = req.service
        if (svc, operation) in actions.ALWAYS_ALLOWED:
            return
        if _sigv2(req):
            # S3 answers so in every region that no longer takes Signature Version 2
            raise AwsError(
                "InvalidRequest",
                "The authorization mechanism you have provided is not supported. Please use "
                "AWS4-HMAC-SHA256.",
                400,
            )
        key = access_key_of(req)
        caller = await run(self.caller, req, key)
        if key is not None and caller.secret is not None:
            digest = hashlib.sha256(body).hexdigest() if svc != "s3" else None
            sigv4.verify(req, caller.secret, digest, time.time())
        params = _params(req, body)
        base = self.context_keys(req, caller, params)

        async def check(need: actions.Need) -> str | None:
            keys = dict(base)
            keys.update(await resource_keys(need.resource))
            ctx = RequestContext(need.action, need.resource, caller.principal, keys)
            found = policy.decide(
                ctx,
                caller.identity,
                caller.boundary,
                await resource_policy(need.resource),
                caller.all_powerful,
            )
            if found.allowed:
                return None
            return _message(caller.principal, need.action, need.resource, found.reason)

        if (svc, operation) in actions.PER_ITEM:
            (action,) = actions.PER_ITEM[(svc, operation)]

            async def item(key: str, form: Mapping[str, str] | None = None) -> str | None:
                nonlocal caller, base
                signed_by = (form or {}).get("x-amz-credential", "").split("/", 1)[0]
                if signed_by:  # a POST form is signed by its own credential
                    caller = await run(self.caller, req, signed_by)
                    if caller.secret is not None:
                        sigv4.verify_post_policy(form or {}, caller.secret)
                    base = self.context_keys(req, caller, params)
                arn = f"arn:aws:s3:::{req.bucket}/{key}"
                return await check(actions.Need(action, arn, "object"))

            req.authorize_item = item
            return
        try:
            needs = self.needs(req, operation, params)
        except actions.UnknownOperation:
            needs = [actions.Need(f"{actions.PREFIX.get(svc, svc)}:{operation}", "*")]
        for need in needs:
            refused = await check(need)
            if refused is not None:
                raise _denied(req, refused)

    def needs(self, req: Request, operation: str, params: dict[str, Any]) -> list[actions.Need]:
        """What ``operation`` needs, with this request's ARNs (S3: the path's bucket and key,
        a copy's source; other services: the names and ARNs in the parameters)."""
        values: dict[str, str] = {
            "partition": "aws",
            "region": req.region,
            "account": self.account_id,
        }
        arns: list[str] = []
        for k, v in params.items():
            if isinstance(v, str):
                values.setdefault(k.lower(), v)
                if v.startswith("arn:"):
                    arns.append(v)
        if "queueurl" in values:
            values["queuename"] = values["queueurl"].rstrip("/").rsplit("/", 1)[-1]
        if "jobflowid" in values:
            values.setdefault("clusterid", values["jobflowid"])
        if (req.service, operation) in actions.ITEMIZED:
            out = []
            for action, table in actions.dynamodb_items(operation, params):
                arn = f"arn:aws:dynamodb:{req.region}:{self.account_id}:table/{table}"
                out.append(actions.Need(action, arn, "table"))
            return out
        if req.service != "s3":
            return actions.resolve(req.service, operation, values, arns=arns)
        values["bucketname"] = req.bucket
        key = _s3_key(req)
        if key:
            values["objectname"] = key
        needs = actions.resolve("s3", operation, values, ("object", "bucket"))
        if operation in actions.S3_COPIES:
            src = unquote(req.headers.get("x-amz-copy-source", "")).lstrip("/").split("?")[0]
            needs[0] = actions.Need("s3:GetObject", f"arn:aws:s3:::{src}", "object")
        h = req.headers
        target = needs[-1].resource
        writes = operation in ("PutObject", "CopyObject", "CreateMultipartUpload")
        if writes and h.get("x-amz-tagging"):
            # "To use tagging with PutObject you need s3:PutObjectTagging" (S3 API reference)
            needs.append(actions.Need("s3:PutObjectTagging", target, "object"))
        if writes and (h.get("x-amz-acl") or any(k.startswith("x-amz-grant-") for k in h)):
            needs.append(actions.Need("s3:PutObjectAcl", target, "object"))
        return needs

    # ------------------------------------------------------------ SimulatePrincipalPolicy
    def simulate(
        self,
        source_arn: str,
        action_names: list[str],
        resources: list[str],
        context: dict[str, list[str]] | None = None,
    ) -> list[tuple[str, str, str]]:
        """IAM's SimulatePrincipalPolicy over the identity policies (and a role's permissions
        boundary) of a user or role, with ``context`` as the request's condition keys (no side
        effect, enforcement on or off): ``[(action, resource, EvalDecision)]`` with
        EvalDecision ``allowed`` | ``explicitDeny`` | ``implicitDeny``. Raises AwsError
        NoSuchEntity for an unknown principal, InvalidInput for another ARN kind. Runs on the
        moto thread (it reads moto's IAM backend).

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
        """
        principal, identity, boundary = _principal_policies(self.account_id, source_arn)
        out = []
        for action in action_names:
            for resource in resources or ["*"]:
                ctx = RequestContext(action, resource, principal, dict(context or {}))
                found = policy.decide(ctx, identity, boundary)
                decision = "allowed"
                if not found.allowed:
                    decision = "explicitDeny" if "explicit deny" in found.reason else "implicitDeny"
                out.append((action, resource, decision))
        return out

    def simulate_custom(
        self,
        documents: list[dict[str, Any]],
        action_names: list[str],
        resources: list[str],
        context: dict[str, list[str]] | None = None,
    ) -> list[tuple[str, str, str]]:
        """IAM's SimulateCustomPolicy: ``documents`` as the identity policies of a caller,
        ``[(action, resource, EvalDecision)]`` as :meth:`simulate`.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulateCustomPolicy.html
        """
        who = Principal(f"arn:aws:iam::{self.account_id}:user/simulated", self.account_id, "User")
        out = []
        for action in action_names:
            for resource in resources or ["*"]:
                ctx = RequestContext(action, resource, who, dict(context or {}))
                found = policy.decide(ctx, documents)
                decision = "allowed"
                if not found.allowed:
                    decision = "explicitDeny" if "explicit deny" in found.reason else "implicitDeny"
                out.append((action, resource, decision))
        return out


def _principal_policies(
    account_id: str, arn: str
) -> tuple[Principal, list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The principal ``arn`` (a user or a role) with its identity policies (inline, attached,
    and for users their groups') and a role's permissions boundary, as moto's IAM holds them."""
    from moto.core.exceptions import ServiceException
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["global"]
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
            who = Principal(arn, account_id, "User", name=name)
            return who, [_document(p) for p in policies], None
        if kind == "role":
            role = backend.get_role(name)
            docs = [
                _document(backend.get_role_policy(name, p)[1])
                for p in backend.list_role_policies(name)
            ]
            docs += [_document(p) for p in backend.list_attached_role_policies(name)[0]]
            boundary = None
            if role.permissions_boundary_arn:
                boundary = [_document(backend.get_policy(role.permissions_boundary_arn))]
            who = Principal(arn, account_id, "AssumedRole", role_arn=arn)
            return who, docs, boundary
    except ServiceException as exc:
        raise AwsError(
            "NoSuchEntity", f"The {kind} with name {name} cannot be found.", 404
        ) from exc
    raise AwsError(
        "InvalidInput",
        f"Invalid Entity Arn: {arn} does not clearly define entity type of user or role.",
    )


# ---------------------------------------------------------------------- request parsing


def access_key_of(req: Request) -> str | None:
    from sim.emulator.routing import access_key

    return access_key(req)


def _sigv2(req: Request) -> bool:
    """A Signature Version 2 request (``Authorization: AWS AKID:sig`` or a URL with
    ``AWSAccessKeyId`` and ``Signature``)."""
    if req.headers.get("authorization", "").startswith("AWS "):
        return True
    q = req.query_string
    return "AWSAccessKeyId=" in q and "Signature=" in q and "X-Amz-Signature" not in q


def _query_value(req: Request, name: str) -> str | None:
    for k, v in parse_qsl(req.query_string, keep_blank_values=True):
        if k == name:
            return v
    return None


def _params(req: Request, body: bytes) -> dict[str, Any]:
    """The request's parameters: a JSON or CBOR body, or the query and form fields."""
    ctype = req.headers.get("content-type", "")
    if req.service == "s3":
        return {}
    if "cbor" in ctype or req.headers.get("smithy-protocol") == "rpc-v2-cbor":
        import cbor2

        try:
            found = cbor2.loads(body) if body else {}
        except Exception:  # a body that does not parse is the provider's to refuse
            return {}
        return dict(found) if isinstance(found, dict) else {}
    if req.target or "json" in ctype:
        try:
            found = json.loads(body) if body.strip() else {}
        except ValueError:
            return {}
        return dict(found) if isinstance(found, dict) else {}
    params: dict[str, Any] = dict(parse_qsl(req.query_string))
    if body:
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    return params


def _request_tags(params: dict[str, Any]) -> dict[str, str]:
    """Tags a create or tag call sends: a map (Kinesis, SQS) or Key/Value pairs (SNS,
    CloudWatch, Firehose; the query protocol's ``Tags.member.N.Key``)."""
    tags = params.get("Tags") or params.get("tags")
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return _tags(tags)
    out = {}
    for k, v in params.items():
        if k.startswith("Tags.member.") and k.endswith(".Key"):
            out[v] = str(params.get(k[: -len("Key")] + "Value", ""))
    return out


def _s3_key(req: Request) -> str:
    path = unquote(req.raw_path.lstrip("/"))
    if path.startswith(req.bucket + "/"):
        return path[len(req.bucket) + 1 :]
    return "" if path == req.bucket else path


_S3_HEADER_KEYS = (
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-acl",
    "x-amz-storage-class",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-content-sha256",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)


def _s3_keys(req: Request, account_id: str) -> dict[str, list[str]]:
    """S3's condition keys a request carries (SAR, "Condition keys for Amazon S3")."""
    h, q = req.headers, req.query()
    keys: dict[str, list[str]] = {"s3:ResourceAccount": [account_id]}
    for name in ("prefix", "delimiter", "max-keys"):
        if name in q:
            keys[f"s3:{name}"] = [q[name]]
    if "versionId" in q:
        keys["s3:VersionId"] = [q["versionId"]]
    for name in _S3_HEADER_KEYS:
        if name in h:
            keys[f"s3:{name}"] = [h[name]]
    if "authorization" in h:
        keys["s3:authType"] = ["REST-HEADER"]
    elif "x-amz-signature" in req.query_string.lower():
        keys["s3:authType"] = ["REST-QUERY-STRING"]
    elif req.method == "POST" and req.operation == "PostObject":
        keys["s3:authType"] = ["POST"]
    if "authorization" in h or "x-amz-signature" in req.query_string.lower():
        keys["s3:signatureversion"] = ["AWS4-HMAC-SHA256"]
    tagging = h.get("x-amz-tagging")
    if tagging:
        pairs = parse_qsl(tagging, keep_blank_values=True)
        for k, v in pairs:
            keys[f"s3:RequestObjectTag/{k}"] = [v]
        keys["s3:RequestObjectTagKeys"] = [k for k, _ in pairs]
    return keys


def _message(who: Principal, action: str, resource: str, reason: str) -> str:
    return (
        f"User: {who.arn or 'anonymous'} is not authorized to perform: {action} on resource: "
        f'"{resource}" {reason}'
    )


def _denied(req: Request, message: str) -> AwsError:
    if req.service == "s3":
        return AwsError("AccessDenied", message, 403)
    if req.target:
        err = AwsError("AccessDeniedException", message, 400)
        if req.service == "sqs":
            # SQS keeps its query-protocol codes over JSON (awsQueryCompatible): botocore
            # reads the code from this header
            err.headers = [("x-amzn-query-error", "AccessDenied;Sender")]
        return err
    return AwsError("AccessDenied", message, 403)
