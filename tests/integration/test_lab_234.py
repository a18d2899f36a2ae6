"""Lab 2.3.4: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs import harness
from labs.l234_realtime_etl import lab as lab_mod
from labs.l234_realtime_etl import solution

pytestmark = pytest.mark.integration

# the solution's handler without its try/except: one malformed record fails the whole batch
RAISES = (solution.TRANSFORM.read_text(encoding="utf-8")).replace(
    """        try:
            order = json.loads(raw)
        except ValueError:  # not JSON: to the error prefix, with the record as it came
            out.append({**_keep(record), "result": "ProcessingFailed"})
            continue
""",
    "        order = json.loads(raw)\n",
)
KEEPS_TESTS = solution.TRANSFORM.read_text(encoding="utf-8").replace(
    'if order.get("test"):', "if False:"
)


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("2.3.4")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    ctx.options.pop("_l234", None)
    return {r.name: r for r in harness.run_checks(harness.find("2.3.4"), ctx)}


def handler_file(tmp_path: Path, source: str) -> Path:
    assert source != solution.TRANSFORM.read_text(encoding="utf-8")  # the variant differs
    path = tmp_path / "transform.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["local_test"] == {"Ok": 1, "Dropped": 1, "ProcessingFailed": 1}
    assert out["failed"] == 0 and out["sent"] == lab_mod.ORDERS + len(lab_mod.MALFORMED)
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 6


def test_learner_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_nothing_done_fails_first_check_with_hint(ctx: harness.LabContext) -> None:
    r = results(ctx)["stream_configured"]
    assert not r.passed and "bdlab run 2.3.4" in r.hint


def test_a_handler_that_raises_sends_the_whole_batch_to_processing_failed(
    ctx: harness.LabContext, tmp_path: Path
) -> None:
    with pytest.raises(ValueError):  # the local try already shows it
        lab_mod.try_locally(handler_file(tmp_path, RAISES))
    # deployed anyway (as a learner skipping the local try would): Firehose retries the
    # invocation, then every record of the batch goes to processing-failed
    role = lab_mod.prepare(ctx)
    arn = lab_mod.deploy_transform(ctx, handler_file(tmp_path, RAISES))
    solution.glue_table(ctx)
    solution.create_delivery_stream(ctx, role, arn)
    lab_mod.send(ctx)
    r = results(ctx)
    assert r["stream_configured"].passed and r["glue_schema"].passed
    bad = r["partitioned_by_category_and_order_date"]
    assert not bad.passed and "processing-failed" in bad.found and "예외" in bad.hint


def test_arrival_time_partitions_are_caught(ctx: harness.LabContext) -> None:
    arrival = f"{lab_mod.DATA_PREFIX}category=!{{partitionKeyFromQuery:category}}/dt=!{{timestamp:yyyy-MM-dd}}/"
    solution.run(ctx, prefix=arrival, query="{category: .category}")
    bad = results(ctx)["partitioned_by_category_and_order_date"]
    assert not bad.passed and "event_time" in bad.hint


def test_test_orders_kept_are_caught(ctx: harness.LabContext, tmp_path: Path) -> None:
    solution.run(ctx, transform=handler_file(tmp_path, KEEPS_TESTS))
    r = results(ctx)
    assert r["every_order_once_transformed"].passed
    bad = r["test_orders_dropped"]
    assert not bad.passed and "10건" in bad.found and "Dropped" in bad.hint


def test_a_price_typed_as_string_is_caught(ctx: harness.LabContext) -> None:
    solution.run(ctx, schema={**lab_mod.SCHEMA, "price": "string"})
    bad = results(ctx)["glue_schema"]
    assert not bad.passed and "price" in bad.found and "double" in bad.hint


def test_aws_profile_path_against_the_emulator_standing_in(
    private_profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flush on AWS: the lab waits for the 60 s buffers, which the stand-in's clock runs
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
        lab = harness.find("2.3.4")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        solution.main(ctx)
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(ctx)
    finally:
        admin.set_clock(speed=1)
        clients.clear_cache()
