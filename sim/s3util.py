"""Small S3 chores that labs, the demo and the CLI share (built on a client from sim.clients)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any


def ensure_bucket(s3: Any, bucket: str, region: str | None) -> None:
    """Create ``bucket`` if needed; us-east-1 is the one region without a LocationConstraint."""
    kwargs: dict[str, Any] = {}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(Bucket=bucket, **kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def list_objects(s3: Any, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
    """Every object under ``prefix`` (all pages of ListObjectsV2)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o for page in pages for o in page.get("Contents", [])]


def delete_bucket(s3: Any, bucket: str) -> int:
    """Empty ``bucket`` (objects and unfinished uploads) and delete it; returns objects removed."""
    removed = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                removed += len(keys)
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        # a versioned bucket keeps noncurrent versions and delete markers: those go too
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
            if versions:
                s3.delete_objects(
                    Bucket=bucket,
                    Delete={
                        "Objects": [
                            {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions
                        ],
                        "Quiet": True,
                    },
                )
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass
    return removed


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix`` (1,000 a call); returns how many."""
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed


def put_daily_parquet(
    s3: Any,
    bucket: str,
    prefix: str,
    rows: int,
    start: datetime,
    days: int,
    seed: int,
    compression: str = "snappy",
) -> list[str]:
    """Clickstream events as one Parquet file per Hive partition ``<prefix>dt=YYYY-MM-DD/``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sim.datagen import clickstream

    events = clickstream.generate(rows, start, days, seed=seed)
    day_of = pc.strftime(events["event_time"], format="%Y-%m-%d")
    keys = []
    for dt in clickstream.dates(start, days):
        buf = io.BytesIO()
        pq.write_table(events.filter(pc.equal(day_of, dt)), buf, compression=compression)
        key = f"{prefix}dt={dt}/part-00000.{compression}.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
        keys.append(key)
    return keys
