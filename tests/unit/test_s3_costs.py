"""The opt-in AWS-like S3 cost model: its arithmetic and its request-rate limit."""

from __future__ import annotations

import pytest

from sim.emulator.providers.s3.costs import CostModel


def test_off_by_default_and_free() -> None:
    m = CostModel()
    assert m.delay_s("CopyObject", 10**9) == 0.0 and m.admit("b", "PutObject")
    assert m.state()["model"] == "off"


def test_a_copy_costs_about_as_much_as_rewriting_the_data() -> None:
    m = CostModel()
    m.set("aws")
    put = m.delay_s("PutObject", 88_000_000)
    copy = m.delay_s("CopyObject", 88_000_000)
    assert copy == put == pytest.approx(1.03)
    assert m.delay_s("HeadObject", 0) == pytest.approx(0.03)


def test_request_rate_per_bucket_reads_and_writes_apart() -> None:
    m = CostModel(reads_per_s=5, writes_per_s=3)
    m.set("aws")
    writes = [m.admit("lake", "PutObject") for _ in range(5)]
    assert writes[:3] == [True, True, True] and not any(writes[3:])
    assert all(m.admit("lake", "GetObject") for _ in range(5))  # reads have their own budget
    assert m.admit("other", "PutObject")  # and each bucket its own
    with pytest.raises(ValueError, match="unknown cost model"):
        m.set("azure")
