"""The Prometheus -> CloudWatch mapping, on exposition text (no network, no clock):
counters -> Sum of the increase (a reset counts from 0), gauges -> StatisticValues whose
Maximum is the period's highest sample, histograms -> Sum/SampleCount of _sum/_count."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.monitoring.prombridge import (
    Bridge,
    Mapping,
    MappingError,
    Series,
    load_mapping,
    mapping_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]


def counter(v: float, **labels: str) -> str:
    lb = ",".join(f'{k}="{x}"' for k, x in labels.items())
    # as prometheus_client writes a counter (its family named with _total)
    return (
        f"# TYPE sent_total counter\nsent_total{{{lb}}} {v}\n"
        f"# TYPE sent_created gauge\nsent_created{{{lb}}} 1.7e9\n"
    )


def gauge(v: float, **labels: str) -> str:
    lb = ",".join(f'{k}="{x}"' for k, x in labels.items())
    return f"# TYPE lag gauge\nlag{{{lb}}} {v}\n"


def one(bridge: Bridge) -> dict[str, object]:
    (entry,) = bridge.take()
    return entry


def test_counter_publishes_the_increase_as_sum_and_a_reset_counts_from_zero() -> None:
    b = Bridge(Mapping((Series("sent_total", "Sent", ("stream",), unit="Count"),)))
    b.observe(counter(100, stream="s"))  # baseline: nothing to publish yet
    assert b.take() == []
    for v in (110, 125, 5, 9):  # +10, +15, restarted (5 since 0), +4
        b.observe(counter(v, stream="s"))
    e = one(b)
    assert e["MetricName"] == "Sent" and e["Unit"] == "Count"
    assert e["Dimensions"] == [{"Name": "stream", "Value": "s"}]
    assert e["StatisticValues"] == {"SampleCount": 4, "Sum": 34, "Minimum": 4, "Maximum": 15}
    b.observe(counter(9, stream="s"))  # next period: no increase is a Sum of 0, not silence
    assert one(b)["StatisticValues"]["Sum"] == 0  # type: ignore[index]


def test_gauge_publishes_the_period_samples_with_their_maximum() -> None:
    b = Bridge(Mapping((Series("lag", "Lag", unit="Milliseconds"),)))
    for v in (30, 250, 40):
        b.observe(gauge(v))
    e = one(b)
    assert e["Dimensions"] == []
    assert e["StatisticValues"] == {"SampleCount": 3, "Sum": 320, "Minimum": 30, "Maximum": 250}
    assert b.take() == []  # a new period holds nothing until the next scrape


def test_labels_not_kept_are_summed_or_maxed_away_and_match_filters() -> None:
    text = gauge(5, stream="a", shard="1") + gauge(7, stream="a", shard="2").split("\n", 1)[1]
    text += gauge(1, stream="b", shard="1").split("\n", 1)[1]
    summed = Bridge(Mapping((Series("lag", dimensions=("stream",)),)))
    summed.observe(text)
    got = {e["Dimensions"][0]["Value"]: e["StatisticValues"]["Maximum"] for e in summed.take()}
    assert got == {"a": 12, "b": 1}
    maxed = Bridge(Mapping((Series("lag", aggregate="max", match=(("stream", "a"),)),)))
    maxed.observe(text)
    assert one(maxed)["StatisticValues"]["Maximum"] == 7  # type: ignore[index]


def test_histogram_publishes_sum_and_count_of_the_increase() -> None:
    def hist(total: float, n: float) -> str:
        return (
            "# TYPE d histogram\n"
            f'd_bucket{{job="j",le="1.0"}} {n}\nd_bucket{{job="j",le="+Inf"}} {n}\n'
            f'd_count{{job="j"}} {n}\nd_sum{{job="j"}} {total}\n'
        )

    b = Bridge(Mapping((Series("d", "Duration", ("job",), unit="Seconds"),)))
    b.observe(hist(2.0, 4))
    b.observe(hist(5.0, 10))  # 6 observations, 3.0 s in all
    e = one(b)
    assert e["StatisticValues"] == {"SampleCount": 6, "Sum": 3.0, "Minimum": 0.5, "Maximum": 0.5}
    b.observe(hist(5.0, 10))
    assert b.take() == []  # no new observation: CloudWatch has no empty statistic set


def test_mapping_errors_and_the_shipped_mapping_file() -> None:
    with pytest.raises(MappingError, match="30"):
        Mapping((Series("x", dimensions=tuple(f"l{i}" for i in range(31))),))
    with pytest.raises(MappingError, match="kind"):
        mapping_from_dict({"series": [{"metric": "x", "kind": "summary"}]})
    with pytest.raises(MappingError, match="metric"):
        mapping_from_dict({"series": [{"name": "x"}]})
    shipped = load_mapping(ROOT / "monitoring" / "prom-bridge.toml")
    assert shipped.namespace and shipped.series
    assert all(len(s.dimensions) <= 30 for s in shipped.series)
