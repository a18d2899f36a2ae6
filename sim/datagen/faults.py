"""Late and duplicate delivery on top of any generated table (vectorised, seeded).

Streaming labs need events whose arrival lags their event time (watermarks, late data) and
events delivered twice (at-least-once producers, retries). ``with_late_and_duplicates``
adds an ``arrival_time`` column and returns the rows in arrival order, as a consumer sees
them; event time and every id stay as generated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.datagen.clickstream import stable_order


def with_late_and_duplicates(
    table: pa.Table,
    time_col: str,
    late_fraction: float = 0.0,
    max_lateness_s: float = 600.0,
    duplicate_fraction: float = 0.0,
    seed: int = 0,
    *,
    jitter_s: float = 0.0,
    redelivery_s: float = 30.0,
    arrival_col: str = "arrival_time",
    order_by_arrival: bool = True,
) -> pa.Table:
    """``table`` plus ``arrival_col``, with late rows and duplicated rows.

    - exactly ``round(late_fraction * n)`` rows arrive late, by 1 s .. ``max_lateness_s``
      (skewed towards small delays: ``delay = 1 + (max - 1) * u**2``);
    - the other rows arrive after a uniform network jitter in [0, ``jitter_s``) (0: at once);
    - exactly ``round(duplicate_fraction * n)`` rows are delivered a second time, identical
      (same ids, same event time), ``redelivery_s`` at most after their first arrival.

    Late means ``arrival - event > jitter_s``. Rows are returned in arrival order (stable)
    unless ``order_by_arrival`` is false, in which case duplicates follow the originals.
    """
    for name, f in (("late_fraction", late_fraction), ("duplicate_fraction", duplicate_fraction)):
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {f}")
    if max_lateness_s < 1.0 and late_fraction > 0:
        raise ValueError("max_lateness_s must be >= 1 s when late_fraction > 0")
    if arrival_col in table.column_names:
        raise ValueError(f"table already has a column named {arrival_col!r}")
    col = table[time_col]
    if not pa.types.is_timestamp(col.type):
        raise ValueError(f"{time_col!r} must be a timestamp column, not {col.type}")
    n = table.num_rows
    rng = np.random.default_rng([seed, 0xFA17])
    unit = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}[col.type.unit]
    event_us = pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False) * unit
    if col.type.unit == "ns":
        event_us = event_us // 1000
    delay = np.floor(rng.random(n) * jitter_s * 1e6).astype(np.int64)
    k_late = round(late_fraction * n)
    if k_late:
        late = rng.choice(n, k_late, replace=False)
        u = rng.random(k_late)
        delay[late] = ((1.0 + (max_lateness_s - 1.0) * u * u) * 1e6).astype(np.int64)
        delay[late] = np.maximum(delay[late], int(jitter_s * 1e6) + 1)
    arrival = event_us + delay
    k_dup = round(duplicate_fraction * n)
    if k_dup:
        dup = np.sort(rng.choice(n, k_dup, replace=False))
        again = arrival[dup] + (rng.random(k_dup) * redelivery_s * 1e6).astype(np.int64) + 1
        table = pa.concat_tables([table, table.take(pa.array(dup))])
        arrival = np.concatenate([arrival, again])
    arrival_type = pa.timestamp("us", tz=col.type.tz)
    table = table.append_column(arrival_col, pa.array(arrival, type=arrival_type))
    if order_by_arrival:
        lo = int(arrival.min()) if len(arrival) else 0
        order = stable_order(arrival - lo, int(arrival.max()) - lo + 1 if len(arrival) else 1)
        table = table.take(pa.array(order))
    return table


def transform(time_col: str, **kwargs: Any) -> Callable[[pa.Table, int], pa.Table]:
    """``with_late_and_duplicates`` as a per-chunk ``transform`` for writer.write, seeded by
    each chunk's seed: ``write(..., transform=faults.transform("ts", late_fraction=0.01))``."""

    def apply(table: pa.Table, seed: int) -> pa.Table:
        return with_late_and_duplicates(table, time_col, seed=seed, **kwargs)

    return apply
