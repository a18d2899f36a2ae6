"""Enhanced fan-out: RegisterStreamConsumer and SubscribeToShard over the event stream, with
real boto3 (HTTP/1.1; the KCL interop test covers HTTP/2 and CBOR). The subscription's rules
run on the emulator clock, which these tests advance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin

pytestmark = pytest.mark.integration
SHARD0 = "shardId-000000000000"


@pytest.fixture()
def kin(private_profile: profiles.Profile) -> Any:
    return clients.client("kinesis", private_profile, retries=False)


@pytest.fixture()
def consumer(kin: Any, unique: Any) -> Iterator[tuple[str, str]]:
    name = unique("efo")
    kin.create_stream(StreamName=name, ShardCount=1)
    arn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    c = kin.register_stream_consumer(StreamARN=arn, ConsumerName="app")["Consumer"]
    yield name, c["ConsumerARN"]
    kin.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def put(kin: Any, stream: str, tag: str, n: int) -> None:
    kin.put_records(
        StreamName=stream,
        Records=[{"Data": f"{tag}{i}".encode(), "PartitionKey": "k"} for i in range(n)],
    )


def events(sub: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for ev in sub["EventStream"]:
        yield ev["SubscribeToShardEvent"]


def test_records_are_pushed_as_they_arrive_and_continuation_resumes(
    kin: Any, consumer: tuple[str, str], private_profile: profiles.Profile
) -> None:
    stream, arn = consumer
    put(kin, stream, "a", 5)
    sub = kin.subscribe_to_shard(
        ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "TRIM_HORIZON"}
    )
    it = events(sub)
    first = next(it)
    assert [r["Data"] for r in first["Records"]] == [f"a{i}".encode() for i in range(5)]
    assert first["ContinuationSequenceNumber"] == first["Records"][-1]["SequenceNumber"]
    put(kin, stream, "b", 3)  # pushed to the open subscription, no call needed
    got: list[bytes] = []
    last = first
    while len(got) < 3:
        last = next(it)
        got += [r["Data"] for r in last["Records"]]
    assert got == [b"b0", b"b1", b"b2"]
    sub["EventStream"].close()

    # after 5 s (emulator clock) a new subscription may continue where the first stopped
    Admin.of(private_profile).set_clock(advance=6)
    put(kin, stream, "c", 2)
    again = kin.subscribe_to_shard(
        ConsumerARN=arn,
        ShardId=SHARD0,
        StartingPosition={
            "Type": "AFTER_SEQUENCE_NUMBER",
            "SequenceNumber": last["ContinuationSequenceNumber"],
        },
    )
    assert [r["Data"] for r in next(events(again))["Records"]] == [b"c0", b"c1"]
    again["EventStream"].close()


def test_one_subscription_per_consumer_and_shard_within_five_seconds(
    kin: Any, consumer: tuple[str, str], private_profile: profiles.Profile
) -> None:
    stream, arn = consumer
    first = kin.subscribe_to_shard(
        ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "LATEST"}
    )
    with pytest.raises(ClientError) as e:
        kin.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "LATEST"})
    assert e.value.response["Error"]["Code"] == "ResourceInUseException"
    assert "Another active subscription" in e.value.response["Error"]["Message"]
    Admin.of(private_profile).set_clock(advance=6)
    second = kin.subscribe_to_shard(
        ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "LATEST"}
    )
    put(kin, stream, "n", 1)
    # the newer subscription ends the older one: its event stream finishes, empty-handed
    assert [r for ev in events(first) for r in ev["Records"]] == []
    got = next(ev for ev in events(second) if ev["Records"])
    assert [r["Data"] for r in got["Records"]] == [b"n0"]
    second["EventStream"].close()


def test_a_subscription_lasts_five_minutes_of_the_emulator_clock(
    kin: Any, consumer: tuple[str, str], private_profile: profiles.Profile
) -> None:
    stream, arn = consumer
    sub = kin.subscribe_to_shard(
        ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "LATEST"}
    )
    it = events(sub)
    put(kin, stream, "x", 1)
    seen = 0
    while seen < 1:
        seen += len(next(it)["Records"])
    Admin.of(private_profile).set_clock(advance=301)
    rest = list(it)  # the server ends the stream; the client resubscribes (KCL does)
    assert all(not ev["Records"] for ev in rest)


def test_end_of_a_split_shard_brings_children_and_no_continuation(
    kin: Any, consumer: tuple[str, str]
) -> None:
    stream, arn = consumer
    put(kin, stream, "p", 4)
    kin.split_shard(StreamName=stream, ShardToSplit=SHARD0, NewStartingHashKey=str(2**127))
    sub = kin.subscribe_to_shard(
        ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "TRIM_HORIZON"}
    )
    evs = list(events(sub))  # the stream ends at the shard's end
    assert [r["Data"] for ev in evs for r in ev["Records"]] == [f"p{i}".encode() for i in range(4)]
    end = evs[-1]
    assert "ContinuationSequenceNumber" not in end
    assert {c["ShardId"] for c in end["ChildShards"]} == {
        "shardId-000000000001",
        "shardId-000000000002",
    }
    assert all(c["ParentShards"] == [SHARD0] for c in end["ChildShards"])


def test_unknown_consumer_and_bad_position_get_aws_errors(
    kin: Any, consumer: tuple[str, str]
) -> None:
    _stream, arn = consumer
    with pytest.raises(ClientError) as e:
        kin.subscribe_to_shard(
            ConsumerARN=arn.replace("/consumer/app:", "/consumer/nope:"),
            ShardId=SHARD0,
            StartingPosition={"Type": "LATEST"},
        )
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kin.subscribe_to_shard(
            ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "AT_SEQUENCE_NUMBER"}
        )
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
