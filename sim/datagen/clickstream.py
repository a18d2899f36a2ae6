"""Synthetic clickstream events, vectorised with NumPy and returned as Arrow tables.

Deterministic by seed. Realistic shape: skewed products (Zipf) and countries, a diurnal
traffic curve, a purchase funnel (view > click > add_to_cart > purchase).

Also owns the vectorised building blocks the other datasets (orders, weblogs) and the
writer share: categorical draws, skewed keys, diurnal timestamps, string picks, fixed-width
ids and timestamp text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

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
HOUR_P_UTC = np.roll(_HOURLY, -9) / _HOURLY.sum()  # local peak at 19-22h KST is 10-13h UTC
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
TIMESTAMP = pa.timestamp("us", tz="UTC")

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", TIMESTAMP),
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
    *,
    id_offset: int = 0,
    day_offset: int = 0,
    dim_seed: int | None = None,
    dictionary: bool = False,
) -> pa.Table:
    """``rows`` events spread over ``days`` days from ``start`` (UTC), in event-time order.

    Keyword-only knobs for chunked generation (writer.py), all off by default:
    ``id_offset``/``day_offset`` (rows and days generated before this call) keep event and
    session ids distinct across chunks, ``dim_seed`` fixes the product price list across
    chunks, and ``dictionary`` returns the low-cardinality string columns as dictionary
    arrays (same values; cheaper to build and to write to Parquet).
    """
    if rows < 0 or days < 1:
        raise ValueError("rows must be >= 0 and days >= 1")
    rng = np.random.default_rng(seed)
    start = midnight(start)
    # Every draw consumes the bit stream exactly as the first version (rng.choice, stable
    # argsort) did, so a seed still gives the very same table; only the speed changed.
    day = rng.integers(0, days, rows)
    hour = draw(rng, HOUR_P_UTC, rows)
    second = rng.integers(0, 3600, rows)
    micros = rng.integers(0, 1_000_000, rows)
    offset = ((day * 24 + hour) * 3600 + second) * 1_000_000 + micros
    order = stable_order(offset, days * DAY_US)
    ts = offset[order] + epoch_us(start)
    product = (zipf(rng, 1.3, rows) % products).astype(np.int32)[order]
    price_by_product = np.round(np.exp(rng.normal(3.2, 0.9, products)) + 0.99, 2)
    if dim_seed is not None:
        price_by_product = np.round(
            np.exp(np.random.default_rng(dim_seed).normal(3.2, 0.9, products)) + 0.99, 2
        )
    user = rng.integers(1, users + 1, rows)[order]
    session = user * 1000 + (day[order] + day_offset) * 10 + rng.integers(0, 3, rows)
    etype_idx = draw(rng, EVENT_P, rows)[order]
    qty = np.where(etype_idx == 3, rng.integers(1, 4, rows), 0).astype(np.int32)
    country_idx = draw(rng, COUNTRY_P, rows)
    device_idx = draw(rng, DEVICE_P, rows)
    suffix = f"-{seed % 65536:04x}"
    return pa.table(
        {
            "event_id": ids("e", np.arange(id_offset, id_offset + rows), 10, suffix),
            "event_time": pa.array(ts, type=TIMESTAMP),
            "user_id": pa.array(user),
            "session_id": ids("s", session, 10, ""),
            "event_type": pick(EVENT_TYPES, etype_idx, dictionary),
            "product_id": pa.array(product),
            "category": pick(CATEGORIES, product % len(CATEGORIES), dictionary),
            "price": pa.array(price_by_product[product]),
            "quantity": pa.array(qty),
            "country": pick(COUNTRIES, country_idx, dictionary),
            "device": pick(DEVICES, device_idx, dictionary),
        },
        schema=SCHEMA if not dictionary else None,
    )


def dates(start: datetime, days: int) -> list[str]:
    s = start.astimezone(UTC)
    return [(s + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]


# --------------------------------------------------------------------------- building blocks
def draw(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """Indices drawn with probabilities ``p``: bit-for-bit ``rng.choice(len(p), n, p=p)``."""
    return draw_from(rng.random(n), p)


def draw_from(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Map uniforms ``u`` in [0, 1) to indices with probabilities ``p`` (inverse cdf).

    choice() is exactly ``cdf.searchsorted(u, side="right")``, which is slow on unsorted
    input; counting the cdf steps at or below each uniform is the same number, 5-10x faster
    for short ``p``.
    """
    cdf = np.cumsum(p, dtype=float)
    cdf /= cdf[-1]
    if len(cdf) > 48:  # uint8 counts; a binary search wins on long tables anyway
        return cdf.searchsorted(u, side="right")
    idx = np.zeros(len(u), np.uint8)
    step = np.empty(len(u), bool)
    for c in cdf:
        np.greater_equal(u, c, out=step)
        idx += step.view(np.uint8)
    return idx.astype(np.intp)


