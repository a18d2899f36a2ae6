"""Which service a request is for: SigV4 credential scope first, then X-Amz-Target, then S3.

Signing names map to bdlab's service keys (``monitoring`` is CloudWatch,
``elasticmapreduce`` is EMR); anything else keeps its signing name and is served by moto.
"""

from __future__ import annotations

import re

from sim.emulator.protocol import Request

_SCOPE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=([^&]+)")

SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "elasticmapreduce": "emr",
    "email": "ses",
    "states": "stepfunctions",
    "execute-api": "apigateway",
}

TARGET_PREFIX_TO_SERVICE = {
    "Kinesis_": "kinesis",
    "Firehose_": "firehose",
    "DynamoDB_": "dynamodb",
    "DynamoDBStreams_": "dynamodbstreams",
    "AWSGlue.": "glue",
    "Logs_": "logs",
    "AmazonSQS.": "sqs",
    "ElasticMapReduce.": "emr",
    "GraniteServiceVersion20100801.": "cloudwatch",
    "AWSEvents.": "events",
    "secretsmanager.": "secretsmanager",
    "AmazonSSM.": "ssm",
    "TrentService.": "kms",
    "AmazonAthena.": "athena",
}


def identify(req: Request) -> tuple[str, str]:
    """(service key, region) of a request."""
    auth = req.headers.get("authorization", "")
    m = _SCOPE.search(auth)
    if m is None and "X-Amz-Credential" in req.query_string:
        qm = _QUERY_SCOPE.search(req.query_string)
        if qm:
            from urllib.parse import unquote

            parts = unquote(qm.group(1)).split("/")
            if len(parts) >= 5:
                return SIGNING_TO_SERVICE.get(parts[3], parts[3]), parts[2]
    if m is not None:
        signing, region = m.group(4), m.group(3)
        return SIGNING_TO_SERVICE.get(signing, signing), region
    target = req.target
    if target:
        for prefix, service in TARGET_PREFIX_TO_SERVICE.items():
            if target.startswith(prefix):
                return service, "us-east-1"
    return "s3", "us-east-1"


def access_key(req: Request) -> str | None:
    """The caller's access key id (signed header or presigned URL), if any."""
    m = _SCOPE.search(req.headers.get("authorization", ""))
    if m:
        return m.group(1)
    qm = _QUERY_SCOPE.search(req.query_string)
    if qm:
        from urllib.parse import unquote

        return unquote(qm.group(1)).split("/")[0]
    return None
