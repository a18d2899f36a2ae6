"""What the gateway knows of a provider: one interface, so that it never reaches inside one.

Each provider owns its operation names (for IAM and request counts), its error rendering (S3's
304 Not Modified, its XML; JSON services' ``__type``) and the shape of its throttling and
fault errors (S3 ``SlowDown`` 503, Kinesis ``ProvisionedThroughputExceededException`` 400,
the rest ``ThrottlingException`` 400).
"""

from __future__ import annotations

from typing import Any

from sim.emulator.protocol import AwsError, Request, Response, error_response


class Provider:
    """Base of every provider; subclasses implement :meth:`handle` and override the rest."""

    service = ""
    # Whether IAM authorization needs the request body (API calls: their parameters name the
    # resource); S3 streams object bodies and names its resource in the path.
    auth_reads_body = True

    async def handle(self, req: Request) -> Response:
        raise NotImplementedError

    async def operation(self, req: Request) -> str:
        """The AWS operation ``req`` calls (sets ``req.operation``; S3 also ``req.bucket``)."""
        from sim.emulator.providers.moto_backend import action_of

        req.operation = req.operation or action_of(req, await req.read())
        return req.operation

    async def resource_policy(self, arn: str) -> dict[str, Any] | None:
        """The resource-based policy of ``arn`` (an S3 bucket policy, ...), or None. IAM
        enforcement evaluates it beside the caller's identity policies."""
        return None

    async def resource_keys(self, arn: str) -> dict[str, list[str]]:
        """Condition keys the resource ``arn`` itself carries (aws:ResourceTag/<k>,
        s3:ExistingObjectTag/<k>) for IAM enforcement."""
        return {}

    def error_response(self, req: Request, err: AwsError) -> Response:
        """``err`` in this service's protocol (XML, JSON, CBOR, query)."""
        return error_response(req, err)

    def fault_error(self, kind: str) -> AwsError:
        """The error an injected fault (``throttle``, ``error``, ``outage``) answers with."""
        if kind == "outage":
            return AwsError(
                "ServiceUnavailable",
                "Service is unavailable (bdlab fault: outage).",
                503,
                sender=False,
            )
        if kind == "error":
            return AwsError(
                "InternalFailure",
                "We encountered an internal error (bdlab fault: error_rate).",
                500,
                sender=False,
            )
        return AwsError("ThrottlingException", "Rate exceeded (bdlab fault: throttle_rate).", 400)
