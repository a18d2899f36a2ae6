"""The KCL-style consumer against the emulator (issue 13, "Done when"): a consumer killed
mid-batch resumes from its checkpoint with no gap and bounded duplicates; after a split, the
parent is drained before its children. Waits fast-forward the emulator clock."""

from __future__ import annotations

from typing import Any

import pytest

from sim import clients, profiles
from sim.admin import Admin
from sim.kinesis.consumer import Consumer
from sim.kinesis.producer import Producer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


def produce(kin: Any, admin: Admin, stream: str, tag: str, n: int) -> None:
    Producer(kin, stream, sleep=lambda s: admin.set_clock(advance=max(s, 1.0))).put(
        (f"{tag}-{i:04d}".encode(), f"user-{i % 9}") for i in range(n)
    )


def test_a_consumer_killed_mid_batch_resumes_without_gaps(
    kprofile: profiles.Profile, unique: Any
) -> None:
    kin = clients.client("kinesis", kprofile, retries=False)
    ddb = clients.client("dynamodb", kprofile)
    admin = Admin.of(kprofile)
    stream, app = unique("cons"), unique("app")
    kin.create_stream(StreamName=stream, ShardCount=2)
    produce(kin, admin, stream, "r", 300)
    durable: list[bytes] = []  # the consumer's output (a file or table in real life)
    batches = [0]

    def crashing(shard: str, records: list[dict[str, Any]]) -> None:
        durable.extend(r["Data"] for r in records)  # output made durable...
        batches[0] += 1
        if batches[0] == 3:
            raise RuntimeError("killed before the checkpoint")  # ...but not checkpointed

    sleep = lambda s: admin.set_clock(advance=s)  # noqa: E731
    first = Consumer(kin, ddb, stream, app, crashing, owner="worker-1", batch_limit=40, sleep=sleep)
    with pytest.raises(RuntimeError, match="killed"):
        first.run()
    restarted = Consumer(
        kin,
        ddb,
        stream,
        app,
        lambda s, rs: durable.extend(r["Data"] for r in rs),
        owner="worker-1",
        batch_limit=40,
        sleep=sleep,
    )
    restarted.run(idle_passes=2)
    expected = {f"r-{i:04d}".encode() for i in range(300)}
    assert set(durable) == expected  # no gap
    duplicates = len(durable) - len(expected)
    assert 0 < duplicates <= 40  # the unfinished batch, once
    kin.delete_stream(StreamName=stream)


def test_after_a_split_the_parent_is_drained_before_its_children(
    kprofile: profiles.Profile, unique: Any
) -> None:
    kin = clients.client("kinesis", kprofile, retries=False)
    ddb = clients.client("dynamodb", kprofile)
    admin = Admin.of(kprofile)
    stream = unique("split")
    kin.create_stream(StreamName=stream, ShardCount=1)
    produce(kin, admin, stream, "before", 120)
    kin.split_shard(
        StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    produce(kin, admin, stream, "after", 120)
    seen: list[tuple[str, bytes]] = []
    consumer = Consumer(
        kin,
        ddb,
        stream,
        unique("app"),
        lambda shard, rs: seen.extend((shard, r["Data"]) for r in rs),
        batch_limit=50,
        sleep=lambda s: admin.set_clock(advance=s),
    )
    stats = consumer.run(idle_passes=2)
    assert len(seen) == 240 and stats.shards_finished == 1
    first_child = next(i for i, (shard, _) in enumerate(seen) if shard != "shardId-000000000000")
    assert all(shard == "shardId-000000000000" for shard, _ in seen[:first_child])
    assert {d for _, d in seen[:first_child]} == {f"before-{i:04d}".encode() for i in range(120)}
    kin.delete_stream(StreamName=stream)


def test_kpl_aggregates_go_past_the_record_limit_and_arrive_as_user_records(
    kprofile: profiles.Profile, unique: Any
) -> None:
    """5,000 small records into one shard at once: as plain records the shard takes 1,000 a
    second; packed into KPL aggregates it takes them in a few records, and the consumer
    hands the processor the 5,000 user records, keys and order intact."""
    kin = clients.client("kinesis", kprofile, retries=False)
    ddb = clients.client("dynamodb", kprofile)
    admin = Admin.of(kprofile)
    stream = unique("kpl")
    kin.create_stream(StreamName=stream, ShardCount=1)
    users = [(f"click-{i:05d}".encode(), f"user-{i % 50}") for i in range(5000)]
    stats = Producer(kin, stream, aggregate=True).put(users)
    assert stats.user_records == 5000 and stats.sent < 10 and stats.throttled == 0
    kin.put_record(StreamName=stream, Data=b"plain", PartitionKey="p")  # mixed in: untouched
    seen: list[tuple[bytes, str]] = []
    Consumer(
        kin,
        ddb,
        stream,
        unique("app"),
        lambda _s, rs: seen.extend((r["Data"], r["PartitionKey"]) for r in rs),
        sleep=lambda s: admin.set_clock(advance=s),
    ).run()
    assert seen == [*users, (b"plain", "p")]
    with pytest.raises(ValueError, match="do not mix"):
        Producer(kin, stream, aggregate=True, ordered=True)
