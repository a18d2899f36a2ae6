"""The Kinesis domain model (issue 13, first slice): routing, sequence numbers, durable
per-shard logs, limits and iterators on the emulator clock. Not yet served over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.emulator import recordlog
from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError
from sim.emulator.providers.kinesis import model
from sim.emulator.providers.kinesis.model import KinesisBackend, Limits


@pytest.fixture()
def clock(tmp_path: Path) -> Clock:
    c = Clock(1.0)
    c.set_speed(0.000001)  # practically frozen: the test moves it with advance()
    return c


def backend(tmp_path: Path, clock: Clock, **kw: object) -> KinesisBackend:
    return KinesisBackend(tmp_path / "kinesis", clock, **kw)  # type: ignore[arg-type]


def put(k: KinesisBackend, stream: str, n: int, key: str = "k") -> list[model.PutResult]:
    return k.put_records(stream, [(f"r{i}".encode(), key, None) for i in range(n)])


def test_routing_sequence_numbers_and_order(tmp_path: Path, clock: Clock) -> None:
    k = backend(tmp_path, clock)
    st = k.create_stream("s", 4)
    assert [s.id for s in st.shards] == [f"shardId-00000000000{i}" for i in range(4)]
    assert st.shards[0].start_hash == 0 and st.shards[-1].end_hash == 2**128 - 1
    res = k.put_records("s", [(b"%d" % i, f"user-{i % 7}", None) for i in range(300)])
    assert all(r.sequence_number and len(r.sequence_number) == 56 for r in res)
    by_key: dict[str, set[str]] = {}
    for i, r in enumerate(res):
        by_key.setdefault(f"user-{i % 7}", set()).add(r.shard_id)
    assert all(len(v) == 1 for v in by_key.values())  # a key always lands on one shard
    hk = model.hash_key("user-3")
    assert next(s for s in st.shards if s.start_hash <= hk <= s.end_hash).id == res[3].shard_id
    explicit = k.put_records("s", [(b"x", "any", str(2**128 - 1))])[0]
    assert explicit.shard_id == "shardId-000000000003"
    for shard in st.shards:
        it = k.iterator("s", shard.id, "TRIM_HORIZON")
        got = k.get_records(it).records
        seqs = [int(s) for s, _ in got]
        assert seqs == sorted(seqs)  # strictly ordered within the shard
    with pytest.raises(AwsError) as e:
        k.create_stream("s", 1)
    assert e.value.code == "ResourceInUseException"
    with pytest.raises(AwsError) as e:
        k.put_records("nope", [(b"x", "k", None)])
    assert e.value.code == "ResourceNotFoundException"


def test_acknowledged_records_survive_a_restart_and_a_torn_frame_is_cut(
    tmp_path: Path, clock: Clock
) -> None:
    k = backend(tmp_path, clock)
    k.create_stream("s", 1)
    acked = put(k, "s", 50)
    log_file = next((tmp_path / "kinesis" / "s" / "shardId-000000000000").glob("*.log"))
    k.close()
    with open(log_file, "ab") as fh:  # a write the process died in the middle of
        fh.write(b"\x40\x00\x00\x00\x33\x00")
    again = backend(tmp_path, clock)
    got = again.get_records(again.iterator("s", "shardId-000000000000", "TRIM_HORIZON")).records
    assert [s for s, _ in got] == [r.sequence_number for r in acked]
    assert [r.data for _, r in got] == [f"r{i}".encode() for i in range(50)]
    more = put(again, "s", 1)[0]  # appending goes on after the cut
    assert int(more.sequence_number) == int(acked[-1].sequence_number) + 1


def test_write_limit_throttles_per_record_inside_the_call(tmp_path: Path, clock: Clock) -> None:
    k = backend(tmp_path, clock)
    k.create_stream("s", 1)
    results = put(k, "s", 500) + put(k, "s", 500) + put(k, "s", 500)
    failed = [r for r in results if r.error_code]
    assert len(failed) == 500 and {r.error_code for r in failed} == {
        "ProvisionedThroughputExceededException"
    }
    assert "Rate exceeded for shard shardId-000000000000" in failed[0].error_message
    clock.advance(1.0)
    assert not any(r.error_code for r in put(k, "s", 500))  # a second later: room again
    relaxed = backend(tmp_path / "relaxed", clock, limits=Limits(enforce=False))
    relaxed.create_stream("s", 1)
    assert not any(r.error_code for r in put(relaxed, "s", 500) * 4)


def test_validation_as_aws_words_it(tmp_path: Path, clock: Clock) -> None:
    k = backend(tmp_path, clock)
    k.create_stream("s", 1)
    cases = [
        ([(b"x", "k", None)] * 501, "less than or equal to 500"),
        ([(b"x" * (1024 * 1024), "k", None)], "less than or equal to 1048576"),
        ([(b"x", "", None)], "length between 1 and 256"),
        ([(b"x", "k", "-1")], "Invalid ExplicitHashKey"),
    ]
    for entries, message in cases:
        with pytest.raises(AwsError) as e:
            k.put_records("s", entries)
        assert e.value.code == "InvalidArgumentException" and message in e.value.message


def test_read_limits_and_iterator_expiry_on_the_clock(tmp_path: Path, clock: Clock) -> None:
    k = backend(tmp_path, clock)
    k.create_stream("s", 1)
    put(k, "s", 10)
    it = k.iterator("s", "shardId-000000000000", "TRIM_HORIZON")
    for _ in range(5):
        k.get_records(it, limit=1)
    with pytest.raises(AwsError) as e:  # the 6th call in the same second
        k.get_records(it, limit=1)
    assert e.value.code == "ProvisionedThroughputExceededException"
    clock.advance(1.0)
    out = k.get_records(it, limit=3)
    assert len(out.records) == 3 and out.next_iterator
    clock.advance(301)
    with pytest.raises(AwsError) as e:
        k.get_records(out.next_iterator)
    assert e.value.code == "ExpiredIteratorException"
    fresh = k.iterator("s", "shardId-000000000000", "AFTER_SEQUENCE_NUMBER", out.records[-1][0])
    assert [r.data for _, r in k.get_records(fresh).records] == [
        b"r3",
        b"r4",
        b"r5",
        b"r6",
        b"r7",
        b"r8",
        b"r9",
    ]
    latest = k.iterator("s", "shardId-000000000000", "LATEST")
    assert k.get_records(latest).records == []


def test_retention_really_removes_old_records(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recordlog, "SEGMENT_BYTES", 200)  # a segment every few records
    k = backend(tmp_path, clock, limits=Limits(enforce=False))
    k.create_stream("s", 1)
    old = put(k, "s", 20)
    clock.advance(25 * 3600)
    put(k, "s", 5)
    assert k.expire() > 0
    it = k.iterator("s", "shardId-000000000000", "TRIM_HORIZON")
    got = k.get_records(it).records
    assert got and int(got[0][0]) > int(old[0].sequence_number)
    assert len(got) < 25
    at = k.iterator("s", "shardId-000000000000", "AT_TIMESTAMP", timestamp=clock.now() - 10)
    assert [r.data for _, r in k.get_records(at).records] == [b"r0", b"r1", b"r2", b"r3", b"r4"]


def test_records_past_retention_are_never_returned(tmp_path: Path, clock: Clock) -> None:
    """Segments go whole, but a read never returns a record older than the retention."""
    k = backend(tmp_path, clock, limits=Limits(enforce=False))
    k.create_stream("s", 1)
    put(k, "s", 5)
    clock.advance(23 * 3600)
    put(k, "s", 3)
    clock.advance(1.5 * 3600)  # the first five are now 24.5 h old
    it = k.iterator("s", "shardId-000000000000", "TRIM_HORIZON")
    assert [r.data for _, r in k.get_records(it).records] == [b"r0", b"r1", b"r2"]
