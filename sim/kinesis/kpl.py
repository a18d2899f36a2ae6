"""KPL record aggregation: many small user records packed into one Kinesis record (the
Kinesis Producer Library's format: a magic number, a protobuf AggregatedRecord, an MD5), and
the way back. Aggregation is how producers get past the 1,000 records/s per shard limit with
small records; every consumer (KCL, Lambda, Firehose) deaggregates.
https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-concepts.html#kinesis-kpl-concepts-aggretation

The format is AWS's library aws-kinesis-agg (kept by AWS); this module only adapts it to
boto3's record shape (``Data`` as bytes, capitalised keys).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

from aws_kinesis_agg import MAGIC
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

Record = dict[str, Any]  # as boto3's GetRecords returns one


def is_aggregated(data: bytes) -> bool:
    """Whether ``data`` starts with the KPL aggregation magic number."""
    return data[: len(MAGIC)] == MAGIC


def aggregate(
    records: Iterable[tuple[bytes, str]], max_bytes: int = 1024 * 1024
) -> Iterator[tuple[bytes, str, str | None, int]]:
    """Pack ``(data, partition_key)`` user records into KPL records of at most ``max_bytes``:
    yields ``(data, partition_key, explicit_hash_key, user_records)`` for PutRecords. The
    aggregate's partition key is its first user record's (the KPL's rule), so all of it lands
    on that key's shard."""
    agg = RecordAggregator(max_size=max_bytes)

    def out(rec: Any) -> tuple[bytes, str, str | None, int]:
        pk, ehk, data = rec.get_contents()
        return data, pk, ehk or None, rec.get_num_user_records()

    for data, key in records:
        full = agg.add_user_record(key, data)
        if full is not None:
            yield out(full)
    last = agg.clear_and_get()
    if last is not None and last.get_num_user_records():
        yield out(last)


def deaggregate(records: Iterable[Record]) -> list[Record]:
    """boto3-shaped records with every KPL aggregate split into its user records (each with
    the aggregate's ``SequenceNumber`` and its own ``SubSequenceNumber``, ``PartitionKey``
    and ``ExplicitHashKey``); other records pass through unchanged."""
    out: list[Record] = []
    for r in records:
        if not is_aggregated(r["Data"]):
            out.append(r)
            continue
        for user in iter_deaggregate_records([r], data_format="Boto3"):
            k = user["kinesis"]
            if not k.get("aggregated"):  # a damaged aggregate (bad MD5) is left whole
                out.append(r)
                break
            out.append(
                {
                    "SequenceNumber": r["SequenceNumber"],
                    "SubSequenceNumber": k["subSequenceNumber"],
                    "ApproximateArrivalTimestamp": r.get("ApproximateArrivalTimestamp"),
                    "PartitionKey": k["partitionKey"],
                    "ExplicitHashKey": k.get("explicitHashKey"),
                    "Data": base64.b64decode(k["data"]),
                }
            )
    return out
