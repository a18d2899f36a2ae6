"""Signature Version 4 verification, for IAM enforcement: the header form (``Authorization:
AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``) and the query form
(presigned URLs), with the errors each service answers.

AWS docs followed: IAM user guide, "Create a signed AWS API request" (canonical request,
string to sign, signing key) and "Elements of an AWS API request signature"; S3 API
reference, "Authenticating Requests: Using Query Parameters" (X-Amz-Expires 1..604800 s,
"Request has expired") and "Authenticating Requests (AWS Signature Version 4)" (requests more
than 15 minutes off the server's time are refused: RequestTimeTooSkewed).

Times are wall-clock: clients sign with their own clock, never with the emulator's (which may
run faster). What is not verified (docs/emulator.md): the per-chunk signatures of
``aws-chunked`` uploads (their seed signature is), and that an S3 body matches its
``x-amz-content-sha256``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from calendar import timegm
from collections.abc import Mapping
from datetime import UTC, datetime
from time import strptime
from urllib.parse import quote, unquote

from sim.emulator.protocol import AwsError, Request

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60
MAX_EXPIRES_S = 7 * 24 * 3600
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*"
    r"Signature=([0-9a-fA-F]+)"
)


def _quote(s: str, safe: str = "-_.~") -> str:
    return quote(s, safe=safe)


def canonical_query(raw: str, drop: str | None = None) -> str:
    """The query's parameters, each name and value URI-encoded once, sorted."""
    pairs = []
    for part in raw.split("&") if raw else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        k, v = unquote(k), unquote(v)
        if drop is not None and k == drop:
            continue
        pairs.append((_quote(k), _quote(v)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_uris(req: Request) -> list[str]:
    """The canonical URI candidates: S3 encodes the path once and keeps it as sent; the
    other services normalise it and encode it twice. The form a client sent and AWS's own
    encoding of it are both tried (clients differ on characters like ``~`` and ``=``)."""
    raw = req.raw_path or "/"
    once = _quote(unquote(raw), safe="/-_.~")
    if req.service == "s3":
        return list(dict.fromkeys([raw, once]))
    return list(dict.fromkeys([_quote(raw, safe="/-_.~"), _quote(once, safe="/-_.~"), raw]))


def canonical_headers(headers: Mapping[str, str], signed: list[str]) -> str:
    return "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _parse_time(amz_date: str) -> float | None:
    try:
        return float(timegm(strptime(amz_date, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Signed:
    """The signature parts of one request (header or query form)."""

    def __init__(self, req: Request) -> None:
        self.req = req
        h = req.headers
        q = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in _parts(req))}
        m = _AUTH.match(h.get("authorization", ""))
        self.presigned = m is None and "X-Amz-Signature" in q
        if m is not None:
            credential, signed, self.signature = m.group(1), m.group(2), m.group(3)
            self.amz_date = h.get("x-amz-date") or ""
            self.expires: str | None = None
        elif self.presigned:
            if q.get("X-Amz-Algorithm") != ALGORITHM:
                raise _query_error(req, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
            credential = q.get("X-Amz-Credential", "")
            signed = q.get("X-Amz-SignedHeaders", "")
            self.signature = q.get("X-Amz-Signature", "")
            self.amz_date = q.get("X-Amz-Date", "")
            self.expires = q.get("X-Amz-Expires", "")
        else:
            raise AwsError("AccessDenied", "The request is not signed with SigV4.", 403)
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise _query_error(req, f"Invalid credential scope {credential!r}")
        self.access_key: str = parts[0]
        self.date: str = parts[1]
        self.region: str = parts[2]
        self.service: str = parts[3]
        self.scope = "/".join(parts[1:])
        self.signed_headers = signed.split(";")
        self.query = q


def _parts(req: Request) -> list[str]:
    return [p for p in req.query_string.split("&") if p]


def verify(req: Request, secret: str, body_sha256: str | None, now: float) -> None:
    """Raise AWS's error unless ``req`` carries a valid SigV4 signature by ``secret``.
    ``body_sha256``: the payload's hex digest for services whose body is read (None for S3,
    which declares it in ``x-amz-content-sha256``); ``now``: wall-clock seconds."""
    s = Signed(req)
    t = _parse_time(s.amz_date)
    if t is None:
        raise _query_error(req, f"Invalid date {s.amz_date!r}: must be ISO 8601 basic (X-Amz-Date)")
    if s.presigned:
        try:
            expires = int(s.expires or "")
        except ValueError:
            raise _query_error(req, "X-Amz-Expires should be a number") from None
        if expires > MAX_EXPIRES_S:
            raise _query_error(
                req, "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            )
        if expires < 1:
            raise _query_error(req, "X-Amz-Expires must be non-negative")
        if now > t + expires:
            raise _expired(req, s, t + expires, now)
        if t - now > MAX_SKEW_S:
            raise AwsError("AccessDenied", "Request is not valid yet", 403)
    elif abs(now - t) > MAX_SKEW_S:
        raise _skewed(req, s.amz_date, t, now)
    h = req.headers
    if s.presigned:
        payload = s.query.get("X-Amz-Content-Sha256") or (
            "UNSIGNED-PAYLOAD" if req.service == "s3" else hashlib.sha256(b"").hexdigest()
        )
    else:
        payload = h.get("x-amz-content-sha256") or body_sha256 or hashlib.sha256(b"").hexdigest()
    query = canonical_query(req.query_string, "X-Amz-Signature" if s.presigned else None)
    key = signing_key(secret, s.date, s.region, s.service)
    headers = canonical_headers(h, s.signed_headers)
    first: tuple[str, str] | None = None
    for uri in canonical_uris(req):
        creq = "\n".join([req.method, uri, query, headers, ";".join(s.signed_headers), payload])
        to_sign = "\n".join(
            [ALGORITHM, s.amz_date, s.scope, hashlib.sha256(creq.encode()).hexdigest()]
        )
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(sig, s.signature.lower()):
            return
        first = first or (to_sign, creq)
    assert first is not None
    raise _mismatch(req, s, *first)


def verify_post_policy(form: Mapping[str, str], secret: str) -> None:
    """A browser POST's signature: the hex HMAC of the base64 policy with the form's
    credential scope (S3 API reference, "Calculating a signature" for POST)."""
    credential = form.get("x-amz-credential", "")
    parts = credential.split("/")
    if len(parts) != 5 or form.get("x-amz-algorithm") != ALGORITHM:
        raise AwsError(
            "InvalidArgument",
            "POST requires x-amz-algorithm AWS4-HMAC-SHA256 and a valid x-amz-credential.",
            ArgumentName="x-amz-credential",
            ArgumentValue=credential,
        )
    key = signing_key(secret, parts[1], parts[2], parts[3])
    want = hmac.new(key, form.get("policy", "").encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, form.get("x-amz-signature", "").lower()):
        raise AwsError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            403,
            AWSAccessKeyId=parts[0],
            StringToSign=form.get("policy", ""),
            SignatureProvided=form.get("x-amz-signature", ""),
        )


# ---------------------------------------------------------------------- AWS's errors


def _query_error(req: Request, message: str) -> AwsError:
    if req.service == "s3":
        return AwsError("AuthorizationQueryParametersError", message, 400)
    return AwsError("IncompleteSignature", message, 400)


def _expired(req: Request, s: Signed, at: float, now: float) -> AwsError:
    err = AwsError("AccessDenied", "Request has expired", 403)
    err.extra = {"X-Amz-Expires": s.expires or "", "Expires": _iso(at), "ServerTime": _iso(now)}
    return err


def _skewed(req: Request, amz_date: str, t: float, now: float) -> AwsError:
    if req.service == "s3":
        return AwsError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
            RequestTime=amz_date,
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(MAX_SKEW_S * 1000),
        )
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    edge = datetime.fromtimestamp(now - MAX_SKEW_S, UTC).strftime("%Y%m%dT%H%M%SZ")
    word = "earlier" if t < now else "later"
    return AwsError(
        "InvalidSignatureException" if req.target else "SignatureDoesNotMatch",
        f"Signature expired: {amz_date} is now {word} than {edge} ({stamp} - 15 min.)",
        400 if req.target else 403,
    )


def _mismatch(req: Request, s: Signed, to_sign: str, creq: str) -> AwsError:
    if req.service == "s3":
        return AwsError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            403,
            AWSAccessKeyId=s.access_key,
            StringToSign=to_sign,
            SignatureProvided=s.signature,
            CanonicalRequest=creq,
        )
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    )
    if req.target:
        return AwsError("InvalidSignatureException", message, 400)
    return AwsError("SignatureDoesNotMatch", message, 403)


def unknown_key(req: Request, access_key: str) -> AwsError:
    """The answer to a key no IAM user, role session or admin credential has."""
    if req.service == "s3":
        return AwsError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
            AWSAccessKeyId=access_key,
        )
    if req.target:
        return AwsError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            400,
        )
    return AwsError(
        "InvalidClientTokenId", "The security token included in the request is invalid.", 403
    )


def bad_token(req: Request, expired: bool = False) -> AwsError:
    """A session token that does not belong to the key, or has expired."""
    if expired:
        code, text = "ExpiredToken", "The provided token has expired."
        if req.target:
            code, text = (
                "ExpiredTokenException",
                "The security token included in the request is expired",
            )
    elif req.service == "s3":
        code, text = "InvalidToken", "The provided token is malformed or otherwise invalid."
    else:
        code = "UnrecognizedClientException" if req.target else "InvalidClientTokenId"
        text = "The security token included in the request is invalid."
    return AwsError(code, text, 400 if req.target else 403)
