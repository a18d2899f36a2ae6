"""Lab 1.2.5: the reference solution passes every check; broken variants fail with hints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l125_file_formats import lab as lab_mod
from labs.l125_file_formats import solution

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("1.2.5")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("1.2.5"), ctx)}


def test_skeleton_says_what_to_do(ctx: harness.LabContext) -> None:
    assert not results(ctx)["results_complete"].passed
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_solution_passes_then_doctored_results_fail(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["formats"] == 8
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 7
    s3 = ctx.client("s3")
    bucket = lab_mod.lab_bucket(ctx)
    rows = json.loads(s3.get_object(Bucket=bucket, Key=lab_mod.RESULTS_KEY)["Body"].read())
    for r in rows:
        if r["format"] == "orc":
            r["bytes"] = 1  # an invented number
    s3.put_object(Bucket=bucket, Key=lab_mod.RESULTS_KEY, Body=json.dumps(rows).encode())
    bad = results(ctx)["sizes_are_measured"]
    assert not bad.passed and "orc" in bad.expected and "Size" in bad.hint
