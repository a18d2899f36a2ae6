"""Lab 3.1.4: the reference solution passes every check; broken datasets fail with hints.
The checks read what the dashboard serves (its registry, its SPICE store, its page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l314_bi_dashboard import lab as lab_mod
from labs.l314_bi_dashboard import solution

pytestmark = pytest.mark.integration


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("3.1.4"), ctx)}


@pytest.fixture(scope="module")
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    c = harness.context(harness.find("3.1.4"), profile, cfg)
    lab_mod.reset(c)
    yield c
    lab_mod.reset(c)


def test_skeleton_and_nothing_done(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)
    r = results(ctx)["datasets_defined"]
    assert not r.passed and "bdlab run 3.1.4" in r.hint


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    solution.main(ctx)
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 5


def test_broken_datasets_fail_with_hints(ctx: harness.LabContext) -> None:
    good = solution.datasets(ctx)
    # events refreshed in full every hour: the schedule check says how to do it incrementally
    no_incremental = [dict(d) for d in good]
    no_incremental[1] = {**good[1], "refresh": [{"mode": "full", "every": "hourly"}]}
    lab_mod.save_datasets(ctx, no_incremental, solution.visuals(ctx))
    r = results(ctx)["refresh_schedules"]
    assert not r.passed and "incremental" in r.hint
    # an aggregate with an incremental refresh is refused where the dashboard loads it
    grouped = [dict(d) for d in good]
    grouped[1] = {**good[1], "query": "SELECT country, count(*) AS n FROM source GROUP BY 1"}
    lab_mod.save_datasets(ctx, grouped)
    r = results(ctx)["datasets_defined"]
    assert not r.passed and "incremental refresh needs a row-by-row query" in r.found
    # a gold path with a typo: SPICE says which dataset failed
    typo = [dict(d) for d in good]
    typo[0] = {**good[0], "source": {"kind": "delta", "path": "gold/daily_revenu"}}
    lab_mod.save_datasets(ctx, typo)
    res = results(ctx)
    assert not res["spice_holds_the_lake"].passed
    assert "daily_revenue" in res["spice_holds_the_lake"].found
    # events whose query drops device, quantity and country: the visual has nothing to draw
    thin = [dict(d) for d in good]
    thin[1] = {**good[1], "query": "SELECT event_time, event_type, price FROM source"}
    lab_mod.save_datasets(ctx, thin, solution.visuals(ctx))
    res = results(ctx)
    assert res["spice_holds_the_lake"].passed  # the rows are all there ...
    assert not res["my_visual"].passed  # ... but the visual on them cannot be drawn
    # events without country: the KPI tiles (daily_revenue) still filter, but the drill-down
    # (events) cannot, and says so: check 4 fails with the dataset to fix
    no_country = [dict(d) for d in good]
    no_country[1] = {
        **good[1],
        "query": good[1]["query"].replace(", country", "").replace("country, ", ""),
    }
    assert "country" not in no_country[1]["query"]
    lab_mod.save_datasets(ctx, no_country, solution.visuals(ctx))
    r = results(ctx)["the_page_shows_the_lake"]
    assert not r.passed and "events has no country column" in r.found, r
    assert "country" in r.hint
    # the visual without its `where`: the numbers match by chance (non-purchases have
    # quantity 0 here), the check still asks for purchases only
    no_where = [{**solution.visuals(ctx)[0], "where": ""}]
    lab_mod.save_datasets(ctx, good, no_where)
    r = results(ctx)["my_visual"]
    assert not r.passed and "event_type = 'purchase'" in r.hint, r
    assert "view" in r.found
    # a visual counting views instead of summing purchases: check 5 says what revenue is
    wrong = [{**solution.visuals(ctx)[0], "where": "", "y": "price"}]
    lab_mod.save_datasets(ctx, good, wrong)
    r = results(ctx)["my_visual"]
    assert not r.passed and "price * quantity" in r.hint
    lab_mod.save_datasets(ctx, good, solution.visuals(ctx))
