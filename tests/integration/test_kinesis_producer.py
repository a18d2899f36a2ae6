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
