"""One token bucket for every rate limit the emulator enforces (Kinesis per-shard limits on the
emulator clock, the S3 cost model's request rates on the wall clock): the caller passes ``now``,
so the same bucket serves either clock."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, holding at most one second of them; starts full."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.tokens, self.at = rate, rate, now

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now

    def take(self, amount: float, now: float) -> bool:
        """Take ``amount`` tokens if there are that many (refilled to ``now`` first)."""
        self.refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False
