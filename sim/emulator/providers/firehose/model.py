"""Firehose's rules, plain Python: delivery streams, their S3 destination, durable buffers and
delivery on the emulator clock.

- A record acknowledged by PutRecord/PutRecordBatch is in the stream's durable log
  (``sim.emulator.recordlog``) before the answer; it leaves the log only once the S3 object
  holding it is written. After a crash the undelivered records are buffered again: delivery is
  at least once, as AWS's.
- A buffer is delivered when it holds SizeInMBs or its oldest record is IntervalInSeconds old
  (on the emulator clock), whichever comes first; one object per delivery, the records
  concatenated as they were put (Firehose adds no delimiter), compressed as configured.
- A failed delivery (no bucket, an S3 fault) is retried every 5 s for up to 24 h, as AWS does
  for DirectPut; DeliveryToS3.DataFreshness shows the age of the oldest undelivered record.
https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html
"""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aws_kinesis_agg as agg
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

from sim.emulator.clock import Clock
from sim.emulator.metriccells import MetricCells
from sim.emulator.protocol import AwsError
from sim.emulator.providers.firehose import codecs, convert, prefix, processing
from sim.emulator.ratelimit import TokenBucket
from sim.emulator.recordlog import ShardLog, load_meta, save_meta

MIB = 1024 * 1024
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_S = 300
MAX_RECORD_BYTES = 1_024_000  # 1,000 KiB
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * MIB
RETRY_EVERY_S = 5.0
RETRY_FOR_S = 24 * 3600.0
# DirectPut quotas in us-east-1 (firehose/latest/dev/limits.html): per stream.
PUT_BYTES_PER_S = 5 * MIB
PUT_RECORDS_PER_S = 500_000
DESTINATION_ID = "destinationId-000000000001"
MAX_ACTIVE_PARTITIONS = 500  # per stream, dynamic partitioning (a quota AWS can raise)
BACKUP = "!backup"  # the partition id of the S3 backup's buffer (source records)
_BACKUP_KEYS = (
    "RoleARN",
    "BucketARN",
    "Prefix",
    "ErrorOutputPrefix",
    "BufferingHints",
    "CompressionFormat",
    "EncryptionConfiguration",
    "CloudWatchLoggingOptions",
)
# Written to S3 objects as AWS does (the body is bytes whatever the records hold).
CONTENT_TYPE = "application/octet-stream"

WriteObject = Callable[[str, str, bytes, dict[str, str]], None]


class KinesisSource(Protocol):
    """What Firehose reads from a Kinesis stream (the gateway adapts bdlab's Kinesis to it)."""

    def stream_arn(self, name: str) -> str | None:
        """The stream's ARN, None when there is no such stream."""

    def shards(self, name: str) -> list[tuple[str, list[str], bool]]:
        """(shard id, parent shard ids, closed) of every shard of the stream."""

    def latest(self, name: str, sid: str) -> int:
        """The number the shard's next record will get (LATEST)."""

    def read(
        self, name: str, sid: str, position: int, n: int, max_bytes: int
    ) -> tuple[list[tuple[float, bytes]], int, bool]:
        """(arrival, data) of the records from ``position``, the next position, and whether
        a closed shard was read to its end."""


def deaggregate(data: bytes) -> list[bytes]:
    """A Kinesis record's user records: KPL aggregates split (AWS's aws-kinesis-agg format),
    other records as they are (Firehose deaggregates before buffering, as AWS's does)."""
    if data[: len(agg.MAGIC)] != agg.MAGIC:
        return [data]
    users = list(
        iter_deaggregate_records(
            [
                {
                    "SequenceNumber": "0",
                    "PartitionKey": "",
                    "ApproximateArrivalTimestamp": 0.0,
                    "Data": data,
                }
            ],
            data_format="Boto3",
        )
    )
    if not users or not users[0]["kinesis"].get("aggregated"):
        return [data]  # a damaged aggregate is delivered whole
    return [base64.b64decode(u["kinesis"]["data"]) for u in users]


log = logging.getLogger("bdlab.firehose")


@dataclass
class DeliveryStream:
    name: str
    arn: str
    type: str  # DirectPut | KinesisStreamAsSource
    created: float
    updated: float
    version: int
    dest: dict[str, Any]  # the ExtendedS3 destination, defaults filled in
    tags: dict[str, str] = field(default_factory=dict)
    encryption: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] | None = None
    status: str = "ACTIVE"

    @property
    def bucket(self) -> str:
        return str(self.dest["BucketARN"]).split(":::", 1)[-1]

    @property
    def size_bytes(self) -> int:
        return int(self.dest["BufferingHints"]["SizeInMBs"]) * MIB

    @property
    def interval_s(self) -> float:
        return float(self.dest["BufferingHints"]["IntervalInSeconds"])

    @property
    def compression(self) -> str:
        return str(self.dest.get("CompressionFormat", "UNCOMPRESSED"))

    @property
    def extension(self) -> str:
        return str(self.dest.get("FileExtension") or codecs.extension(self.compression))


