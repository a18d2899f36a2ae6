"""Kinesis Data Streams' rules in plain Python (no HTTP): streams and shards with hash-key
ranges, MD5 routing, AWS-shaped sequence numbers and shard ids, per-shard write and read limits
on the emulator clock, shard iterators that expire after 5 minutes, retention.

Follows shared/aws-semantics.md ("Kinesis Data Streams") and the API reference
(docs.aws.amazon.com/kinesis/latest/APIReference). Errors are ``AwsError`` with Kinesis's codes.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.emulator.clock import Clock
from sim.emulator.metriccells import MetricCells
from sim.emulator.protocol import AwsError
from sim.emulator.providers.kinesis.store import ShardLog, StoredRecord, load_meta, save_meta
from sim.emulator.ratelimit import TokenBucket

MAX_HASH = 2**128 - 1
ITERATOR_TTL_S = 300.0
SUBSCRIPTION_S = 300.0  # SubscribeToShard: events for up to 5 minutes, then resubscribe
RESUBSCRIBE_S = 5.0  # a second subscription of a consumer to a shard within 5 s is refused
MAX_PUT_RECORDS = 500
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_RECORD_KIB = 1024
MAX_GET_RECORDS = 10_000
MAX_GET_BYTES = 10 * 1024 * 1024
DEFAULT_RETENTION_H = 24
MAX_RETENTION_H = 8760
# Sequence numbers: 56 decimal digits, increasing within a shard, distinct across shards.
_SEQ_BASE = 49 * 10**54
_SEQ_SHARD = 10**40


@dataclass(frozen=True)
class Limits:
    """Per-shard limits (AWS's by default; a demo may relax them, never silently)."""

    write_bytes_per_s: float = 1024 * 1024
    write_records_per_s: float = 1000
    read_calls_per_s: float = 5
    read_bytes_per_s: float = 2 * 1024 * 1024
    enforce: bool = True


def sequence_number(shard_index: int, number: int) -> str:
    """The sequence number of record ``number`` of a shard. Number -1 gives the shard's
    starting bound, below every record (as AWS's StartingSequenceNumber; a subscription on
    an empty shard continues after it)."""
    return str(_SEQ_BASE + shard_index * _SEQ_SHARD + number + 1)


def parse_sequence(seq: str) -> tuple[int, int]:
    """(shard index, record number) of a sequence number this emulator issued."""
    try:
        value = int(seq) - _SEQ_BASE
    except ValueError:
        value = -1
    if value < 0 or len(seq) != 56:
        raise AwsError(
            "InvalidArgumentException",
            f"StartingSequenceNumber {seq} used in GetShardIterator "
            "on shard is not a valid sequence number.",
        )
    index, rest = divmod(value, _SEQ_SHARD)
    return index, rest - 1


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def hash_key(partition_key: str, explicit: str | None = None) -> int:
    """The 128-bit hash key a record routes by: ExplicitHashKey, else MD5 of the key."""
    if explicit is not None:
        try:
            value = int(explicit)
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_HASH:
            raise AwsError(
                "InvalidArgumentException",
                f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, {MAX_HASH}]. "
                f"Specified value was {explicit}",
            )
        return value
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


@dataclass
class Shard:
    index: int
    start_hash: int
    end_hash: int
    created: float
    parent: str | None = None
    adjacent_parent: str | None = None
    closed_at_number: int | None = None  # None while OPEN; the next number when it closed
    closed_time: float | None = None

    @property
    def id(self) -> str:
        return shard_id(self.index)

    @property
    def open(self) -> bool:
        return self.closed_at_number is None

    def doc(self, first_number: int) -> dict[str, Any]:
        """The Shard structure of DescribeStream / ListShards."""
        seq = {"StartingSequenceNumber": sequence_number(self.index, first_number - 1)}
        if self.closed_at_number is not None:
            seq["EndingSequenceNumber"] = sequence_number(self.index, self.closed_at_number - 1)
        out: dict[str, Any] = {
            "ShardId": self.id,
            "HashKeyRange": {
                "StartingHashKey": str(self.start_hash),
                "EndingHashKey": str(self.end_hash),
            },
            "SequenceNumberRange": seq,
        }
        if self.parent:
            out["ParentShardId"] = self.parent
        if self.adjacent_parent:
            out["AdjacentParentShardId"] = self.adjacent_parent
        return out


