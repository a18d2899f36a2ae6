"""Lab 1.3.5: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l135_emr_spark import lab as lab_mod
from labs.l135_emr_spark import solution
from spark import emr

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("1.3.5")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("1.3.5"), ctx)}


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["cluster"].startswith("j-") and out["step"].startswith("s-")
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 6


def test_nothing_done_and_skeleton(ctx: harness.LabContext) -> None:
    r = results(ctx)["cluster_created_with_logs"]
    assert not r.passed and "bdlab run 1.3.5" in r.hint
    lab_mod.prepare_data(ctx)  # data there, but no cluster made through the EMR API
    r = results(ctx)["cluster_created_with_logs"]
    assert not r.passed and "RunJobFlow" in r.hint
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_failed_step_points_to_the_logs(ctx: harness.LabContext) -> None:
    lab_mod.prepare_data(ctx)
    bucket = lab_mod.lab_bucket(ctx)
    ctx.client("s3").put_object(
        Bucket=bucket, Key=lab_mod.JOB_KEY, Body=b"import sys\nsys.exit(3)\n"
    )
    cid = solution.create_cluster(ctx)
    step = emr.SparkStep("daily-revenue", f"s3://{bucket}/{lab_mod.JOB_KEY}", ["a", "b"])
    sid = emr.submit(cid, [step], ctx.profile)[0]
    with pytest.raises(emr.EmrError, match="FAILED"):
        emr.wait_step(cid, sid, ctx.profile, timeout=300)
    res = results(ctx)
    assert res["cluster_created_with_logs"].passed and res["step_runs_script_from_s3"].passed
    bad = res["step_completed"]
    assert not bad.passed and "FAILED" in bad.found and f"bdlab emr logs {cid} {sid}" in bad.hint
    assert not res["output_matches_input"].passed
    assert res["cluster_not_left_running"].passed  # idle auto-termination is set


def test_aws_profile_path_against_the_emulator_standing_in(
    profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The aws profile's code path (no endpoint, default credential chain, tagging) with
    AWS_ENDPOINT_URL pointing at the emulator in place of AWS."""
    from sim import clients, profiles

    monkeypatch.setenv("AWS_ENDPOINT_URL", profile.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None and real.access_key is None
    clients.clear_cache()
    try:
        lab = harness.find("1.3.5")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        out = solution.main(ctx)
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        tags = {
            t["Key"]: t["Value"]
            for t in ctx.client("emr").describe_cluster(ClusterId=out["cluster"])["Cluster"]["Tags"]
        }
        assert tags["bdlab"] == "true"  # the aws profile tags what it creates
        lab.reset(ctx)
    finally:
        clients.clear_cache()
