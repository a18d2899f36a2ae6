"""The Spark Kinesis source (spark/kinesis_source.py) against the emulator with a real
SparkSession: every record once across a restart from Spark's checkpoint and a split (parents
first), LATEST pinned at the first start, KPL aggregates split, micro-batches bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import clients, profiles
from sim.kinesis.producer import Producer

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark(
    private_profile: profiles.Profile, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from spark import session
    from spark.kinesis_source import register
    from tests.conftest import settings_for

    cfg = settings_for(tmp_path_factory.mktemp("spark-state"))
    s = session.get_session(private_profile, cfg, app_name="kinesis-source-tests")
    register(s)
    yield s
    session.stop()


def run_once(spark: Any, prof: profiles.Profile, stream: str, base: Path, **opts: str) -> Any:
    """One availableNow run of the query into Parquet; the output as JSON numbers."""
    from spark.kinesis_source import options_for

    df = spark.readStream.format("kinesis").options(**options_for(prof, stream, **opts)).load()
    q = (
        df.selectExpr("shardId", "sequenceNumber", "partitionKey", "cast(data as string) as data")
        .writeStream.format("parquet")
        .option("checkpointLocation", str(base / "checkpoint"))
        .option("path", str(base / "out"))
        .trigger(availableNow=True)
        .start()
    )
    assert q.awaitTermination(180)
    return q


def numbers(spark: Any, base: Path) -> list[int]:
    return [json.loads(r.data)["n"] for r in spark.read.parquet(str(base / "out")).collect()]


def test_every_record_once_across_a_restart_and_a_split(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    kin = clients.client("kinesis", private_profile)
    stream = unique("spark")
    kin.create_stream(StreamName=stream, ShardCount=2)
    send = Producer(kin, stream, ordered=True)

    def produce(lo: int, hi: int) -> None:
        send.put((json.dumps({"n": i}).encode(), f"k{i % 5}") for i in range(lo, hi))

    produce(0, 300)
    run_once(spark, private_profile, stream, tmp_path, startingPosition="TRIM_HORIZON")
    assert sorted(numbers(spark, tmp_path)) == list(range(300))
    produce(300, 500)
    first = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    kin.split_shard(StreamName=stream, ShardToSplit=first, NewStartingHashKey=str(2**126))
    produce(500, 600)
    # a new run of the query: from Spark's checkpoint, not from the start
    run_once(spark, private_profile, stream, tmp_path, startingPosition="TRIM_HORIZON")
    got = numbers(spark, tmp_path)
    assert sorted(got) == list(range(600))  # nothing lost, nothing twice
    rows = spark.read.parquet(str(tmp_path / "out")).collect()
    children = {r.shardId for r in rows} - {s["ShardId"] for s in kin.list_shards(
        StreamName=stream, ShardFilter={"Type": "AT_TRIM_HORIZON"})["Shards"]}  # fmt: skip
    assert children  # the split's children were read too


def test_latest_is_pinned_at_the_first_start_and_kpl_records_are_split(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    kin = clients.client("kinesis", private_profile)
    stream = unique("latest")
    kin.create_stream(StreamName=stream, ShardCount=1)
    Producer(kin, stream).put((json.dumps({"n": -i}).encode(), "k") for i in range(1, 6))
    run_once(spark, private_profile, stream, tmp_path, startingPosition="LATEST")
    assert not (tmp_path / "out").exists() or numbers(spark, tmp_path) == []
    Producer(kin, stream, aggregate=True).put(
        (json.dumps({"n": i}).encode(), f"u{i % 3}") for i in range(50)
    )
    run_once(spark, private_profile, stream, tmp_path, startingPosition="LATEST")
    assert sorted(numbers(spark, tmp_path)) == list(range(50))  # user records, none before


def test_micro_batches_are_bounded_per_shard(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    """maxRecordsPerShard (Spark's ReadMaxRows): a continuous query takes at most that many
    records of each shard per micro-batch, and gets through all of them."""
    from spark.kinesis_source import options_for

    kin = clients.client("kinesis", private_profile)
    stream = unique("bound")
    kin.create_stream(StreamName=stream, ShardCount=2)
    Producer(kin, stream).put((json.dumps({"n": i}).encode(), f"k{i}") for i in range(500))
    df = (
        spark.readStream.format("kinesis")
        .options(
            **options_for(
                private_profile, stream, startingPosition="TRIM_HORIZON", maxRecordsPerShard="100"
            )
        )  # fmt: skip
        .load()
    )
    q = (
        df.selectExpr("cast(data as string) as data")
        .writeStream.format("parquet")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .option("path", str(tmp_path / "out"))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        q.processAllAvailable()
    finally:
        q.stop()
    sizes = [p["numInputRows"] for p in q.recentProgress if p["numInputRows"]]
    assert sum(sizes) == 500 and max(sizes) <= 200 and len(sizes) >= 3
    assert sorted(numbers(spark, tmp_path)) == list(range(500))
