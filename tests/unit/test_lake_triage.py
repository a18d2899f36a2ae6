"""Whole-file triage of raw input (the lake ETL's first look at a file), without Spark."""

from __future__ import annotations

import json

from spark.jobs.lake_etl import triage_sample

GOOD = {
    "event_id": "e1",
    "event_time": "2026-01-12T10:00:00Z",
    "user_id": 1,
    "session_id": "s1",
    "event_type": "view",
    "product_id": 3,
    "category": "books",
    "price": 10,
    "quantity": 1,
    "country": "KR",
    "device": "mobile",
}


def lines(*rows: dict[str, object], extra: str = "") -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n" + extra).encode()


def test_a_good_sample_passes_even_with_a_few_bad_lines() -> None:
    assert triage_sample(lines(GOOD, GOOD, GOOD, extra="{broken\n"), truncated=False) is None
    assert triage_sample(b"", truncated=False) is None
    # a cut last line is the sample's end, not a bad line
    assert triage_sample(lines(GOOD, GOOD) + b'{"event_id": "e', truncated=True) is None


def test_binary_and_non_utf8_and_non_json() -> None:
    assert triage_sample(b"PAR1\x00\x01", False) == "not a text file (binary content)"
    assert triage_sample("caf\xe9\n".encode("latin-1"), False) == "not UTF-8 text (byte 3)"
    csv = b"event_id,event_time\ne1,2026-01-12\ne2,2026-01-12\n"
    assert triage_sample(csv, False) == "not JSON lines (3 of 3 sampled lines are not JSON objects)"


def test_schema_drift() -> None:
    added = {**GOOD, "colour": "red"}
    assert triage_sample(lines(added, GOOD), False) == "schema drift: unexpected fields colour"
    renamed = {k: v for k, v in GOOD.items() if k != "user_id"}
    assert triage_sample(lines(renamed, renamed), False) == (
        "schema drift: required field user_id is missing in every sampled line"
    )
    retyped = {**GOOD, "price": "10.5"}
    assert triage_sample(lines(retyped, retyped, GOOD), False) == (
        "schema drift: field price is str in 2 of 3 sampled lines (expected double)"
    )
    # true/false are not numbers, even though Python's bool is an int
    flagged = {**GOOD, "quantity": True}
    assert triage_sample(lines(flagged), False) == (
        "schema drift: field quantity is bool in 1 of 1 sampled lines (expected int)"
    )
