"""KPL aggregation round trip through AWS's aws-kinesis-agg format (no network)."""

from __future__ import annotations

from sim.kinesis import kpl


def test_aggregate_then_deaggregate_gives_the_user_records_back() -> None:
    users = [(f"event-{i}".encode() * 3, f"user-{i % 7}") for i in range(2000)]
    packed = list(kpl.aggregate(users, max_bytes=50_000))
    assert 1 < len(packed) < 10  # thousands of small records in a handful of Kinesis records
    assert sum(n for *_, n in packed) == 2000
    records = [
        {
            "SequenceNumber": f"{i:056d}",
            "PartitionKey": pk,
            "Data": data,
            "ApproximateArrivalTimestamp": 0.0,
        }
        for i, (data, pk, _ehk, _n) in enumerate(packed)
    ]
    assert all(kpl.is_aggregated(r["Data"]) for r in records)
    out = kpl.deaggregate(records)
    assert [(r["Data"], r["PartitionKey"]) for r in out] == users
    first = [r for r in out if r["SequenceNumber"] == records[0]["SequenceNumber"]]
    assert [r["SubSequenceNumber"] for r in first] == list(range(len(first)))


def test_plain_and_damaged_records_pass_through_whole() -> None:
    (data, pk, _e, _n), *_ = kpl.aggregate([(b"a", "k"), (b"b", "k")])
    damaged = data[:-1] + bytes([data[-1] ^ 0xFF])  # the MD5 at the end no longer matches
    at = {"ApproximateArrivalTimestamp": 0.0}
    plain = {"SequenceNumber": "1", "PartitionKey": "p", "Data": b'{"x": 1}', **at}
    bad = {"SequenceNumber": "2", "PartitionKey": pk, "Data": damaged, **at}
    assert kpl.deaggregate([plain, bad]) == [plain, bad]
