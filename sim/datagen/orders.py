"""Synthetic e-commerce orders, vectorised with NumPy and returned as Arrow tables.

Deterministic by seed. Realistic shape: Zipf-skewed customers (a few heavy buyers) and
products (a few bestsellers), customers living in one country each, an evening-peaked
diurnal curve, log-normal prices, mostly single-item baskets, occasional discounts, local
payment methods in KR, and a small share of cancelled/refunded orders.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.datagen.clickstream import (
    CATEGORIES,
    COUNTRIES,
    COUNTRY_P,
    TIMESTAMP,
    diurnal_offsets,
    draw,
    draw_from,
    epoch_us,
    ids,
    midnight,
    pick,
    zipf_keys,
)

# Orders peak a little later in the evening than browsing (KST = UTC+9).
_HOURLY_KST = np.array(
    [3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 7, 6, 5, 5, 5, 6, 7, 9, 10, 11, 9, 6], dtype=float
)
HOUR_P_UTC = np.roll(_HOURLY_KST, -9) / _HOURLY_KST.sum()
QUANTITY_P = np.array([0.72, 0.17, 0.06, 0.03, 0.02])  # 1..5 items
DISCOUNTS = np.array([0.0, 0.05, 0.1, 0.2, 0.3])
DISCOUNT_P = np.array([0.7, 0.1, 0.1, 0.07, 0.03])
PAYMENTS = np.array(["card", "kakao_pay", "naver_pay", "bank_transfer", "paypal", "apple_pay"])
PAYMENT_P_KR = np.array([0.45, 0.25, 0.2, 0.08, 0.0, 0.02])
PAYMENT_P_OTHER = np.array([0.62, 0.0, 0.0, 0.06, 0.2, 0.12])
STATUSES = np.array(["completed", "shipped", "pending", "cancelled", "refunded"])
STATUS_P = np.array([0.72, 0.14, 0.05, 0.06, 0.03])

SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("order_time", TIMESTAMP),
        ("customer_id", pa.int64()),
        ("country", pa.string()),
        ("product_id", pa.int32()),
        ("category", pa.string()),
        ("unit_price", pa.float64()),
        ("quantity", pa.int32()),
        ("discount", pa.float64()),
        ("total", pa.float64()),
        ("payment_method", pa.string()),
        ("status", pa.string()),
    ]
)


@lru_cache(maxsize=8)
def _dimensions(dim_seed: int, customers: int, products: int) -> tuple[np.ndarray, ...]:
    """Per-customer country and id, per-product price: fixed by ``dim_seed`` alone, so every
    chunk of a large dataset agrees on them."""
    rng = np.random.default_rng([dim_seed, 0x0D1])
    country_of = draw(rng, COUNTRY_P, customers).astype(np.int32)
    # Zipf rank -> customer id: the heaviest buyer is not customer 1.
    customer_of_rank = rng.permutation(customers).astype(np.int64) + 1
    product_of_rank = rng.permutation(products).astype(np.int32)
    price = np.round(np.exp(rng.normal(3.4, 0.8, products)) + 0.99, 2)
    for a in (country_of, customer_of_rank, product_of_rank, price):
        a.flags.writeable = False
    return country_of, customer_of_rank, product_of_rank, price


def generate(
    rows: int,
    start: datetime,
    days: int = 7,
    seed: int = 42,
    *,
    customers: int = 100_000,
    products: int = 5000,
    customer_skew: float = 1.05,
    product_skew: float = 1.2,
    id_offset: int = 0,
    day_offset: int = 0,
    dim_seed: int | None = None,
    dictionary: bool = False,
) -> pa.Table:
    """``rows`` orders over ``days`` days from ``start`` (UTC midnight), in order-time order.

    ``id_offset``/``day_offset``/``dim_seed``/``dictionary`` as in clickstream.generate
    (chunked generation; ``dim_seed`` defaults to ``seed``).
    """
    del day_offset  # order ids carry the row offset; nothing here is per-day
    if rows < 0 or days < 1 or customers < 1 or products < 1:
        raise ValueError("rows must be >= 0; days, customers and products >= 1")
    rng = np.random.default_rng(seed)
    country_of, customer_of_rank, product_of_rank, price_of = _dimensions(
        seed if dim_seed is None else dim_seed, customers, products
    )
    offsets = diurnal_offsets(rng, rows, days, HOUR_P_UTC)
    customer_idx = zipf_keys(rng, rows, customers, customer_skew)
    product = product_of_rank[zipf_keys(rng, rows, products, product_skew)]
    quantity = (draw(rng, QUANTITY_P, rows) + 1).astype(np.int32)
    discount = DISCOUNTS[draw(rng, DISCOUNT_P, rows)]
    country_idx = country_of[customer_idx]
    u = rng.random(rows)
    payment_idx = np.where(
        country_idx == 0, draw_from(u, PAYMENT_P_KR), draw_from(u, PAYMENT_P_OTHER)
    )
    status_idx = draw(rng, STATUS_P, rows)
    unit_price = price_of[product]
    total = np.round(unit_price * quantity * (1.0 - discount), 2)
    return pa.table(
        {
            "order_id": ids("o", np.arange(id_offset, id_offset + rows), 10, ""),
            "order_time": pa.array(offsets + epoch_us(midnight(start)), type=TIMESTAMP),
            "customer_id": pa.array(customer_of_rank[customer_idx]),
            "country": pick(COUNTRIES, country_idx, dictionary),
            "product_id": pa.array(product),
            "category": pick(CATEGORIES, product % len(CATEGORIES), dictionary),
            "unit_price": pa.array(unit_price),
            "quantity": pa.array(quantity),
            "discount": pa.array(discount),
            "total": pa.array(total),
            "payment_method": pick(PAYMENTS, payment_idx, dictionary),
            "status": pick(STATUSES, status_idx, dictionary),
        },
        schema=None if dictionary else SCHEMA,
    )


def revenue(table: pa.Table) -> float:
    """Revenue the way the labs count it: totals of orders not cancelled or refunded."""
    kept = pc.invert(pc.is_in(table["status"], pa.array(["cancelled", "refunded"])))
    return float(pc.sum(pc.filter(table["total"], kept)).as_py() or 0.0)