_I64_MAX = float(np.iinfo(np.int64).max)


def zipf(rng: np.random.Generator, a: float, n: int) -> np.ndarray:
    """Bit-for-bit ``rng.zipf(a, n)``, about twice as fast.

    NumPy rejection-samples one value at a time (two uniforms per attempt); this runs the
    same arithmetic (numpy/random/src/distributions/distributions.c: random_zipf) over
    arrays of uniforms, keeps the accepted attempts in order, then rewinds the bit generator
    and advances it by exactly the uniforms NumPy would have used. Checked once against
    ``rng.zipf``; where NumPy's ``power`` is not libm's ``pow`` (AVX512 SVML) or the check
    fails, it simply calls ``rng.zipf``.
    """
    if not _zipf_exact_ok() or a <= 1.0 or a >= 1025 or n < 1024:
        return rng.zipf(a, n)
    return _zipf_vectorised(rng, a, n)


def _zipf_vectorised(rng: np.random.Generator, a: float, n: int) -> np.ndarray:
    bitgen: Any = rng.bit_generator  # PCG64 and friends: .advance(n)
    state = bitgen.state
    am1 = a - 1.0
    b = np.power(2.0, am1)
    umin = np.power(_I64_MAX, -am1)
    out = np.empty(n, np.int64)
    got = used = 0
    m = min(n, 4096) + 64  # a first small round measures the acceptance rate
    while got < n:
        u = rng.random(2 * m)
        u01, v = u[0::2], u[1::2]
        # The C expression order, operation by operation: IEEE results are bit-identical.
        x = np.subtract(1.0, u01)
        x += u01 * umin
        np.power(x, -1.0 / am1, out=x)
        np.floor(x, out=x)
        with np.errstate(all="ignore"):
            t = np.divide(1.0, x)
            t += 1.0
            np.power(t, am1, out=t)
            lhs = v * x
            lhs *= t - 1.0
            lhs /= b - 1.0
            t /= b
        accept = lhs <= t
        accept &= x <= _I64_MAX
        accept &= x >= 1.0
        take = np.flatnonzero(accept)[: n - got]
        out[got : got + len(take)] = x[take]
        got += len(take)
        used += 2 * (int(take[-1]) + 1) if got == n else 2 * m
        rate = max(len(take) / m, 0.05)
        m = int((n - got) / rate * 1.02) + 64
    buffered = {k: state[k] for k in ("has_uint32", "uinteger") if k in state}
    bitgen.state = state
    bitgen.advance(used)  # one 64-bit draw per uniform
    if buffered:
        bitgen.state = {**bitgen.state, **buffered}
    return out


@lru_cache(maxsize=1)
def _zipf_exact_ok() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - other NumPy layouts
        features = {}
    if features.get("AVX512_SKX") or not hasattr(np.random.PCG64, "advance"):
        return False
    for seed in (0, 1):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        if not np.array_equal(a.zipf(1.3, 4096), _zipf_vectorised(b, 1.3, 4096)):
            return False
        if a.random() != b.random():
            return False
    return True


