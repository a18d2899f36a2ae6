"""The producer against the real emulator with AWS's limits on (issue 13, "Done when"):
throttled entries are retried with none lost; a naive resend reorders a key while the ordered
producer does not. Backoff sleeps fast-forward the emulator clock instead of waiting."""

from __future__ import annotations

from typing import Any

import pytest

from sim import clients, profiles
from sim.admin import Admin
from sim.kinesis.producer import Producer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


def records() -> list[tuple[bytes, str]]:
    """Four keys, each a sequence of alternately big (300 KB) and small records: the 1 MB/s
    byte budget refuses a big one while a later small one of the same key still fits."""
    out = []
    for n in range(12):
        for key in ("k0", "k1", "k2", "k3"):
            size = 300_000 if n % 2 == 0 else 1_000
            out.append((f"{key}:{n:02d}:".encode() + b"x" * size, key))
    return out


def read_back(kin: Any, admin: Admin, stream: str) -> list[bytes]:
    """Every record's "key:nn" prefix, reading as a consumer must: a throttled read waits (the
    clock is fast-forwarded) and tries again."""
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    out: list[bytes] = []
    while True:
        try:
            r = kin.get_records(ShardIterator=it)
        except kin.exceptions.ProvisionedThroughputExceededException:
            admin.set_clock(advance=1.0)
            continue
        out += [x["Data"][:5] for x in r["Records"]]
        if r["MillisBehindLatest"] == 0 and not r["Records"]:
            return out
        it = r["NextShardIterator"]


def per_key(seen: list[bytes]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for item in seen:
        key, n = item.decode().split(":")[:2]
        out.setdefault(key, []).append(int(n))
    return out


@pytest.mark.parametrize("ordered", [False, True])
def test_retries_lose_nothing_and_only_the_ordered_producer_keeps_key_order(
    kprofile: profiles.Profile, unique: Any, ordered: bool
) -> None:
    kin = clients.client("kinesis", kprofile, retries=False)
    admin = Admin.of(kprofile)
    stream = unique("prod")
    kin.create_stream(StreamName=stream, ShardCount=1)
    producer = Producer(
        kin, stream, ordered=ordered, sleep=lambda s: admin.set_clock(advance=max(s, 0.2))
    )
    sent = records()
    stats = producer.put(sent)
    assert stats.sent == len(sent) and stats.throttled > 0  # the limits really bit
    orders = per_key(read_back(kin, admin, stream))
    assert sorted(n for ns in orders.values() for n in ns) == sorted(
        n for n in range(12) for _ in range(4)
    )  # every record, once
    in_order = all(ns == sorted(ns) for ns in orders.values())
    assert in_order == ordered, orders
    kin.delete_stream(StreamName=stream)


def test_hot_shard_fault_throttles_one_shard_and_the_producer_gets_through(
    private_profile: Any, unique: Any
) -> None:
    """The fault knob hot_shard makes one shard refuse most writes (as if other producers
    filled it): only its entries fail, per record; retries deliver every record."""
    admin = Admin.of(private_profile)
    kin = clients.client("kinesis", private_profile, retries=False)
    name = unique("hot")
    kin.create_stream(StreamName=name, ShardCount=2)
    admin.set_faults("kinesis", hot_shard="shardId-000000000000", hot_shard_rate=0.8)
    try:
        out = kin.put_records(
            StreamName=name,
            Records=[{"Data": b"x", "PartitionKey": f"k{i}"} for i in range(200)],
        )
        failed = [r for r in out["Records"] if "ErrorCode" in r]
        ok_shards = {r["ShardId"] for r in out["Records"] if "ShardId" in r}
        assert failed and all(
            r["ErrorCode"] == "ProvisionedThroughputExceededException" for r in failed
        )
        assert "shardId-000000000001" in ok_shards  # the other shard takes everything
        stats = Producer(kin, name, sleep=lambda s: None, max_attempts=50).put(
            (f"r{i}".encode(), f"k{i}") for i in range(300)
        )
        assert stats.sent == 300 and stats.throttled > 0
    finally:
        admin.reset_faults()
