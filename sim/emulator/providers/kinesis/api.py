"""The ``kinesis`` service over HTTP: parses JSON 1.1 requests (``X-Amz-Target:
Kinesis_20131202.<Operation>``), calls the model, renders AWS's response shapes. Requests are
first checked against botocore's model (required members, lengths, ranges), as AWS does.
Operations the provider does not implement yet answer 501 in AWS's JSON error shape.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sim.emulator import awscbor, eventstream
from sim.emulator.metriccells import metric_data
from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.kinesis.model import (
    DEFAULT_RETENTION_H,
    MAX_RETENTION_H,
    GetResult,
    KinesisBackend,
    Shard,
    Stream,
    Subscription,
)
from sim.emulator.validation import parse_json, service_model, validate_params

log = logging.getLogger("bdlab.kinesis")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _check_entries(records: list[Any]) -> None:
    """The PutRecords entries' members, as botocore's model would check them."""
    for i, e in enumerate(records, 1):
        if not isinstance(e, dict):
            raise AwsError(
                "SerializationException", "Start of structure or map found where not expected."
            )
        for member, wire in (("Data", "data"), ("PartitionKey", "partitionKey")):
            if not isinstance(e.get(member), str | bytes):
                raise AwsError(
                    "ValidationException",
                    f"1 validation error detected: Value null at 'records.{i}.member.{wire}' "
                    "failed to satisfy constraint: Member must not be null",
                )


class KinesisProvider(Provider):
    service = "kinesis"

    def __init__(
        self,
        backend: KinesisBackend,
        put_metrics: Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None = None,
        knob: Callable[[str], Any] | None = None,
    ) -> None:
        self.backend = backend
        # The gateway's fault table, read per call: knob(name) -> value for "kinesis".
        self.knob = knob
        self._expired_at = 0.0
        self._running = False
        # Where AWS/Kinesis metrics go: the gateway hands in its CloudWatch provider's door.
        self.put_metrics = put_metrics

    async def run_forever(self, every_s: float = 2.0) -> None:
        """Background duty while the gateway runs: retention, and AWS/Kinesis metrics sent
        every ``every_s`` wall seconds, the current minute included, so a metric shows in
        CloudWatch within seconds (AWS: about a minute) even when no Kinesis call comes."""
        self._running = True
        while self._running:
            await asyncio.sleep(every_s)
            try:
                self._expire()
                await self._flush_metrics(open_minutes=True)
            except Exception:  # a bad flush must not end the loop; the next one retries
                log.exception("Kinesis background duty failed")

    def stop(self) -> None:
        self._running = False

    async def _flush_metrics(self, open_minutes: bool = False) -> None:
        """AWS/Kinesis metrics to CloudWatch, stamped on the emulator clock (stream-level
        dimension StreamName): the finished minutes, and the open one if asked."""
        if self.put_metrics is None:
            return
        data = metric_data(
            self.backend.take_metrics(self.backend.clock.now(), open_minutes),
            "StreamName",
            "ShardId",  # shard-level metrics are named "IncomingRecords@shardId-..."
        )
        for i in range(0, len(data), 1000):  # PutMetricData takes 1,000 metrics a call
            await self.put_metrics("AWS/Kinesis", data[i : i + 1000])

    def _expire(self) -> None:
        """Retention runs at most once a (simulated) second, before the call it precedes."""
        now = self.backend.clock.now()
        if now - self._expired_at >= 1.0:
            self._expired_at = now
            self.backend.expire()

    def fault_error(self, kind: str) -> AwsError:
        if kind == "throttle":
            return AwsError(
                "ProvisionedThroughputExceededException",
                "Rate exceeded for shard (bdlab fault: throttle_rate).",
                400,
            )
        return super().fault_error(kind)

    def error_response(self, req: Request, err: AwsError) -> Response:
        if not awscbor.is_cbor(req):
            return super().error_response(req, err)
        rid = req.request_id
        return Response(
            err.status,
            [
                ("x-amzn-requestid", rid),
                ("content-type", awscbor.CONTENT_TYPE),
                ("x-amzn-errortype", err.code),
            ],
            awscbor.error_body(err.code, err.message),
        )

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        op = req.target.rsplit(".", 1)[-1]
        req.operation = op
        cbor = awscbor.is_cbor(req)
        params = awscbor.decode_input(body) if cbor else parse_json(req, body)
        records = params.get("Records")
        if op == "PutRecords" and isinstance(records, list) and len(records) > 1:
            # botocore's model checks the call with its first entry (the walk over 500
            # entries cost a quarter of the call); the rest get the same checks below.
            validate_params("kinesis", op, {**params, "Records": records[:1]})
            _check_entries(records)
        else:
            validate_params("kinesis", op, params)
        self._expire()
        await self._flush_metrics()
        if self.knob is not None and op in ("PutRecord", "PutRecords"):
            hot = str(self.knob("hot_shard") or "")
            self.backend.hot_shard = (hot, float(self.knob("hot_shard_rate"))) if hot else None
        if op == "SubscribeToShard":
            return self._subscribe(params, cbor)
        fn = getattr(self, f"op_{op}", None)
        if fn is None:
            raise AwsError(
                "NotImplemented",
                f"bdlab's Kinesis provider does not implement {op} yet.",
                501,
                sender=False,
            )
        out = fn(params)
        if cbor:
            return awscbor.response(out, service_model("kinesis").operation_model(op).output_shape)
        return Response.json(out)

    # ------------------------------------------------------------------ helpers
    def _stream(self, p: dict[str, Any]) -> Stream:
        name = p.get("StreamName")
        arn = p.get("StreamARN")
        if not name and arn:
            name = str(arn).rsplit("/", 1)[-1]
        if not name:
            raise AwsError(
                "InvalidArgumentException", "Either StreamName or StreamARN must be provided."
            )
        return self.backend.stream(str(name))

    def _shard_doc(self, st: Stream, s: Shard) -> dict[str, Any]:
        return s.doc(self.backend.first_number(st.name, s.id))

    @staticmethod
    def _mode(st: Stream) -> dict[str, str]:
        return {"StreamMode": st.mode}

    # ------------------------------------------------------------------ control plane
    def op_CreateStream(self, p: dict[str, Any]) -> dict[str, Any]:
        mode = (p.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        st = self.backend.create_stream(p["StreamName"], p.get("ShardCount"), mode)
        if p.get("Tags"):
            st.tags.update(p["Tags"])
        return {}

    def op_DeleteStream(self, p: dict[str, Any]) -> dict[str, Any]:
        self.backend.delete_stream(self._stream(p).name)
        return {}

    def op_DescribeStreamSummary(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        return {
            "StreamDescriptionSummary": {
                "StreamName": st.name,
                "StreamARN": st.arn,
                "StreamStatus": st.status,
                "StreamModeDetails": self._mode(st),
                "RetentionPeriodHours": st.retention_h,
                "StreamCreationTimestamp": st.created,
                "EnhancedMonitoring": [{"ShardLevelMetrics": st.shard_metrics}],
                "EncryptionType": st.encryption,
                **({"KeyId": st.key_id} if st.key_id else {}),
                "OpenShardCount": len(st.open_shards()),
                "ConsumerCount": len(st.consumers),
            }
        }

    def op_DescribeStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        limit = int(p.get("Limit") or 100)
        after = p.get("ExclusiveStartShardId")
        shards = [s for s in st.shards if not after or s.id > after]
        return {
            "StreamDescription": {
                "StreamName": st.name,
                "StreamARN": st.arn,
                "StreamStatus": st.status,
                "StreamModeDetails": self._mode(st),
                "Shards": [self._shard_doc(st, s) for s in shards[:limit]],
                "HasMoreShards": len(shards) > limit,
                "RetentionPeriodHours": st.retention_h,
                "StreamCreationTimestamp": st.created,
                "EnhancedMonitoring": [{"ShardLevelMetrics": st.shard_metrics}],
                "EncryptionType": st.encryption,
                **({"KeyId": st.key_id} if st.key_id else {}),
            }
        }

    def op_ListStreams(self, p: dict[str, Any]) -> dict[str, Any]:
        limit = int(p.get("Limit") or 100)
        start = p.get("ExclusiveStartStreamName") or ""
        token = p.get("NextToken")
        if token:
            start = base64.urlsafe_b64decode(token.encode()).decode()
        names = sorted(n for n in self.backend.streams if n > start)
        page = names[:limit]
        out: dict[str, Any] = {
            "StreamNames": page,
            "HasMoreStreams": len(names) > limit,
            "StreamSummaries": [
                {
                    "StreamName": n,
                    "StreamARN": self.backend.streams[n].arn,
                    "StreamStatus": self.backend.streams[n].status,
                    "StreamModeDetails": self._mode(self.backend.streams[n]),
                    "StreamCreationTimestamp": self.backend.streams[n].created,
                }
                for n in page
            ],
        }
        if len(names) > limit:
            out["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return out

    def op_ListShards(self, p: dict[str, Any]) -> dict[str, Any]:
        token = p.get("NextToken")
        if token:
            if p.get("StreamName") or p.get("StreamARN"):
                raise AwsError(
                    "InvalidArgumentException",
                    "NextToken and StreamName cannot be provided together.",
                )
            try:
                name, after = json.loads(base64.urlsafe_b64decode(token.encode()))
            except (ValueError, binascii.Error):
                raise AwsError("InvalidArgumentException", "Invalid NextToken.") from None
            st = self.backend.stream(name)
        else:
            st = self._stream(p)
            after = p.get("ExclusiveStartShardId") or ""
        pool = self._filtered(st, p.get("ShardFilter") or {})
        if (p.get("ShardFilter") or {}).get("Type") == "AFTER_SHARD_ID":
            after = max(after, p["ShardFilter"].get("ShardId") or "")
        limit = int(p.get("MaxResults") or 1000)
        shards = [s for s in pool if s.id > after]
        out: dict[str, Any] = {"Shards": [self._shard_doc(st, s) for s in shards[:limit]]}
        if len(shards) > limit:
            out["NextToken"] = base64.urlsafe_b64encode(
                json.dumps([st.name, shards[limit - 1].id]).encode()
            ).decode()
        return out

    def _filtered(self, st: Stream, flt: dict[str, Any]) -> list[Shard]:
        """ListShards' ShardFilter: which shards were open when (API_ShardFilter.html)."""
        kind = flt.get("Type")
        now = self.backend.clock.now()
        horizon = now - st.retention_h * 3600

        def open_at(s: Shard, ts: float) -> bool:
            return s.created <= ts and (s.closed_time is None or s.closed_time > ts)

        if kind == "AT_LATEST":
            return st.open_shards()
        if kind == "AT_TRIM_HORIZON":
            return [
                s
                for s in st.shards
                if open_at(s, horizon) or (s.created > horizon and s.parent is None)
            ]
        if kind == "FROM_TRIM_HORIZON":
            return [s for s in st.shards if s.closed_time is None or s.closed_time >= horizon]
        if kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
            if flt.get("Timestamp") is None:
                raise AwsError(
                    "InvalidArgumentException", f"Timestamp must be specified for {kind}."
                )
            ts = float(flt["Timestamp"])
            if kind == "AT_TIMESTAMP":
                return [s for s in st.shards if open_at(s, ts)]
            return [s for s in st.shards if s.closed_time is None or s.closed_time >= ts]
        return list(st.shards)

    def op_AddTagsToStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        st.tags.update(p.get("Tags") or {})
        if len(st.tags) > 50:
            raise AwsError("InvalidArgumentException", "A stream cannot have more than 50 tags.")
        self.backend._save()
        return {}

    def op_RemoveTagsFromStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        for k in p.get("TagKeys") or []:
            st.tags.pop(k, None)
        self.backend._save()
        return {}

    def op_ListTagsForStream(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        start = p.get("ExclusiveStartTagKey") or ""
        limit = int(p.get("Limit") or 50)
        keys = sorted(k for k in st.tags if k > start)
        return {
            "Tags": [{"Key": k, "Value": st.tags[k]} for k in keys[:limit]],
            "HasMoreTags": len(keys) > limit,
        }

    def op_IncreaseStreamRetentionPeriod(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        hours = int(p["RetentionPeriodHours"])
        if hours < st.retention_h:
            raise AwsError(
                "InvalidArgumentException",
                f"Requested retention period ({hours} hours) for stream {st.name} can not be "
                f"shorter than existing retention period ({st.retention_h} hours). Use "
                "DecreaseRetentionPeriod API.",
            )
        if hours > MAX_RETENTION_H:
            raise AwsError(
                "InvalidArgumentException",
                f"Maximum allowed retention period is {MAX_RETENTION_H} hours. Requested "
                f"retention period ({hours} hours) is too long.",
            )
        st.retention_h = hours
        self.backend._save()
        return {}

    def op_DecreaseStreamRetentionPeriod(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        hours = int(p["RetentionPeriodHours"])
        if hours > st.retention_h:
            raise AwsError(
                "InvalidArgumentException",
                f"Requested retention period ({hours} hours) for stream {st.name} can not be "
                f"longer than existing retention period ({st.retention_h} hours). Use "
                "IncreaseRetentionPeriod API.",
            )
        if hours < DEFAULT_RETENTION_H:
            raise AwsError(
                "InvalidArgumentException",
                f"Minimum allowed retention period is {DEFAULT_RETENTION_H} hours. Requested "
                f"retention period ({hours} hours) is too short.",
            )
        st.retention_h = hours
        self.backend._save()
        return {}

    # ------------------------------------------------------------------ resharding, modes
    def op_SplitShard(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        self.backend.split_shard(st.name, p["ShardToSplit"], p["NewStartingHashKey"])
        return {}

    def op_MergeShards(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        self.backend.merge_shards(st.name, p["ShardToMerge"], p["AdjacentShardToMerge"])
        return {}

    def op_UpdateShardCount(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        target = int(p["TargetShardCount"])
        before = self.backend.update_shard_count(st.name, target)
        return {
            "StreamName": st.name,
            "CurrentShardCount": before,
            "TargetShardCount": target,
            "StreamARN": st.arn,
        }

    def op_UpdateStreamMode(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        st.mode = p["StreamModeDetails"]["StreamMode"]
        self.backend._save()
        return {}

    def op_UpdateMaxRecordSize(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("StreamARN"):
            raise AwsError("InvalidArgumentException", "StreamARN must be provided.")
        st = self._stream(p)
        st.max_record_kib = int(p["MaxRecordSizeInKiB"])
        self.backend._save()
        return {}

    # ------------------------------------------------------------------ monitoring, encryption
    _METRICS = (
        "IncomingBytes",
        "IncomingRecords",
        "OutgoingBytes",
        "OutgoingRecords",
        "WriteProvisionedThroughputExceeded",
        "ReadProvisionedThroughputExceeded",
        "IteratorAgeMilliseconds",
    )

    def _metrics(self, p: dict[str, Any], enable: bool) -> dict[str, Any]:
        st = self._stream(p)
        asked = list(p["ShardLevelMetrics"])
        if "ALL" in asked:
            asked = list(self._METRICS)
        current = list(st.shard_metrics)
        if enable:
            st.shard_metrics = sorted(set(current) | set(asked))
        else:
            st.shard_metrics = sorted(set(current) - set(asked))
        self.backend._save()
        return {
            "StreamName": st.name,
            "CurrentShardLevelMetrics": current,
            "DesiredShardLevelMetrics": st.shard_metrics,
            "StreamARN": st.arn,
        }

    def op_EnableEnhancedMonitoring(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._metrics(p, True)

    def op_DisableEnhancedMonitoring(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._metrics(p, False)

    def op_StartStreamEncryption(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        st.encryption, st.key_id = p["EncryptionType"], p["KeyId"]
        self.backend._save()
        return {}

    def op_StopStreamEncryption(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        st.encryption, st.key_id = "NONE", ""
        self.backend._save()
        return {}

    def op_DescribeLimits(self, p: dict[str, Any]) -> dict[str, Any]:
        streams = self.backend.streams.values()
        return {
            "ShardLimit": 500,
            "OpenShardCount": sum(len(s.open_shards()) for s in streams),
            "OnDemandStreamCount": sum(1 for s in streams if s.mode == "ON_DEMAND"),
            "OnDemandStreamCountLimit": 50,
        }

    # ------------------------------------------------------------------ tags by ARN
    def _by_arn(self, arn: str) -> Stream:
        if "/consumer/" in arn:
            raise AwsError(
                "InvalidArgumentException", "bdlab tags streams only, not consumers, by ARN."
            )
        return self._stream({"StreamARN": arn})

    def op_TagResource(self, p: dict[str, Any]) -> dict[str, Any]:
        return self.op_AddTagsToStream(
            {"StreamName": self._by_arn(p["ResourceARN"]).name, "Tags": p["Tags"]}
        )

    def op_UntagResource(self, p: dict[str, Any]) -> dict[str, Any]:
        return self.op_RemoveTagsFromStream(
            {"StreamName": self._by_arn(p["ResourceARN"]).name, "TagKeys": p["TagKeys"]}
        )

    def op_ListTagsForResource(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._by_arn(p["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(st.tags.items())]}

    # ------------------------------------------------------------------ consumers (EFO)
    def _consumer(self, p: dict[str, Any]) -> tuple[Stream, str, dict[str, Any]]:
        arn = p.get("ConsumerARN")
        if arn:
            stream_arn, _, rest = str(arn).partition("/consumer/")
            st = self._stream({"StreamARN": stream_arn})
            name = rest.split(":", 1)[0]
        else:
            if not p.get("StreamARN") or not p.get("ConsumerName"):
                raise AwsError(
                    "InvalidArgumentException",
                    "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
                )
            st = self._stream({"StreamARN": p["StreamARN"]})
            name = p["ConsumerName"]
        c = st.consumers.get(name)
        if c is None:
            raise AwsError(
                "ResourceNotFoundException",
                f"Consumer {name} under stream {st.name} under account "
                f"{self.backend.account} not found.",
            )
        return st, name, c

    @staticmethod
    def _consumer_doc(name: str, c: dict[str, Any]) -> dict[str, Any]:
        return {
            "ConsumerName": name,
            "ConsumerARN": c["arn"],
            "ConsumerStatus": "ACTIVE",
            "ConsumerCreationTimestamp": c["created"],
        }

    def op_RegisterStreamConsumer(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream({"StreamARN": p["StreamARN"]})
        name = p["ConsumerName"]
        if name in st.consumers:
            raise AwsError(
                "ResourceInUseException",
                f"Consumer {name} under stream {st.name} under account "
                f"{self.backend.account} already exists.",
            )
        if len(st.consumers) >= 20:
            raise AwsError(
                "LimitExceededException", "A stream can have at most 20 registered consumers."
            )
        created = self.backend.clock.now()
        c = {"arn": f"{st.arn}/consumer/{name}:{int(created)}", "created": created}
        st.consumers[name] = c
        self.backend._save()
        return {"Consumer": self._consumer_doc(name, c)}

    def op_DescribeStreamConsumer(self, p: dict[str, Any]) -> dict[str, Any]:
        st, name, c = self._consumer(p)
        return {"ConsumerDescription": {**self._consumer_doc(name, c), "StreamARN": st.arn}}

    def op_ListStreamConsumers(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream({"StreamARN": p["StreamARN"]})
        return {"Consumers": [self._consumer_doc(n, c) for n, c in sorted(st.consumers.items())]}

    def op_DeregisterStreamConsumer(self, p: dict[str, Any]) -> dict[str, Any]:
        st, name, _c = self._consumer(p)
        del st.consumers[name]
        self.backend._save()
        return {}

    # ------------------------------------------------------------------ data plane
    @staticmethod
    def _data(raw: Any) -> bytes:
        if isinstance(raw, bytes):  # AWS CBOR carries blobs as byte strings
            return raw
        try:
            return base64.b64decode(str(raw), validate=True)
        except (ValueError, binascii.Error):
            raise AwsError("SerializationException", "Data is not valid base64.") from None

    def op_PutRecord(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        r = self.backend.put_records(
            st.name, [(self._data(p["Data"]), p["PartitionKey"], p.get("ExplicitHashKey"))]
        )[0]
        if r.error_code:
            raise AwsError(r.error_code, r.error_message)
        return {
            "ShardId": r.shard_id,
            "SequenceNumber": r.sequence_number,
            "EncryptionType": st.encryption,
        }

    def op_PutRecords(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        entries = [
            (self._data(e["Data"]), e["PartitionKey"], e.get("ExplicitHashKey"))
            for e in p["Records"]
        ]
        results = self.backend.put_records(st.name, entries)
        out = []
        failed = 0
        for r in results:
            if r.error_code:
                failed += 1
                out.append({"ErrorCode": r.error_code, "ErrorMessage": r.error_message})
            else:
                out.append({"SequenceNumber": r.sequence_number, "ShardId": r.shard_id})
        return {"FailedRecordCount": failed, "Records": out, "EncryptionType": st.encryption}

    def op_GetShardIterator(self, p: dict[str, Any]) -> dict[str, Any]:
        st = self._stream(p)
        ts = p.get("Timestamp")
        it = self.backend.iterator(
            st.name,
            p["ShardId"],
            p["ShardIteratorType"],
            p.get("StartingSequenceNumber"),
            float(ts) if ts is not None else None,
        )
        return {"ShardIterator": it}

    @staticmethod
    def _records(res: GetResult) -> list[dict[str, Any]]:
        return [
            {
                "SequenceNumber": seq,
                "ApproximateArrivalTimestamp": r.arrival,
                "Data": _b64(r.data),
                "PartitionKey": r.partition_key,
            }
            for seq, r in res.records
        ]

    def op_GetRecords(self, p: dict[str, Any]) -> dict[str, Any]:
        res = self.backend.get_records(p["ShardIterator"], p.get("Limit"))
        out: dict[str, Any] = {
            "Records": self._records(res),
            "MillisBehindLatest": res.millis_behind_latest,
        }
        if res.next_iterator is not None:
            out["NextShardIterator"] = res.next_iterator
        if res.child_shards:
            out["ChildShards"] = res.child_shards
        return out

    # ------------------------------------------------------------------ enhanced fan-out
    def _subscribe(self, p: dict[str, Any], cbor: bool) -> Response:
        """SubscribeToShard: HTTP 200 with an event stream (initial-response, then
        SubscribeToShardEvent messages as records arrive) for up to 5 minutes of the
        emulator clock. Over HTTP/1.1 for boto3, HTTP/2 for the Java SDK and the KCL.
        https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SubscribeToShard.html"""
        st, _name, _c = self._consumer({"ConsumerARN": p["ConsumerARN"]})
        pos = p["StartingPosition"]
        ts = pos.get("Timestamp")
        sub = self.backend.subscribe(
            p["ConsumerARN"],
            st.name,
            p["ShardId"],
            pos["Type"],
            pos.get("SequenceNumber"),
            float(ts) if ts is not None else None,
        )
        return Response(
            200,
            [("content-type", "application/vnd.amazon.eventstream")],
            self._events(sub, cbor),
        )

    async def _events(self, sub: Subscription, cbor: bool) -> AsyncIterator[bytes]:
        ctype = awscbor.CONTENT_TYPE if cbor else "application/x-amz-json-1.1"
        shape = service_model("kinesis").shape_for("SubscribeToShardEvent")

        def encode(doc: dict[str, Any]) -> bytes:
            return awscbor.encode_output(doc, shape) if cbor else json.dumps(doc).encode()

        yield eventstream.event("initial-response", encode({}), ctype)
        last_event = 0.0
        while True:
            res = self.backend.push(sub)
            if res is None:
                return
            if res.records or res.child_shards or time.monotonic() - last_event >= 1.0:
                doc: dict[str, Any] = {
                    "Records": self._records(res),
                    "MillisBehindLatest": res.millis_behind_latest,
                }
                if res.next_iterator is None:
                    # the end of a closed shard: children and no continuation (the KCL
                    # rejects an event with both, DataRetrievalUtil.isValidResult)
                    doc["ChildShards"] = res.child_shards
                else:
                    # checkpoint with it: the last record pushed, or the shard's start bound
                    doc["ContinuationSequenceNumber"] = self.backend.sequence_at(
                        sub.stream, sub.shard_id, sub.position - 1
                    )
                yield eventstream.event("SubscribeToShardEvent", encode(doc), ctype)
                last_event = time.monotonic()
            if sub.ended:
                return
            if not res.records:
                # an idle shard: look again shortly (wall time; the records' arrival times
                # and the 5-minute lifetime are on the emulator clock)
                await asyncio.sleep(0.1)