def zipf_keys(rng: np.random.Generator, n: int, keys: int, s: float = 1.1) -> np.ndarray:
    """``n`` ranks in [0, keys) with P(rank k) ~ (k+1)^-s: a bounded Zipf law.

    Inverse cdf of the continuous power law on [1, keys+1), floored: one uniform and one
    power per row, where ``rng.zipf`` rejection-samples (unbounded, ~4x slower).
    """
    u = rng.random(n)
    top = float(keys + 1)
    if abs(s - 1.0) < 1e-9:
        x = np.power(top, u)
    else:
        a = 1.0 - s
        x = np.power(1.0 + u * (top**a - 1.0), 1.0 / a)
    return np.minimum(x.astype(np.int64) - 1, keys - 1)


def stable_order(keys: np.ndarray, bound: int) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for int64 keys in [0, bound), faster when it can.

    Packing (key, position) into one int64 makes every key distinct, so an unstable SIMD
    sort of the packed values yields exactly the stable permutation.
    """
    n = len(keys)
    shift = max(1, (n - 1).bit_length())
    if n == 0 or bound.bit_length() + shift > 63:
        return np.argsort(keys, kind="stable")
    packed = np.left_shift(keys, shift)
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << shift) - 1
    return packed


def diurnal_offsets(
    rng: np.random.Generator, rows: int, days: int, hour_p: np.ndarray = HOUR_P_UTC
) -> np.ndarray:
    """Sorted microsecond offsets from midnight of day 0, following the hourly shares."""
    day = rng.integers(0, days, rows)
    hour = draw(rng, hour_p, rows)
    offsets = (day * 24 + hour) * HOUR_US + rng.integers(0, HOUR_US, rows)
    offsets.sort()
    return offsets


def midnight(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def epoch_us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def pick(values: np.ndarray | list[str], idx: np.ndarray, dictionary: bool = False) -> pa.Array:
    """values[idx] as an Arrow string array built in C++ (np.char is slow), or as a
    dictionary array over ``values`` (no copy of the strings at all)."""
    dict_values = pa.array(list(values), pa.string())
    if dictionary:
        return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), dict_values)
    return pc.take(dict_values, pa.array(idx))


# ---- text without per-row Python: fixed-width byte records from digit lookup tables
_D4 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), np.uint32)
_D2 = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint16)
_D1 = np.frombuffer(b"0123456789", np.uint8)
_DIGITS: dict[int, tuple[np.ndarray, int]] = {4: (_D4, 10_000), 2: (_D2, 100), 1: (_D1, 10)}
Part = bytes | np.ndarray


def fixed_width(n: int, parts: list[Part]) -> pa.Array:
    """An Arrow string array of ``n`` equal-width records, each the concatenation of
    ``parts``: a bytes constant, or an array of ``n`` fixed-size items (e.g. digit pairs
    from the lookup tables, ``S3`` month names). One structured NumPy buffer, no copies."""
    fields: list[tuple[str, np.dtype, int, Part]] = []
    pos = 0
    for i, part in enumerate(parts):
        dt = np.dtype(f"S{len(part)}") if isinstance(part, bytes) else part.dtype
        if dt.itemsize:
            fields.append((f"f{i}", dt, pos, part))
            pos += dt.itemsize
    if (n + 1) * pos >= 2**31:
        raise ValueError("fixed_width: more than 2 GiB of text in one array")
    layout = {
        "names": [f[0] for f in fields],
        "formats": [f[1] for f in fields],
        "offsets": [f[2] for f in fields],
        "itemsize": pos,
    }
    buf: Any = np.empty(n, np.dtype(layout))  # type: ignore[call-overload]
    for name, _, _, part in fields:
        buf[name] = part
    offs = np.arange(0, (n + 1) * pos, pos, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(buf.view(np.uint8)))


def digits(x: np.ndarray, width: int) -> list[np.ndarray]:
    """Zero-padded decimal digits of non-negative ``x`` < 10**width, as fixed-width parts."""
    groups: list[int] = []
    left = width
    for g in (4, 2, 1):
        while left >= g:
            groups.append(g)
            left -= g
    out: list[np.ndarray] = []
    for g in groups:  # least significant group first
        table, base = _DIGITS[g]
        x, r = np.divmod(x, base)
        out.append(table[r])
    return out[::-1]


def ids(prefix: str, numbers: np.ndarray, width: int, suffix: str) -> pa.Array:
    """prefix + zero-padded decimal + suffix, e.g. ``e0000000042-002a``: 3x the speed of
    cast + lpad + join; numbers that do not fit ``width`` go the Arrow compute way."""
    numbers = np.asarray(numbers, np.int64)
    n = len(numbers)
    fits = n == 0 or (numbers.min() >= 0 and numbers.max() < 10**width)
    small = (n + 1) * (len(prefix) + width + len(suffix)) < 2**31
    if fits and small and prefix.isascii() and suffix.isascii():
        return fixed_width(n, [prefix.encode(), *digits(numbers, width), suffix.encode()])
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, text, suffix, "")


_MONTHS = np.array("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), dtype="S3")
TIME_STYLES = {"iso": "%Y-%m-%dT%H:%M:%S.%fZ", "clf": "%d/%b/%Y:%H:%M:%S +0000"}


@lru_cache(maxsize=64)
def _calendar(first_day: int, ndays: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) per day since the epoch in [first_day, first_day + ndays)."""
    d = np.arange(first_day, first_day + ndays).astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64)
    m = d.astype("datetime64[M]")
    month = m.astype(np.int64) - y * 12
    dom = (d - m.astype("datetime64[D]")).astype(np.int64) + 1
    return y + 1970, month + 1, dom


