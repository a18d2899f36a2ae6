"""A Kinesis streaming source for Spark 4 (``pyspark.sql.datasource``), on any profile: the
stand-in for Kinesis Data Analytics in the course, and for the connectors Spark 4 lacks.

    from spark.kinesis_source import register, options_for
    register(spark)
    df = (spark.readStream.format("kinesis")
          .options(**options_for(profile, "clicks", startingPosition="TRIM_HORIZON"))
          .load())

Offsets are per shard, pinned at each micro-batch as sequence numbers (``{"after": seq}``),
or the start position (``{"trim": true}``, ``{"at_ts": epoch}``: LATEST is pinned as the time
the query first started, so a restart does not skip records); Spark's checkpoint keeps them,
and is the only truth: a restarted query reads from the last committed offsets, with no gap.
Shards are read parents first: a child shard starts only once its parents are read to their
end, so every partition key stays in order across resharding. KPL aggregates are split into
their user records. ``maxRecordsPerShard`` bounds a micro-batch (Spark's ReadMaxRows too).

``latestOffset(start, limit)`` (Spark 4.2) reads the new records once, in the driver's Python
worker, and hands them to the micro-batch's partitions; a partition re-reads its range from
Kinesis only when Spark replays a batch after a failure. Reads wait out throttling.
https://spark.apache.org/docs/latest/api/python/tutorial/sql/python_data_source.html
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamReader,
    InputPartition,
)
from pyspark.sql.streaming.datasource import ReadMaxRows, SupportsTriggerAvailableNow

SCHEMA = (
    "streamName string, shardId string, sequenceNumber string, subSequenceNumber bigint, "
    "partitionKey string, approximateArrivalTimestamp timestamp, data binary"
)
DEFAULT_MAX_PER_SHARD = 10_000


def options_for(profile: Any, stream: str, **more: str) -> dict[str, str]:
    """The source's options for ``stream`` on ``profile`` (endpoint, region, keys)."""
    from sim import profiles

    return {**profiles.to_options(profile), "streamName": stream, **more}


def register(spark: Any) -> None:
    """Make ``format("kinesis")`` available in this SparkSession."""
    spark.dataSource.register(KinesisDataSource)


_PROFILE_KEYS = ("profile", "endpointUrl", "region", "accessKey", "secretKey")


def _normalized(options: Any) -> dict[str, str]:
    """Spark hands options with lower-cased keys: back to the names this source documents."""
    lowered = {str(k).lower(): str(v) for k, v in dict(options).items()}
    names = (*_PROFILE_KEYS, "streamName", "startingPosition", "maxRecordsPerShard")
    return {n: lowered[n.lower()] for n in names if n.lower() in lowered}


def _client(options: dict[str, str]) -> Any:
    from sim import clients, profiles

    prof = profiles.from_options({k: options[k] for k in _PROFILE_KEYS if k in options})
    return clients.client("kinesis", prof, retries=True)


@dataclass
class ShardRange(InputPartition):
    """One shard's records of a micro-batch: from ``start`` to ``end_seq`` (inclusive), and
    the records themselves when the driver already read them."""

    shard: str
    start: dict[str, Any]
    end_seq: str
    records: list[tuple[Any, ...]] | None = field(default=None)

    def __post_init__(self) -> None:
        super().__init__(self.shard)


def _iterator(kin: Any, stream: str, shard: str, pos: dict[str, Any]) -> str:
    args: dict[str, Any] = {"StreamName": stream, "ShardId": shard}
    if "after" in pos:
        args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=pos["after"])
    elif "at_ts" in pos:
        args.update(
            ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.fromtimestamp(pos["at_ts"], UTC)
        )
    else:
        args["ShardIteratorType"] = "TRIM_HORIZON"
    return str(kin.get_shard_iterator(**args)["ShardIterator"])


