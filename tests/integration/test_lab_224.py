"""Lab 2.2.4: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labs import harness
from labs.l224_log_streaming import lab as lab_mod
from labs.l224_log_streaming import solution

pytestmark = pytest.mark.integration


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("2.2.4")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    ctx.options.pop("_l224", None)
    return {r.name: r for r in harness.run_checks(harness.find("2.2.4"), ctx)}


def run_with(
    ctx: harness.LabContext, change: Callable[[dict[str, Any]], None], consume: bool = True
) -> None:
    """The solution's flow with one change to its agent.json."""
    lab_mod.prepare(ctx)
    server = lab_mod.web_server(ctx)
    server.write(lab_mod.BEFORE_AGENT)
    config = solution.agent_config(ctx)
    change(config["flows"][0])
    solution.ship(ctx, config)
    server.write(lab_mod.WHILE_STOPPED)
    server.rotate()
    server.write(lab_mod.WHILE_STOPPED)
    server.close()
    solution.ship(ctx, config)
    if consume:
        solution.consume(ctx)


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["first_run"]["sent"] == lab_mod.BEFORE_AGENT
    assert out["after_restart"]["sent"] == 2 * lab_mod.WHILE_STOPPED  # nothing sent twice
    assert out["consumed"] == lab_mod.TOTAL
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 5


def test_learner_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_nothing_done_fails_first_check_with_hint(ctx: harness.LabContext) -> None:
    r = results(ctx)["logs_and_stream_ready"]
    assert not r.passed and "bdlab run 2.2.4" in r.hint


def test_agent_started_at_end_of_file_misses_the_first_lines(ctx: harness.LabContext) -> None:
    run_with(ctx, lambda flow: flow.update(initialPosition="END_OF_FILE"))
    r = results(ctx)
    assert r["records_are_json"].passed
    bad = r["every_line_once"]
    assert not bad.passed and "3000줄 빠짐" in bad.found and "START_OF_FILE" in bad.hint


def test_pattern_without_rotated_files_misses_the_tail(ctx: harness.LabContext) -> None:
    """Lines written just before the rotation sit in access.log.1 when the agent restarts;
    a pattern matching only access.log never reads them (as the Kinesis Agent)."""
    run_with(ctx, lambda flow: flow.update(filePattern=str(lab_mod.log_dir(ctx) / "access.log")))
    bad = results(ctx)["every_line_once"]
    assert not bad.passed and "1000줄 빠짐" in bad.found and "access.log*" in bad.hint


def test_raw_lines_without_logtojson_are_caught(ctx: harness.LabContext) -> None:
    run_with(ctx, lambda flow: flow.pop("dataProcessingOptions"), consume=False)
    bad = results(ctx)["records_are_json"]
    assert not bad.passed and "LOGTOJSON" in bad.hint


def test_counts_by_hour_instead_of_minute_are_caught(
    ctx: harness.LabContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_minute = solution.minute_of
    monkeypatch.setattr(solution, "minute_of", lambda t: by_minute(t)[:13] + ":00")
    solution.main(ctx)
    bad = results(ctx)["status_counts_match"]
    assert not bad.passed and "datetime" in bad.hint


def test_aws_profile_path_against_the_emulator_standing_in(
    profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sim import clients, profiles

    monkeypatch.setenv("AWS_ENDPOINT_URL", profile.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None
    clients.clear_cache()
    try:
        lab = harness.find("2.2.4")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        solution.main(ctx)
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(ctx)
    finally:
        clients.clear_cache()
