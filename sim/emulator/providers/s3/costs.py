"""An opt-in, AWS-like cost model for S3 requests, so that performance lessons measure the
direction AWS shows instead of what a local disk shows (a local copy costs nothing; on S3 a
COPY costs about as much as rewriting the data).

Off by default (``POST /_bdlab/costs {"model": "aws"}`` turns it on; lab 1.3.6 does for its
committer comparison). When on, every S3 request waits, in wall-clock time (it models
performance, not simulated time):

- ``first_byte_s`` per request: 0.030 s. AWS: small requests (< 512 KB) have a median latency
  "in the tens of milliseconds" (whitepaper "Best Practices Design Patterns: Optimizing Amazon
  S3 Performance", Timeouts and Retries for Latency-Sensitive Applications).
- plus ``bytes / throughput_bps`` for the bytes a request moves, 88 MB/s per request. AWS:
  "make one concurrent request for each 85-90 MB/s of desired network throughput" (S3 user
  guide, Performance guidelines, Horizontal scaling).
- CopyObject and UploadPartCopy move the source's bytes inside S3 at the same rate: a copy
  costs about as much as rewriting the data (Hadoop S3A: "renaming files and directories in an
  object store usually takes time proportional to the size of the objects").
- Request rate per bucket: 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD per second, answered
  503 SlowDown above it (S3 user guide, "Best practices design patterns: optimizing Amazon S3
  performance"). AWS applies it per partitioned prefix; a new bucket starts as one partition,
  which is what a lab's bucket is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sim.emulator.ratelimit import TokenBucket

READ_OPS = frozenset({"GetObject", "HeadObject", "HeadBucket"})
COPY_OPS = frozenset({"CopyObject", "UploadPartCopy"})
READS_PER_S = 5_500
WRITES_PER_S = 3_500
_READ_PREFIXES = ("Get", "Head", "List")


@dataclass
class CostModel:
    """The model's numbers (see the module docstring for their sources)."""

    first_byte_s: float = 0.030
    throughput_bps: float = 88e6
    reads_per_s: float = READS_PER_S
    writes_per_s: float = WRITES_PER_S
    enabled: bool = False
    _buckets: dict[tuple[str, bool], TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def state(self) -> dict[str, object]:
        return {
            "model": "aws" if self.enabled else "off",
            "first_byte_s": self.first_byte_s,
            "throughput_bps": self.throughput_bps,
            "reads_per_s": self.reads_per_s,
            "writes_per_s": self.writes_per_s,
        }

    def set(self, model: str) -> dict[str, object]:
        """``"aws"`` turns the model on, ``"off"`` off; ValueError for anything else."""
        if model not in ("aws", "off"):
            raise ValueError(f"unknown cost model {model!r}: use 'aws' or 'off'")
        self.enabled = model == "aws"
        with self._lock:
            self._buckets.clear()
        return self.state()

    @staticmethod
    def is_read(operation: str) -> bool:
        return operation in READ_OPS or operation.startswith(_READ_PREFIXES)

    def admit(self, bucket: str, operation: str) -> bool:
        """Whether the bucket's request rate allows this request now (False: SlowDown)."""
        if not self.enabled or not bucket:
            return True
        read = self.is_read(operation)
        now = time.monotonic()
        with self._lock:
            tb = self._buckets.get((bucket, read))
            if tb is None:
                tb = TokenBucket(self.reads_per_s if read else self.writes_per_s, now)
                self._buckets[(bucket, read)] = tb
            return tb.take(1, now)

    def delay_s(self, operation: str, moved_bytes: int) -> float:
        """Seconds one request takes under the model: first byte plus the bytes it moves
        (for a copy: the source's size). 0 when the model is off."""
        if not self.enabled:
            return 0.0
        return self.first_byte_s + max(0, moved_bytes) / self.throughput_bps
