"""Records for a Kinesis stream at a steady rate: synthetic clickstream events (JSON, stamped
with the time they are sent) or the lines of a file, handed to a sender in small batches so the
rate holds whatever each call takes. ``bdlab produce`` is built on it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any, TextIO

Record = tuple[bytes, str]  # (data, partition key), as Producer.put takes them

# Columns of the events sent, as bdlab's streaming jobs read them (spark/jobs/realtime.py).
COLUMNS = (
    "event_id",
    "event_time",
    "user_id",
    "session_id",
    "event_type",
    "product_id",
    "category",
    "price",
    "quantity",
    "country",
    "device",
)


def clickstream(seed: int = 42, block: int = 5_000) -> Iterator[dict[str, Any]]:
    """Endless clickstream events (``sim.datagen.clickstream``, ``block`` generated at a
    time, ids distinct across blocks), without event_time: the sender stamps it."""
    from sim.datagen import clickstream as gen

    start = datetime.now(UTC)
    for index in range(sys.maxsize):
        table = gen.generate(
            block, start, days=1, seed=seed + index, id_offset=index * block, dim_seed=seed
        )
        cols = [c for c in COLUMNS if c != "event_time"]
        yield from table.select(cols).to_pylist()


def clickstream_records(seed: int = 42) -> Iterator[Record]:
    """Clickstream events as JSON records keyed by user_id, event_time = when produced (UTC,
    ISO 8601), so windows and freshness downstream see live data."""
    for event in clickstream(seed):
        event["event_time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        yield json.dumps(event).encode(), str(event["user_id"])


def file_records(path: str | Path, stdin: TextIO | None = None) -> Iterator[Record]:
    """One record per non-empty line of ``path`` (``-``: standard input), without its line
    end; the partition key is the line number (records spread over the shards)."""
    f = (stdin or sys.stdin) if str(path) == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(f, 1):
            text = line.rstrip("\r\n")
            if text:
                yield text.encode(), str(number)
    finally:
        if f is not stdin and f is not sys.stdin:
            f.close()


def paced(
    records: Iterable[Record],
    rate: float,
    seconds: float | None,
    send: Callable[[list[Record]], None],
    *,
    tick_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send ``records`` at ``rate`` per second (> 0) for ``seconds`` (None: until they run
    out or ``stop()``), in batches every ``tick_s``; returns how many were sent. With
    ``seconds`` given exactly ``round(rate * seconds)`` are sent unless the records run out
    first; a slow ``send`` is caught up (the rate is kept on average, not per tick)."""
    if rate <= 0:
        raise ValueError("the rate must be above 0 records a second")
    limit = math.inf if seconds is None else round(rate * seconds)
    it = iter(records)
    first = next(it, None)  # a generator's setup (imports, a first block) before the clock
    if first is None:
        return 0
    it = chain([first], it)
    sent = 0
    t0 = clock()
    while sent < limit and not stop():
        due = min(limit, math.floor(rate * (clock() - t0)) + 1)  # the first one at once
        if due > sent:
            batch = list(islice(it, int(due - sent)))
            if not batch:
                break
            send(batch)
            sent += len(batch)
        if sent < limit:
            # one call per tick, not one per record: what became due meanwhile goes together
            sleep(max(tick_s, t0 + (sent + 1) / rate - clock()))
    return sent