def time_text(ts: pa.Array | pa.ChunkedArray | np.ndarray, style: str = "iso") -> pa.Array:
    """UTC timestamps (or epoch microseconds) as text, vectorised: pc.strftime takes ~2 s
    per million rows here. Styles (TIME_STYLES): ``iso`` 2024-01-01T09:30:00.123456Z,
    ``clf`` 01/Jan/2024:09:30:00 +0000. Nulls stay null."""
    if style not in TIME_STYLES:
        raise ValueError(f"time_text: style must be one of {', '.join(TIME_STYLES)}")
    validity = None
    if isinstance(ts, np.ndarray):
        us = ts.astype(np.int64)
    else:
        arr = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
        arr = pc.cast(arr, pa.timestamp("us", tz=getattr(arr.type, "tz", None)))
        validity = arr.is_valid() if arr.null_count else None
        us = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy()
    day = np.floor_divide(us, DAY_US)
    first = int(day.min()) if len(us) else 0
    year, month, dom = _calendar(first, int(day.max()) - first + 1 if len(us) else 1)
    if year[0] < 1 or year[-1] > 9999:
        raise ValueError("time_text: years outside 1..9999")
    rel = day - first
    sod = us - day * DAY_US
    sec = sod // 1_000_000
    field: dict[str, Callable[[], list[np.ndarray]]] = {
        "Y": lambda: [_D4[year][rel]],
        "m": lambda: [_D2[month][rel]],
        "b": lambda: [_MONTHS[month - 1][rel]],
        "d": lambda: [_D2[dom][rel]],
        "H": lambda: [_D2[sec // 3600]],
        "M": lambda: [_D2[(sec // 60) % 60]],
        "S": lambda: [_D2[sec % 60]],
        "f": lambda: digits(sod % 1_000_000, 6),
    }
    parts: list[Part] = []
    for i, piece in enumerate(TIME_STYLES[style].split("%")):
        if i:
            parts += field[piece[0]]()
            piece = piece[1:]
        parts.append(piece.encode())
    text = fixed_width(len(us), parts)
    if validity is not None:
        text = pc.if_else(validity, text, pa.scalar(None, pa.string()))
    return text