@dataclass
class Stream:
    name: str
    arn: str
    created: float
    shards: list[Shard]
    mode: str = "PROVISIONED"
    retention_h: int = DEFAULT_RETENTION_H
    max_record_kib: int = DEFAULT_MAX_RECORD_KIB
    status: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)
    shard_metrics: list[str] = field(default_factory=list)  # enhanced monitoring
    encryption: str = "NONE"  # NONE | KMS
    key_id: str = ""
    consumers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> arn, created

    def open_shards(self) -> list[Shard]:
        return [s for s in self.shards if s.open]

    def shard(self, sid: str) -> Shard:
        for s in self.shards:
            if s.id == sid:
                return s
        raise AwsError(
            "ResourceNotFoundException",
            f"Could not find shard {sid} in stream {self.name} under account ...",
        )

    def route(self, hk: int) -> Shard:
        for s in self.open_shards():
            if s.start_hash <= hk <= s.end_hash:
                return s
        raise AwsError("InternalFailure", "no open shard covers the hash key", 500, sender=False)


@dataclass(frozen=True)
class PutResult:
    shard_id: str = ""
    sequence_number: str = ""
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class GetResult:
    records: list[tuple[str, StoredRecord]]  # (sequence number, record)
    next_iterator: str | None
    millis_behind_latest: int
    child_shards: list[dict[str, Any]]


@dataclass
class Subscription:
    """One SubscribeToShard of a registered consumer to a shard: enhanced fan-out, with its
    own 2 MB/s per shard (no 5 calls/s limit), for 5 minutes on the emulator clock."""

    consumer_arn: str
    stream: str
    shard_id: str
    position: int  # the next record number to push
    started: float
    bucket: TokenBucket
    superseded: bool = False  # a newer subscription of the same consumer and shard took over
    ended: bool = False

    def expired(self, now: float) -> bool:
        return now - self.started >= SUBSCRIPTION_S


