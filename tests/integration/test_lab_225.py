"""Lab 2.2.5: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness, streaming
from labs.l225_firehose_emr import lab as lab_mod
from labs.l225_firehose_emr import solution

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("2.2.5")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    ctx.options.pop("_l225", None)
    return {r.name: r for r in harness.run_checks(harness.find("2.2.5"), ctx)}


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["sent"] == lab_mod.EVENTS and out["objects"] >= 1
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 5


def test_learner_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_nothing_done_fails_first_check_with_hint(ctx: harness.LabContext) -> None:
    r = results(ctx)["delivery_stream_reads_kinesis"]
    assert not r.passed and "bdlab run 2.2.5" in r.hint


def test_firehose_default_layout_is_not_hive_style(ctx: harness.LabContext) -> None:
    solution.run(ctx, prefix=lab_mod.RAW_PREFIX, with_emr=False)
    r = results(ctx)
    assert r["delivery_stream_reads_kinesis"].passed
    bad = r["hive_partitions_gzip"]
    assert not bad.passed and "year=" in bad.hint


def test_records_without_newlines_are_caught(ctx: harness.LabContext) -> None:
    solution.run(ctx, newline=False, with_emr=False)
    r = results(ctx)
    assert r["hive_partitions_gzip"].passed
    bad = r["every_event_delivered_once"]
    assert not bad.passed and "\\n" in bad.hint


def test_events_sent_before_the_delivery_stream_are_not_read(ctx: harness.LabContext) -> None:
    """Firehose reads a Kinesis source from LATEST: what came before its creation stays."""
    role = lab_mod.prepare(ctx)
    solution.produce(ctx, lab_mod.events())
    solution.create_delivery_stream(ctx, role)
    streaming.wait_active(ctx, lab_mod.delivery_stream(ctx))
    assert streaming.deliver(ctx, lab_mod.delivery_stream(ctx), lab_mod.bucket(ctx), 60) == []
    bad = results(ctx)["hive_partitions_gzip"]
    assert not bad.passed and "LATEST" in bad.hint


@pytest.mark.slow  # a second EMR step (~20 s); the cheap broken variants stay in the default set
def test_the_unfinished_job_fails_the_step_with_its_cause(ctx: harness.LabContext) -> None:
    from spark.emr import EmrError

    with pytest.raises(EmrError):
        solution.run(ctx, job=lab_mod.JOB_FILE)  # the learner's hourly_job.py, as shipped
    r = results(ctx)
    assert r["every_event_delivered_once"].passed
    bad = r["emr_step_completed"]
    assert not bad.passed and "FAILED" in bad.found and "NotImplementedError" in bad.found


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An emulator of this module's own that runs EMR steps (its clock may run fast)."""
    from sim import profiles
    from sim.emulator.server import ThreadedEmulator
    from spark.submit import LocalSparkSubmit
    from tests.conftest import settings_for

    state = tmp_path_factory.mktemp("stand-in")
    emu = ThreadedEmulator(state, launcher=LocalSparkSubmit(settings_for(state))).start()
    yield profiles.resolve(settings_for(state, port=emu.port), "embedded")
    emu.stop()


def test_aws_profile_path_against_the_emulator_standing_in(
    stand_in: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flush on AWS: the lab waits for the 60 s buffer, which the stand-in's clock runs
    30 times faster (its own emulator: no other test's clock moves)."""
    from sim import clients, profiles
    from sim.admin import Admin

    monkeypatch.setenv("AWS_ENDPOINT_URL", stand_in.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None and not real.can("firehose_flush")
    admin = Admin.of(stand_in)
    admin.set_clock(speed=30)
    clients.clear_cache()
    try:
        lab = harness.find("2.2.5")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        solution.main(ctx)
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(ctx)
    finally:
        admin.set_clock(speed=1)
        clients.clear_cache()
