"""Synthetic clickstream events, vectorised with NumPy and returned as Arrow tables.

Deterministic by seed. Realistic shape: skewed products (Zipf) and countries, a diurnal
traffic curve, a purchase funnel (view > click > add_to_cart > purchase).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase"])
EVENT_P = np.array([0.62, 0.25, 0.09, 0.04])
COUNTRIES = np.array(["KR", "US", "JP", "DE", "GB", "FR", "IN", "BR", "VN", "SG"])
COUNTRY_P = np.array([0.34, 0.2, 0.12, 0.07, 0.06, 0.05, 0.06, 0.04, 0.03, 0.03])
DEVICES = np.array(["mobile", "desktop", "tablet"])
DEVICE_P = np.array([0.64, 0.3, 0.06])
CATEGORIES = np.array(["electronics", "fashion", "home", "beauty", "sports", "books"])
# Share of traffic per hour of day (UTC+9 evening peak, as for a Korean shop).
_HOURLY = np.array(
    [2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 6, 6, 5, 5, 5, 6, 7, 8, 9, 9, 7, 4], dtype=float
)

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("user_id", pa.int64()),
        ("session_id", pa.string()),
        ("event_type", pa.string()),
        ("product_id", pa.int32()),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("quantity", pa.int32()),
        ("country", pa.string()),
        ("device", pa.string()),
    ]
)


def generate(
    rows: int,
    start: datetime,
    days: int = 7,
    seed: int = 42,
    products: int = 5000,
    users: int = 50_000,
) -> pa.Table:
    """``rows`` events spread over ``days`` days from ``start`` (UTC), in event-time order."""
    if rows < 0 or days < 1:
        raise ValueError("rows must be >= 0 and days >= 1")
    rng = np.random.default_rng(seed)
    start = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = rng.integers(0, days, rows)
    hour_p = np.roll(_HOURLY, -9)  # local peak at 19-22h KST is 10-13h UTC
    hour = rng.choice(24, rows, p=hour_p / hour_p.sum())
    second = rng.integers(0, 3600, rows)
    micros = rng.integers(0, 1_000_000, rows)
    base = int(start.timestamp() * 1_000_000)
    ts = base + ((day * 24 + hour) * 3600 + second) * 1_000_000 + micros
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    product = (rng.zipf(1.3, rows) % products).astype(np.int32)[order]
    price_by_product = np.round(np.exp(rng.normal(3.2, 0.9, products)) + 0.99, 2)
    user = rng.integers(1, users + 1, rows)[order]
    session = user * 1000 + day[order] * 10 + rng.integers(0, 3, rows)
    etype_idx = rng.choice(4, rows, p=EVENT_P)[order]
    qty = np.where(etype_idx == 3, rng.integers(1, 4, rows), 0).astype(np.int32)
    country_idx = rng.choice(len(COUNTRIES), rows, p=COUNTRY_P)
    device_idx = rng.choice(3, rows, p=DEVICE_P)
    return pa.table(
        {
            "event_id": _ids("e", np.arange(rows), 10, f"-{seed % 65536:04x}"),
            "event_time": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "user_id": pa.array(user),
            "session_id": _ids("s", session, 10, ""),
            "event_type": _pick(EVENT_TYPES, etype_idx),
            "product_id": pa.array(product),
            "category": _pick(CATEGORIES, product % len(CATEGORIES)),
            "price": pa.array(price_by_product[product]),
            "quantity": pa.array(qty),
            "country": _pick(COUNTRIES, country_idx),
            "device": _pick(DEVICES, device_idx),
        },
        schema=SCHEMA,
    )


def _pick(values: np.ndarray, idx: np.ndarray) -> pa.Array:
    """values[idx] as an Arrow string array, built in C++ (np.char is slow)."""
    return pc.take(pa.array(values.tolist(), pa.string()), pa.array(idx))


def _ids(prefix: str, numbers: np.ndarray, width: int, suffix: str) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, suffix, "")


def dates(start: datetime, days: int) -> list[str]:
    s = start.astimezone(UTC)
    return [(s + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]
