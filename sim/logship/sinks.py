"""Where a flow's records go: a Kinesis data stream (PutRecords) or a Firehose stream
(PutRecordBatch). ``put`` returns only when every record was acknowledged, resending only the
entries that failed, so the agent may checkpoint after it; otherwise it raises
:class:`ShipError` and the caller keeps the batch to send again.

Kinesis: ``sim.kinesis.producer.Producer`` (500 records / 5 MiB a call; failed entries
resent with exponential backoff and full jitter).
https://docs.aws.amazon.com/streams/latest/dev/developing-producers-with-sdk.html

Firehose: PutRecordBatch takes at most 500 records and 4 MiB a call; failures are per record
inside an HTTP 200 (``FailedPutCount``, ``RequestResponses[i].ErrorCode``), and the
documented retry resends only those entries.
https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
Both sinks have integration tests against the emulator (the Firehose one through bdlab's
Firehose into S3) besides unit tests of the batching and retry logic.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from sim.kinesis.producer import Producer, ProducerError

FIREHOSE_MAX_RECORDS = 500
FIREHOSE_MAX_BYTES = 4 * 1024 * 1024

Record = tuple[bytes, str]  # (data, partition key); Firehose ignores the key


class ShipError(RuntimeError):
    """Records were not all acknowledged; one line saying why. Nothing was checkpointed."""


@dataclass
class SinkStats:
    calls: int = 0  # API calls made
    sent: int = 0  # records acknowledged
    retried: int = 0  # entries resent after a per-record failure
    throttled: int = 0  # of those, throttling errors


class Sink(Protocol):
    kind: str
    name: str
    stats: SinkStats

    def check(self) -> None: ...

    def put(self, records: list[Record]) -> None: ...


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


class KinesisSink:
    """PutRecords to stream ``name`` through :class:`Producer`."""

    kind = "kinesis"

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        base_delay_s: float = 0.1,
        max_delay_s: float = 10.0,
        max_attempts: int = 10,
    ) -> None:
        self.client = client
        self.name = name
        self.stats = SinkStats()
        self.producer = Producer(
            client,
            name,
            max_attempts=max_attempts,
            base_delay_s=base_delay_s,
            max_delay_s=max_delay_s,
            sleep=sleep,
            rng=rng,
        )

    def check(self) -> None:
        """ShipError when the stream does not exist or the endpoint does not answer."""
        try:
            self.client.describe_stream_summary(StreamName=self.name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ShipError(
                    f"Kinesis stream {self.name!r} does not exist: create it (aws kinesis "
                    f"create-stream --stream-name {self.name} --shard-count 1) or fix "
                    "kinesisStream in agent.json."
                ) from None
            raise ShipError(f"Kinesis stream {self.name!r}: {_one_line(exc)}") from None
        except BotoCoreError as exc:
            raise ShipError(f"Kinesis cannot be reached: {_one_line(exc)}") from None

    def put(self, records: list[Record]) -> None:
        before = (self.producer.stats.calls, self.producer.stats.sent)
        before_retry = (self.producer.stats.retried, self.producer.stats.throttled)
        try:
            self.producer.put(records)
        except ProducerError as exc:
            raise ShipError(f"Kinesis stream {self.name!r}: {exc}") from None
        except (ClientError, BotoCoreError) as exc:
            raise ShipError(f"Kinesis stream {self.name!r}: {_one_line(exc)}") from None
        finally:
            p = self.producer.stats
            self.stats.calls += p.calls - before[0]
            self.stats.sent += p.sent - before[1]
            self.stats.retried += p.retried - before_retry[0]
            self.stats.throttled += p.throttled - before_retry[1]


class FirehoseSink:
    """PutRecordBatch to Firehose stream ``name``: batches of at most 500 records and
    4 MiB, only failed entries resent (backoff with full jitter), in order otherwise."""

    kind = "firehose"

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        base_delay_s: float = 0.1,
        max_delay_s: float = 10.0,
        max_attempts: int = 10,
    ) -> None:
        self.client = client
        self.name = name
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_attempts = max_attempts
        self.stats = SinkStats()

    def check(self) -> None:
        try:
            self.client.describe_delivery_stream(DeliveryStreamName=self.name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ShipError(
                    f"Firehose stream {self.name!r} does not exist: create it or fix "
                    "deliveryStream in agent.json."
                ) from None
            raise ShipError(f"Firehose stream {self.name!r}: {_one_line(exc)}") from None
        except BotoCoreError as exc:
            raise ShipError(f"Firehose cannot be reached: {_one_line(exc)}") from None

    @staticmethod
    def batch(pending: deque[bytes]) -> list[bytes]:
        """The next call's records from the front of ``pending``: at most 500 and 4 MiB."""
        out: list[bytes] = []
        size = 0
        while pending and len(out) < FIREHOSE_MAX_RECORDS:
            n = len(pending[0])
            if out and size + n > FIREHOSE_MAX_BYTES:
                break
            out.append(pending.popleft())
            size += n
        return out

    def put(self, records: list[Record]) -> None:
        pending: deque[bytes] = deque(data for data, _ in records)
        attempt = 0
        while pending:
            batch = self.batch(pending)
            try:
                resp = self.client.put_record_batch(
                    DeliveryStreamName=self.name, Records=[{"Data": d} for d in batch]
                )
            except (ClientError, BotoCoreError) as exc:
                raise ShipError(f"Firehose stream {self.name!r}: {_one_line(exc)}") from None
            self.stats.calls += 1
            failed = []
            last_code = ""
            for data, entry in zip(batch, resp["RequestResponses"], strict=True):
                code = entry.get("ErrorCode")
                if not code:
                    self.stats.sent += 1
                    continue
                self.stats.retried += 1
                self.stats.throttled += code == "ServiceUnavailableException"
                failed.append(data)
                last_code = code
            if not failed:
                attempt = 0
                continue
            pending.extendleft(reversed(failed))
            attempt = attempt + 1 if len(failed) == len(batch) else 0
            if attempt >= self.max_attempts:
                raise ShipError(
                    f"Firehose stream {self.name!r}: {len(pending)} records not accepted "
                    f"after {attempt} attempts (last error: {last_code})."
                )
            cap = min(self.max_delay_s, self.base_delay_s * 2 ** max(attempt, 1))
            self.sleep(self.rng.uniform(0, cap))  # full jitter
