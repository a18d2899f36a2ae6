"""Lab 1.3.6: the reference solution passes every check; a broken variant fails with a hint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from labs import harness
from labs.l136_s3_optimisation import lab as lab_mod
from labs.l136_s3_optimisation import solution

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("1.3.6")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("1.3.6"), ctx)}


def test_skeleton_and_nothing_done(ctx: harness.LabContext) -> None:
    r = results(ctx)["small_files_problem_made"]
    assert not r.passed and "bdlab run" in r.hint and "NoSuchBucket" in r.found
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)


def test_solution_passes_then_skipped_compaction_fails(ctx: harness.LabContext) -> None:
    out = solution.main(ctx)
    assert out["small_files"] >= 100 and out["compacted_files"] <= 8
    # The committers were timed under the AWS-like cost model, which is off again afterwards.
    com = out["committers"]
    assert com["timing"] == "aws-model" and ctx.admin().costs()["model"] == "off"
    # The direction AWS shows, as the model charges it: every request waits first_byte_s, a
    # copy also its bytes, so the file committer (a COPY and DELETE per file, and the listings
    # around them) costs more than magic (no copies). A lower bound from the request counts;
    # deterministic, unlike wall time.
    first_byte = ctx.admin().costs()["first_byte_s"]
    charged = {n: first_byte * sum(com[n]["requests"].values()) for n in ("magic", "file")}
    assert charged["file"] > charged["magic"] + 0.5, com
    # Wall time is NOT asserted: on this 2-core machine with other Spark jobs running (load
    # 4-7) magic measured 6.2 s and 8.4 s against file's 5.8 s and 5.1 s; Spark's own jitter
    # outweighs the ~1.7 s the model adds between them at this lab's data size.
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 6
    # Pretend the learner measured the compacted scan without compacting.
    s3 = ctx.client("s3")
    bucket = lab_mod.lab_bucket(ctx)
    data = json.loads(s3.get_object(Bucket=bucket, Key=lab_mod.RESULTS_KEY)["Body"].read())
    data["scan_compacted"] = data["scan_small"]
    s3.put_object(Bucket=bucket, Key=lab_mod.RESULTS_KEY, Body=json.dumps(data).encode())
    bad = results(ctx)["fewer_requests_after_compaction"]
    assert not bad.passed and "request_counts" in bad.hint
