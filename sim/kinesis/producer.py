"""A Kinesis producer that does what the developer guide asks of one: batch records into
PutRecords calls (at most 500 records and 5 MiB a call), resend only the entries that failed
(ProvisionedThroughputExceededException, InternalFailure) with exponential backoff and full
jitter, and, when asked, keep each partition key's records in order.

Why ordering needs care: PutRecords processes its entries independently, so when an entry of key
K fails and a later entry of K succeeds, resending the failed one puts it after the later one
(docs: "Retrying failed entries can reorder a key"). ``ordered=True`` sends at most one record
per key in each call, the next only once the previous was acknowledged.

``aggregate=True`` packs small user records into KPL aggregates first (``sim.kinesis.kpl``),
as the Kinesis Producer Library does, so a shard takes far more than 1,000 of them a second.

Works against any profile: pass a boto3 Kinesis client from ``sim.clients``.
https://docs.aws.amazon.com/streams/latest/dev/developing-producers-with-sdk.html
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.kinesis import kpl

MAX_RECORDS = 500
MAX_BYTES = 5 * 1024 * 1024
RETRYABLE = {"ProvisionedThroughputExceededException", "InternalFailure"}


class ProducerError(RuntimeError):
    """Records could not be delivered within ``max_attempts``; ``pending`` holds them."""

    def __init__(self, message: str, pending: list[tuple[bytes, str]]) -> None:
        super().__init__(message)
        self.pending = pending


@dataclass
class ProducerStats:
    sent: int = 0  # records acknowledged (with aggregate=True: KPL aggregates)
    user_records: int = 0  # with aggregate=True: the user records packed into them
    calls: int = 0  # PutRecords calls made
    retried: int = 0  # entries resent after a per-record failure
    throttled: int = 0  # of those, ProvisionedThroughputExceededException
    # records acknowledged per shard (where the partition keys landed: a hot shard shows)
    shards: Counter[str] = field(default_factory=Counter)
    # the newest acknowledged sequence number per shard (bounded: one per shard)
    last_sequence_number: dict[str, str] = field(default_factory=dict)


class Producer:
    """Batches and sends records ``(data, partition_key)`` to ``stream``."""

    def __init__(
        self,
        client: Any,
        stream: str,
        *,
        ordered: bool = False,
        aggregate: bool = False,
        max_attempts: int = 10,
        base_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if ordered and aggregate:
            raise ValueError(
                "ordered=True and aggregate=True do not mix: an aggregate carries many keys "
                "in one record, so a key's order is kept only within it"
            )
        self.client = client
        self.stream = stream
        self.ordered = ordered
        self.aggregate = aggregate
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stats = ProducerStats()

    def _batch(self, pending: deque[tuple[bytes, str]]) -> list[tuple[bytes, str]]:
        """The next call's entries, taken from the front of ``pending`` (order kept)."""
        batch: list[tuple[bytes, str]] = []
        size = 0
        keys: set[str] = set()
        skipped: list[tuple[bytes, str]] = []
        while pending and len(batch) < MAX_RECORDS:
            data, key = pending[0]
            n = len(data) + len(key.encode())
            if batch and size + n > MAX_BYTES:
                break
            pending.popleft()
            if self.ordered and key in keys:
                skipped.append((data, key))  # this key already has one record in the call
                continue
            keys.add(key)
            batch.append((data, key))
            size += n
        pending.extendleft(reversed(skipped))
        return batch

    def put(self, records: Iterable[tuple[bytes, str]]) -> ProducerStats:
        """Send every record; returns the running stats. Raises ProducerError after
        ``max_attempts`` calls without progress (the undelivered records attached)."""
        if self.aggregate:
            packed = list(kpl.aggregate(records))
            self.stats.user_records += sum(n for *_, n in packed)
            pending: deque[tuple[bytes, str]] = deque((d, k) for d, k, _e, _n in packed)
        else:
            pending = deque(records)
        attempt = 0
        while pending:
            batch = self._batch(pending)
            resp = self.client.put_records(
                StreamName=self.stream,
                Records=[{"Data": d, "PartitionKey": k} for d, k in batch],
            )
            self.stats.calls += 1
            failed: list[tuple[bytes, str]] = []
            for (data, key), entry in zip(batch, resp["Records"], strict=True):
                code = entry.get("ErrorCode")
                if code is None:
                    self.stats.sent += 1
                    self.stats.shards[entry["ShardId"]] += 1
                    self.stats.last_sequence_number[entry["ShardId"]] = entry["SequenceNumber"]
                    continue
                if code not in RETRYABLE:
                    raise ProducerError(f"{code}: {entry.get('ErrorMessage')}", [(data, key)])
                self.stats.retried += 1
                self.stats.throttled += code == "ProvisionedThroughputExceededException"
                failed.append((data, key))
            if failed:
                # Failed entries go back to the front, in their order: in ordered mode they
                # are their keys' heads, so nothing later of those keys has been sent.
                pending.extendleft(reversed(failed))
                attempt = attempt + 1 if len(failed) == len(batch) else 0
                if attempt >= self.max_attempts:
                    raise ProducerError(
                        f"{len(pending)} records not delivered after {attempt} attempts",
                        list(pending),
                    )
                cap = min(self.max_delay_s, self.base_delay_s * 2 ** max(attempt, 1))
                self.sleep(self.rng.uniform(0, cap))  # full jitter
            else:
                attempt = 0
        return self.stats
