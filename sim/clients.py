"""The only place boto3 clients are built (ruff bans boto3.client elsewhere).

Clients are cached per (profile, service, region) because building one costs ~50 ms.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import boto3
import botocore.config

from sim import profiles, settings

_lock = threading.Lock()


def _config(profile: profiles.Profile, service: str, retries: bool) -> botocore.config.Config:
    kwargs: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 5 if retries else 1},
        "connect_timeout": 5,
        "read_timeout": 120,
        "max_pool_connections": 32,
    }
    if service == "s3":
        # botocore still presigns S3 URLs with SigV2 off AWS's own endpoints; AWS deprecated
        # SigV2 and newer regions refuse it, so every S3 signature is SigV4
        kwargs["signature_version"] = "s3v4"
    if service == "s3" and profile.endpoint_url:
        # Emulators have no wildcard DNS for virtual-hosted buckets.
        kwargs["s3"] = {"addressing_style": "path"}
    return botocore.config.Config(**kwargs)


class AccessError(RuntimeError):
    """The profile's AWS cannot be used from here (no credentials, no region); one line."""


@lru_cache(maxsize=8)
def _session(profile: profiles.Profile) -> boto3.session.Session:
    kw = profile.boto_kwargs()
    session = boto3.session.Session(
        aws_access_key_id=kw.get("aws_access_key_id"),
        aws_secret_access_key=kw.get("aws_secret_access_key"),
        aws_session_token=kw.get("aws_session_token"),
        region_name=kw.get("region_name"),
    )
    if profile.access_key is None:
        # Off EC2 the instance-metadata endpoint never answers: ask it once, briefly, instead
        # of botocore's default wait, so a laptop without credentials hears so at once.
        session._session.set_config_variable("metadata_service_timeout", 1)  # noqa: SLF001
        session._session.set_config_variable("metadata_service_num_attempts", 1)  # noqa: SLF001
    return session


def check_access(profile: profiles.Profile) -> None:
    """Raise :class:`AccessError` when ``profile`` has no credentials or no region (real
    AWS through the default credential chain); a no-op for static credentials."""
    if profile.access_key is not None:
        return
    session = _session(profile)
    if session.get_credentials() is None:
        raise AccessError(
            f"profile {profile.name!r} found no AWS credentials: run `aws configure` (or "
            "`aws sso login`), or set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY; --profile embedded needs none."
        )
    if not (profile.region or session.region_name):
        raise AccessError(
            f"profile {profile.name!r} has no AWS region: set BDLAB_AWS_REGION (or "
            "`aws_region` in bdlab.toml), AWS_DEFAULT_REGION, or `aws configure set region`."
        )


@lru_cache(maxsize=128)
def _client(profile: profiles.Profile, service: str, region: str | None, retries: bool) -> Any:
    with _lock:  # boto3 sessions are not thread-safe while building clients
        return _session(profile).client(
            service,
            endpoint_url=profile.endpoint_url,
            region_name=region or profile.region,
            config=_config(profile, service, retries),
        )


def active_profile(name: str | None = None) -> profiles.Profile:
    """The profile chosen by --profile / BDLAB_PROFILE / bdlab.toml."""
    return profiles.resolve(settings.load(), name)


def client(
    service: str,
    profile: profiles.Profile | None = None,
    region: str | None = None,
    retries: bool = True,
) -> Any:
    """A boto3 client for ``service`` on ``profile`` (default: the active profile).

    ``retries=False`` gives one attempt per call, to observe throttles and faults raw.
    """
    return _client(profile or active_profile(), service, region, retries)


def clear_cache() -> None:
    _client.cache_clear()
    _session.cache_clear()


def arrow_fs(profile: profiles.Profile | None = None) -> Any:
    """A pyarrow S3 filesystem on the same endpoint and credentials as the boto3 clients."""
    from pyarrow import fs

    p = profile or active_profile()
    kwargs: dict[str, Any] = {"region": p.region or "us-east-1"}
    if p.endpoint_url:
        scheme, _, rest = p.endpoint_url.partition("://")
        kwargs.update(endpoint_override=rest, scheme=scheme)
    if p.access_key is not None:
        kwargs.update(access_key=p.access_key, secret_key=p.secret_key)
        if p.session_token:
            kwargs["session_token"] = p.session_token
    return fs.S3FileSystem(**kwargs)


def delta_storage_options(profile: profiles.Profile | None = None) -> dict[str, str]:
    """delta-rs (``deltalake``) storage options on the same endpoint and credentials as the
    boto3 clients: ``{"AWS_ENDPOINT_URL", "AWS_REGION", ...}`` (all strings, as delta-rs
    wants them). Without static credentials (real AWS) delta-rs uses the default chain."""
    p = profile or active_profile()
    opts = {"AWS_REGION": p.region or "us-east-1"}
    if p.endpoint_url:
        # Emulators have no wildcard DNS for virtual-hosted buckets, and speak plain HTTP.
        opts.update(
            AWS_ENDPOINT_URL=p.endpoint_url,
            AWS_VIRTUAL_HOSTED_STYLE_REQUEST="false",
            AWS_ALLOW_HTTP=str(p.endpoint_url.startswith("http://")).lower(),
        )
    if p.access_key is not None:
        opts.update(AWS_ACCESS_KEY_ID=p.access_key, AWS_SECRET_ACCESS_KEY=p.secret_key or "")
        if p.session_token:
            opts["AWS_SESSION_TOKEN"] = p.session_token
    # Writers (tests, samples, benchmarks) need no lock service: one writer at a time here,
    # and S3's conditional writes are what AWS offers; readers ignore this.
    opts["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return opts
