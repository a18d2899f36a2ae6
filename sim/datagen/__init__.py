"""Synthetic datasets for the labs and the demo (vectorised, deterministic by seed)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from sim.datagen import clickstream, orders, weblogs

# name -> generate(rows, start, days, seed=..., **kw) -> pa.Table; writer.write takes a name.
DATASETS: dict[str, Callable[..., pa.Table]] = {
    "clickstream": clickstream.generate,
    "orders": orders.generate,
    "weblogs": weblogs.generate,
}
# The column each dataset is ordered by (event time), for partitioning and replay.
TIME_COLUMNS = {"clickstream": "event_time", "orders": "order_time", "weblogs": "ts"}
