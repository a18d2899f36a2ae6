"""Lab 3.2.6: the reference solution passes every check; broken variants fail with hints;
the scoped alarm evaluation (/_bdlab/cloudwatch/evaluate) leaves the shared clock alone."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l326_alerting import lab as lab_mod
from labs.l326_alerting import solution
from sim.admin import Admin, AdminError

pytestmark = pytest.mark.integration


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("3.2.6")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    ctx.options.pop("_l326", None)
    return {r.name: r for r in harness.run_checks(harness.find("3.2.6"), ctx)}


def test_solution_passes_all_checks_without_moving_the_clock(
    ctx: harness.LabContext, profile: Any
) -> None:
    admin = Admin.of(profile)
    before, t0 = admin.clock()["now"], time.time()
    out = solution.main(ctx)
    assert admin.clock()["now"] - before <= time.time() - t0 + 1  # the clock ran, no jump
    assert out["throttled"] > 0 and out["errors"] >= 3
    assert out["throttle_alarm"] == out["consumer_alarm"] == "ALARM"
    assert out["throttle_recovered"] == out["consumer_recovered"] == "OK"
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 6
    # no history item is stamped ahead of the shared clock
    cw = ctx.client("cloudwatch")
    now = admin.clock()["now"]
    for name in (lab_mod.throttle_alarm(ctx), lab_mod.consumer_alarm(ctx)):
        items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        assert all(i["Timestamp"].timestamp() <= now + 1 for i in items)


def test_learner_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_nothing_done_fails_first_check_with_hint(ctx: harness.LabContext) -> None:
    r = results(ctx)["topic_and_subscriptions"]
    assert not r.passed and "bdlab run 3.2.6" in r.hint


def test_breaching_missing_data_keeps_the_alarm_in_alarm(ctx: harness.LabContext) -> None:
    lab_mod.run(ctx, solution.topic, functools.partial(solution.alarms, treat_missing="breaching"))
    bad = results(ctx)["alarm_fired_and_recovered"]
    assert not bad.passed and "지금 ALARM" in bad.found and "notBreaching" in bad.hint


def test_no_ok_actions_means_recovery_is_not_notified(ctx: harness.LabContext) -> None:
    lab_mod.run(ctx, solution.topic, functools.partial(solution.alarms, ok_actions=False))
    r = results(ctx)
    assert r["alarm_fired_and_recovered"].passed  # the alarm recovers; nobody hears of it
    for name in ("sqs_one_per_transition", "http_one_per_transition", "email_one_per_transition"):
        assert not r[name].passed and "OKActions" in r[name].hint, name


def test_a_missing_subscription_is_named(ctx: harness.LabContext) -> None:
    topic = functools.partial(solution.topic, protocols=("sqs", "http"))
    lab_mod.run(ctx, topic, solution.alarms)
    bad = results(ctx)["topic_and_subscriptions"]
    assert not bad.passed and "email" in bad.found and "sns.subscribe" in bad.hint


def test_scoped_evaluation_refuses_unknown_alarms(profile: Any) -> None:
    admin = Admin.of(profile, "alarm_evaluate")
    with pytest.raises(AdminError, match="no metric alarm"):
        admin.evaluate_alarms(["bdlab-no-such-alarm"], 60)
    with pytest.raises(AdminError, match="ahead_s"):
        admin.evaluate_alarms(["x"], -1)


def test_aws_profile_path_against_the_emulator_standing_in(
    private_profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No scoped evaluation on AWS: the lab waits for CloudWatch's own evaluations every
    minute, which the stand-in's clock runs 60 times faster (its own emulator). No HTTP
    endpoint or mailbox there: checks 5 and 6 have nothing to read and pass."""
    from sim import clients, profiles

    monkeypatch.setenv("AWS_ENDPOINT_URL", private_profile.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None and not real.can("alarm_evaluate")
    assert not real.can("sns_local")
    admin = Admin.of(private_profile)
    admin.set_clock(speed=60)
    clients.clear_cache()
    try:
        lab = harness.find("3.2.6")
        c = harness.context(lab, real, cfg)
        lab.reset(c)
        out = solution.main(c)
        assert out["throttle_recovered"] == out["consumer_recovered"] == "OK"
        res = {r.name: r for r in harness.run_checks(lab, c)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(c)
    finally:
        admin.set_clock(speed=1)
        clients.clear_cache()
