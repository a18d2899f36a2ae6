"""Lab 1.2.4: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest

from labs import harness
from labs.l124_s3_partitioning import lab as lab_mod
from labs.l124_s3_partitioning import solution

pytestmark = pytest.mark.integration


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("1.2.4")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("1.2.4"), ctx)}


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["rows"] == lab_mod.ROWS and out["curated_files"] == lab_mod.DAYS
    res = results(ctx)
    assert [r.order for r in res.values()] == sorted(r.order for r in res.values())
    failed = {n: (r.found, r.hint) for n, r in res.items() if not r.passed}
    assert failed == {}
    assert len(res) == 8


def test_learner_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_nothing_done_fails_first_check_with_hint(ctx: harness.LabContext) -> None:
    r = results(ctx)["bucket_exists"]
    assert not r.passed and "create_bucket" in r.hint


def test_firehose_style_keys_fail_with_hive_hint(ctx: harness.LabContext) -> None:
    """A classic mistake: YYYY/MM/dd/ keys instead of dt=YYYY-MM-DD/."""
    solution.create_bucket(ctx)
    solution.upload_raw(ctx, lab_mod.sample_events())
    solution.write_curated(ctx)
    s3 = ctx.client("s3")
    bucket = lab_mod.lake_bucket(ctx)
    key = f"{lab_mod.CURATED_PREFIX}dt=2026-01-13/part-00000.snappy.parquet"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(
        Bucket=bucket, Key=f"{lab_mod.CURATED_PREFIX}2026/01/13/part-00000.parquet", Body=body
    )
    r = results(ctx)
    assert r["raw_partitions"].passed
    bad = r["curated_parquet"]
    assert not bad.passed and "Hive" in bad.hint and "2026/01/13" in bad.found


def test_wrong_codec_and_lost_rows_are_caught(ctx: harness.LabContext) -> None:
    solution.create_bucket(ctx)
    solution.upload_raw(ctx, lab_mod.sample_events())
    solution.write_curated(ctx)
    s3 = ctx.client("s3")
    bucket = lab_mod.lake_bucket(ctx)
    key = f"{lab_mod.CURATED_PREFIX}dt=2026-01-14/part-00000.snappy.parquet"
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    buf = io.BytesIO()
    pq.write_table(table.slice(0, table.num_rows - 10), buf, compression="gzip")
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
    r = results(ctx)
    assert not r["curated_parquet"].passed and "snappy" in r["curated_parquet"].hint
    assert "GZIP" in r["curated_parquet"].found
    assert not r["row_counts_match"].passed
    assert f"curated {lab_mod.ROWS - 10}" in r["row_counts_match"].found


def test_lifecycle_rule_without_time_passing_is_not_enough(ctx: harness.LabContext) -> None:
    solution.create_bucket(ctx)
    solution.upload_raw(ctx, lab_mod.sample_events())
    solution.write_curated(ctx)
    ctx.client("s3").put_bucket_lifecycle_configuration(
        Bucket=lab_mod.lake_bucket(ctx),
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "raw-to-ia",
                    "Status": "Enabled",
                    "Filter": {"Prefix": lab_mod.RAW_PREFIX},
                    "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
                }
            ]
        },
    )
    bad = results(ctx)["raw_lifecycle"]
    assert not bad.passed and "STANDARD" in bad.found and "fast_forward" in bad.hint
    lab_mod.fast_forward(ctx, 31)
    assert results(ctx)["raw_lifecycle"].passed