class KinesisBackend:
    """All streams of one emulator; ``root`` holds their logs and metadata."""

    def __init__(
        self,
        root: Path,
        clock: Clock,
        account: str = "123456789012",
        region: str = "us-east-1",
        limits: Limits | None = None,
        fsync: bool = False,
    ) -> None:
        self.root = root
        self.clock = clock
        self.account = account
        self.region = region
        self.limits = limits or Limits()
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        self.streams: dict[str, Stream] = {}
        # AWS/Kinesis metrics of the current minute of the emulator clock, per stream:
        # {(stream, minute start): {metric: [sum, count, max]}}; flushed by the provider.
        self.metrics = MetricCells()
        self.logs: dict[tuple[str, str], ShardLog] = {}
        self._write: dict[tuple[str, str], tuple[TokenBucket, TokenBucket]] = {}
        self._read: dict[tuple[str, str], tuple[TokenBucket, TokenBucket, list[float]]] = {}
        self._subs: dict[tuple[str, str], Subscription] = {}
        # Fault knob "hot_shard": (shard id, share of its writes throttled), set per call by
        # the provider from the gateway's fault table; None when off.
        self.hot_shard: tuple[str, float] | None = None
        self._hot_rng = random.Random(0)
        self._load()

    # ------------------------------------------------------------------ persistence
    def _meta_path(self) -> Path:
        return self.root / "meta.json"

    def _load(self) -> None:
        for name, d in load_meta(self._meta_path())["streams"].items():
            shards = [Shard(**s) for s in d.pop("shards")]
            self.streams[name] = Stream(shards=shards, **d)
            for s in shards:
                self._log(name, s.id)

    def _save(self) -> None:
        data = {
            "streams": {
                n: {
                    "name": st.name,
                    "arn": st.arn,
                    "created": st.created,
                    "mode": st.mode,
                    "retention_h": st.retention_h,
                    "max_record_kib": st.max_record_kib,
                    "status": st.status,
                    "tags": st.tags,
                    "shard_metrics": st.shard_metrics,
                    "encryption": st.encryption,
                    "key_id": st.key_id,
                    "consumers": st.consumers,
                    "shards": [vars(s) for s in st.shards],
                }
                for n, st in self.streams.items()
            }
        }
        save_meta(self._meta_path(), data)

    def _log(self, stream: str, sid: str) -> ShardLog:
        log = self.logs.get((stream, sid))
        if log is None:
            log = ShardLog(self.root / stream / sid, self.fsync)
            self.logs[(stream, sid)] = log
        return log

    # ------------------------------------------------------------------ control plane
    def stream(self, name: str) -> Stream:
        st = self.streams.get(name)
        if st is None:
            raise AwsError(
                "ResourceNotFoundException",
                f"Stream {name} under account {self.account} not found.",
            )
        return st

    def create_stream(
        self, name: str, shard_count: int | None, mode: str = "PROVISIONED"
    ) -> Stream:
        """CreateStream; ResourceInUseException if it exists, InvalidArgumentException for a
        bad name or shard count."""
        if name in self.streams:
            raise AwsError(
                "ResourceInUseException",
                f"Stream {name} under account {self.account} already exists.",
            )
        if mode == "ON_DEMAND":
            shard_count = shard_count or 4  # AWS starts an on-demand stream with 4 shards
        if not shard_count or shard_count < 1:
            raise AwsError(
                "InvalidArgumentException",
                "ShardCount must be at least 1 for a provisioned stream.",
            )
        now = self.clock.now()
        step = (MAX_HASH + 1) // shard_count
        shards = [
            Shard(i, i * step, MAX_HASH if i == shard_count - 1 else (i + 1) * step - 1, now)
            for i in range(shard_count)
        ]
        st = Stream(
            name,
            f"arn:aws:kinesis:{self.region}:{self.account}:stream/{name}",
            now,
            shards,
            mode,
        )
        self.streams[name] = st
        for s in shards:
            self._log(name, s.id)
        self._save()
        return st

    def delete_stream(self, name: str) -> None:
        st = self.stream(name)
        for s in st.shards:
            log = self.logs.pop((name, s.id), None)
            if log is not None:
                log.close()
                for seg in log.folder.glob("*.log"):
                    seg.unlink()
                log.folder.rmdir()
        del self.streams[name]
        self._save()

    def first_number(self, stream: str, sid: str) -> int:
        return self._log(stream, sid).first

    # ------------------------------------------------------------------ resharding
    def _close(self, name: str, shard: Shard, now: float) -> None:
        shard.closed_at_number = self._log(name, shard.id).next
        shard.closed_time = now

    def _child(self, st: Stream, start: int, end: int, now: float, parent: str,
               adjacent: str | None = None) -> Shard:  # fmt: skip
        child = Shard(max(s.index for s in st.shards) + 1, start, end, now, parent, adjacent)
        st.shards.append(child)
        self._log(st.name, child.id)
        return child

    def _open_shard(self, st: Stream, sid: str) -> Shard:
        shard = st.shard(sid)
        if not shard.open:
            raise AwsError(
                "ResourceInUseException",
                f"Shard {sid} in stream {st.name} under account {self.account} has already been "
                "merged or split, and thus is not eligible for merging or splitting.",
            )
        return shard

    def split_shard(self, name: str, sid: str, new_start: str) -> None:
        """SplitShard: the parent closes; two children take [start, h-1] and [h, end]."""
        st = self.stream(name)
        shard = self._open_shard(st, sid)
        try:
            h = int(new_start)
        except ValueError:
            h = -1
        if not shard.start_hash < h <= shard.end_hash:
            raise AwsError(
                "InvalidArgumentException",
                f"NewStartingHashKey {new_start} used in SplitShard() on shard {sid} in stream "
                f"{name} under account {self.account} is not both greater than one plus the "
                f"shard's StartingHashKey {shard.start_hash} and less than the shard's "
                f"EndingHashKey {shard.end_hash}.",
            )
        now = self.clock.now()
        self._close(name, shard, now)
        self._child(st, shard.start_hash, h - 1, now, shard.id)
        self._child(st, h, shard.end_hash, now, shard.id)
        self._save()

    def merge_shards(self, name: str, sid: str, adjacent: str) -> None:
        """MergeShards: two adjacent open shards close; one child covers both ranges."""
        st = self.stream(name)
        a, b = self._open_shard(st, sid), self._open_shard(st, adjacent)
        lo, hi = sorted((a, b), key=lambda s: s.start_hash)
        if lo.end_hash + 1 != hi.start_hash:
            raise AwsError(
                "InvalidArgumentException",
                f"Shards {sid} and {adjacent} in stream {name} under account {self.account} are "
                "not an adjacent pair of shards eligible for merging",
            )
        now = self.clock.now()
        self._close(name, a, now)
        self._close(name, b, now)
        self._child(st, lo.start_hash, hi.end_hash, now, a.id, b.id)
        self._save()

    def update_shard_count(self, name: str, target: int) -> int:
        """UpdateShardCount (UNIFORM_SCALING): every open shard closes and ``target`` shards
        split the hash space evenly; each child's parents are the old shards its range starts
        and ends in. AWS allows at most double and at least half the open count. Returns the
        previous open count."""
        st = self.stream(name)
        old = sorted(st.open_shards(), key=lambda s: s.start_hash)
        if target > 2 * len(old) or target * 2 < len(old):
            raise AwsError(
                "InvalidArgumentException",
                f"UpdateShardCount cannot scale from {len(old)} to {target} shards: the target "
                "must be at most double and at least half the current open shard count.",
            )
        if target == len(old):
            return len(old)
        now = self.clock.now()
        for s in old:
            self._close(name, s, now)
        step = (MAX_HASH + 1) // target

        def owner(hk: int) -> Shard:
            return next(s for s in old if s.start_hash <= hk <= s.end_hash)

        for i in range(target):
            start = i * step
            end = MAX_HASH if i == target - 1 else (i + 1) * step - 1
            first, last = owner(start), owner(end)
            self._child(st, start, end, now, first.id, last.id if last is not first else None)
        self._save()
        return len(old)

    # ------------------------------------------------------------------ writes
    def put_records(
        self, name: str, entries: list[tuple[bytes, str, str | None]]
    ) -> list[PutResult]:
        """PutRecords: per-entry results in order. Throttled entries get
        ProvisionedThroughputExceededException inside the (successful) call; the others are
        appended to their shard's log, one write per shard, before this returns."""
        st = self.stream(name)
        if not entries:
            raise AwsError("InvalidArgumentException", "Records must contain at least 1 entry.")
        if len(entries) > MAX_PUT_RECORDS:
            raise AwsError(
                "InvalidArgumentException",
                f"1 validation error detected: Value '{len(entries)}' at 'records' failed to "
                "satisfy constraint: Member must have length less than or equal to 500",
            )
        limit = st.max_record_kib * 1024
        total = 0
        keyed: list[tuple[bytes, bytes, str, str | None]] = []
        for i, (data, key, ehk) in enumerate(entries):
            kb = key.encode()
            size = len(data) + len(kb)
            total += size
            if not 1 <= len(key) <= 256:
                raise AwsError(
                    "InvalidArgumentException",
                    f"1 validation error detected: Value at 'records.{i + 1}.member.partitionKey' "
                    "failed to satisfy constraint: Member must have length between 1 and 256",
                )
            if size > limit:
                raise AwsError(
                    "InvalidArgumentException",
                    f"1 validation error detected: Value at 'records.{i + 1}.member.data' failed "
                    f"to satisfy constraint: Member must have length less than or equal to {limit}",
                )
            keyed.append((data, kb, key, ehk))
        if total > MAX_PUT_RECORDS_BYTES:
            raise AwsError("InvalidArgumentException", "Records size exceeds 5 MB limit")
        now = self.clock.now()
        # Open shards partition the hash space; sorted, a bisect finds a key's shard.
        shards = sorted(st.open_shards(), key=lambda s: s.start_hash)
        starts = [s.start_hash for s in shards]
        results: list[PutResult | None] = [None] * len(entries)
        batches: dict[int, list[tuple[int, float, str, bytes]]] = {}
        enforce = self.limits.enforce
        hot = self.hot_shard
        throttled_in: dict[str, int] = {}  # for shard-level metrics
        for i, (data, kb, key, ehk) in enumerate(keyed):
            hk = (
                int.from_bytes(hashlib.md5(kb).digest(), "big")
                if ehk is None
                else hash_key(key, ehk)
            )
            pos = bisect.bisect_right(starts, hk) - 1
            if (
                hot is not None and shards[pos].id == hot[0] and self._hot_rng.random() < hot[1]
            ) or (
                enforce and not self._admit_write(name, shards[pos].id, len(data) + len(kb), now)
            ):
                results[i] = PutResult(
                    error_code="ProvisionedThroughputExceededException",
                    error_message=(
                        f"Rate exceeded for shard {shards[pos].id} in stream {name} under "
                        f"account {self.account}."
                    ),
                )
                throttled_in[shards[pos].id] = throttled_in.get(shards[pos].id, 0) + 1
                continue
            batches.setdefault(pos, []).append((i, now, key, data))
        acked = sum(len(items) for items in batches.values())
        self._count(name, now, "IncomingRecords", acked)
        self._count(
            name, now, "IncomingBytes", sum(len(d) for it in batches.values() for *_, d in it)
        )
        self._count(name, now, "PutRecords.TotalRecords", len(entries))
        self._count(name, now, "PutRecords.SuccessfulRecords", acked)
        self._count(name, now, "PutRecords.ThrottledRecords", len(entries) - acked)
        self._count(name, now, "WriteProvisionedThroughputExceeded", len(entries) - acked)
        if st.shard_metrics:
            for sid, n in throttled_in.items():
                self._count_shard(st, sid, now, "WriteProvisionedThroughputExceeded", n)
            for pos, items in batches.items():
                sid = shards[pos].id
                self._count_shard(st, sid, now, "IncomingRecords", len(items))
                self._count_shard(st, sid, now, "IncomingBytes", sum(len(d) for *_, d in items))
        for pos, items in batches.items():
            shard = shards[pos]
            numbers = self._log(name, shard.id).append([(t, k, d) for _, t, k, d in items])
            for (i, *_), number in zip(items, numbers, strict=True):
                results[i] = PutResult(shard.id, sequence_number(shard.index, number))
        return [r for r in results if r is not None]

    def _count(self, stream: str, now: float, metric: str, value: float) -> None:
        self.metrics.count(stream, now, metric, value)

    def _count_shard(self, st: Stream, sid: str, now: float, metric: str, value: float) -> None:
        """A shard-level metric (dimensions StreamName and ShardId), counted only when
        EnableEnhancedMonitoring turned it on, as AWS does."""
        if metric in st.shard_metrics:
            self._count(st.name, now, f"{metric}@{sid}", value)

    def take_metrics(
        self, before: float, open_minutes: bool = False
    ) -> list[tuple[str, float, str, list[float]]]:
        """The finished minutes (starting before ``before``), and with ``open_minutes`` the
        current one so far: ``(stream, minute, metric, [sum, samples, max, min])``."""
        return self.metrics.take(before, open_minutes, self.streams)

    def _admit_write(self, stream: str, sid: str, size: int, now: float) -> bool:
        if not self.limits.enforce:
            return True
        rates = self._write.get((stream, sid))
        if rates is None:
            rates = (
                TokenBucket(self.limits.write_records_per_s, now),
                TokenBucket(self.limits.write_bytes_per_s, now),
            )
            self._write[(stream, sid)] = rates
        recs, byts = rates
        recs.refill(now)
        byts.refill(now)
        if recs.tokens >= 1 and byts.tokens >= size:
            recs.tokens -= 1
            byts.tokens -= size
            return True
        return False

    # ------------------------------------------------------------------ reads
    def iterator(
        self,
        name: str,
        sid: str,
        kind: str,
        sequence: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        """GetShardIterator: an opaque iterator valid for 5 minutes on the emulator clock."""
        st = self.stream(name)
        shard = st.shard(sid)
        log = self._log(name, sid)
        if kind == "TRIM_HORIZON":
            position = self._horizon(st, log)
        elif kind == "LATEST":
            position = log.next
        elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if sequence is None:
                raise AwsError(
                    "InvalidArgumentException",
                    f"StartingSequenceNumber must be specified for ShardIteratorType {kind}",
                )
            index, number = parse_sequence(sequence)
            if index != shard.index:
                raise AwsError(
                    "InvalidArgumentException",
                    f"Invalid StartingSequenceNumber. It encodes {shard_id(index)}, while it was "
                    f"used in a call to a shard with {sid}",
                )
            position = max(0, number + (1 if kind == "AFTER_SEQUENCE_NUMBER" else 0))
        elif kind == "AT_TIMESTAMP":
            if timestamp is None:
                raise AwsError(
                    "InvalidArgumentException",
                    "Timestamp must be specified for ShardIteratorType AT_TIMESTAMP",
                )
            position = log.first_at_or_after(timestamp)
        else:
            raise AwsError(
                "InvalidArgumentException",
                f"1 validation error detected: Value '{kind}' at 'shardIteratorType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, "
                "AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]",
            )
        return self._encode(name, sid, position)

    def _encode(self, name: str, sid: str, position: int) -> str:
        body = json.dumps([name, sid, position, self.clock.now()], separators=(",", ":"))
        return base64.urlsafe_b64encode(body.encode()).decode()

    def _decode(self, iterator: str) -> tuple[str, str, int, float]:
        try:
            name, sid, position, issued = json.loads(base64.urlsafe_b64decode(iterator.encode()))
            return str(name), str(sid), int(position), float(issued)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise AwsError("InvalidArgumentException", "Invalid ShardIterator.") from None

    def get_records(self, iterator: str, limit: int | None = None) -> GetResult:
        """GetRecords: up to ``limit`` (default and maximum 10,000) records and 10 MiB.
        ExpiredIteratorException after 5 minutes, ProvisionedThroughputExceededException over
        5 calls/s or 2 MB/s per shard (and for 5 s after a 10 MiB read). A closed shard read to
        its end returns no NextShardIterator and its children."""
        name, sid, position, issued = self._decode(iterator)
        now = self.clock.now()
        if now - issued > ITERATOR_TTL_S:
            raise AwsError(
                "ExpiredIteratorException",
                f"Iterator expired. The iterator was created at time {issued * 1000:.0f} while "
                f"right now it is {now * 1000:.0f} which is further in the future than the "
                f"tolerated delay of {ITERATOR_TTL_S * 1000:.0f} milliseconds.",
            )
        self.stream(name).shard(sid)  # ResourceNotFoundException for a gone stream or shard
        n = MAX_GET_RECORDS if limit is None else limit
        if not 1 <= n <= MAX_GET_RECORDS:
            raise AwsError(
                "InvalidArgumentException",
                f"1 validation error detected: Value '{n}' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 10000",
            )
        self._admit_read_call(name, sid, now)
        res, size, nxt = self.read_at(name, sid, position, n, MAX_GET_BYTES, now, "GetRecords")
        self._charge_read(name, sid, size, now)
        if res.next_iterator is None:  # a closed shard read to its end
            return res
        return GetResult(res.records, self._encode(name, sid, nxt), res.millis_behind_latest, [])

    def position_of(self, iterator: str) -> tuple[str, str, int]:
        """Where a fresh iterator points: (stream, shard, record number)."""
        name, sid, position, _issued = self._decode(iterator)
        return name, sid, position

    def read_at(
        self,
        name: str,
        sid: str,
        position: int,
        n: int,
        max_bytes: int,
        now: float,
        metric: str,
    ) -> tuple[GetResult, int, int]:
        """The records of a shard from record number ``position`` on (at most ``n`` and
        ``max_bytes``), with no call-rate limit: ``(result, bytes, next position)``. The
        result's ``next_iterator`` is None and ``child_shards`` set once a closed shard is
        read to its end. ``metric`` prefixes the metrics counted (GetRecords or
        SubscribeToShardEvent)."""
        st = self.stream(name)
        shard = st.shard(sid)
        log = self._log(name, sid)
        # Records past retention are gone even while their segment file still exists.
        position = max(position, self._horizon(st, log))
        end = shard.closed_at_number if shard.closed_at_number is not None else log.next
        n = min(n, max(0, end - position))
        records = log.read(position, n, max_bytes) if n else []
        size = sum(len(r.data) + len(r.partition_key.encode()) for r in records)
        nxt = records[-1].number + 1 if records else max(position, log.first)
        if metric == "GetRecords":
            self._count(name, now, "GetRecords.Records", len(records))
            self._count(name, now, "GetRecords.Bytes", size)
            self._count(name, now, "GetRecords.Success", 1)
            age = (now - records[-1].arrival) * 1000 if records else 0.0
            self._count(name, now, "GetRecords.IteratorAgeMilliseconds", age)
            if st.shard_metrics:
                self._count_shard(st, sid, now, "OutgoingRecords", len(records))
                self._count_shard(st, sid, now, "OutgoingBytes", size)
                self._count_shard(st, sid, now, "IteratorAgeMilliseconds", age)
        behind = 0
        if nxt < log.next:
            arrival = log.arrival_of(nxt)
            behind = int(max(0.0, now - arrival) * 1000) if arrival is not None else 0
        if metric == "SubscribeToShardEvent":
            self._count(name, now, "SubscribeToShardEvent.Records", len(records))
            self._count(name, now, "SubscribeToShardEvent.Bytes", size)
            self._count(name, now, "SubscribeToShardEvent.MillisBehindLatest", behind)
            self._count(name, now, "SubscribeToShardEvent.Success", 1)
        children: list[dict[str, Any]] = []
        marker: str | None = ""  # not None: the shard goes on
        if shard.closed_at_number is not None and nxt >= shard.closed_at_number:
            marker = None
            children = [
                {
                    "ShardId": c.id,
                    "ParentShards": [p for p in (c.parent, c.adjacent_parent) if p],
                    # required by the API (ChildShard): the KCL builds child leases from it
                    "HashKeyRange": {
                        "StartingHashKey": str(c.start_hash),
                        "EndingHashKey": str(c.end_hash),
                    },
                }
                for c in st.shards
                if sid in (c.parent, c.adjacent_parent)
            ]
        result = GetResult(
            [(sequence_number(shard.index, r.number), r) for r in records],
            marker,
            behind,
            children,
        )
        return result, size, nxt

    # ------------------------------------------------------------------ enhanced fan-out
    def subscribe(
        self,
        consumer_arn: str,
        name: str,
        sid: str,
        kind: str,
        sequence: str | None = None,
        timestamp: float | None = None,
    ) -> Subscription:
        """SubscribeToShard's rules: the starting position as GetShardIterator reads it; a
        second subscription of the same consumer to the same shard within 5 s is
        ResourceInUseException, a later one ends the earlier (API_SubscribeToShard.html)."""
        position = self.position_of(self.iterator(name, sid, kind, sequence, timestamp))[2]
        now = self.clock.now()
        key = (consumer_arn, sid)
        prev = self._subs.get(key)
        if prev is not None and not prev.ended:
            if now - prev.started < RESUBSCRIBE_S:
                consumer = consumer_arn.split("/consumer/", 1)[-1].split(":", 1)[0]
                raise AwsError(
                    "ResourceInUseException",
                    f"Another active subscription exists for this consumer: "
                    f"{self.account}:{name}:{sid}:{consumer}",
                )
            prev.superseded = True
        sub = Subscription(
            consumer_arn, name, sid, position, now, TokenBucket(self.limits.read_bytes_per_s, now)
        )
        self._subs[key] = sub
        return sub

    def push(self, sub: Subscription) -> GetResult | None:
        """The next SubscribeToShardEvent of ``sub``: the records from its position within
        its 2 MB/s (at most 10,000 and 1 MiB an event), MillisBehindLatest and, at the end of
        a closed shard, ChildShards. None when the subscription is over (5 minutes passed,
        superseded, or the stream or consumer is gone)."""
        now = self.clock.now()
        if sub.ended or sub.superseded or sub.expired(now):
            sub.ended = True
            return None
        st = self.streams.get(sub.stream)
        consumer = sub.consumer_arn.split("/consumer/", 1)[-1].split(":", 1)[0]
        if st is None or consumer not in st.consumers:
            sub.ended = True
            return None
        budget = 1024 * 1024
        if self.limits.enforce:
            sub.bucket.refill(now)
            budget = int(min(budget, max(0.0, sub.bucket.tokens)))
        if budget <= 0:
            res, size, nxt = self.read_at(
                sub.stream, sub.shard_id, sub.position, 0, 0, now, "SubscribeToShardEvent"
            )
        else:
            res, size, nxt = self.read_at(
                sub.stream,
                sub.shard_id,
                sub.position,
                MAX_GET_RECORDS,
                budget,
                now,
                "SubscribeToShardEvent",
            )
        if self.limits.enforce:
            sub.bucket.tokens -= size
        sub.position = nxt
        if res.next_iterator is None:
            sub.ended = True  # the shard is closed and read to its end
        return res

    def sequence_at(self, name: str, sid: str, position: int) -> str:
        """The sequence number of record ``position`` of a shard (it may not exist yet)."""
        return sequence_number(self.stream(name).shard(sid).index, position)

    def _read_rates(
        self, name: str, sid: str, now: float
    ) -> tuple[TokenBucket, TokenBucket, list[float]]:
        rates = self._read.get((name, sid))
        if rates is None:
            rates = (
                TokenBucket(self.limits.read_calls_per_s, now),
                TokenBucket(self.limits.read_bytes_per_s, now),
                [0.0],  # throttled until (after a large read)
            )
            self._read[(name, sid)] = rates
        return rates

    def _admit_read_call(self, name: str, sid: str, now: float) -> None:
        if not self.limits.enforce:
            return
        calls, byts, until = self._read_rates(name, sid, now)
        byts.refill(now)
        if now < until[0] or not calls.take(1, now) or byts.tokens <= 0:
            self._count(name, now, "ReadProvisionedThroughputExceeded", 1)
            self._count_shard(self.stream(name), sid, now, "ReadProvisionedThroughputExceeded", 1)
            raise AwsError(
                "ProvisionedThroughputExceededException",
                f"Rate exceeded for Shard - {self.account}/{name}/{sid}",
            )

    def _charge_read(self, name: str, sid: str, size: int, now: float) -> None:
        if not self.limits.enforce:
            return
        _calls, byts, until = self._read_rates(name, sid, now)
        byts.tokens -= size  # may go negative: the debt throttles the next calls
        if size >= MAX_GET_BYTES:
            until[0] = now + 5.0  # AWS: calls in the next 5 s after a 10 MiB read fail

    # ------------------------------------------------------------------ retention
    def _horizon(self, st: Stream, log: ShardLog) -> int:
        """Number of the oldest record still within the stream's retention."""
        return log.first_at_or_after(self.clock.now() - st.retention_h * 3600)

    def expire(self) -> int:
        """Drop records older than each stream's retention (whole segments); returns how
        many records went."""
        now = self.clock.now()
        gone = 0
        for name, st in self.streams.items():
            for s in st.shards:
                gone += self._log(name, s.id).expire_before(now - st.retention_h * 3600)
        return gone

    def close(self) -> None:
        for log in self.logs.values():
            log.close()


class SourceReader:
    """A stream read by another service of the emulator (Firehose's KinesisStreamAsSource):
    positions are record numbers, no read limits are charged to the shard."""

    def __init__(self, backend: KinesisBackend) -> None:
        self.backend = backend

    def stream_arn(self, name: str) -> str | None:
        st = self.backend.streams.get(name)
        return st.arn if st else None

    def shards(self, name: str) -> list[tuple[str, list[str], bool]]:
        return [
            (s.id, [p for p in (s.parent, s.adjacent_parent) if p], s.closed_at_number is not None)
            for s in self.backend.stream(name).shards
        ]

    def latest(self, name: str, sid: str) -> int:
        return self.backend._log(name, sid).next

    def read(
        self, name: str, sid: str, position: int, n: int, max_bytes: int
    ) -> tuple[list[tuple[float, bytes]], int, bool]:
        now = self.backend.clock.now()
        res, _size, nxt = self.backend.read_at(name, sid, position, n, max_bytes, now, "source")
        return [(r.arrival, r.data) for _seq, r in res.records], nxt, res.next_iterator is None
