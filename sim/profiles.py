"""Profiles as data: where AWS is, with which credentials, and what runs where.

This is the only module allowed to know profile names. Everything else asks the resolved
:class:`Profile` for endpoints, credentials, Spark settings and runners.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sim.settings import Settings


class ProfileError(ValueError):
    """Unknown or unusable profile; the message says what to do."""


# What a profile can do, as data. Code asks ``profile.can(...)``, never for a profile's name.
CAPABILITIES: dict[str, str] = {
    "autostart": "bdlab starts and stops its emulator (bdlab up / down)",
    "admin": "the emulator's /_bdlab admin endpoints answer",
    "clock": "fast-forward the emulator clock (lifecycle, retention, buffers in seconds)",
    "request_counts": "count the requests the emulator served, per operation and bucket",
    "iam_toggle": "switch IAM enforcement on and off on demand",
    "faults": "inject throttling, errors, latency and outages",
    "lifecycle_now": "run S3 lifecycle rules on demand",
    "firehose_flush": "deliver a Firehose stream's buffers on demand (the clock does not move)",
    "sns_local": "SNS delivers to HTTP endpoints on 127.0.0.1 and email into a local mailbox "
    "(bdlab inbox)",
    "alarm_evaluate": "evaluate named CloudWatch alarms as they would be N s from now "
    "(the clock does not move)",
    "local_emr_steps": "EMR steps run as local spark-submit processes",
    "cost_model": "make S3 requests take AWS-like time (latency, throughput, copy cost)",
}
_EMULATOR_CAPS = frozenset(CAPABILITIES)


@dataclass(frozen=True)
class ProfileSpec:
    """The static description of a profile (templates filled from settings)."""

    name: str
    summary: str
    endpoint: str | None  # template over settings, or None for AWS's own endpoints
    access_key: str | None  # None: the default AWS credential chain
    secret_key: str | None
    region_setting: str  # which setting holds the region
    emulator: str  # embedded (we start it) | external (someone else runs it) | none
    health_path: str | None
    runners: Mapping[str, str]
    capabilities: frozenset[str] = frozenset()
    tag_resources: bool = False


_SPECS: dict[str, ProfileSpec] = {
    "embedded": ProfileSpec(
        name="embedded",
        summary="bdlab's own emulator on this machine: offline, no Docker, no account",
        endpoint="http://{host}:{port}",
        access_key="test",
        secret_key="test",
        region_setting="region",
        emulator="embedded",
        health_path="/_bdlab/health",
        runners=MappingProxyType(
            {
                "s3": "bdlab emulator (own provider, durable on disk)",
                "kinesis": "bdlab emulator (own provider: per-shard limits, durable shard logs, "
                "enhanced fan-out, JSON and CBOR over HTTP/1.1 and HTTP/2)",
                "firehose": "bdlab emulator (own provider: durable buffers, DirectPut and "
                "Kinesis sources to S3, Lambda transforms, dynamic partitioning, Parquet "
                "and ORC conversion)",
                "cloudwatch": "bdlab emulator (own metrics, dashboards and alarms provider: "
                "durable, emulator clock, CBOR/JSON/query, percentiles; alarms evaluated every "
                "minute or 10 s, M of N, missing data, metric math, composites; SNS "
                "notifications on transitions)",
                "emr_steps": "bdlab emulator: each step a local spark-submit, logs to LogUri",
                "spark": "local[*] Spark, s3a -> emulator",
            }
        ),
        capabilities=_EMULATOR_CAPS,
    ),
    "localstack": ProfileSpec(
        name="localstack",
        summary="LocalStack in Docker (compose.yaml); needs Docker and a LocalStack token",
        endpoint="{localstack_endpoint}",
        access_key="test",
        secret_key="test",
        region_setting="region",
        emulator="external",
        health_path="/_localstack/health",
        runners=MappingProxyType(
            {
                "s3": "LocalStack",
                "kinesis": "LocalStack",
                "firehose": "LocalStack",
                "cloudwatch": "LocalStack",
                "emr_steps": "LocalStack's EMR (paid plan only; bdlab does not run steps here)",
                "spark": "local[*] Spark, s3a -> LocalStack",
            }
        ),
    ),
    "aws": ProfileSpec(
        name="aws",
        summary="real AWS with your credentials (resources are tagged bdlab=true)",
        endpoint=None,
        access_key=None,
        secret_key=None,
        region_setting="aws_region",
        emulator="none",
        health_path=None,
        runners=MappingProxyType(
            {
                "s3": "Amazon S3",
                "kinesis": "Amazon Kinesis Data Streams",
                "firehose": "Amazon Data Firehose",
                "cloudwatch": "Amazon CloudWatch",
                "emr_steps": "Amazon EMR",
                "spark": "local[*] Spark, s3a -> Amazon S3 (jobs run on EMR via emr_steps)",
            }
        ),
        tag_resources=True,
    ),
}

PROFILE_NAMES: tuple[str, ...] = tuple(_SPECS)


@dataclass(frozen=True)
class Profile:
    """A profile resolved against the current settings: concrete values only."""

    name: str
    summary: str
    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None
    region: str | None
    emulator: str
    health_url: str | None
    runners: Mapping[str, str]
    tag_resources: bool
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    capabilities: frozenset[str] = frozenset()
    # temporary credentials (an assumed role's session: dataclasses.replace a profile)
    session_token: str | None = None

    def __hash__(self) -> int:  # the mappings are derived data; identity is these fields
        return hash(
            (
                self.name,
                self.endpoint_url,
                self.access_key,
                self.secret_key,
                self.session_token,
                self.region,
            )
        )

    def can(self, capability: str) -> bool:
        """Whether this profile offers ``capability`` (a key of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise KeyError(f"unknown capability {capability!r}")
        return capability in self.capabilities

    def require(self, capability: str) -> None:
        """Raise :class:`ProfileError` naming what is missing when the profile cannot."""
        if not self.can(capability):
            raise ProfileError(
                f"profile {self.name!r} cannot {CAPABILITIES[capability]}: "
                "that needs the embedded emulator (--profile embedded)."
            )

    @property
    def uses_emulator(self) -> bool:
        """Its AWS is an emulator on an endpoint with a health URL (bdlab's or LocalStack)."""
        return self.emulator != "none"

    def boto_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for a boto3 client of this profile (see sim.clients)."""
        kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.access_key is not None:
            kwargs["aws_access_key_id"] = self.access_key
            kwargs["aws_secret_access_key"] = self.secret_key
            if self.session_token:
                kwargs["aws_session_token"] = self.session_token
        if self.region:
            kwargs["region_name"] = self.region
        return kwargs


def _s3a_conf(
    endpoint: str | None, access_key: str | None, secret_key: str | None, region: str | None
) -> dict[str, str]:
    """Spark's s3a settings, derived from the same endpoint and credentials as boto3."""
    conf: dict[str, str] = {}
    if endpoint:
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                    endpoint.startswith("https")
                ).lower(),
            }
        )
    if access_key is not None:
        conf.update(
            {
                "spark.hadoop.fs.s3a.access.key": access_key,
                "spark.hadoop.fs.s3a.secret.key": secret_key or "",
                "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            }
        )
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


def resolve(settings: Settings, name: str | None = None) -> Profile:
    """Turn a profile name (default: the ``profile`` setting) into concrete values."""
    chosen = name or settings.profile
    spec = _SPECS.get(chosen)
    if spec is None:
        raise ProfileError(
            f"unknown profile {chosen!r}: choose one of {', '.join(PROFILE_NAMES)} "
            "(--profile, BDLAB_PROFILE or 'profile' in bdlab.toml)."
        )
    endpoint = spec.endpoint.format(**settings.values) if spec.endpoint else None
    region = settings.values.get(spec.region_setting) or None
    return Profile(
        name=spec.name,
        summary=spec.summary,
        endpoint_url=endpoint,
        access_key=spec.access_key,
        secret_key=spec.secret_key,
        region=region,
        emulator=spec.emulator,
        health_url=(endpoint + spec.health_path) if endpoint and spec.health_path else None,
        runners=spec.runners,
        tag_resources=spec.tag_resources,
        spark_conf=MappingProxyType(_s3a_conf(endpoint, spec.access_key, spec.secret_key, region)),
        capabilities=spec.capabilities,
    )


def for_endpoint(settings: Settings, endpoint_url: str) -> Profile:
    """The embedded profile pointed at a running emulator's ``endpoint_url`` (the EMR step
    launcher and the in-process test emulator, whose port is chosen when it binds)."""
    host_port = endpoint_url.split("://", 1)[-1].rstrip("/")
    host, _, port = host_port.rpartition(":")
    return resolve(settings.with_values(host=host, port=int(port)), "embedded")


def to_options(profile: Profile) -> dict[str, str]:
    """A profile as plain strings, for code that runs where no settings exist (a Spark data
    source's Python workers): rebuilt there with :func:`from_options`."""
    out = {"profile": profile.name, "region": profile.region or ""}
    if profile.endpoint_url:
        out["endpointUrl"] = profile.endpoint_url
    if profile.access_key is not None:
        out["accessKey"] = profile.access_key
        out["secretKey"] = profile.secret_key or ""
    return out


def from_options(options: Mapping[str, str]) -> Profile:
    """The profile :func:`to_options` described (missing keys: the named profile's own)."""
    spec = _SPECS.get(options.get("profile", "embedded"))
    if spec is None:
        raise ProfileError(f"unknown profile {options.get('profile')!r}")
    endpoint = options.get("endpointUrl") or None
    access = options.get("accessKey", spec.access_key)
    secret = options.get("secretKey", spec.secret_key)
    region = options.get("region") or None
    return Profile(
        name=spec.name,
        summary=spec.summary,
        endpoint_url=endpoint,
        access_key=access,
        secret_key=secret,
        region=region,
        emulator=spec.emulator,
        health_url=(endpoint + spec.health_path) if endpoint and spec.health_path else None,
        runners=spec.runners,
        tag_resources=spec.tag_resources,
        spark_conf=MappingProxyType(_s3a_conf(endpoint, access, secret, region)),
        capabilities=spec.capabilities,
    )


def describe_all() -> list[tuple[str, str]]:
    return [(s.name, s.summary) for s in _SPECS.values()]
