"""Lab 2.3.5: the reference solution passes every check; broken variants fail the right check
with a hint; the aws profile's path runs against the emulator standing in for AWS."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs import harness
from labs.l235_stream_quality import lab as lab_mod
from labs.l235_stream_quality import solution
from sim.dataquality import Rules

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("2.3.5")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("2.3.5"), ctx)}


def failing(res: dict[str, harness.CheckResult]) -> dict[str, tuple[str, bool]]:
    return {n: (r.found, r.skipped) for n, r in res.items() if not r.passed}


def run_with(
    ctx: harness.LabContext, rules: Rules | None = None, keep_window: bool = True, **job: Any
) -> None:
    """The solution's flow with other rules, other arguments to the quality job, or a new
    window of recent ids for each run instead of one kept between them."""
    lab_mod.prepare(ctx)
    sent = lab_mod.clean_events(lab_mod.CLEAN_FIRST)
    lab_mod.send(ctx, lab_mod.as_bytes(sent))
    spark = ctx.spark()
    seen: OrderedDict[Any, None] = OrderedDict()
    solution.run_quality_job(ctx, spark, rules or solution.rules(), seen, **job)
    solution.inject_bad(ctx, sent)
    window = seen if keep_window else OrderedDict()
    solution.run_quality_job(ctx, spark, rules or solution.rules(), window, **job)


def test_nothing_done_then_the_skeleton(ctx: harness.LabContext) -> None:
    res = results(ctx)
    first = res["stream_with_clean_events"]
    assert not first.passed and "bdlab run 2.3.5" in first.hint
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)
    res = results(ctx)  # prepare() ran: the stream and its 200 clean events are there
    assert res["stream_with_clean_events"].passed
    lake = res["clean_events_in_lake"]
    assert not lake.passed and "2단계" in lake.hint and "delta" in lake.hint


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["first_batch"] == {"rows": lab_mod.CLEAN_FIRST, "batch": 0}
    assert out["second_batch"] == {"rows": lab_mod.CLEAN_SECOND + lab_mod.BAD_TOTAL, "batch": 1}
    assert out["quarantined"] == {
        "allowed:country": 1,
        "allowed:event_type": 1,
        "freshness:event_time": 1,
        "json": 2,
        "range:price": 2,
        "required:user_id": 1,
        "type:price": 1,
        "unique:event_id": 1,
    }
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 7


def test_rules_without_the_price_range_let_bad_prices_into_the_lake(
    ctx: harness.LabContext,
) -> None:
    rules = solution.rules()
    run_with(ctx, Rules(**{**vars(rules), "ranges": {"quantity": (1, 100)}}))
    res = results(ctx)
    bad = res["no_bad_record_in_lake"]
    assert not bad.passed and "range(range:price) 2건" in bad.found
    assert 'ranges에 "price": (0, 10_000)' in bad.hint
    # what follows from it is not a second thing to fix
    assert res["bad_records_quarantined_with_rule"].skipped
    assert res["pass_rate_dropped"].skipped
    assert res["clean_events_in_lake"].passed and res["failed_records_by_rule"].passed


@pytest.mark.slow  # another Spark run (~15 s); one broken variant stays in the default set
def test_metrics_in_another_namespace_are_not_seen(ctx: harness.LabContext) -> None:
    run_with(ctx, namespace="bdlab/qualty")
    res = results(ctx)
    assert failing(res).keys() == {"pass_rate_dropped", "failed_records_by_rule"}
    bad = res["pass_rate_dropped"]
    assert "데이터 포인트 없음" in bad.found and "pipeline=pipeline_name(ctx)" in bad.hint
    assert res["failed_records_by_rule"].skipped


@pytest.mark.slow  # another Spark run (~15 s); one broken variant stays in the default set
def test_a_new_id_window_per_run_lets_the_duplicate_through(ctx: harness.LabContext) -> None:
    """The duplicate repeats an event of the first run: only the window kept between the runs
    (seen=) knows it."""
    run_with(ctx, keep_window=False)
    bad = results(ctx)["no_bad_record_in_lake"]
    assert not bad.passed and "duplicate(unique:event_id) 1건" in bad.found
    assert "seen" in bad.hint


def test_aws_profile_path_against_the_emulator_standing_in(
    profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`bdlab --profile aws run 2.3.5 --solution` in a new process (its own Spark, whose JVM and
    Python workers get AWS's settings from the environment, as on a learner's machine): no
    endpoint, the default credential chain, AWS_ENDPOINT_URL pointing at the emulator; then
    the checks on the aws profile."""
    from sim import clients, profiles
    from tests.conftest import _KEPT_ENV, bdlab_env, run_bdlab

    aws_env = {
        "AWS_ENDPOINT_URL": profile.endpoint_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in aws_env.items():
        monkeypatch.setenv(k, v)
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None and real.access_key is None
    kept = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
    env = bdlab_env(tmp_path, int(cfg.values["port"]), **aws_env, **kept)
    clients.clear_cache()
    try:
        lab = harness.find("2.3.5")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        run = run_bdlab(["--profile", "aws", "run", "2.3.5", "--solution"], env, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        assert "on profile aws" in run.stdout
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(ctx)
    finally:
        clients.clear_cache()
