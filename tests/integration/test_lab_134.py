"""Lab 1.3.4: the reference solution passes every check; broken variants fail with a hint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l134_lake_zones import lab as lab_mod
from labs.l134_lake_zones import solution

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("1.3.4")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("1.3.4"), ctx)}


def test_skeleton_and_nothing_done(ctx: harness.LabContext) -> None:
    r = results(ctx)["zones_are_delta_tables"]
    assert not r.passed and "bdlab run 1.3.4" in r.hint
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_solution_passes_then_broken_variants_fail(ctx: harness.LabContext) -> None:
    lab_mod.reset(ctx)
    out = solution.main(ctx)
    assert out["first"]["files_quarantined"] == 1 and out["first"]["quarantined"] == 2
    assert out["again"]["new_files"] == 0 and out["late"]["days"] == [lab_mod.day(0)]
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 8
    s3 = ctx.client("s3")
    bucket = lab_mod.lake_bucket(ctx)
    # A raw file outside the Hive layout (as Firehose's default YYYY/MM/dd/HH/ prefix writes).
    s3.put_object(Bucket=bucket, Key="raw/events/2026/03/02/09/extra.json", Body=b"{}")
    bad = results(ctx)["raw_is_hive_partitioned"]
    assert not bad.passed and "dt=" in bad.hint
    s3.delete_object(Bucket=bucket, Key="raw/events/2026/03/02/09/extra.json")
    # Lifecycle on the whole bucket instead of per zone.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "all",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    bad = results(ctx)["zone_lifecycle"]
    assert not bad.passed and "Delta" in bad.hint
    # The old reference rule: expiring all of quarantine/ deletes the quarantine Delta table.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "raw-to-ia",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "raw/"},
                    "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
                },
                {
                    "ID": "quarantine-expire",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "quarantine/"},
                    "Expiration": {"Days": 30},
                },
            ]
        },
    )
    bad = results(ctx)["zone_lifecycle"]
    assert not bad.passed and "quarantine-expire" in bad.found and "_delta_log" in bad.hint
