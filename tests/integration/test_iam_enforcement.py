"""Opt-in IAM enforcement: an IAM user's identity policies decide, with AWS's error shapes."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients

pytestmark = pytest.mark.integration


def set_enforce(profile: Any, on: bool) -> dict[str, Any]:
    req = urllib.request.Request(
        profile.endpoint_url + "/_bdlab/iam",
        method="POST",
        data=json.dumps({"enforce": on}).encode(),
    )
    return dict(json.loads(urllib.request.urlopen(req).read()))


@pytest.fixture()
def enforced(profile: Any) -> Iterator[None]:
    assert set_enforce(profile, True) == {"enforce": True}
    yield
    set_enforce(profile, False)


def as_user(profile: Any, key: dict[str, str]) -> Any:
    return dataclasses.replace(
        profile, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )


def test_identity_policies_decide(
    profile: Any,
    aws: Callable[[str], Any],
    bucket: str,
    unique: Callable[[str], str],
    enforced: None,
) -> None:
    iam, kin, s3 = aws("iam"), aws("kinesis"), aws("s3")
    stream = unique("clicks")
    kin.create_stream(StreamName=stream, ShardCount=1)  # admin credentials: allowed
    account = aws("sts").get_caller_identity()["Account"]
    user = unique("producer")
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="produce",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
                        "Resource": f"arn:aws:kinesis:us-east-1:{account}:stream/{stream}",
                    },
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/in/*",
                    },
                    {
                        "Effect": "Deny",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/in/secret*",
                    },
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    s3.put_object(Bucket=bucket, Key="in/a.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="in/secret.json", Body=b"{}")
    me = as_user(profile, key)
    ukin, us3 = (
        clients.client("kinesis", me, retries=False),
        clients.client("s3", me, retries=False),
    )
    ukin.put_record(StreamName=stream, Data=b"x", PartitionKey="k")  # allowed
    with pytest.raises(ClientError) as e:
        ukin.delete_stream(StreamName=stream)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"user/{user} is not authorized to perform: kinesis:DeleteStream"
        in e.value.response["Error"]["Message"]
    )
    assert us3.get_object(Bucket=bucket, Key="in/a.json")["Body"].read() == b"{}"
    for op in (
        lambda: us3.get_object(Bucket=bucket, Key="in/secret.json"),  # explicit deny
        lambda: us3.put_object(Bucket=bucket, Key="in/b.json", Body=b"{}"),
    ):  # no allow
        with pytest.raises(ClientError) as e:
            op()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert clients.client("sts", me).get_caller_identity()["Arn"].endswith(f"user/{user}")
    set_enforce(profile, False)
    us3.put_object(Bucket=bucket, Key="in/b.json", Body=b"{}")  # enforcement off: allowed again


# --------------------------------------------------------------- issue 12 §1: authorization
ACCOUNT = "123456789012"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture()
def user(profile: Any, aws: Callable[[str], Any], unique: Callable[[str], str]) -> Any:
    """make(statements...) -> (user ARN, s3 client, profile) of a new IAM user with those
    identity statements (none: no identity policy)."""
    iam = aws("iam")

    def make(*statements: dict[str, Any]) -> tuple[str, Any, Any]:
        name = unique("u")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        if statements:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
        me = as_user(profile, iam.create_access_key(UserName=name)["AccessKey"])
        return arn, clients.client("s3", me, retries=False), me

    return make


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def test_delete_objects_authorizes_each_key(
    aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    """Allowed s3:DeleteObject on <bucket>/*: DeleteObjects of two keys deletes both (AWS
    authorizes each key's object ARN, not the bucket's); a key a Deny covers comes back as an
    AccessDenied entry inside the 200 and stays."""
    s3 = aws("s3")
    for k in ("a.csv", "b.csv", "keep/c.csv"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    _, us3, _ = user(
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {
            "Effect": "Deny",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{bucket}/keep/*",
        },
    )
    out = us3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a.csv"}, {"Key": "b.csv"}]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a.csv", "b.csv"]
    assert "Errors" not in out
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"x")
    out = us3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a.csv"}, {"Key": "keep/c.csv"}]}
    )
    assert [d["Key"] for d in out["Deleted"]] == ["a.csv"]
    (err,) = out["Errors"]
    assert (err["Key"], err["Code"]) == ("keep/c.csv", "AccessDenied")
    assert "with an explicit deny in an identity-based policy" in err["Message"]
    assert s3.head_object(Bucket=bucket, Key="keep/c.csv")["ContentLength"] == 1


def test_action_names_match_without_case(
    aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    """Allow s3:* with Deny s3:deleteobject: DeleteObject is refused and the object stays;
    Allow s3:getobject (lower case) allows GetObject."""
    aws("s3").put_object(Bucket=bucket, Key="k", Body=b"x")
    _, us3, _ = user(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:deleteobject", "Resource": "*"},
    )
    with pytest.raises(ClientError) as e:
        us3.delete_object(Bucket=bucket, Key="k")
    assert code(e) == "AccessDenied"
    assert aws("s3").head_object(Bucket=bucket, Key="k")["ContentLength"] == 1
    _, reader, _ = user({"Effect": "Allow", "Action": "s3:getobject", "Resource": "*"})
    assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_operations_ask_for_the_sar_action(
    aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    """DeleteBucketLifecycle needs s3:PutLifecycleConfiguration and ListObjectVersions
    s3:ListBucketVersions; the operation names themselves are not IAM actions."""
    arn = f"arn:aws:s3:::{bucket}"
    _, wrong, _ = user(
        {
            "Effect": "Allow",
            "Action": ["s3:DeleteBucketLifecycle", "s3:ListObjectVersions"],
            "Resource": arn,
        }
    )
    for call in (
        lambda c: c.delete_bucket_lifecycle(Bucket=bucket),
        lambda c: c.list_object_versions(Bucket=bucket),
    ):
        with pytest.raises(ClientError) as e:
            call(wrong)
        assert code(e) == "AccessDenied"
    _, right, _ = user(
        {
            "Effect": "Allow",
            "Action": ["s3:PutLifecycleConfiguration", "s3:ListBucketVersions"],
            "Resource": arn,
        }
    )
    right.delete_bucket_lifecycle(Bucket=bucket)
    try:
        right.list_object_versions(Bucket=bucket)
    except ClientError as e:  # versioning's own answer, never an authorization one
        assert e.response["Error"]["Code"] != "AccessDenied"


def test_copy_reads_its_source_and_writes_its_target(
    aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    aws("s3").put_object(Bucket=bucket, Key="src/a", Body=b"x")
    write_only = {
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/dst/*",
    }
    _, us3, _ = user(write_only)
    with pytest.raises(ClientError) as e:
        us3.copy_object(Bucket=bucket, Key="dst/a", CopySource={"Bucket": bucket, "Key": "src/a"})
    assert code(e) == "AccessDenied"
    assert f'resource: "arn:aws:s3:::{bucket}/src/a"' in e.value.response["Error"]["Message"]
    _, both, _ = user(
        write_only,
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/src/*"},
    )
    both.copy_object(Bucket=bucket, Key="dst/a", CopySource={"Bucket": bucket, "Key": "src/a"})
    with pytest.raises(ClientError) as e:  # the target is outside dst/
        both.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "src/a"})
    assert code(e) == "AccessDenied"


def test_bucket_policies_grant_and_deny(
    profile: Any, aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    """A bucket policy naming a user grants without any identity policy; its Deny with a
    condition binds everyone, the account's own credentials included; Principal "*" lets an
    unsigned request read."""
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="pub/a", Body=b"x")
    arn, us3, _ = user()
    with pytest.raises(ClientError) as e:
        us3.get_object(Bucket=bucket, Key="pub/a")
    assert code(e) == "AccessDenied"
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": arn},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/pub/*",
            },
            {
                "Sid": "RequireSSE",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
            },
        ),
    )
    try:
        assert us3.get_object(Bucket=bucket, Key="pub/a")["Body"].read() == b"x"
        with pytest.raises(ClientError) as e:  # granted reads, not writes
            us3.put_object(Bucket=bucket, Key="pub/b", Body=b"x")
        assert code(e) == "AccessDenied"
        with pytest.raises(ClientError) as e:  # the Deny binds the admin (root) too
            s3.put_object(Bucket=bucket, Key="pub/b", Body=b"x")
        assert "with an explicit deny in a resource-based policy" in str(e.value)
        s3.put_object(Bucket=bucket, Key="pub/b", Body=b"x", ServerSideEncryption="AES256")
        url = f"{profile.endpoint_url}/{bucket}/pub/a"
        assert urllib.request.urlopen(url).read() == b"x"  # anonymous, Principal "*"
        s3.put_object(Bucket=bucket, Key="priv", Body=b"x", ServerSideEncryption="AES256")
        with pytest.raises(urllib.error.HTTPError) as he:
            urllib.request.urlopen(f"{profile.endpoint_url}/{bucket}/priv")
        assert he.value.code == 403 and b"<Code>AccessDenied</Code>" in he.value.read()
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


def test_condition_keys_of_the_request_and_the_resource(
    aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    """aws:SourceIp, s3:prefix with ${aws:username}, s3:ExistingObjectTag/<key>."""
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="open", Body=b"x", Tagging="class=public")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"x", Tagging="class=secret")
    _, far, _ = user(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }
    )
    with pytest.raises(ClientError) as e:  # we call from 127.0.0.1
        far.get_object(Bucket=bucket, Key="open")
    assert code(e) == "AccessDenied"
    _, near, _ = user(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {
                "IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                "StringEquals": {"s3:ExistingObjectTag/class": "public"},
            },
        }
    )
    assert near.get_object(Bucket=bucket, Key="open")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        near.get_object(Bucket=bucket, Key="closed")
    assert code(e) == "AccessDenied"
    arn, homes, _ = user(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
        }
    )
    me = arn.rsplit("/", 1)[-1]
    assert homes.list_objects_v2(Bucket=bucket, Prefix=f"home/{me}/")["KeyCount"] == 0
    for prefix in ("home/someone-else/", None):
        with pytest.raises(ClientError) as e:
            homes.list_objects_v2(Bucket=bucket, **({"Prefix": prefix} if prefix else {}))
        assert code(e) == "AccessDenied"


def test_a_permissions_boundary_caps_a_role_session(
    profile: Any,
    aws: Callable[[str], Any],
    bucket: str,
    unique: Callable[[str], str],
    enforced: None,
) -> None:
    iam, sts = aws("iam"), aws("sts")
    aws("s3").put_object(Bucket=bucket, Key="k", Body=b"x")
    boundary = iam.create_policy(
        PolicyName=unique("b"),
        PolicyDocument=policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
    )["Policy"]["Arn"]
    role = unique("r")
    trust = {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
    role_arn = iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=policy(trust), PermissionsBoundary=boundary
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role,
        PolicyName="all",
        PolicyDocument=policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    )
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
    me = dataclasses.replace(
        profile,
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
    rs3 = clients.client("s3", me, retries=False)
    assert rs3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        rs3.put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert code(e) == "AccessDenied"
    msg = e.value.response["Error"]["Message"]
    assert f"assumed-role/{role}/s1" in msg and "no permissions boundary allows" in msg


# --------------------------------------------------------------- SigV4 (enforcement on)
def _xml_code(e: urllib.error.HTTPError) -> tuple[int, str, str]:
    body = e.read().decode()
    found = re.search(r"<Code>([^<]+)</Code>", body)
    return e.code, found.group(1) if found else "", body


def test_signatures_are_verified(
    profile: Any,
    aws: Callable[[str], Any],
    bucket: str,
    user: Any,
    enforced: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Header and query signatures by the key's secret; a tampered or expired presigned URL,
    X-Amz-Expires over 7 days, a wrong secret, an unknown key and a stale request are
    refused with AWS's codes."""
    aws("s3").put_object(Bucket=bucket, Key="k", Body=b"x")
    _, us3, me = user({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert us3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"  # header form
    url = us3.generate_presigned_url("get_object", {"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    assert urllib.request.urlopen(url).read() == b"x"  # query form
    for bad in (url.replace("/k?", "/k2?"), url[:-2] + "00"):  # another key; a bad signature
        with pytest.raises(urllib.error.HTTPError) as he:
            urllib.request.urlopen(bad)
        status, c, body = _xml_code(he.value)
        assert (status, c) == (403, "SignatureDoesNotMatch"), body
        assert "<StringToSign>AWS4-HMAC-SHA256\n" in body
    week = us3.generate_presigned_url(
        "get_object", {"Bucket": bucket, "Key": "k"}, ExpiresIn=604801
    )
    with pytest.raises(urllib.error.HTTPError) as he:
        urllib.request.urlopen(week)
    status, c, body = _xml_code(he.value)
    assert (status, c) == (400, "AuthorizationQueryParametersError")
    assert "X-Amz-Expires must be less than a week (in seconds) that is 604800" in body
    import datetime

    import botocore.auth
    import botocore.crt.auth  # botocore signs with AWS's CRT when awscrt is installed

    real_now = botocore.auth.get_current_datetime
    for signer in (botocore.auth, botocore.crt.auth):
        monkeypatch.setattr(
            signer,
            "get_current_datetime",
            lambda **kw: real_now(**kw) - datetime.timedelta(hours=1),
        )
    old = us3.generate_presigned_url("get_object", {"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    with pytest.raises(urllib.error.HTTPError) as he:
        urllib.request.urlopen(old)
    status, c, body = _xml_code(he.value)
    assert (status, c) == (403, "AccessDenied") and "Request has expired" in body
    assert "<X-Amz-Expires>60</X-Amz-Expires>" in body and "<ServerTime>" in body
    with pytest.raises(ClientError) as e:  # a header-signed request an hour old
        us3.list_objects_v2(Bucket=bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert code(e) == "RequestTimeTooSkewed"
    for signer in (botocore.auth, botocore.crt.auth):
        monkeypatch.setattr(signer, "get_current_datetime", real_now)
    us3.head_bucket(Bucket=bucket)  # signed now: fine again


def test_wrong_secrets_and_unknown_keys_are_refused(
    profile: Any, aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    _, _, me = user({"Effect": "Allow", "Action": "*", "Resource": "*"})
    wrong = dataclasses.replace(me, secret_key="not-the-secret")
    with pytest.raises(ClientError) as e:
        clients.client("s3", wrong, retries=False).head_object(Bucket=bucket, Key="nope")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        clients.client("s3", wrong, retries=False).list_objects_v2(Bucket=bucket)
    assert code(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        clients.client("kinesis", wrong, retries=False).list_streams()
    assert code(e) == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        clients.client("sns", wrong, retries=False).list_topics()
    assert code(e) == "SignatureDoesNotMatch"
    nobody = dataclasses.replace(me, access_key="AKIANOBODY0000000000", secret_key="x")
    with pytest.raises(ClientError) as e:
        clients.client("s3", nobody, retries=False).list_objects_v2(Bucket=bucket)
    assert code(e) == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as e:
        clients.client("kinesis", nobody, retries=False).list_streams()
    assert code(e) == "UnrecognizedClientException"
    # the admin credentials (test/test) must be signed with their own secret too
    admin = dataclasses.replace(me, access_key="test", secret_key="wrong")
    with pytest.raises(ClientError) as e:
        clients.client("s3", admin, retries=False).list_objects_v2(Bucket=bucket)
    assert code(e) == "SignatureDoesNotMatch"
    # with enforcement off, as moto and LocalStack, any signature is accepted (documented)
    set_enforce(profile, False)
    assert clients.client("s3", wrong, retries=False).list_objects_v2(Bucket=bucket)


def test_browser_post_is_signed_and_authorized_on_its_key(
    profile: Any, aws: Callable[[str], Any], bucket: str, user: Any, enforced: None
) -> None:
    import requests

    _, us3, _ = user(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/in/*"}
    )
    url = f"{profile.endpoint_url}/{bucket}"
    ok = us3.generate_presigned_post(bucket, "in/a.csv", ExpiresIn=300)
    r = requests.post(url, data=ok["fields"], files={"file": ("a.csv", b"1")})
    assert r.status_code == 204, r.text
    assert aws("s3").get_object(Bucket=bucket, Key="in/a.csv")["Body"].read() == b"1"
    out = us3.generate_presigned_post(bucket, "out/a.csv", ExpiresIn=300)
    r = requests.post(url, data=out["fields"], files={"file": ("a.csv", b"1")})
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    forged = {**ok["fields"], "x-amz-signature": "0" * 64}
    r = requests.post(url, data=forged, files={"file": ("a.csv", b"1")})
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text


def test_principal_transport_and_tag_condition_keys(
    profile: Any,
    aws: Callable[[str], Any],
    bucket: str,
    user: Any,
    unique: Callable[[str], str],
    enforced: None,
) -> None:
    """aws:PrincipalArn in a bucket policy, aws:ResourceTag of the bucket, aws:RequestTag of a
    create call, and aws:SecureTransport: false on plain HTTP, as it would be on AWS."""
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    arn, us3, me = user()
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": arn}},
            }
        ),
    )
    try:
        assert us3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        _, other, _ = user()
        with pytest.raises(ClientError) as e:
            other.get_object(Bucket=bucket, Key="k")
        assert code(e) == "AccessDenied"
        s3.put_bucket_policy(
            Bucket=bucket,
            Policy=policy(
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        )
        with pytest.raises(ClientError) as e:  # the emulator serves plain HTTP
            s3.get_object(Bucket=bucket, Key="k")
        assert "explicit deny in a resource-based policy" in e.value.response["Error"]["Message"]
    finally:
        set_enforce(profile, False)  # the deny binds the admin too: lift it to clean up
        s3.delete_bucket_policy(Bucket=bucket)
        set_enforce(profile, True)

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    _, tagged, _ = user(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "data"}},
        }
    )
    assert tagged.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
    with pytest.raises(ClientError) as e:
        tagged.list_objects_v2(Bucket=bucket)
    assert code(e) == "AccessDenied"

    _, _, creator = user(
        {
            "Effect": "Allow",
            "Action": "sqs:CreateQueue",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestTag/team": "data"}},
        }
    )
    sqs = clients.client("sqs", creator, retries=False)
    sqs.create_queue(QueueName=unique("tagged"), tags={"team": "data"})
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=unique("untagged"))
    assert code(e) == "AccessDenied"


def test_queue_and_topic_policies_are_resource_policies(
    aws: Callable[[str], Any], user: Any, unique: Callable[[str], str], enforced: None
) -> None:
    """An SQS queue policy and an SNS topic policy grant a user who has no identity policy."""
    sqs, sns = aws("sqs"), aws("sns")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    arn, _, me = user()
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": arn},
                    "Action": "sqs:SendMessage",
                    "Resource": qarn,
                }
            )
        },
    )
    sns.set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": arn},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ),
    )
    usqs = clients.client("sqs", me, retries=False)
    usqs.send_message(QueueUrl=url, MessageBody="hi")
    with pytest.raises(ClientError) as e:
        usqs.receive_message(QueueUrl=url)
    assert code(e) == "AccessDenied"
    clients.client("sns", me, retries=False).publish(TopicArn=topic, Message="hi")
    with pytest.raises(ClientError) as e:
        clients.client("sns", me, retries=False).delete_topic(TopicArn=topic)
    assert code(e) == "AccessDenied"
