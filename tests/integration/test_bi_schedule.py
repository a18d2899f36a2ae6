"""Refresh schedules on the emulator clock: the clock is fast-forwarded (on an emulator of
this module's own), never waited for; each due slot runs its refresh, full before
incremental, and the refresh times are the emulator's."""

from __future__ import annotations

import io
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dashboards.bi import registry, sample, schedule, spice
from dashboards.common import clock
from sim import admin, clients, profiles, s3util
from tests.conftest import free_port

pytestmark = pytest.mark.integration

BUCKET = "bi-schedule"
DAY = 86_400


def _put(s3: Any, key: str, n: int) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"n": list(range(n))}), buf)
    s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())


def _gold(day: str) -> pa.Table:
    return pa.table({"dt": [day, day], "country": ["KR", "US"], "revenue": [1.0, 2.0]})


@pytest.fixture(scope="module")
def store(private_profile: profiles.Profile) -> spice.Spice:
    s3 = clients.client("s3", private_profile)
    s3util.ensure_bucket(s3, BUCKET, private_profile.region)
    _put(s3, "raw/a/part-0.parquet", 5)
    sample.write_delta(
        private_profile, f"s3://{BUCKET}/gold/g", _gold("2026-01-12"), partition_by=["dt"]
    )
    reg = registry.parse(
        [
            {
                "name": "raw_a",
                "source": {"kind": "s3", "path": "raw/a/"},
                "refresh": [{"mode": "incremental", "every": "15min"}],
            },
            {
                "name": "gold_g",
                "source": {"kind": "delta", "path": "gold/g"},
                "refresh": [
                    {"mode": "full", "every": "daily", "at": "02:00"},
                    {"mode": "incremental", "every": "30min"},
                ],
            },
        ]
    )
    return spice.Spice(reg, private_profile, BUCKET, clock.for_profile(private_profile))


def _advance_to(adm: admin.Admin, target: float) -> float:
    now = float(adm.clock()["now"])
    adm.set_clock(advance=max(0.0, target - now))
    return float(adm.clock()["now"])


def test_slots_run_on_the_emulator_clock(
    store: spice.Spice, private_profile: profiles.Profile
) -> None:
    adm = admin.Admin.of(private_profile, "clock")
    sched = schedule.Scheduler(store)
    assert sched.tick() == {"raw_a": "full", "gold_g": "full"}  # first import
    assert sched.tick() == {}  # nothing due within the same slot
    s3 = clients.client("s3", private_profile)
    _put(s3, "raw/a/part-1.parquet", 3)
    sample.write_delta(
        private_profile, f"s3://{BUCKET}/gold/g", _gold("2026-01-13"), mode="append",
        partition_by=["dt"],
    )  # fmt: skip
    before = float(adm.clock()["now"])
    # just past a half hour at least 30 minutes on (the next one may be a minute away, and
    # the emulator's lead over the wall clock is asserted below): the 15-min and the 30-min
    # incremental slots are due
    half = schedule.next_slot(registry.Refresh("incremental", "30min"), before + 1800)
    now = _advance_to(adm, half + 60)
    daily_passed = schedule.last_slot(registry.Refresh("full", "daily", "02:00"), now) > before
    ran = sched.tick()
    assert ran == {"raw_a": "incremental", "gold_g": "full" if daily_passed else "incremental"}
    assert (store.states["raw_a"].rows, store.states["raw_a"].last_mode) == (8, "incremental")
    assert store.states["gold_g"].rows == 4
    # the refresh time is the emulator's (ahead of the wall clock), not the host's
    assert store.states["raw_a"].last_refresh == pytest.approx(now, abs=5)
    assert store.states["raw_a"].last_refresh > time.time() + 600  # type: ignore[operator]
    # the next day at 02:00 UTC: the daily full refresh wins over the incremental one
    two_am = schedule.next_slot(registry.Refresh("full", "daily", "02:00"), now)
    assert sched.next_due("gold_g", now) == min(two_am, schedule.next_slot(
        registry.Refresh("incremental", "30min"), now))  # fmt: skip
    _advance_to(adm, two_am + 1)
    assert sched.tick() == {"raw_a": "incremental", "gold_g": "full"}
    assert store.states["gold_g"].last_mode == "full"
    assert [h["mode"] for h in store.states["gold_g"].history][-1] == "full"


def test_the_background_thread_ticks_and_an_unreadable_clock_is_one_line(
    store: spice.Spice, private_profile: profiles.Profile
) -> None:
    adm = admin.Admin.of(private_profile, "clock")
    sched = schedule.Scheduler(store)
    sched.tick()
    _put(clients.client("s3", private_profile), "raw/a/part-2.parquet", 2)
    rows = store.states["raw_a"].rows
    _advance_to(adm, schedule.next_slot(registry.Refresh("incremental", "15min"),
                                        float(adm.clock()["now"])) + 1)  # fmt: skip
    sched.start(every_s=0.1)
    try:
        deadline = time.monotonic() + 10  # the thread's wall-time tick, not a schedule
        while store.states["raw_a"].rows == rows and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sched.stop()
    assert store.states["raw_a"].rows == rows + 2
    down = profiles.from_options(
        {**profiles.to_options(private_profile), "endpointUrl": f"http://127.0.0.1:{free_port()}"}
    )
    broken = spice.Spice(store.registry, down, BUCKET, clock.for_profile(down))
    s = schedule.Scheduler(broken)
    assert s.tick() == {} and s.error is not None and "does not answer" in s.error
