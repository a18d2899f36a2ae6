"""Reference solution of lab 2.3.4 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labs import streaming
from labs.harness import LabContext
from labs.l234_realtime_etl.lab import (
    BUFFER_S,
    DATA_PREFIX,
    ERROR_PREFIX,
    GLUE_TABLE,
    SCHEMA,
    bucket,
    delivery_stream,
    deploy_transform,
    glue_database,
    prepare,
    send,
    try_locally,
)

TRANSFORM = Path(__file__).with_name("transform.py")
# the partition keys, read by JQ from each transformed record; dt is the ORDER's date (its
# event_time), not the arrival time that !{timestamp:...} would give
QUERY = "{category: .category, dt: .event_time[0:10]}"
PREFIX = (
    f"{DATA_PREFIX}category=!{{partitionKeyFromQuery:category}}/dt=!{{partitionKeyFromQuery:dt}}/"
)


def glue_table(ctx: LabContext, schema: dict[str, str] = SCHEMA) -> None:
    glue = ctx.client("glue")
    glue.create_database(DatabaseInput={"Name": glue_database(ctx)})
    glue.create_table(
        DatabaseName=glue_database(ctx),
        TableInput={
            "Name": GLUE_TABLE,
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in schema.items()],
                "Location": f"s3://{bucket(ctx)}/{DATA_PREFIX}",
            },
            "PartitionKeys": [
                {"Name": "category", "Type": "string"},
                {"Name": "dt", "Type": "string"},
            ],
        },
    )


def destination(
    ctx: LabContext, role_arn: str, function_arn: str, prefix: str = PREFIX, query: str = QUERY
) -> dict[str, Any]:
    return {
        "RoleARN": role_arn,
        "BucketARN": f"arn:aws:s3:::{bucket(ctx)}",
        "Prefix": prefix,
        "ErrorOutputPrefix": f"{ERROR_PREFIX}!{{firehose:error-output-type}}/"
        "!{timestamp:yyyy/MM/dd}/",
        # format conversion needs 64 MiB or more; dynamic partitioning 60 s or more
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": BUFFER_S},
        "CompressionFormat": "UNCOMPRESSED",  # Parquet compresses inside (SNAPPY)
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": "LambdaArn", "ParameterValue": function_arn},
                        {"ParameterName": "NumberOfRetries", "ParameterValue": "2"},
                        {"ParameterName": "BufferSizeInMBs", "ParameterValue": "1"},
                        {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "60"},
                    ],
                },
                {
                    "Type": "MetadataExtraction",
                    "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                    ],
                },
            ],
        },
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "DataFormatConversionConfiguration": {
            "Enabled": True,
            "SchemaConfiguration": {
                "RoleARN": role_arn,
                "DatabaseName": glue_database(ctx),
                "TableName": GLUE_TABLE,
                "Region": ctx.profile.region or "us-east-1",
            },
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {
                "Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}
            },
        },
    }


def create_delivery_stream(ctx: LabContext, role_arn: str, function_arn: str, **kw: Any) -> None:
    ctx.client("firehose").create_delivery_stream(
        DeliveryStreamName=delivery_stream(ctx),
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination(ctx, role_arn, function_arn, **kw),
    )


def run(
    ctx: LabContext,
    transform: Path = TRANSFORM,
    schema: dict[str, str] = SCHEMA,
    **dest: Any,
) -> dict[str, Any]:
    """The whole lab; the tests pass a broken transform, schema or destination."""
    local = try_locally(transform)
    role = prepare(ctx)
    function_arn = deploy_transform(ctx, transform)
    glue_table(ctx, schema)
    create_delivery_stream(ctx, role, function_arn, **dest)
    streaming.wait_active(ctx, delivery_stream(ctx))
    return {"local_test": local, **send(ctx)}


def main(ctx: LabContext) -> dict[str, Any]:
    return run(ctx)