@dataclass
class Pending:
    number: int
    arrival: float
    data: bytes


@dataclass
class Buffer:
    """The undelivered records of one partition of a stream (the whole stream without
    dynamic partitioning; one per error type for the error prefix), oldest first."""

    records: list[Pending] = field(default_factory=list)
    size: int = 0
    retry_at: float = 0.0  # after a failed delivery: when to try again
    failing_since: float | None = None
    keys: tuple[tuple[str, str], ...] = ()  # partitionKeyFromQuery values
    error_type: str | None = None  # set for the error prefix's buffers


def _bucket_arn_ok(arn: str) -> bool:
    return arn.startswith("arn:aws:s3:::") and len(arn) > len("arn:aws:s3:::")


class FirehoseBackend:
    """All delivery streams of one emulator; ``root`` holds their logs and metadata.
    ``write_object(bucket, key, body, headers)`` stores an object in S3 (raises AwsError)."""

    def __init__(
        self,
        root: Path,
        clock: Clock,
        write_object: WriteObject,
        account: str = "123456789012",
        region: str = "us-east-1",
        fsync: bool = False,
        kinesis: KinesisSource | None = None,
        schema_lookup: convert.SchemaLookup | None = None,
    ) -> None:
        self.root = root
        self.schema_lookup = schema_lookup
        self._converters: dict[str, convert.Converter] = {}
        self.clock = clock
        self.write_object = write_object
        self.kinesis = kinesis
        self.account = account
        self.region = region
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        self.streams: dict[str, DeliveryStream] = {}
        self.logs: dict[str, ShardLog] = {}
        # stream -> partition id -> buffer ("" without dynamic partitioning)
        self.buffers: dict[str, dict[str, Buffer]] = {}
        # stream -> log number of a record -> its outputs still buffered (deaggregation makes
        # several; a record leaves the log once all of its outputs are in S3)
        self._outstanding: dict[str, dict[int, int]] = {}
        self._done_above: dict[str, set[int]] = {}  # delivered records above the watermark
        self._pipes: dict[str, processing.Pipeline] = {}
        self.transform_queue: dict[str, list[Pending]] = {}  # records waiting for the Lambda
        self.metrics = MetricCells()
        self._put_rates: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self.rng = random.Random()
        # stream -> clock time: records that arrived by then are due now (an admin flush;
        # the shared clock does not move, so other labs' buffers keep their own time)
        self.flush_before: dict[str, float] = {}
        self._load()

    # ------------------------------------------------------------------ persistence
    def _meta_path(self) -> Path:
        return self.root / "meta.json"

    def _log_of(self, name: str) -> ShardLog:
        log_ = self.logs.get(name)
        if log_ is None:
            log_ = self.logs[name] = ShardLog(self.root / name, fsync=self.fsync)
        return log_

    def _load(self) -> None:
        meta = load_meta(self._meta_path())
        for name, d in meta.get("streams", {}).items():
            delivered = int(d.pop("delivered", 1))
            done = set(d.pop("done_above", []))
            st = DeliveryStream(**d)
            self.streams[name] = st
            self._open(name)
            lg = self._log_of(name)
            start = max(delivered, lg.first)
            now = self.clock.now()
            while start < lg.next:  # the undelivered records, processed and buffered again
                batch = lg.read(start, 10_000, 64 * MIB)
                if not batch:
                    break
                for r in batch:
                    if r.number not in done:
                        self._route(name, r.number, r.arrival, r.data, now)
                start = batch[-1].number + 1
            self._done_above[name] = {n for n in done if n >= self._watermark(name)}

    def _open(self, name: str) -> None:
        self.buffers[name] = {}
        self._outstanding[name] = {}
        self._done_above[name] = set()
        self._pipes[name] = processing.build(self.streams[name].dest)
        self._converter(name)

    def _converter(self, name: str) -> convert.Converter | None:
        """The stream's format conversion (its Glue table's schema read once), or None."""
        dest = self.streams[name].dest
        cfg = dest.get("DataFormatConversionConfiguration") or {}
        if not cfg.get("Enabled"):
            self._converters.pop(name, None)
            return None
        if name not in self._converters:
            self._converters[name] = convert.build(cfg, self.schema_lookup, self.region)
        return self._converters[name]

    def _save(self) -> None:
        data = {
            "streams": {
                n: {
                    **vars(st),
                    "delivered": self._watermark(n),
                    "done_above": sorted(self._done_above.get(n, ())),
                }
                for n, st in self.streams.items()
            }
        }
        save_meta(self._meta_path(), data)

    def _watermark(self, name: str) -> int:
        """Number of the oldest record not wholly delivered (or the next to come)."""
        pending = self._outstanding.get(name)
        if pending:
            return min(pending)
        lg = self.logs.get(name)
        return lg.next if lg else 1

    def _route(self, name: str, number: int, arrival: float, raw: bytes, now: float) -> None:
        """Process one logged record into its partition's (or the error prefix's) buffer, or,
        with a Lambda processor, into the queue of records waiting for the Lambda."""
        pipe = self._pipes[name]
        if self.streams[name].dest.get("S3Backup"):  # the source record, as it came
            self._place(name, number, arrival, raw, processing.Routed(raw), now, backup=True)
        if pipe.lambda_arn is None:
            outs = processing.run(pipe, raw, arrival, now)
            for out in outs:
                self._place(name, number, arrival, raw, out, now)
            if not outs:
                self._done_above[name].add(number)
            return
        pieces = processing.split(pipe, raw, arrival, now)
        if isinstance(pieces, processing.Routed):
            self._place(name, number, arrival, raw, pieces, now)
            return
        queue = self.transform_queue.setdefault(name, [])
        for piece in pieces:
            queue.append(Pending(number, arrival, piece))
            self._outstanding[name][number] = self._outstanding[name].get(number, 0) + 1
        if not pieces:
            self._done_above[name].add(number)

    def _place(
        self,
        name: str,
        number: int,
        arrival: float,
        raw: bytes,
        out: processing.Routed,
        now: float,
        backup: bool = False,
    ) -> None:
        """One output record into its partition's or the error prefix's buffer (or the
        S3 backup's)."""
        bufs = self.buffers[name]
        conv = self._converters.get(name)
        if backup:
            buf = bufs.get(BACKUP)
            if buf is None:
                buf = bufs[BACKUP] = Buffer()
            buf.records.append(Pending(number, arrival, out.data))
            buf.size += len(out.data)
            self._outstanding[name][number] = self._outstanding[name].get(number, 0) + 1
            return
        if conv is not None and out.error_type is None:
            try:
                conv.rows(out.data)
            except convert.ConversionError as exc:
                table = self.streams[name].dest["DataFormatConversionConfiguration"]
                schema_cfg = table.get("SchemaConfiguration") or {}
                out = processing.Routed(
                    processing.error_document(
                        "DataFormatConversion.ParseError",
                        str(exc),
                        out.data,
                        arrival,
                        now,
                        capitalized=True,
                        dataCatalogTable={
                            "catalogId": schema_cfg.get("CatalogId"),
                            "databaseName": schema_cfg.get("DatabaseName"),
                            "tableName": schema_cfg.get("TableName"),
                            "region": schema_cfg.get("Region") or self.region,
                            "versionId": schema_cfg.get("VersionId", "LATEST"),
                        },
                    ),
                    error_type="format-conversion-failed",
                )
        if out.error_type is not None:
            part = f"!error:{out.error_type}"
        elif out.keys:
            part = json.dumps(out.keys)
            if part not in bufs and self.active_partitions(name) >= MAX_ACTIVE_PARTITIONS:
                self.metrics.count(name, now, "PartitionCountExceeded", 1)
                out = processing.Routed(
                    processing.error_document(
                        "DynamicPartitioning.ActivePartitionsLimitExceeded",
                        f"The stream has {MAX_ACTIVE_PARTITIONS} active partitions, its "
                        "limit (activePartitionExceeded).",
                        raw,
                        arrival,
                        now,
                    ),
                    error_type="partitioning-failed",
                )
                part = "!error:partitioning-failed"
        else:
            part = ""
        buf = bufs.get(part)
        if buf is None:
            buf = bufs[part] = Buffer(keys=out.keys, error_type=out.error_type)
        buf.records.append(Pending(number, arrival, out.data))
        buf.size += len(out.data)
        self._outstanding[name][number] = self._outstanding[name].get(number, 0) + 1

    def _settle(self, name: str, number: int) -> None:
        """One output (or queued sub-record) of record ``number`` is done with."""
        outstanding = self._outstanding[name]
        left = outstanding.get(number, 0) - 1
        if left > 0:
            outstanding[number] = left
        else:
            outstanding.pop(number, None)
            self._done_above[name].add(number)

    # ------------------------------------------------------------------ Lambda stage
    def transform_due(self, now: float) -> list[str]:
        """Streams whose Lambda queue holds BufferSizeInMBs or is BufferIntervalInSeconds old."""
        out = []
        for name, queue in self.transform_queue.items():
            pipe = self._pipes.get(name)
            if not queue or pipe is None or pipe.lambda_arn is None:
                continue
            size = sum(len(p.data) for p in queue)
            if (
                size >= pipe.lambda_size
                or now - queue[0].arrival >= pipe.lambda_interval
                or queue[0].arrival <= self.flush_before.get(name, -1.0)
            ):
                out.append(name)
        return out

    def take_transform_batch(self, name: str) -> tuple[list[Pending], dict[str, Any]]:
        """The next records for the Lambda (up to its buffer size) and Firehose's event."""
        pipe = self._pipes[name]
        queue = self.transform_queue[name]
        batch: list[Pending] = []
        size = 0
        for p in queue:
            if batch and size + len(p.data) > pipe.lambda_size:
                break
            batch.append(p)
            size += len(p.data)
        st = self.streams[name]
        event: dict[str, Any] = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": st.arn,
            "region": self.region,
            "records": [
                {
                    "recordId": f"{p.number}.{i}",
                    "approximateArrivalTimestamp": int(p.arrival * 1000),
                    "data": base64.b64encode(p.data).decode(),
                }
                for i, p in enumerate(batch)
            ],
        }
        if st.source:
            event["sourceKinesisStreamArn"] = st.source["KinesisStreamARN"]
        return batch, event

    def transformed(
        self,
        name: str,
        batch: list[Pending],
        event: dict[str, Any],
        result: dict[str, Any] | None,
        error: tuple[str, str] | None,
        attempts: int,
    ) -> None:
        """The Lambda's answer (or its failure after every retry) for ``batch``: Ok records go
        on to their partition, Dropped ones are done, ProcessingFailed ones, records the
        answer lacks or garbles, and a whole failed batch go to the ``processing-failed``
        error prefix (AWS's document, with the function's ARN)."""
        if name not in self.streams:
            return
        del self.transform_queue[name][: len(batch)]
        pipe = self._pipes[name]
        now = self.clock.now()

        def fail(p: Pending, code: str, message: str) -> None:
            doc = processing.error_document(
                code, message, p.data, p.arrival, now, attempts, lambdaArn=pipe.lambda_arn
            )
            self._place(
                name,
                p.number,
                p.arrival,
                p.data,
                processing.Routed(doc, error_type="processing-failed"),
                now,
            )

        answers = {}
        if result is not None:
            for r in result.get("records", []):
                if isinstance(r, dict) and "recordId" in r:
                    answers[str(r["recordId"])] = r
        for rec, p in zip(event["records"], batch, strict=True):
            if error is not None:
                fail(p, *error)
            else:
                ans = answers.get(rec["recordId"])
                status = ans.get("result") if ans else None
                if ans is None:
                    fail(
                        p,
                        "Lambda.MissingRecordId",
                        f"The response has no record {rec['recordId']}.",
                    )
                elif status == "Dropped":
                    pass
                elif status == "Ok":
                    try:
                        data = base64.b64decode(str(ans.get("data", "")), validate=True)
                    except (ValueError, TypeError):
                        fail(p, "Lambda.InvalidReturnedData", "The returned data is not base64.")
                    else:
                        keys = (ans.get("metadata") or {}).get("partitionKeys")
                        out = processing.finish(pipe, data, p.arrival, now, keys)
                        self._place(name, p.number, p.arrival, data, out, now)
                elif status == "ProcessingFailed":
                    fail(
                        p, "Lambda.ProcessingFailedStatus", "The Lambda returned ProcessingFailed."
                    )
                else:
                    fail(
                        p,
                        "Lambda.InvalidResultStatus",
                        f"Result {status!r} is not Ok, Dropped or ProcessingFailed.",
                    )
            self._settle(name, p.number)
        self.metrics.count(name, now, "ExecuteProcessing.Success", 0 if error else 1)
        self.metrics.count(name, now, "ExecuteProcessing.Records", len(batch))

    def active_partitions(self, name: str) -> int:
        return sum(1 for part in self.buffers.get(name, {}) if part and not part.startswith("!"))

    def close(self) -> None:
        for lg in self.logs.values():
            lg.close()

    # ------------------------------------------------------------------ control plane
    def stream(self, name: str) -> DeliveryStream:
        st = self.streams.get(name)
        if st is None:
            raise AwsError(
                "ResourceNotFoundException",
                f"Firehose {name} under account {self.account} not found.",
            )
        return st

    @staticmethod
    def normalize_destination(cfg: dict[str, Any], extended: bool) -> dict[str, Any]:
        """The destination with AWS's defaults, after Firehose's checks (the parts bdlab does
        not implement yet answer 501, never silently ignored)."""
        arn = str(cfg.get("BucketARN", ""))
        if not _bucket_arn_ok(arn):
            raise AwsError(
                "InvalidArgumentException",
                f"BucketARN {arn!r} is not an S3 bucket ARN (arn:aws:s3:::bucket-name).",
            )
        hints = dict(cfg.get("BufferingHints") or {})
        if len(hints) == 1:
            raise AwsError(
                "InvalidArgumentException",
                "BufferingHints: SizeInMBs and IntervalInSeconds are specified together or "
                "not at all.",
            )
        hints.setdefault("SizeInMBs", DEFAULT_SIZE_MB)
        hints.setdefault("IntervalInSeconds", DEFAULT_INTERVAL_S)
        fmt = cfg.get("CompressionFormat") or "UNCOMPRESSED"
        if fmt not in codecs.FORMATS:
            raise AwsError(
                "ValidationException",
                f"1 validation error detected: Value '{fmt}' at 'compressionFormat' failed to "
                "satisfy constraint: Member must satisfy enum value set: [ZIP, HADOOP_SNAPPY, "
                "Snappy, GZIP, UNCOMPRESSED]",
            )
        conversion = cfg.get("DataFormatConversionConfiguration") or {}
        converting = bool(conversion) and conversion.get("Enabled", True) is not False
        if converting:
            if "SizeInMBs" not in (cfg.get("BufferingHints") or {}):
                hints["SizeInMBs"] = 128  # AWS's default with format conversion
            if int(hints["SizeInMBs"]) < 64:
                raise AwsError(
                    "InvalidArgumentException",
                    "BufferingHints.SizeInMBs must be at least 64 when data format conversion "
                    "is enabled.",
                )
            if fmt != "UNCOMPRESSED":
                raise AwsError(
                    "InvalidArgumentException",
                    "CompressionFormat must be UNCOMPRESSED when data format conversion is "
                    "enabled (the Parquet or ORC serializer compresses).",
                )
        backup: dict[str, Any] = {}
        if cfg.get("S3BackupMode") == "Enabled":
            raw = cfg.get("S3BackupConfiguration") or cfg.get("S3BackupUpdate")
            if not raw:
                raise AwsError(
                    "InvalidArgumentException",
                    "S3BackupConfiguration is required when S3BackupMode is Enabled.",
                )
            inner = FirehoseBackend.normalize_destination(
                {k: v for k, v in raw.items() if k in _BACKUP_KEYS}, False
            )
            backup = {k: inner[k] for k in _BACKUP_KEYS if k in inner}
        dynamic = bool((cfg.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))
        prefix.validate(
            str(cfg.get("Prefix") or ""), str(cfg.get("ErrorOutputPrefix") or ""), dynamic
        )
        prefix.zone(cfg.get("CustomTimeZone"))
        out = {
            "RoleARN": cfg.get("RoleARN", ""),
            "BucketARN": arn,
            "Prefix": cfg.get("Prefix") or "",
            "ErrorOutputPrefix": cfg.get("ErrorOutputPrefix") or "",
            "BufferingHints": hints,
            "CompressionFormat": fmt,
            "EncryptionConfiguration": cfg.get("EncryptionConfiguration")
            or {"NoEncryptionConfig": "NoEncryption"},
            "CloudWatchLoggingOptions": cfg.get("CloudWatchLoggingOptions") or {"Enabled": False},
            "S3BackupMode": cfg.get("S3BackupMode") or "Disabled",
            "S3Backup": backup,  # the backup destination (source records), when Enabled
            "FileExtension": cfg.get("FileExtension") or "",
            "CustomTimeZone": cfg.get("CustomTimeZone") or "",
            "ProcessingConfiguration": cfg.get("ProcessingConfiguration") or {"Enabled": False},
            "DynamicPartitioningConfiguration": cfg.get("DynamicPartitioningConfiguration")
            or {"Enabled": False},
            "DataFormatConversionConfiguration": {**conversion, "Enabled": True}
            if converting
            else {"Enabled": False},
            "Extended": extended,
        }
        processing.build(out)  # the processors' and dynamic partitioning's own checks
        return out

    def create(
        self,
        name: str,
        kind: str,
        dest: dict[str, Any],
        tags: dict[str, str],
        source: dict[str, Any] | None = None,
        encryption: dict[str, Any] | None = None,
    ) -> DeliveryStream:
        if name in self.streams:
            raise AwsError(
                "ResourceInUseException",
                f"Firehose {name} under accountId {self.account} already exists",
            )
        now = self.clock.now()
        st = DeliveryStream(
            name=name,
            arn=f"arn:aws:firehose:{self.region}:{self.account}:deliverystream/{name}",
            type=kind,
            created=now,
            updated=now,
            version=1,
            dest=dest,
            tags=tags,
            source=source,
            encryption=encryption or {},
        )
        self.streams[name] = st
        try:
            self._open(name)
        except AwsError:
            del self.streams[name]
            raise
        self._log_of(name)
        self._save()
        return st

    def delete(self, name: str) -> None:
        self.stream(name)
        del self.streams[name]
        self.buffers.pop(name, None)
        self._outstanding.pop(name, None)
        self._done_above.pop(name, None)
        self._pipes.pop(name, None)
        self.transform_queue.pop(name, None)
        lg = self.logs.pop(name, None)
        if lg is not None:
            lg.close()
            for f in lg.folder.glob("*.log"):
                f.unlink(missing_ok=True)
        self._save()

    def update_destination(
        self, name: str, version_id: str, dest_id: str, update: dict[str, Any], extended: bool
    ) -> None:
        st = self.stream(name)
        if str(version_id) != str(st.version):
            raise AwsError(
                "ConcurrentModificationException",
                f"Cannot update firehose: {name} since the current version id ({st.version}) "
                f"and specified version id ({version_id}) do not match",
            )
        if dest_id != DESTINATION_ID:
            raise AwsError(
                "InvalidArgumentException", f"Destination Id {dest_id} not found for {name}."
            )
        merged = {k: v for k, v in st.dest.items() if k != "Extended"}
        was_dynamic = bool(merged["DynamicPartitioningConfiguration"].get("Enabled"))
        for k, v in update.items():
            if k == "BufferingHints":
                merged["BufferingHints"] = {**merged["BufferingHints"], **v}
            else:
                merged[k] = v
        if not was_dynamic and merged["DynamicPartitioningConfiguration"].get("Enabled"):
            raise AwsError(
                "InvalidArgumentException",
                "Dynamic partitioning cannot be enabled on an existing Firehose stream that was "
                "created without it.",
            )
        st.dest = self.normalize_destination(merged, extended or bool(st.dest.get("Extended")))
        self._pipes[name] = processing.build(st.dest)
        self._converters.pop(name, None)
        self._converter(name)
        st.version += 1
        st.updated = self.clock.now()
        self._save()

    def save(self) -> None:
        self._save()

    # ------------------------------------------------------------------ data plane
    def _admit(self, name: str, size: int, now: float) -> bool:
        rates = self._put_rates.get(name)
        if rates is None:
            rates = self._put_rates[name] = (
                TokenBucket(PUT_RECORDS_PER_S, now),
                TokenBucket(PUT_BYTES_PER_S, now),
            )
        recs, byts = rates
        recs.refill(now)
        byts.refill(now)
        if recs.tokens >= 1 and byts.tokens >= size:
            recs.tokens -= 1
            byts.tokens -= size
            return True
        return False

    def put_records(self, name: str, datas: list[bytes]) -> list[str | None]:
        """Append the records durably; their RecordIds, None where throttled (5 MiB/s and
        500,000 records/s a stream: ServiceUnavailableException for that record)."""
        st = self.stream(name)
        if st.type != "DirectPut":
            raise AwsError(
                "InvalidArgumentException",
                "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
            )
        total = 0
        for i, d in enumerate(datas, 1):
            if len(d) > MAX_RECORD_BYTES:
                raise AwsError(
                    "ValidationException",
                    f"1 validation error detected: Value at 'records.{i}.member.data' failed to "
                    f"satisfy constraint: Member must have length less than or equal to "
                    f"{MAX_RECORD_BYTES}",
                )
            total += len(d)
        if total > MAX_BATCH_BYTES:
            raise AwsError(
                "InvalidArgumentException",
                f"Records size exceeds 4 MiB limit ({total} bytes in this request).",
            )
        now = self.clock.now()
        flags = [self._admit(name, len(d), now) for d in datas]
        admitted = [d for d, ok in zip(datas, flags, strict=True) if ok]
        numbers = iter(
            self._log_of(name).append([(now, "", d) for d in admitted]) if admitted else []
        )
        ids: list[str | None] = []
        for d, ok in zip(datas, flags, strict=True):
            if not ok:
                ids.append(None)
                continue
            n = next(numbers)
            self._route(name, n, now, d, now)
            ids.append(f"{n:016x}{uuid.uuid4().hex}")
        sent = len(admitted)
        self.metrics.count(name, now, "IncomingRecords", sent)
        self.metrics.count(name, now, "IncomingBytes", sum(len(d) for d in admitted))
        if sent < len(datas):
            self.metrics.count(name, now, "ThrottledRecords", len(datas) - sent)
        return ids

    # ------------------------------------------------------------------ Kinesis source
    def kinesis_source(self, arn: str, role: str) -> dict[str, Any]:
        """The Source of a KinesisStreamAsSource stream: reading starts at LATEST of every
        open shard, as AWS's does (firehose/latest/dev/writing-with-kinesis-streams.html)."""
        stream = arn.rsplit("/", 1)[-1]
        if self.kinesis is None or self.kinesis.stream_arn(stream) != arn:
            raise AwsError(
                "InvalidArgumentException",
                f"Kinesis stream {arn} does not exist or is not accessible.",
            )
        shards = self.kinesis.shards(stream)
        return {
            "KinesisStreamARN": arn,
            "RoleARN": role,
            "DeliveryStartTimestamp": self.clock.now(),
            # next record number to read, per shard; shards closed before the start are done
            "positions": {
                sid: self.kinesis.latest(stream, sid) for sid, _p, closed in shards if not closed
            },
            "finished": [sid for sid, _p, closed in shards if closed],
        }

    def pull_sources(self, max_bytes: int = 10 * MIB) -> int:
        """Copy new records of every Kinesis source into its delivery stream's durable log
        (KPL aggregates split); a shard's position moves only after the copy is durable.
        Parents are read to their end before their children. Returns records copied."""
        if self.kinesis is None:
            return 0
        copied = 0
        for name, st in list(self.streams.items()):
            if st.type != "KinesisStreamAsSource" or st.source is None:
                continue
            src = st.source
            stream = str(src["KinesisStreamARN"]).rsplit("/", 1)[-1]
            if self.kinesis.stream_arn(stream) is None:
                continue  # the source stream is gone: nothing more to read
            finished = set(src["finished"])
            moved = False
            for sid, parents, _closed in self.kinesis.shards(stream):
                # a parent Firehose read (it was open, or born, since the start) must be done
                if sid in finished or any(
                    p in src["positions"] and p not in finished for p in parents
                ):
                    continue
                pos = int(src["positions"].get(sid, 0))
                records, nxt, ended = self.kinesis.read(stream, sid, pos, 10_000, max_bytes)
                datas = [(t, d) for t, data in records for d in deaggregate(data)]
                if datas:
                    self._append(name, datas)
                    copied += len(datas)
                    self.metrics.count(
                        name, self.clock.now(), "DataReadFromKinesisStream.Records", len(records)
                    )
                    self.metrics.count(
                        name,
                        self.clock.now(),
                        "DataReadFromKinesisStream.Bytes",
                        sum(len(d) for _t, d in records),
                    )
                if nxt != pos or ended:
                    src["positions"][sid] = nxt
                    moved = True
                if ended:
                    src["finished"].append(sid)
            if moved:
                self._save()
        return copied

    def _append(self, name: str, items: list[tuple[float, bytes]]) -> None:
        numbers = self._log_of(name).append([(t, "", d) for t, d in items])
        now = self.clock.now()
        for n, (t, d) in zip(numbers, items, strict=True):
            self._route(name, n, t, d, now)

    # ------------------------------------------------------------------ delivery
    def due_partitions(self, now: float) -> list[tuple[str, str]]:
        """(stream, partition) pairs whose buffer holds SizeInMBs or whose oldest record is
        IntervalInSeconds old on the clock, and that are not waiting to retry."""
        out = []
        for name, bufs in self.buffers.items():
            st = self.streams.get(name)
            if st is None:
                continue
            for part, buf in bufs.items():
                if not buf.records or now < buf.retry_at:
                    continue
                size, interval = st.size_bytes, st.interval_s
                if part == BACKUP:
                    hints = st.dest["S3Backup"]["BufferingHints"]
                    size, interval = hints["SizeInMBs"] * MIB, hints["IntervalInSeconds"]
                first = buf.records[0].arrival
                if (
                    buf.size >= size
                    or now - first >= interval
                    or first <= self.flush_before.get(name, -1.0)
                ):
                    out.append((name, part))
        return out

    def request_flush(self, name: str, now: float) -> None:
        """Make every record of ``name`` that arrived by ``now`` due at once, as if its
        buffering interval had passed (AwsError if no such stream)."""
        self.stream(name)
        self.flush_before[name] = now

    def pending_before_flush(self, name: str) -> int:
        """Records of ``name`` covered by the last flush request and not yet in S3 (waiting
        for the Lambda or in a buffer, retries included); clears the request at 0."""
        cut = self.flush_before.get(name)
        if cut is None:
            return 0
        n = sum(1 for p in self.transform_queue.get(name, []) if p.arrival <= cut)
        for buf in self.buffers.get(name, {}).values():
            n += sum(1 for r in buf.records if r.arrival <= cut)
        if n == 0:
            self.flush_before.pop(name, None)
        return n

    def take_batch(self, name: str, part: str) -> list[Pending]:
        """The records of the next object: from the oldest, up to SizeInMBs (one at least)."""
        st, buf = self.streams[name], self.buffers[name][part]
        limit = st.size_bytes
        if part == BACKUP:
            limit = int(st.dest["S3Backup"]["BufferingHints"]["SizeInMBs"]) * MIB
        out: list[Pending] = []
        size = 0
        for r in buf.records:
            if out and size + len(r.data) > limit:
                break
            out.append(r)
            size += len(r.data)
        return out

    def object_for(
        self, name: str, part: str, batch: list[Pending]
    ) -> tuple[str, bytes, dict[str, str]]:
        """Key, body and headers of the object holding ``batch``. Error documents go under
        ErrorOutputPrefix (default ``<error-output-type>/``-less: AWS's own layout), as JSON
        lines, uncompressed."""
        st = self.streams[name]
        buf = self.buffers[name][part]
        tz = prefix.zone(st.dest.get("CustomTimeZone"))
        oldest = batch[0].arrival
        body_raw = b"".join(r.data for r in batch)
        if part == BACKUP:
            bk = st.dest["S3Backup"]
            fmt = str(bk.get("CompressionFormat") or "UNCOMPRESSED")
            key = prefix.evaluate(bk.get("Prefix", ""), oldest, tz, rng=self.rng) + prefix.suffix(
                st.name, st.version, oldest, tz, codecs.extension(fmt)
            )
            headers = {"ContentType": CONTENT_TYPE}
            if codecs.content_encoding(fmt):
                headers["ContentEncoding"] = str(codecs.content_encoding(fmt))
            return key, codecs.compress(fmt, body_raw), headers
        if buf.error_type is not None:
            key = prefix.evaluate(
                st.dest.get("ErrorOutputPrefix", ""),
                oldest,
                tz,
                error_output_type=buf.error_type,
                rng=self.rng,
            ) + prefix.suffix(st.name, st.version, oldest, tz, "")
            return key, body_raw, {"ContentType": CONTENT_TYPE}
        conv = self._converters.get(name)
        ext = st.extension if conv is None else str(st.dest.get("FileExtension") or "")
        key = prefix.evaluate(
            st.dest.get("Prefix", ""), oldest, tz, keys=dict(buf.keys), rng=self.rng
        ) + prefix.suffix(st.name, st.version, oldest, tz, ext)
        if conv is not None:  # Parquet or ORC, compressed by its serializer
            return key, conv.file([r.data for r in batch]), {"ContentType": CONTENT_TYPE}
        body = codecs.compress(st.compression, body_raw)
        headers = {"ContentType": CONTENT_TYPE}
        enc = codecs.content_encoding(st.compression)
        if enc:
            headers["ContentEncoding"] = enc
        return key, body, headers

    def delivered(self, name: str, part: str, batch: list[Pending], size: int) -> None:
        """The object holding ``batch`` is in S3: drop its records from the buffer, and a
        logged record from the log once all its outputs are delivered."""
        bufs = self.buffers.get(name)
        if bufs is None or part not in bufs:  # deleted meanwhile
            return
        buf = bufs[part]
        now = self.clock.now()
        del buf.records[: len(batch)]
        buf.size -= sum(len(r.data) for r in batch)
        buf.retry_at, buf.failing_since = 0.0, None
        if not buf.records:
            del bufs[part]  # AWS: the partition ends when its object is delivered
        for r in batch:
            self._settle(name, r.number)
        mark = self._watermark(name)
        self._done_above[name] = {n for n in self._done_above[name] if n >= mark}
        if part == BACKUP:
            self.metrics.count(name, now, "BackupToS3.Records", len(batch))
            self.metrics.count(name, now, "BackupToS3.Bytes", size)
            self.metrics.count(name, now, "BackupToS3.Success", 1)
        elif buf.error_type is None:
            self.metrics.count(name, now, "DeliveryToS3.Records", len(batch))
            self.metrics.count(name, now, "DeliveryToS3.Bytes", size)
            self.metrics.count(name, now, "DeliveryToS3.Success", 1)
        self._log_of(name).drop_before(mark)
        self._save()

    def failed(self, name: str, part: str, batch: list[Pending], error: str) -> None:
        """A delivery failed: retry in 5 s, for up to 24 h, then drop the batch (AWS's rule
        for DirectPut), logged."""
        buf = self.buffers.get(name, {}).get(part)
        if buf is None:
            return
        now = self.clock.now()
        self.metrics.count(name, now, "DeliveryToS3.Success", 0)
        if buf.failing_since is None:
            buf.failing_since = now
            log.warning("Firehose %s: delivery to S3 failed (%s); retrying every 5 s", name, error)
        if now - buf.failing_since >= RETRY_FOR_S:
            log.error(
                "Firehose %s: dropped %d records after 24 h of failed deliveries (%s)",
                name,
                len(batch),
                error,
            )
            self.delivered(name, part, batch, 0)
            return
        buf.retry_at = now + RETRY_EVERY_S

    def sample_freshness(self, now: float) -> None:
        """DeliveryToS3.DataFreshness: the age (s) of each stream's oldest undelivered record;
        PartitionCount: its active partitions (dynamic partitioning)."""
        for name, bufs in self.buffers.items():
            oldest = min((b.records[0].arrival for b in bufs.values() if b.records), default=None)
            if oldest is not None:
                self.metrics.count(name, now, "DeliveryToS3.DataFreshness", max(0.0, now - oldest))
            if self._pipes.get(name) is not None and self._pipes[name].dynamic:
                self.metrics.count(name, now, "PartitionCount", self.active_partitions(name))

    def take_metrics(
        self, now: float, open_minutes: bool
    ) -> list[tuple[str, float, str, list[float]]]:
        return self.metrics.take(now, open_minutes, self.streams)
