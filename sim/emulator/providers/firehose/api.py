"""The ``firehose`` service over HTTP: JSON 1.1 (``X-Amz-Target: Firehose_20150804.<Op>``),
checked against botocore's model, rendered in AWS's shapes; and the background delivery loop.
Operations the provider does not implement answer 501 in AWS's JSON error shape.
https://docs.aws.amazon.com/firehose/latest/APIReference/
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sim.emulator.metriccells import metric_data
from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.firehose.lambdas import InvocationError, LocalLambda
from sim.emulator.providers.firehose.model import (
    DESTINATION_ID,
    MAX_BATCH_RECORDS,
    DeliveryStream,
    FirehoseBackend,
)
from sim.emulator.validation import parse_json, validate_params

log = logging.getLogger("bdlab.firehose")
_OTHER_DESTINATIONS = (
    "RedshiftDestinationConfiguration",
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "HttpEndpointDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
)


def _not_implemented(what: str) -> AwsError:
    return AwsError(
        "NotImplemented", f"bdlab's Firehose does not implement {what} yet.", 501, sender=False
    )


class FirehoseProvider(Provider):
    service = "firehose"

    def __init__(
        self,
        backend: FirehoseBackend,
        put_metrics: Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None = None,
        lambdas: LocalLambda | None = None,
    ) -> None:
        self.backend = backend
        self.put_metrics = put_metrics
        # transformation Lambdas run as local processes (the gateway finds their code)
        self.lambdas = lambdas
        self._running = False

    def fault_error(self, kind: str) -> AwsError:
        if kind == "throttle":
            return AwsError(
                "ServiceUnavailableException", "Slow down. (bdlab fault: throttle_rate)", 400
            )
        return super().fault_error(kind)

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        op = req.target.rsplit(".", 1)[-1]
        req.operation = op
        params = parse_json(req, body)
        validate_params("firehose", op, params)
        fn = getattr(self, f"op_{op}", None)
        if fn is None:
            raise _not_implemented(op)
        return Response.json(fn(params))

    # ------------------------------------------------------------------ control plane
    def op_CreateDeliveryStream(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["DeliveryStreamName"]
        kind = p.get("DeliveryStreamType") or "DirectPut"
        for other in _OTHER_DESTINATIONS:
            if p.get(other):
                raise _not_implemented(f"{other} (it delivers to Amazon S3)")
        if kind in ("MSKAsSource", "DatabaseAsSource"):
            raise _not_implemented(f"DeliveryStreamType {kind}")
        extended = p.get("ExtendedS3DestinationConfiguration")
        plain = p.get("S3DestinationConfiguration")
        if bool(extended) == bool(plain):
            raise AwsError(
                "InvalidArgumentException",
                "Exactly one destination configuration must be specified.",
            )
        source = None
        if kind == "KinesisStreamAsSource":
            src = p.get("KinesisStreamSourceConfiguration")
            if not src:
                raise AwsError(
                    "InvalidArgumentException",
                    "KinesisStreamSourceConfiguration is required for KinesisStreamAsSource.",
                )
            source = self.backend.kinesis_source(src["KinesisStreamARN"], src["RoleARN"])
        elif p.get("KinesisStreamSourceConfiguration"):
            raise AwsError(
                "InvalidArgumentException",
                "KinesisStreamSourceConfiguration is only valid for KinesisStreamAsSource.",
            )
        dest = self.backend.normalize_destination(dict(extended or plain or {}), bool(extended))
        enc_in = p.get("DeliveryStreamEncryptionConfigurationInput")
        encryption = {"Status": "ENABLED", **enc_in} if enc_in else {}
        tags = {t["Key"]: t.get("Value", "") for t in p.get("Tags") or []}
        st = self.backend.create(name, kind, dest, tags, source, encryption)
        return {"DeliveryStreamARN": st.arn}

    def op_DeleteDeliveryStream(self, p: dict[str, Any]) -> dict[str, Any]:
        self.backend.delete(p["DeliveryStreamName"])
        return {}

    @staticmethod
    def _destination(st: DeliveryStream) -> dict[str, Any]:
        d = {k: v for k, v in st.dest.items() if k not in ("Extended",)}
        s3 = {
            k: d[k]
            for k in (
                "RoleARN",
                "BucketARN",
                "Prefix",
                "ErrorOutputPrefix",
                "BufferingHints",
                "CompressionFormat",
                "EncryptionConfiguration",
                "CloudWatchLoggingOptions",
            )
        }
        ext = {
            **s3,
            "ProcessingConfiguration": d.get("ProcessingConfiguration") or {"Enabled": False},
            "S3BackupMode": d["S3BackupMode"],
            "DataFormatConversionConfiguration": d.get("DataFormatConversionConfiguration")
            or {"Enabled": False},
            "DynamicPartitioningConfiguration": d.get("DynamicPartitioningConfiguration")
            or {"Enabled": False},
        }
        if d.get("S3Backup"):
            ext["S3BackupDescription"] = d["S3Backup"]
        if d.get("FileExtension"):
            ext["FileExtension"] = d["FileExtension"]
        if d.get("CustomTimeZone"):
            ext["CustomTimeZone"] = d["CustomTimeZone"]
        return {
            "DestinationId": DESTINATION_ID,
            "S3DestinationDescription": s3,
            "ExtendedS3DestinationDescription": ext,
        }

    def op_DescribeDeliveryStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self.backend.stream(p["DeliveryStreamName"])
        enc = st.encryption or {"Status": "DISABLED"}
        desc: dict[str, Any] = {
            **(
                {
                    "Source": {
                        "KinesisStreamSourceDescription": {
                            k: st.source[k]
                            for k in ("KinesisStreamARN", "RoleARN", "DeliveryStartTimestamp")
                        }
                    }
                }
                if st.source
                else {}
            ),
            "DeliveryStreamName": st.name,
            "DeliveryStreamARN": st.arn,
            "DeliveryStreamStatus": st.status,
            "DeliveryStreamEncryptionConfiguration": enc,
            "DeliveryStreamType": st.type,
            "VersionId": str(st.version),
            "CreateTimestamp": st.created,
            "LastUpdateTimestamp": st.updated,
            "Destinations": [self._destination(st)],
            "HasMoreDestinations": False,
        }
        return {"DeliveryStreamDescription": desc}

    def op_ListDeliveryStreams(self, p: dict[str, Any]) -> dict[str, Any]:
        limit = int(p.get("Limit") or 10)
        kind = p.get("DeliveryStreamType")
        after = p.get("ExclusiveStartDeliveryStreamName") or ""
        names = sorted(
            n
            for n, st in self.backend.streams.items()
            if n > after and (kind is None or st.type == kind)
        )
        return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}

    def op_UpdateDestination(self, p: dict[str, Any]) -> dict[str, Any]:
        update = p.get("ExtendedS3DestinationUpdate") or p.get("S3DestinationUpdate")
        if not update:
            raise _not_implemented("destination updates other than S3")
        self.backend.update_destination(
            p["DeliveryStreamName"],
            p["CurrentDeliveryStreamVersionId"],
            p["DestinationId"],
            update,
            bool(p.get("ExtendedS3DestinationUpdate")),
        )
        return {}

    def op_TagDeliveryStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self.backend.stream(p["DeliveryStreamName"])
        tags = {**st.tags, **{t["Key"]: t.get("Value", "") for t in p["Tags"]}}
        if len(tags) > 50:
            raise AwsError(
                "LimitExceededException",
                f"A delivery stream cannot have more than 50 tags ({len(tags)} requested).",
            )
        st.tags = tags
        self.backend.save()
        return {}

    def op_UntagDeliveryStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self.backend.stream(p["DeliveryStreamName"])
        for k in p["TagKeys"]:
            st.tags.pop(k, None)
        self.backend.save()
        return {}

    def op_ListTagsForDeliveryStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self.backend.stream(p["DeliveryStreamName"])
        after = p.get("ExclusiveStartTagKey") or ""
        limit = int(p.get("Limit") or 50)
        keys = sorted(k for k in st.tags if k > after)
        return {
            "Tags": [{"Key": k, "Value": st.tags[k]} for k in keys[:limit]],
            "HasMoreTags": len(keys) > limit,
        }

    def op_StartDeliveryStreamEncryption(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self.backend.stream(p["DeliveryStreamName"])
        if st.type != "DirectPut":
            raise AwsError(
                "InvalidArgumentException",
                "Server-side encryption is not supported for KinesisStreamAsSource delivery "
                "streams; encrypt the source stream instead.",
            )
        cfg = p.get("DeliveryStreamEncryptionConfigurationInput") or {"KeyType": "AWS_OWNED_CMK"}
        st.encryption = {"Status": "ENABLED", **cfg}
        self.backend.save()
        return {}

    def op_StopDeliveryStreamEncryption(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self.backend.stream(p["DeliveryStreamName"])
        st.encryption = {"Status": "DISABLED"}
        self.backend.save()
        return {}

    # ------------------------------------------------------------------ data plane
    @staticmethod
    def _data(raw: Any) -> bytes:
        try:
            return base64.b64decode(str(raw), validate=True)
        except (ValueError, binascii.Error):
            raise AwsError("SerializationException", "Data is not valid base64.") from None

    def op_PutRecord(self, p: dict[str, Any]) -> dict[str, Any]:
        (rid,) = self.backend.put_records(
            p["DeliveryStreamName"], [self._data(p["Record"]["Data"])]
        )
        if rid is None:
            raise AwsError("ServiceUnavailableException", "Slow down.", 400)
        return {"RecordId": rid, "Encrypted": bool(self._encrypted(p))}

    def _encrypted(self, p: dict[str, Any]) -> bool:
        st = self.backend.streams.get(p["DeliveryStreamName"])
        return bool(st and st.encryption.get("Status") == "ENABLED")

    def op_PutRecordBatch(self, p: dict[str, Any]) -> dict[str, Any]:
        records = p["Records"]
        if len(records) > MAX_BATCH_RECORDS:
            raise AwsError(
                "ValidationException",
                "1 validation error detected: Value at 'records' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_BATCH_RECORDS}",
            )
        ids = self.backend.put_records(
            p["DeliveryStreamName"], [self._data(r["Data"]) for r in records]
        )
        out = [
            {"RecordId": rid}
            if rid
            else {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            for rid in ids
        ]
        return {
            "FailedPutCount": sum(1 for rid in ids if rid is None),
            "Encrypted": self._encrypted(p),
            "RequestResponses": out,
        }

    # ------------------------------------------------------------------ delivery loop
    async def run_forever(
        self,
        write: Callable[[str, str, bytes, dict[str, str]], None],
        every_s: float = 0.1,
        metrics_every_s: float = 2.0,
    ) -> None:
        """Deliver what is due, every ``every_s`` wall seconds (a buffer's interval runs on the
        emulator clock), sampling DataFreshness each round; send AWS/Firehose metrics every
        ``metrics_every_s``."""
        self._running = True
        loop = asyncio.get_running_loop()
        last_metrics = loop.time()
        while self._running:
            await asyncio.sleep(every_s)
            try:
                self.backend.pull_sources()  # Kinesis sources: new records into the buffers
                await self.transform_due()  # Lambda processors: queued records transformed
                # sampled every round: a stalled delivery shows at once (an alarm's Maximum)
                self.backend.sample_freshness(self.backend.clock.now())
                await self.deliver_due(write)
                if loop.time() - last_metrics >= metrics_every_s:
                    last_metrics = loop.time()
                    await self._flush_metrics()
            except Exception:  # a bad round must not end the loop; the next one retries
                log.exception("Firehose delivery round failed")

    def stop(self) -> None:
        self._running = False

    async def flush(self, name: str, wait_s: float = 30.0) -> dict[str, Any]:
        """Deliver ``name``'s buffers now, as if their interval had passed, without moving
        the clock: records read from its Kinesis source so far, then every record that
        arrived by now, through the Lambda and into S3. Waits up to ``wait_s`` wall seconds
        for the delivery loop; returns {"DeliveryStreamName", "Pending"} (records not yet
        in S3, e.g. while S3 fails). KeyError if no such stream."""
        b = self.backend
        if name not in b.streams:
            raise KeyError(name)
        b.pull_sources()
        b.request_flush(name, b.clock.now())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        pending = b.pending_before_flush(name)
        while pending and loop.time() < deadline:
            await asyncio.sleep(0.05)
            pending = b.pending_before_flush(name)
        return {"DeliveryStreamName": name, "Pending": pending}

    async def transform_due(self) -> int:
        """Invoke the Lambda of every stream whose queue is due, once per round, retrying a
        failed invocation NumberOfRetries times (AWS: 3 by default). Returns batches done."""
        b = self.backend
        done = 0
        for name in b.transform_due(b.clock.now()):
            pipe = b._pipes[name]
            batch, event = b.take_transform_batch(name)
            result: dict[str, Any] | None = None
            error: tuple[str, str] | None = ("Lambda.FunctionNotFound", "no Lambda runner")
            attempts = 0
            for _ in range(pipe.lambda_retries + 1):
                attempts += 1
                if self.lambdas is None or pipe.lambda_arn is None:
                    break
                try:
                    result = await asyncio.to_thread(self.lambdas.invoke, pipe.lambda_arn, event)
                    error = None
                    break
                except InvocationError as exc:
                    error = (exc.code, exc.message)
            b.transformed(name, batch, event, result, error, attempts)
            done += 1
        return done

    async def deliver_due(self, write: Callable[[str, str, bytes, dict[str, str]], None]) -> int:
        """One round: every due buffer (a stream, or one of its partitions) delivers one
        object (more next round). Returns how many objects were written."""
        written = 0
        b = self.backend
        for name, part in b.due_partitions(b.clock.now()):
            if part not in b.buffers.get(name, {}):
                continue
            batch = b.take_batch(name, part)
            raw = sum(len(r.data) for r in batch)
            # compressing 128 MiB takes a while: off the event loop
            key, body, headers = await asyncio.to_thread(b.object_for, name, part, batch)
            st = b.streams.get(name)
            if st is None:
                continue
            try:
                write(st.bucket, key, body, headers)
            except AwsError as exc:
                b.failed(name, part, batch, f"{exc.code}: {exc.message}")
                continue
            b.delivered(name, part, batch, raw)
            written += 1
        return written

    async def _flush_metrics(self) -> None:
        if self.put_metrics is None:
            return
        data = metric_data(
            self.backend.take_metrics(self.backend.clock.now(), True), "DeliveryStreamName"
        )
        for i in range(0, len(data), 1000):
            await self.put_metrics("AWS/Firehose", data[i : i + 1000])
