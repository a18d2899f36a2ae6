"""The Spark jobs' Prometheus metrics without Spark: JobMetrics fed progress objects shaped as
Spark's StreamingQueryProgress, the batch endpoint, and the batch jobs importing no sim."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from sim.monitoring.promexport import JobMetrics, batch_endpoint
from tests.conftest import ROOT


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"job": "j", **labels})


def progress(rows: int, ms: int, watermark: str | None, **more: object) -> SimpleNamespace:
    event_time = {"watermark": watermark} if watermark else {}
    return SimpleNamespace(
        numInputRows=rows,
        batchDuration=ms,
        inputRowsPerSecond=more.get("inp", float("nan")),
        processedRowsPerSecond=more.get("proc", 40.0),
        timestamp="2026-03-02T10:05:00.000Z",
        eventTime=event_time,
    )


def test_progress_sets_counters_rates_and_the_watermark_lag() -> None:
    reg = CollectorRegistry()
    m = JobMetrics("j", reg)
    m.record_progress(progress(0, 300, "1970-01-01T00:00:00.000Z"))  # no watermark yet
    assert sample(reg, "bdlab_job_watermark_lag_seconds") is None
    assert sample(reg, "bdlab_job_input_rows_per_second") is None  # NaN: not set
    m.record_progress(progress(120, 1500, "2026-03-02T10:03:30.000Z", inp=80.0))
    assert sample(reg, "bdlab_job_rows_processed_total") == 120
    assert sample(reg, "bdlab_job_batches_total") == 2
    assert sample(reg, "bdlab_job_batch_rows") == 120
    assert sample(reg, "bdlab_job_batch_duration_seconds_sum") == pytest.approx(1.8)
    assert sample(reg, "bdlab_job_input_rows_per_second") == 80.0
    assert sample(reg, "bdlab_job_processed_rows_per_second") == 40.0
    assert sample(reg, "bdlab_job_watermark_lag_seconds") == 90.0


def test_quality_keeps_the_last_ratio_and_counts_failures_by_rule() -> None:
    reg = CollectorRegistry()
    m = JobMetrics("j", reg)
    m.quality(20, 18, {"range": 1, "json": 1})
    m.quality(0, 0, {})  # an empty batch says nothing about quality
    assert sample(reg, "bdlab_job_quality_pass_ratio") == 0.9
    assert sample(reg, "bdlab_job_quality_records_total") == 20
    assert sample(reg, "bdlab_job_quality_failed_records_total", rule="json") == 1


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def test_batch_endpoint_serves_during_the_run_and_records_a_finished_run_only() -> None:
    with batch_endpoint("j", 0) as b:
        url = b.metrics.url
        assert url and "bdlab_job_batches_total{" not in scrape(url)  # nothing finished yet
        b.rows = 42
    with pytest.raises(OSError):
        scrape(url)  # closed with the block
    assert b.metrics.rows.labels("j")._value.get() == 42
    with pytest.raises(RuntimeError), batch_endpoint("j", 0) as failed:
        failed.rows = 7
        raise RuntimeError("boom")
    assert failed.metrics.batches.labels("j")._value.get() == 0


def test_batch_jobs_import_no_sim_without_metrics() -> None:
    code = (
        "import sys, spark.jobs.lake_etl, spark.jobs.daily_revenue;"
        "print(sorted(m for m in sys.modules if m == 'sim' or m.startswith('sim.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
