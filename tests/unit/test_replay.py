"""sim.kinesis.replay: the pacing of `bdlab produce` on a fake clock, and its record sources."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from sim.kinesis import replay


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        assert s > 0
        self.now += s


def test_rate_times_seconds_in_one_call_per_tick() -> None:
    clock, calls = FakeClock(), []
    records = ((b"x", str(i)) for i in range(10_000))
    sent = replay.paced(records, 100, 3, lambda b: calls.append(len(b)), clock=clock,
                        sleep=clock.sleep)  # fmt: skip
    assert sent == sum(calls) == 300
    assert calls[0] == 1 and max(calls) <= 21 and len(calls) <= 17  # ~5 calls a second
    assert clock.now == pytest.approx(3, abs=0.25)


def test_a_slow_sender_is_caught_up_and_the_source_may_end_first() -> None:
    clock, calls = FakeClock(), []

    def slow(batch: list[tuple[bytes, str]]) -> None:
        calls.append(len(batch))
        clock.now += 1.0  # each call takes a second

    assert replay.paced(((b"x", "k") for _ in range(1000)), 50, 4, slow, clock=clock,
                        sleep=clock.sleep) == 200  # fmt: skip
    assert calls == [1, 60, 60, 60, 19]  # what fell due during each call goes in the next
    assert replay.paced(iter([(b"a", "1"), (b"b", "2")]), 10, None, slow, clock=clock) == 2
    with pytest.raises(ValueError, match="rate"):
        replay.paced([], 0, 1, slow)


def test_sources_clickstream_json_and_file_lines(tmp_path: Path) -> None:
    events = [json.loads(d) for d, _ in islice(replay.clickstream_records(seed=5), 3)]
    assert set(events[0]) == set(replay.COLUMNS) and events[0]["event_time"].endswith("+00:00")
    assert len({e["event_id"] for e in events}) == 3
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 1}\n\n{"a": 2}\r\n')
    assert list(replay.file_records(f)) == [(b'{"a": 1}', "1"), (b'{"a": 2}', "3")]
