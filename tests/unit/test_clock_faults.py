from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sim.emulator.clock import Clock
from sim.emulator.faults import FaultError, Faults


def test_clock_speed_and_advance() -> None:
    c = Clock(speed=1000)
    t0 = c.now()
    time.sleep(0.05)
    assert c.now() - t0 >= 40  # 50 ms at x1000 is ~50 s
    c.set_speed(1)
    before = c.now()
    c.advance(3600)
    assert c.now() - before >= 3600
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.set_speed(0)


def test_clock_never_goes_back_across_restart(tmp_path: Path) -> None:
    f = tmp_path / "clock.json"
    c = Clock(state_file=f)
    c.advance(86_400)
    ahead = c.now()
    c.save()
    c2 = Clock(state_file=f)
    assert c2.now() >= ahead


def test_sleep_until_follows_speed_changes() -> None:
    async def scenario() -> float:
        c = Clock(speed=1)
        target = c.now() + 300  # five simulated minutes
        t0 = time.monotonic()
        task = asyncio.create_task(c.sleep_until(target))
        await asyncio.sleep(0.05)
        c.set_speed(10_000)  # now it is due in ~30 ms
        await asyncio.wait_for(task, 5)
        return time.monotonic() - t0

    assert asyncio.run(scenario()) < 2


def test_faults_table(tmp_path: Path) -> None:
    f = Faults(tmp_path / "faults.json")
    assert f.decide("s3").kind is None and not f.active()
    f.set("s3", throttle_rate=1.0)
    assert f.decide("s3").kind == "throttle"
    assert f.decide("sqs").kind is None  # scoped to s3
    f.set("*", outage="true")
    assert f.decide("sqs").kind == "outage"
    assert Faults(tmp_path / "faults.json").active()  # persisted
    with pytest.raises(FaultError, match="unknown fault knob"):
        f.set("*", explode=1)
    with pytest.raises(FaultError, match="between 0 and 1"):
        f.set("*", error_rate=2)
    f.reset()
    assert not f.active()


def test_fault_dice_are_repeatable() -> None:
    a, b = Faults(), Faults()
    for x in (a, b):
        x.set("*", error_rate=0.3, seed=7)
    assert [a.decide("s3").kind for _ in range(50)] == [b.decide("s3").kind for _ in range(50)]