def read_shard(
    kin: Any,
    stream: str,
    shard: str,
    pos: dict[str, Any],
    max_records: int,
    end_seq: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Records of ``shard`` after ``pos`` (at most ``max_records``, or up to ``end_seq``
    inclusive), and whether a closed shard was read to its end."""
    out: list[dict[str, Any]] = []
    it: str | None = _iterator(kin, stream, shard, pos)
    waited = 0.0
    while it:
        want = max_records - len(out)
        if want <= 0:
            return out, False
        try:
            page = kin.get_records(ShardIterator=it, Limit=min(10_000, want))
        except kin.exceptions.ProvisionedThroughputExceededException:
            if waited > 30:
                raise
            time.sleep(0.25)  # 5 reads a second per shard
            waited += 0.25
            continue
        for r in page["Records"]:
            out.append(r)
            if end_seq is not None and r["SequenceNumber"] == end_seq:
                return out, False
        it = page.get("NextShardIterator")
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            return out, False
    return out, True  # no NextShardIterator: the closed shard is read to its end


def _rows(stream: str, shard: str, records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    from sim.kinesis import kpl

    rows = []
    for r in kpl.deaggregate(records):
        ts = r.get("ApproximateArrivalTimestamp")
        rows.append(
            (
                stream,
                shard,
                r["SequenceNumber"],
                int(r.get("SubSequenceNumber", 0)),
                r["PartitionKey"],
                ts if isinstance(ts, datetime) else None,
                bytes(r["Data"]),
            )
        )
    return rows


class KinesisDataSource(DataSource):
    """``spark.readStream.format("kinesis")``: options streamName (required), profile,
    endpointUrl, region, accessKey, secretKey, startingPosition (TRIM_HORIZON | LATEST),
    maxRecordsPerShard."""

    @classmethod
    def name(cls) -> str:
        return "kinesis"

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> DataSourceStreamReader:
        options = _normalized(self.options)
        if not options.get("streamName"):
            raise ValueError("the kinesis source needs option streamName")
        return KinesisStreamReader(options)


class KinesisStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str]) -> None:
        self.options = options
        self.stream = options["streamName"]
        self.max_per_shard = int(options.get("maxRecordsPerShard", DEFAULT_MAX_PER_SHARD))
        self._kin: Any = None
        self._read: dict[str, tuple[dict[str, Any], list[tuple[Any, ...]]]] = {}
        # Trigger.AvailableNow: one batch of what is there when the run starts, then done
        self._available_now = False
        self._drained = False

    def prepareForTriggerAvailableNow(self) -> None:
        """AvailableNow: the next batch reads everything there is (no per-batch bound), and
        the one after reports no new data, so the run ends even while producers go on."""
        self._available_now = True
        self._drained = False

    @property
    def kin(self) -> Any:
        if self._kin is None:
            self._kin = _client(self.options)
        return self._kin

    def _shards(self) -> list[dict[str, Any]]:
        from sim.kinesis.reader import shards_in_lineage_order

        return shards_in_lineage_order(self.kin, self.stream)

    def initialOffset(self) -> dict[str, Any]:
        start = self.options.get("startingPosition", "LATEST").upper()
        if start not in ("LATEST", "TRIM_HORIZON"):
            raise ValueError(f"startingPosition {start!r}: use TRIM_HORIZON or LATEST")
        shards = self._shards()
        if start == "TRIM_HORIZON":
            return {"shards": {s["ShardId"]: {"trim": True} for s in shards}, "finished": []}
        now = time.time()  # LATEST, pinned: records that arrive from now on
        closed = [
            s["ShardId"] for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]
        ]
        return {
            "shards": {s["ShardId"]: {"at_ts": now} for s in shards if s["ShardId"] not in closed},
            "finished": closed,
        }

    def getDefaultReadLimit(self) -> Any:
        return ReadMaxRows(self.max_per_shard * max(1, len(self._shards())))

    def latestOffset(self, start: dict[str, Any], limit: Any) -> dict[str, Any]:
        if self._available_now and self._drained:
            return start
        max_rows = getattr(limit, "maxRows", None)
        budget = int(max_rows) if max_rows is not None else None
        per_shard = self.max_per_shard
        if self._available_now:
            self._drained = True
            budget, per_shard = None, 10**9
        positions: dict[str, dict[str, Any]] = dict(start["shards"])
        finished = set(start.get("finished", []))
        self._read = {}
        for shard in self._shards():
            sid = shard["ShardId"]
            if sid in finished:
                continue
            parents = [
                p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p
            ]
            if any(p in positions and p not in finished for p in parents):
                continue  # parents first: keys stay in order across resharding
            pos = positions.get(sid, {"trim": True})  # a child: from its first record
            cap = per_shard if budget is None else min(per_shard, budget)
            if cap <= 0:
                break
            records, ended = read_shard(self.kin, self.stream, sid, pos, cap)
            if records:
                positions[sid] = {"after": records[-1]["SequenceNumber"]}
                self._read[sid] = (pos, _rows(self.stream, sid, records))
                if budget is not None:
                    budget -= len(records)
            else:
                positions.setdefault(sid, pos)
            if ended:
                finished.add(sid)
        return {"shards": positions, "finished": sorted(finished)}

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[InputPartition]:
        parts: list[InputPartition] = []
        for sid, pos in end["shards"].items():
            before = start["shards"].get(sid, {"trim": True})
            if pos == before or "after" not in pos:
                continue
            cached = self._read.get(sid)
            rows = cached[1] if cached is not None and cached[0] == before else None
            parts.append(ShardRange(sid, before, str(pos["after"]), rows))
        return parts

    def read(self, partition: InputPartition) -> Any:
        assert isinstance(partition, ShardRange)
        if partition.records is not None:
            yield from partition.records
            return
        # a replay after a failure: the range again, from Kinesis
        kin = _client(self.options)
        records, _ended = read_shard(
            kin, self.stream, partition.shard, partition.start, 10**9, partition.end_seq
        )
        yield from _rows(self.stream, partition.shard, records)

    def commit(self, end: dict[str, Any]) -> None:
        """Spark's checkpoint holds the offsets; nothing to keep here."""
