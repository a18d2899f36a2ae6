"""Lab 3.2.5: the reference solution passes every check; broken variants fail with hints.

The solution runs once for the module (a few seconds: no Spark step, no clock moved); each
broken variant changes one thing on top of it, reads the checks, and puts it back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l325_pipeline_monitoring import lab as lab_mod
from labs.l325_pipeline_monitoring import solution

pytestmark = pytest.mark.integration


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("3.2.5"), ctx)}


@pytest.fixture(scope="module")
def lab_ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("3.2.5")
    c = harness.context(lab, profile, cfg)
    yield c
    lab.reset(c)


def test_learner_skeleton_says_what_to_do(lab_ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(lab_ctx)


def test_nothing_done_fails_first_check_with_hint(lab_ctx: harness.LabContext) -> None:
    harness.find("3.2.5").reset(lab_ctx)
    r = results(lab_ctx)["custom_metrics_per_stage"]
    assert not r.passed and "bdlab run 3.2.5" in r.hint


@pytest.fixture(scope="module")
def solved(lab_ctx: harness.LabContext) -> dict[str, Any]:
    out = solution.main(lab_ctx)
    return {"out": out, "res": lab_mod.Resources(out["topic"], out["cluster"])}


def test_solution_passes_all_checks(lab_ctx: harness.LabContext, solved: dict[str, Any]) -> None:
    out = solved["out"]
    assert out["clicks_sent"] == out["clicks_read"] == lab_mod.CLICKS
    assert out["objects"] >= 1 and out["batches"] == len(lab_mod.STAGES) * lab_mod.BATCHES
    res = results(lab_ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 6
    # metric filters publish at once; the run did not move the shared clock
    assert lab_ctx.admin().clock()["speed"] == 1


def test_a_second_run_in_the_same_minute_still_passes(
    lab_ctx: harness.LabContext, solved: dict[str, Any]
) -> None:
    """CloudWatch keeps the first run's datapoints: the checks read what a repeat leaves."""
    out = solution.main(lab_ctx)
    solved["res"] = lab_mod.Resources(out["topic"], out["cluster"])
    res = results(lab_ctx)
    assert {n: r.found for n, r in res.items() if not r.passed} == {}


def test_an_alarm_on_the_wrong_dimension_is_caught(
    lab_ctx: harness.LabContext, solved: dict[str, Any]
) -> None:
    wrong = [{"Name": "StreamName", "Value": "clicks"}]  # not the lab's stream name
    solution.alarms(lab_ctx, solved["res"], kinesis_dims=wrong)
    try:
        bad = results(lab_ctx)["kinesis_iterator_age_alarm"]
        assert not bad.passed and "StreamName=clicks" in bad.found and "차원" in bad.hint
    finally:
        solution.alarms(lab_ctx, solved["res"])


@pytest.mark.parametrize(
    ("pattern", "found"),
    [('{ $.level = "error" }', "0줄"), ("ERROR", "WARN")],
    ids=["matches-nothing", "term-also-matches-warn"],
)
def test_a_filter_pattern_that_counts_wrong_is_caught(
    lab_ctx: harness.LabContext, solved: dict[str, Any], pattern: str, found: str
) -> None:
    solution.metric_filter(lab_ctx, pattern)
    try:
        r = results(lab_ctx)
        bad = r["error_metric_filter"]
        assert not bad.passed and found in bad.found and "JSON 패턴" in bad.hint
        assert r["custom_metrics_per_stage"].passed and r["dashboard_shows_pipeline"].passed
    finally:
        solution.metric_filter(lab_ctx)


def test_a_dashboard_without_the_firehose_widget_is_caught(
    lab_ctx: harness.LabContext, solved: dict[str, Any]
) -> None:
    solution.dashboard(lab_ctx, solved["res"], skip=("firehose",))
    try:
        bad = results(lab_ctx)["dashboard_shows_pipeline"]
        assert not bad.passed and "Firehose DataFreshness" in bad.found
        assert "경보" not in bad.found.split("빠진 것:")[1]  # the alarm widget still lists all
    finally:
        solution.dashboard(lab_ctx, solved["res"])


def test_an_emr_alarm_every_minute_is_caught(
    lab_ctx: harness.LabContext, solved: dict[str, Any]
) -> None:
    lab_ctx.client("cloudwatch").put_metric_alarm(
        AlarmName=lab_mod.alarm_name(lab_ctx, "emr-step-failures"),
        Namespace="AWS/ElasticMapReduce",
        MetricName="AppsFailed",
        Dimensions=[{"Name": "JobFlowId", "Value": solved["res"].cluster_id}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[solved["res"].topic_arn],
    )
    try:
        bad = results(lab_ctx)["emr_step_failure_alarm"]
        assert not bad.passed and "Period 60" in bad.found and "5분" in bad.hint
    finally:
        solution.alarms(lab_ctx, solved["res"])


def test_aws_profile_path_against_the_emulator_standing_in(
    private_profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flush on AWS: the lab waits for the 60 s buffer, which the stand-in's clock runs
    30 times faster (its own emulator: no other test's clock moves)."""
    from sim import clients, profiles
    from sim.admin import Admin

    monkeypatch.setenv("AWS_ENDPOINT_URL", private_profile.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None and not real.can("firehose_flush")
    admin = Admin.of(private_profile)
    admin.set_clock(speed=30)
    clients.clear_cache()
    try:
        lab = harness.find("3.2.5")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        solution.main(ctx)
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(ctx)
    finally:
        admin.set_clock(speed=1)
        clients.clear_cache()
