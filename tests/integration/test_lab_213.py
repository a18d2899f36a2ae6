"""Lab 2.1.3: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l213_kinesis_streams import lab as lab_mod
from labs.l213_kinesis_streams import solution

pytestmark = pytest.mark.integration


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("2.1.3")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    ctx.options.pop("_l213_records", None)  # each run reads the stream afresh
    return {r.name: r for r in harness.run_checks(harness.find("2.1.3"), ctx)}


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["open_shards"] == lab_mod.TARGET_SHARDS and out["burst_sent"] == lab_mod.BURST
    assert out["throttled"] > 0  # the burst really met the per-shard limit
    hot = sorted(out["hot"].values())
    assert hot[-1] / sum(hot) > 0.75  # the country key makes a hot shard
    res = results(ctx)
    failed = {n: (r.found, r.hint) for n, r in res.items() if not r.passed}
    assert failed == {}
    assert len(res) == 5


def test_learner_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_nothing_done_fails_first_check_with_hint(ctx: harness.LabContext) -> None:
    r = results(ctx)["stream_active"]
    assert not r.passed and "create_stream" in r.hint


def _first_steps(ctx: harness.LabContext) -> None:
    solution.create_stream(ctx)
    events = lab_mod.sample_events()
    solution.hot_key(ctx, events)
    solution.spread_keys(ctx, events)
    solution.reshard_while_producing(ctx)


def _burst_items() -> list[dict[str, Any]]:
    return [
        {
            "Data": lab_mod.record({"burst_id": i, "event_time": ""}, lab_mod.PHASE_BURST),
            "PartitionKey": f"b{i}",
        }
        for i in range(lab_mod.BURST)
    ]


def test_burst_that_ignores_failed_entries_loses_records(ctx: harness.LabContext) -> None:
    """The classic mistake: PutRecords answered 200, so the code moves on."""
    _first_steps(ctx)
    kinesis = ctx.client("kinesis")
    items = _burst_items()
    failed = 0
    for i in range(0, len(items), 500):
        failed += kinesis.put_records(
            StreamName=lab_mod.stream_name(ctx), Records=items[i : i + 500]
        )["FailedRecordCount"]
    assert failed > 0
    r = results(ctx)
    assert r["resharded_in_order"].passed
    bad = r["burst_retried_without_loss"]
    assert not bad.passed and "FailedRecordCount" in bad.hint and f"{failed}건 빠짐" in bad.found


def test_burst_that_resends_whole_batches_duplicates(ctx: harness.LabContext) -> None:
    _first_steps(ctx)
    kinesis = ctx.client("kinesis")
    items = _burst_items()
    for i in range(0, len(items), 500):
        batch = items[i : i + 500]
        for _ in range(50):
            out = kinesis.put_records(StreamName=lab_mod.stream_name(ctx), Records=batch)
            if out["FailedRecordCount"] == 0:
                break
            ctx.admin("clock").set_clock(advance=1)  # wait a (simulated) second, resend all
    bad = results(ctx)["burst_retried_without_loss"]
    assert not bad.passed and "중복" in bad.found and "실패한 항목만" in bad.hint


def test_hot_key_step_sent_with_user_keys_is_caught(ctx: harness.LabContext) -> None:
    solution.create_stream(ctx)
    events = lab_mod.sample_events()
    from sim.kinesis.producer import Producer

    Producer(ctx.client("kinesis"), lab_mod.stream_name(ctx)).put(
        (lab_mod.record(e, lab_mod.PHASE_COUNTRY), str(e["user_id"])) for e in events.to_pylist()
    )
    r = results(ctx)
    assert r["stream_active"].passed
    bad = r["hot_key_seen"]
    assert not bad.passed and "country" in bad.hint


def test_aws_profile_path_against_the_emulator_standing_in(
    profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The aws profile's code path (no endpoint, default credential chain) with
    AWS_ENDPOINT_URL pointing at the emulator in place of AWS."""
    from sim import clients, profiles

    monkeypatch.setenv("AWS_ENDPOINT_URL", profile.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    real = profiles.resolve(cfg, "aws")
    assert real.endpoint_url is None and not real.can("clock")
    clients.clear_cache()
    try:
        lab = harness.find("2.1.3")
        ctx = harness.context(lab, real, cfg)
        lab.reset(ctx)
        solution.main(ctx)
        res = {r.name: r for r in harness.run_checks(lab, ctx)}
        assert {n: r.found for n, r in res.items() if not r.passed} == {}
        lab.reset(ctx)
    finally:
        clients.clear_cache()


def test_resharding_with_an_unordered_producer_is_caught(ctx: harness.LabContext) -> None:
    """Step 4 without ordered=True: a throttled 600 KB first record is resent after the small
    records of its key went through, and check 4 sees the key out of order."""
    from sim.kinesis.producer import Producer

    solution.create_stream(ctx)
    events = lab_mod.sample_events()
    solution.hot_key(ctx, events)
    solution.spread_keys(ctx, events)
    kinesis, name = ctx.client("kinesis"), lab_mod.stream_name(ctx)
    items = lab_mod.reshard_items()
    Producer(kinesis, name).put(items[:500])  # unordered: retries overtake
    kinesis.update_shard_count(
        StreamName=name, TargetShardCount=lab_mod.TARGET_SHARDS, ScalingType="UNIFORM_SCALING"
    )
    Producer(kinesis, name).put(items[500:])
    bad = results(ctx)["resharded_in_order"]
    assert not bad.passed and "ordered=True" in bad.hint, bad.found


def test_resharding_after_producing_is_not_resharding_while_producing(
    ctx: harness.LabContext,
) -> None:
    from sim.kinesis.producer import Producer

    solution.create_stream(ctx)
    events = lab_mod.sample_events()
    solution.hot_key(ctx, events)
    solution.spread_keys(ctx, events)
    kinesis, name = ctx.client("kinesis"), lab_mod.stream_name(ctx)
    Producer(kinesis, name, ordered=True).put(lab_mod.reshard_items())
    kinesis.update_shard_count(
        StreamName=name, TargetShardCount=lab_mod.TARGET_SHARDS, ScalingType="UNIFORM_SCALING"
    )
    bad = results(ctx)["resharded_in_order"]
    assert not bad.passed and "자식 샤드에 0건" in bad.found and "update_shard_count" in bad.hint
