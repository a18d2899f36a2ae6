"""The AWS CLI, awslocal and plain boto3 with AWS_ENDPOINT_URL work unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def cli_env(profile: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BDLAB_"))}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        **extra,
    )
    return env


def aws(profile: Any, *args: str, tool: str = "aws", env: dict[str, str] | None = None) -> str:
    cmd = (
        [str(BIN / tool)]
        + (["--endpoint-url", profile.endpoint_url] if tool == "aws" and env is None else [])
        + list(args)
    )
    r = subprocess.run(
        cmd, env=env or cli_env(profile), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_aws_cli_s3_commands(profile: Any, tmp_path: Path, unique: Any) -> None:
    bkt = unique("cli")
    src = tmp_path / "src"
    (src / "dt=2026-01-12").mkdir(parents=True)
    (src / "dt=2026-01-12" / "a.json").write_text('{"a": 1}\n')
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))  # the CLI uses multipart above 8 MiB
    aws(profile, "s3", "mb", f"s3://{bkt}")
    aws(profile, "s3", "sync", str(src), f"s3://{bkt}/raw/")
    aws(profile, "s3", "cp", str(big), f"s3://{bkt}/big.bin")
    listing = aws(profile, "s3", "ls", "--recursive", f"s3://{bkt}/")
    assert "raw/dt=2026-01-12/a.json" in listing and "big.bin" in listing
    aws(profile, "s3", "cp", f"s3://{bkt}/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    head = json.loads(aws(profile, "s3api", "head-object", "--bucket", bkt, "--key", "big.bin"))
    assert head["ContentLength"] == 20 * 1024 * 1024 and head["ETag"].endswith('-3"')
    aws(profile, "s3", "rb", "--force", f"s3://{bkt}")
    assert bkt not in aws(profile, "s3", "ls")


def test_aws_cli_other_services(profile: Any, unique: Any) -> None:
    ident = json.loads(aws(profile, "sts", "get-caller-identity"))
    assert ident["Account"].isdigit()
    q = unique("cliq")
    url = json.loads(aws(profile, "sqs", "create-queue", "--queue-name", q))["QueueUrl"]
    aws(profile, "sqs", "send-message", "--queue-url", url, "--message-body", "hi")
    msgs = json.loads(aws(profile, "sqs", "receive-message", "--queue-url", url))["Messages"]
    assert msgs[0]["Body"] == "hi"
    stream = unique("clis")
    aws(profile, "kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1")
    assert stream in aws(profile, "kinesis", "list-streams")


def test_awslocal_and_aws_endpoint_url(profile: Any, unique: Any) -> None:
    host = profile.endpoint_url.removeprefix("http://")
    bkt = unique("awsl")
    env = cli_env(profile, LOCALSTACK_HOST=host)
    aws(profile, "s3", "mb", f"s3://{bkt}", tool="awslocal", env=env)
    assert bkt in aws(profile, "s3", "ls", tool="awslocal", env=env)
    # Plain AWS CLI and plain boto3, configured only by AWS_ENDPOINT_URL.
    env = cli_env(profile, AWS_ENDPOINT_URL=profile.endpoint_url)
    assert bkt in aws(profile, "s3api", "list-buckets", env=env)
    code = (
        "import boto3; s3 = boto3.client('s3'); "
        f"s3.put_object(Bucket='{bkt}', Key='k', Body=b'v'); "
        f"print(s3.get_object(Bucket='{bkt}', Key='k')['Body'].read().decode())"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stdout.strip() == "v", r.stderr


def test_readme_aws_cli_line_works_as_written(
    cfg: Any, profile: Any, bucket: str, tmp_path: Path
) -> None:
    """README: `eval "$(bdlab env)"` then `aws s3 ls`, in a shell with no AWS settings."""
    from sim import clients

    clients.client("s3", profile).put_object(Bucket=bucket, Key="readme/hello.txt", Body=b"hi")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BDLAB_"))}
    env.update(
        HOME=str(tmp_path),  # no ~/.aws either
        PATH=f"{BIN}:{env.get('PATH', '')}",
        BDLAB_PORT=str(cfg.port),
        BDLAB_STATE_DIR=str(cfg.state_path),
    )
    script = f'eval "$(bdlab env)" && aws s3 ls s3://{bucket}/readme/'
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "hello.txt" in r.stdout
