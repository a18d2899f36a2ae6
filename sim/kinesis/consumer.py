"""A Kinesis consumer with the Kinesis Client Library's semantics, small enough to read in a lab:

- a lease table in DynamoDB, one item per shard (``leaseKey`` = shard id, ``checkpoint``,
  ``leaseOwner``, ``leaseCounter``, ``parentShardId``), as KCL keeps it;
- shard discovery with ListShards on every pass, so children of a split or merge are found;
- a child shard is read only after its parents are finished (checkpoint ``SHARD_END``), which
  keeps every key in order across resharding;
- the checkpoint is written only after the record processor returned, i.e. after its output is
  durable: a consumer killed mid-batch starts again from the last checkpoint, so nothing is
  skipped and at most the unfinished batch is processed twice (at-least-once, as AWS documents);
- a throttled read waits and tries again; ``stop()`` finishes the current batch and returns;
- KPL aggregates are split into their user records (``deaggregate=True``), as KCL does.

It is not KCL (no lease stealing between workers, one worker per application); the interop test
runs AWS's own KCL against the emulator for that. Works against any profile.
https://docs.aws.amazon.com/streams/latest/dev/shared-throughput-kcl-consumers.html
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.kinesis import kpl

SHARD_END = "SHARD_END"
TRIM_HORIZON = "TRIM_HORIZON"

Record = dict[str, Any]  # as GetRecords returns them: SequenceNumber, Data, PartitionKey, ...
Processor = Callable[[str, list[Record]], None]  # (shard id, records) -> output made durable


class LeaseLost(RuntimeError):
    """Another worker owns the lease now; this one must stop processing the shard."""


class LeaseTable:
    """KCL's lease table in DynamoDB (created on first use, on-demand capacity)."""

    def __init__(self, dynamodb: Any, table: str, owner: str) -> None:
        self.ddb = dynamodb
        self.table = table
        self.owner = owner
        try:
            self.ddb.describe_table(TableName=table)
        except self.ddb.exceptions.ResourceNotFoundException:
            self.ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )

    def get(self, shard_id: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key={"leaseKey": {"S": shard_id}}).get(
            "Item"
        )
        if item is None:
            return None
        return {
            "checkpoint": item["checkpoint"]["S"],
            "owner": item.get("leaseOwner", {}).get("S", ""),
            "counter": int(item.get("leaseCounter", {}).get("N", "0")),
        }

    def ensure(self, shard_id: str, parents: list[str]) -> dict[str, Any]:
        """The shard's lease, created (checkpoint TRIM_HORIZON, owned by us) if missing."""
        lease = self.get(shard_id)
        if lease is not None:
            return lease
        item: dict[str, Any] = {
            "leaseKey": {"S": shard_id},
            "checkpoint": {"S": TRIM_HORIZON},
            "leaseOwner": {"S": self.owner},
            "leaseCounter": {"N": "1"},
        }
        if parents:
            item["parentShardId"] = {"SS": parents}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(leaseKey)",
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            pass  # another worker created it first
        lease = self.get(shard_id)
        assert lease is not None
        return lease

    def checkpoint(self, shard_id: str, value: str) -> None:
        """Record progress, only while we still own the lease (else LeaseLost)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"leaseKey": {"S": shard_id}},
                UpdateExpression="SET checkpoint = :c, leaseOwner = :o ADD leaseCounter :one",
                ConditionExpression="attribute_not_exists(leaseOwner) OR leaseOwner = :o",
                ExpressionAttributeValues={
                    ":c": {"S": value},
                    ":o": {"S": self.owner},
                    ":one": {"N": "1"},
                },
            )
        except self.ddb.exceptions.ConditionalCheckFailedException as exc:
            raise LeaseLost(f"lease of {shard_id} is owned by another worker") from exc


@dataclass
class ConsumerStats:
    records: int = 0
    batches: int = 0
    throttled: int = 0
    shards_finished: int = 0
    # per shard, MillisBehindLatest of the last GetRecords (the lag a dashboard shows)
    millis_behind: dict[str, int] = field(default_factory=dict)


class Consumer:
    """Reads every shard of ``stream`` (parents before children) into ``processor``."""

    def __init__(
        self,
        kinesis: Any,
        dynamodb: Any,
        stream: str,
        application: str,
        processor: Processor,
        *,
        owner: str | None = None,
        batch_limit: int = 1000,
        deaggregate: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kinesis = kinesis
        self.stream = stream
        self.processor = processor
        self.batch_limit = batch_limit
        self.deaggregate = deaggregate
        self.sleep = sleep
        self.leases = LeaseTable(dynamodb, application, owner or uuid.uuid4().hex)
        self.stats = ConsumerStats()
        self._stopping = False

    def stop(self) -> None:
        """Finish the current batch, checkpoint it, and return from run()."""
        self._stopping = True

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        while True:
            page = self.kinesis.list_shards(**kwargs)
            shards += page["Shards"]
            if not page.get("NextToken"):
                return shards
            kwargs = {"NextToken": page["NextToken"]}

    def _ready(self, shard: dict[str, Any], known: set[str]) -> bool:
        """A shard may be read once every parent still in the stream is finished."""
        for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")):
            if parent and parent in known:
                lease = self.leases.get(parent)
                if lease is None or lease["checkpoint"] != SHARD_END:
                    return False
        return True

    def run_once(self) -> int:
        """One pass over the readable shards, one batch each; returns records processed."""
        shards = self._shards()
        known = {s["ShardId"] for s in shards}
        done = 0
        for shard in shards:
            sid = shard["ShardId"]
            parents = [
                p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p
            ]
            lease = self.leases.ensure(sid, parents)
            if lease["checkpoint"] == SHARD_END or not self._ready(shard, known):
                continue
            done += self._read_batch(sid, lease["checkpoint"])
            if self._stopping:
                break
        return done

    def _read_batch(self, sid: str, checkpoint: str) -> int:
        args: dict[str, Any] = {"StreamName": self.stream, "ShardId": sid}
        if checkpoint == TRIM_HORIZON:
            args["ShardIteratorType"] = TRIM_HORIZON
        else:
            args.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=checkpoint
            )
        try:
            it = self.kinesis.get_shard_iterator(**args)["ShardIterator"]
            out = self.kinesis.get_records(ShardIterator=it, Limit=self.batch_limit)
        except self.kinesis.exceptions.ProvisionedThroughputExceededException:
            self.stats.throttled += 1
            self.sleep(1.0)  # the read limit is per second: wait one, then try again
            return 0
        records = out["Records"]
        self.stats.millis_behind[sid] = int(out.get("MillisBehindLatest", 0))
        if records:
            # KPL aggregates reach the processor as their user records (as KCL delivers them);
            # the checkpoint is the last Kinesis record's, whose user records all went through
            users = kpl.deaggregate(records) if self.deaggregate else records
            self.processor(sid, users)  # returns once its output is durable
            self.leases.checkpoint(sid, records[-1]["SequenceNumber"])
            self.stats.records += len(users)
            self.stats.batches += 1
        if "NextShardIterator" not in out:  # a closed shard, read to its end
            self.leases.checkpoint(sid, SHARD_END)
            self.stats.shards_finished += 1
        return len(records)

    def run(self, idle_passes: int = 1, idle_sleep_s: float = 1.0) -> ConsumerStats:
        """Pass over the shards until stop() or ``idle_passes`` passes in a row found nothing
        new; returns the stats."""
        idle = 0
        while not self._stopping and idle < idle_passes:
            if self.run_once():
                idle = 0
            else:
                idle += 1
                if idle < idle_passes:
                    self.sleep(idle_sleep_s)
        return self.stats
