"""S3's rules for the configuration documents a bucket stores and the values requests carry:
lifecycle, CORS (and matching a request against its rules), tags, CopyObject directives,
browser POST policies. Each check raises the ``AwsError`` S3 answers (code, message, status,
fields), before anything is stored, so a rule AWS would refuse never runs here.

Pure rules over parsed documents (``xml.etree`` elements, dicts): ``api.py`` parses and
renders, ``model.py`` keeps the storage rules. Sources: the S3 API reference (PutBucket-
LifecycleConfiguration, LifecycleRule, PutBucketCors, CORSRule, PutObjectTagging, CopyObject,
"Creating a POST policy"), its Error responses page, and S3's answers recorded in public
bug reports where the reference gives no wording (named in each docstring).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3.model import MIN_TRANSITION_DAYS, STORAGE_CLASS_NAMES

MALFORMED_XML = (
    "The XML you provided was not well-formed or did not validate against our published schema"
)
MAX_LIFECYCLE_RULES = 1000
MAX_RULE_ID = 255
MAX_CORS_RULES = 100
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Letters, digits, white space and _ . : / = + - @ (S3 user guide, "Categorizing your storage
# using tags"); \w stands in for Unicode letters and digits.
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
_ACTIONS = (
    "Expiration",
    "Transition",
    "NoncurrentVersionExpiration",
    "NoncurrentVersionTransition",
    "AbortIncompleteMultipartUpload",
)


def malformed() -> AwsError:
    return AwsError("MalformedXML", MALFORMED_XML)


# ------------------------------------------------------------------- lifecycle
def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError as exc:
        raise malformed() from exc


def _midnight(text: str) -> float:
    """A lifecycle Date (ISO 8601); InvalidArgument unless it is at midnight UTC."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise malformed() from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if (when.hour, when.minute, when.second, when.microsecond) != (0, 0, 0, 0):
        raise AwsError(
            "InvalidArgument",
            "'Date' must be at midnight GMT",
            ArgumentName="Date",
            ArgumentValue=text,
        )
    return when.timestamp()


def _filter_text(rule: ET.Element) -> str:
    """How S3 names a rule's filter in its messages, e.g. ``(prefix=logs/)``."""
    flt = rule.find("Filter")
    if flt is None:
        return f"(prefix={rule.findtext('Prefix') or ''})"
    scope = flt.find("And")
    node = scope if scope is not None else flt
    parts = []
    if node.find("Prefix") is not None:
        parts.append(f"prefix={node.findtext('Prefix') or ''}")
    for tag in node.findall("Tag"):
        parts.append(
            f"tag={{key={tag.findtext('Key') or ''}, value={tag.findtext('Value') or ''}}}"
        )
    for name in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if node.find(name) is not None:
            parts.append(f"{name.lower()}={node.findtext(name)}")
    return f"({' and '.join(parts) or 'prefix='})"


