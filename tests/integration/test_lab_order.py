"""Labs never harm each other: every lab's reference solution, run in course order and then
again in reverse order, leaves every lab's checks passing (design.md, "Layers")."""

from __future__ import annotations

import time
from typing import Any

import pytest

from labs import harness

# slow: every lab's solution twice is ~10 minutes on 2 cores with 13 labs; the default suite
# keeps each lab's own solution test, this invariant runs with -m slow (and before a stop)
pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]


def test_all_solutions_in_both_orders_leave_every_lab_passing(profile: Any, cfg: Any) -> None:
    labs = list(harness.discover().values())
    contexts = {lab.info.id: harness.context(lab, profile, cfg) for lab in labs}
    for lab in labs:
        lab.reset(contexts[lab.info.id])
    clock0 = contexts[labs[0].info.id].admin().clock()["now"]
    t0 = time.time()
    for lab in labs + labs[::-1]:
        lab.runner(True)(contexts[lab.info.id])
    failing = {}
    for lab in labs:
        bad = [r for r in harness.run_checks(lab, contexts[lab.info.id]) if not r.passed]
        if bad:
            failing[lab.info.id] = [(r.order, r.title, r.found) for r in bad]
    assert failing == {}
    # No lab pushed the shared clock: it moved no further than the wall clock did.
    moved = contexts[labs[0].info.id].admin().clock()["now"] - clock0
    assert moved <= (time.time() - t0) + 5, f"the shared clock moved {moved:.0f} s"