def _check_filter(rule: ET.Element) -> tuple[bool, bool]:
    """The rule's Filter (or legacy Prefix) as S3 accepts it; returns (filters by tags,
    filters by size). MalformedXML for two predicates outside ``And``, an ``And`` of fewer
    than two, or neither Filter nor Prefix; InvalidRequest for duplicate tag keys."""
    flt = rule.find("Filter")
    if flt is None:
        if rule.find("Prefix") is None:
            raise malformed()  # "Filter is required if the LifecycleRule does not contain a Prefix"
        return False, False
    if rule.find("Prefix") is not None:
        raise malformed()
    children = [c.tag for c in flt]
    if len(children) > 1:
        raise malformed()  # "exactly one of Prefix, Tag, ObjectSize..., or And"
    node = flt
    conj = flt.find("And")
    if conj is not None:
        node = conj
        if len(list(conj)) < 2:
            raise malformed()  # And is for "two or more predicates"
    keys = [t.findtext("Key") for t in node.findall("Tag")]
    for t in node.findall("Tag"):
        if t.find("Key") is None or t.find("Value") is None:
            raise malformed()
    if len(set(keys)) != len(keys):
        raise AwsError("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    gt, lt = node.findtext("ObjectSizeGreaterThan"), node.findtext("ObjectSizeLessThan")
    if lt is not None and _int(lt) <= 0:
        raise AwsError(
            "InvalidRequest", "'ObjectSizeLessThan' should be between 1 and 1099511627776000."
        )
    if gt is not None and lt is not None and _int(gt) >= _int(lt):
        raise AwsError(
            "InvalidRequest",
            "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.",
        )
    return bool(keys), gt is not None or lt is not None


def check_lifecycle(root: ET.Element) -> None:
    """A LifecycleConfiguration document (namespace stripped) as S3 validates it before
    storing it (PutBucketLifecycleConfiguration, LifecycleRule, Error responses):

    - 1 to 1,000 rules (MalformedXML otherwise, as S3 answered), unique IDs of at most 255
      characters (InvalidArgument), Status Enabled or Disabled (MalformedXML);
    - a Filter (or the legacy Prefix) with one predicate or an And of several;
    - at least one action (InvalidRequest "At least one action needs to be specified in a rule");
    - Expiration: Days a positive integer, or a Date at midnight UTC, or
      ExpiredObjectDeleteMarker alone; Days greater than every Transition's Days;
    - Transition: Days >= 0 (>= 30 for STANDARD_IA / ONEZONE_IA), or a Date at midnight; one
      storage class once per rule; no mix of Days and Date with the Expiration;
    - AbortIncompleteMultipartUpload: DaysAfterInitiation a positive integer, no tag or size
      filter; NoncurrentVersionExpiration: NoncurrentDays a positive integer.
    """
    if root.tag not in ("LifecycleConfiguration", "LifeCycleConfiguration"):
        raise malformed()
    rules = root.findall("Rule")
    if not rules or len(rules) > MAX_LIFECYCLE_RULES:
        raise malformed()
    seen: set[str] = set()
    for rule in rules:
        rid = rule.findtext("ID")
        if rid is not None:
            if len(rid) > MAX_RULE_ID:
                raise AwsError(
                    "InvalidArgument",
                    f"ID length should not exceed allowed limit of {MAX_RULE_ID}",
                    ArgumentName="ID",
                    ArgumentValue=rid,
                )
            if rid in seen:
                raise AwsError(
                    "InvalidArgument",
                    "Rule ID must be unique. Found same ID for more than one rule",
                    ArgumentName="ID",
                    ArgumentValue=rid,
                )
            seen.add(rid)
        if rule.findtext("Status") not in ("Enabled", "Disabled"):
            raise malformed()
        by_tags, by_size = _check_filter(rule)
        if not any(rule.find(a) is not None for a in _ACTIONS):
            raise AwsError("InvalidRequest", "At least one action needs to be specified in a rule")
        _check_rule_actions(rule, by_tags, by_size)


def _check_rule_actions(rule: ET.Element, by_tags: bool, by_size: bool) -> None:
    where = _filter_text(rule)
    exp_days: int | None = None
    exp_date: float | None = None
    exp = rule.find("Expiration")
    if exp is not None:
        present = [c.tag for c in exp]
        if len(present) != 1:
            raise malformed()  # Days, Date or ExpiredObjectDeleteMarker, exactly one
        if exp.find("Days") is not None:
            exp_days = _int(exp.findtext("Days"))
            if exp_days <= 0:
                raise AwsError(
                    "InvalidArgument",
                    "'Days' for Expiration action must be a positive integer",
                    ArgumentName="Days",
                    ArgumentValue=str(exp_days),
                )
        elif exp.find("Date") is not None:
            exp_date = _midnight(exp.findtext("Date") or "")
        elif by_tags:
            raise AwsError(
                "InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags."
            )
        elif by_size:
            raise AwsError(
                "InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Object Size."
            )
    classes: set[str] = set()
    tr_days: list[int] = []
    tr_dates: list[float] = []
    for tr in rule.findall("Transition"):
        sclass = tr.findtext("StorageClass") or ""
        if sclass not in STORAGE_CLASS_NAMES or sclass in ("STANDARD", "REDUCED_REDUNDANCY"):
            raise malformed()
        if sclass in classes:
            raise AwsError(
                "InvalidRequest",
                f"'StorageClass' must be different for 'Transition' actions in same 'Rule' "
                f"with filter '{where}'",
            )
        classes.add(sclass)
        has_days, has_date = tr.find("Days") is not None, tr.find("Date") is not None
        if has_days == has_date:
            raise malformed()
        if has_days:
            days = _int(tr.findtext("Days"))
            least = MIN_TRANSITION_DAYS.get(sclass, 0)
            if days < 0:
                raise AwsError(
                    "InvalidArgument",
                    "'Days' in Transition action must be nonnegative",
                    ArgumentName="Days",
                    ArgumentValue=str(days),
                )
            if days < least:
                raise AwsError(
                    "InvalidArgument",
                    f"'Days' in Transition action must be greater than or equal to {least} "
                    f"for storageClass '{sclass}'",
                    ArgumentName="Days",
                    ArgumentValue=str(days),
                )
            tr_days.append(days)
        else:
            tr_dates.append(_midnight(tr.findtext("Date") or ""))
    if (exp_days is not None and tr_dates) or (exp_date is not None and tr_days):
        raise AwsError(
            "InvalidRequest",
            f"Found mixed 'Date' and 'Days' based Expiration and Transition actions in "
            f"lifecycle rule for filter '{where}'",
        )
    if tr_days and tr_dates:
        raise AwsError(
            "InvalidRequest",
            f"Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule for "
            f"filter '{where}'",
        )
    if exp_days is not None and any(exp_days <= d for d in tr_days):
        raise AwsError(
            "InvalidArgument",
            f"'Days' in the Expiration action for filter '{where}' must be greater than "
            "'Days' in the Transition action",
        )
    if exp_date is not None and any(exp_date <= d for d in tr_dates):
        raise AwsError(
            "InvalidArgument",
            f"'Date' in the Expiration action for filter '{where}' must be greater than "
            "'Date' in the Transition action",
        )
    nve = rule.find("NoncurrentVersionExpiration")
    if nve is not None:
        if nve.find("NoncurrentDays") is None:
            raise malformed()
        if _int(nve.findtext("NoncurrentDays")) <= 0:
            raise AwsError(
                "InvalidArgument",
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive "
                "integer",
            )
    for nvt in rule.findall("NoncurrentVersionTransition"):
        if nvt.find("NoncurrentDays") is None or (nvt.findtext("StorageClass") or "") not in (
            STORAGE_CLASS_NAMES
        ):
            raise malformed()
    abort = rule.find("AbortIncompleteMultipartUpload")
    if abort is not None:
        if abort.find("DaysAfterInitiation") is None:
            raise malformed()
        days = _int(abort.findtext("DaysAfterInitiation"))
        if days <= 0:
            raise AwsError(
                "InvalidArgument",
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a "
                "positive integer",
                ArgumentName="DaysAfterInitiation",
                ArgumentValue=str(days),
            )
        if by_tags:
            raise AwsError(
                "InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags."
            )
        if by_size:
            raise AwsError(
                "InvalidRequest",
                "AbortIncompleteMultipartUpload cannot be specified with Object Size.",
            )


# ------------------------------------------------------------------------ CORS
@dataclass
class CorsRule:
    """One CORSRule: origins, methods and headers may hold one ``*`` wildcard each."""

    origins: list[str]
    methods: list[str]
    allowed_headers: list[str] = field(default_factory=list)
    expose_headers: list[str] = field(default_factory=list)
    max_age: int | None = None


def parse_cors(root: ET.Element) -> list[CorsRule]:
    """A CORSConfiguration document as S3 validates it (PutBucketCors, CORSRule): 1 to 100
    rules (MalformedXML otherwise), each with at least one AllowedOrigin and AllowedMethod;
    methods only GET, PUT, POST, DELETE, HEAD (InvalidRequest "Found unsupported HTTP method
    in CORS config. Unsupported method is X"); at most one ``*`` per AllowedOrigin and
    AllowedHeader (InvalidRequest 'AllowedOrigin "x" can not have more than one wildcard.')."""
    if root.tag != "CORSConfiguration":
        raise malformed()
    rules = []
    for r in root.findall("CORSRule"):
        origins = [o.text or "" for o in r.findall("AllowedOrigin")]
        methods = [m.text or "" for m in r.findall("AllowedMethod")]
        if not origins or not methods:
            raise malformed()
        for m in methods:
            if m not in CORS_METHODS:
                raise AwsError(
                    "InvalidRequest",
                    f"Found unsupported HTTP method in CORS config. Unsupported method is {m}",
                )
        for o in origins:
            if o.count("*") > 1:
                raise AwsError(
                    "InvalidRequest", f'AllowedOrigin "{o}" can not have more than one wildcard.'
                )
        headers = [h.text or "" for h in r.findall("AllowedHeader")]
        for h in headers:
            if h.count("*") > 1:
                raise AwsError(
                    "InvalidRequest", f'AllowedHeader "{h}" can not have more than one wildcard.'
                )
        age = r.findtext("MaxAgeSeconds")
        rules.append(
            CorsRule(
                origins,
                methods,
                headers,
                [h.text or "" for h in r.findall("ExposeHeader")],
                _int(age) if age is not None else None,
            )
        )
    if not rules or len(rules) > MAX_CORS_RULES:
        raise malformed()
    return rules


def _wild(pattern: str, value: str, fold: bool = False) -> bool:
    if fold:
        pattern, value = pattern.lower(), value.lower()
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def match_cors(
    rules: list[CorsRule], origin: str, method: str, request_headers: Iterable[str]
) -> CorsRule | None:
    """The first rule that allows ``origin`` (exactly or through its one wildcard),
    ``method`` and every requested header (case-insensitive), as S3's CORS evaluation
    describes it (user guide, "How does Amazon S3 evaluate the CORS configuration")."""
    wanted = [h.strip().lower() for h in request_headers if h.strip()]
    for rule in rules:
        if method not in rule.methods:
            continue
        if not any(_wild(o, origin) for o in rule.origins):
            continue
        if not all(any(_wild(a, h, fold=True) for a in rule.allowed_headers) for h in wanted):
            continue
        return rule
    return None


def cors_headers(
    rule: CorsRule, origin: str, requested_headers: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The Access-Control-* headers S3 answers for a matching ``rule``: the origin itself and
    Allow-Credentials when the rule does not allow every origin, the rule's methods, the
    requested headers (lower case), Expose-Headers and Max-Age when set, and Vary."""
    wildcard = "*" in rule.origins
    out = [("access-control-allow-origin", "*" if wildcard else origin)]
    if not wildcard:
        out.append(("access-control-allow-credentials", "true"))
    out.append(("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"))
    out.append(("access-control-allow-methods", ", ".join(rule.methods)))
    asked = [h.strip().lower() for h in requested_headers if h.strip()]
    if asked:
        out.append(("access-control-allow-headers", ", ".join(asked)))
    if rule.expose_headers:
        out.append(("access-control-expose-headers", ", ".join(rule.expose_headers)))
    if rule.max_age is not None:
        out.append(("access-control-max-age", str(rule.max_age)))
    return out


# ------------------------------------------------------------------------ tags
def check_tag_pairs(pairs: list[tuple[str, str]], bucket: bool = False) -> dict[str, str]:
    """A tag set as S3 validates it (PutObjectTagging / PutBucketTagging; user guide "Tagging
    objects"): unique keys (InvalidTag "Cannot provide multiple Tags with the same key"), at
    most 10 per object (BadRequest "Object tags cannot be greater than 10") or 50 per bucket,
    keys of 1-128 and values of 0-256 characters, the tag character set, no ``aws:`` prefix
    (InvalidTag "Your TagKey cannot be prefixed with aws:"). Returns them as a dict."""
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise AwsError(
                "InvalidTag", "Cannot provide multiple Tags with the same key", TagKey=key
            )
        seen[key] = value
    limit = MAX_BUCKET_TAGS if bucket else MAX_OBJECT_TAGS
    if len(seen) > limit:
        if bucket:
            raise AwsError("BadRequest", f"Bucket tag count cannot be greater than {limit}")
        raise AwsError("BadRequest", f"Object tags cannot be greater than {limit}")
    for key, value in seen.items():
        if key.lower().startswith("aws:"):
            if bucket:
                raise AwsError("InvalidTag", "System tags cannot be added/updated by requester")
            raise AwsError("InvalidTag", "Your TagKey cannot be prefixed with aws:", TagKey=key)
        if not key or len(key) > MAX_TAG_KEY or not _TAG_TEXT.match(key):
            raise AwsError("InvalidTag", "The TagKey you have provided is invalid", TagKey=key)
        if len(value) > MAX_TAG_VALUE or not _TAG_TEXT.match(value):
            raise AwsError(
                "InvalidTag",
                "The TagValue you have provided is invalid",
                TagKey=key,
                TagValue=value,
            )
    return seen


def tagging_header_pairs(pairs: list[tuple[str, str]], raw: str) -> dict[str, str]:
    """The ``x-amz-tagging`` header's pairs (URL-query encoded): a repeated key is
    InvalidArgument "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL
    query parameters without tag name duplicates." (S3's answer recorded in aws-cli #2841);
    then the tag-set rules of ``check_tag_pairs``."""
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise AwsError(
            "InvalidArgument",
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
            "parameters without tag name duplicates.",
            ArgumentName="x-amz-tagging",
            ArgumentValue=raw,
        )
    return check_tag_pairs(pairs)


# ------------------------------------------------------------------ directives
def directive(value: str | None, header: str, what: str) -> bool:
    """A CopyObject ``x-amz-metadata-directive`` / ``x-amz-tagging-directive`` value: True for
    REPLACE, False for COPY or absent (the default); InvalidArgument "Unknown <what>
    directive." for anything else (values are case-sensitive, as S3's enum)."""
    if value is None or value == "COPY":
        return False
    if value == "REPLACE":
        return True
    raise AwsError(
        "InvalidArgument", f"Unknown {what} directive.", ArgumentName=header, ArgumentValue=value
    )


# --------------------------------------------------------------- bucket policy
def _listed(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise AwsError("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")


def check_bucket_policy(text: str, bucket: str) -> None:
    """A bucket policy as S3 refuses it before storing (PutBucketPolicy; MalformedPolicy with
    the messages S3 answers, recorded in public reports): JSON whose first byte is ``{``, a
    Statement, and in each statement a Principal (or NotPrincipal), an Action (or NotAction)
    naming S3 actions, and Resources inside this bucket."""
    text = text.lstrip()
    try:
        doc = json.loads(text) if text.startswith("{") else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise AwsError(
            "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'"
        )
    if "Statement" not in doc:
        raise AwsError("MalformedPolicy", "Missing required field Statement")
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    own = f"arn:aws:s3:::{bucket}"
    for st in statements:
        if not isinstance(st, dict):
            raise AwsError("MalformedPolicy", "Missing required field Statement")
        if "Principal" not in st and "NotPrincipal" not in st:
            raise AwsError("MalformedPolicy", "Missing required field Principal")
        actions = st.get("Action", st.get("NotAction"))
        if actions is None:
            raise AwsError("MalformedPolicy", "Missing required field Action")
        for action in _listed(actions):
            if action != "*" and not action.lower().startswith("s3:"):
                raise AwsError("MalformedPolicy", "Policy has invalid action")
        resources = st.get("Resource", st.get("NotResource"))
        if resources is None:
            raise AwsError("MalformedPolicy", "Missing required field Resource")
        for res in _listed(resources):
            if res != own and not res.startswith(own + "/"):
                raise AwsError("MalformedPolicy", "Policy has invalid resource")


# ----------------------------------------------------------------- POST policy
def _policy_denied(message: str) -> AwsError:
    return AwsError("AccessDenied", f"Invalid according to Policy: {message}", 403)


def check_post_policy(
    policy_b64: str, form: dict[str, str], bucket: str, size: int, now: float | None = None
) -> None:
    """A browser POST's policy ("Creating a POST policy", sigv4-HTTPPOSTConstructPolicy):
    base64 JSON with ``expiration`` and ``conditions``. 403 AccessDenied "Invalid according to
    Policy: Policy expired." after the expiration; "Policy Condition failed: [...]" for a
    condition the form does not meet; "Extra input fields: x" for a form field no condition
    names (those S3 exempts aside); EntityTooSmall / EntityTooLarge outside
    content-length-range. ``form`` keys are lower case; ``size`` is the file's, in bytes."""
    try:
        doc = json.loads(base64.b64decode(policy_b64, validate=False))
    except (ValueError, binascii.Error) as exc:
        raise AwsError("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.", 400) from exc
    if not isinstance(doc, dict) or "conditions" not in doc or "expiration" not in doc:
        raise AwsError("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.", 400)
    try:
        expires = datetime.fromisoformat(str(doc["expiration"]).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise AwsError(
            "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.", 400
        ) from exc
    if expires < (time.time() if now is None else now):
        raise _policy_denied("Policy expired.")
    values = dict(form, bucket=bucket)
    named: set[str] = set()
    for cond in doc["conditions"]:
        text = json.dumps(cond)
        if isinstance(cond, dict):
            if len(cond) != 1:
                raise AwsError(
                    "InvalidPolicyDocument",
                    "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have "
                    "exactly one property specified.",
                )
            ((name, want),) = cond.items()
            named.add(name.lower())
            if values.get(name.lower()) != want:
                raise _policy_denied(f"Policy Condition failed: {text}")
            continue
        if isinstance(cond, list) and len(cond) == 3 and cond[0] == "content-length-range":
            low, high = int(cond[1]), int(cond[2])
            if size < low:
                raise AwsError(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    ProposedSize=size,
                    MinSizeAllowed=low,
                )
            if size > high:
                raise AwsError(
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    ProposedSize=size,
                    MaxSizeAllowed=high,
                )
            continue
        if not (isinstance(cond, list) and len(cond) == 3 and str(cond[1]).startswith("$")):
            raise AwsError(
                "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {text}", 400
            )
        op, name, want = str(cond[0]).lower(), str(cond[1])[1:].lower(), str(cond[2])
        named.add(name)
        got = values.get(name, "")
        ok = got == want if op == "eq" else got.startswith(want) if op == "starts-with" else False
        if not ok:
            raise _policy_denied(f"Policy Condition failed: {text}")
    exempt = {"policy", "file", "bucket", "x-amz-signature", "signature", "awsaccesskeyid"}
    extra = [
        k for k in form if k not in named and k not in exempt and not k.startswith("x-ignore-")
    ]
    if extra:
        raise _policy_denied(f"Extra input fields: {', '.join(extra)}")
