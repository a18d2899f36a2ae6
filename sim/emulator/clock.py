"""The emulator's clock: every timer in every provider reads it.

Simulated time runs at ``speed`` times wall time and can be advanced by hand, so a 5-minute
Firehose buffer or a 60-second alarm period can take a second in a demo or a test.
The clock never runs backwards, also across restarts (its offset is saved in the state folder).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any


class Clock:
    """Simulated wall-clock time in epoch seconds."""

    def __init__(self, speed: float = 1.0, state_file: Path | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be > 0")
        self._lock = threading.Lock()
        self._state_file = state_file
        self._anchor_mono = time.monotonic()
        self._anchor_sim = time.time()
        self._speed = float(speed)
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if state_file is not None and state_file.exists():
            saved = json.loads(state_file.read_text())
            # Never go back behind the last saved simulated instant.
            self._anchor_sim = max(
                self._anchor_sim + saved.get("offset", 0.0), saved.get("sim", 0.0)
            )

    def now(self) -> float:
        """Simulated epoch seconds."""
        with self._lock:
            return self._anchor_sim + (time.monotonic() - self._anchor_mono) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def _reanchor(self) -> None:
        mono = time.monotonic()
        self._anchor_sim += (mono - self._anchor_mono) * self._speed
        self._anchor_mono = mono

    def set_speed(self, speed: float) -> None:
        if not (0 < speed <= 100_000):
            raise ValueError("clock speed must be in (0, 100000]")
        with self._lock:
            self._reanchor()
            self._speed = float(speed)
        self._notify()

    def advance(self, seconds: float) -> None:
        """Jump forward; timers due in the skipped span fire at once."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._reanchor()
            self._anchor_sim += seconds
        self._notify()

    def state(self) -> dict[str, Any]:
        now = self.now()
        return {"now": now, "speed": self._speed, "offset": now - time.time()}

    def save(self) -> None:
        if self._state_file is None:
            return
        st = self.state()
        tmp = self._state_file.with_suffix(".tmp")
        try:
            tmp.write_text(
                json.dumps({"sim": st["now"], "offset": st["offset"], "speed": st["speed"]})
            )
            tmp.replace(self._state_file)
        except OSError:  # the state folder was removed under us (bdlab reset): nothing to keep
            pass

    def _notify(self) -> None:
        self.save()
        if self._loop is not None and self._changed is not None:
            self._loop.call_soon_threadsafe(self._changed.set)

    async def sleep_until(self, sim_ts: float) -> None:
        """Sleep until simulated time ``sim_ts``, following speed changes and jumps."""
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._loop, self._changed = loop, asyncio.Event()
        while True:
            remaining = sim_ts - self.now()
            if remaining <= 0:
                return
            changed = self._changed
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), timeout=remaining / self._speed)
            except TimeoutError:
                pass

    async def sleep(self, sim_seconds: float) -> None:
        await self.sleep_until(self.now() + sim_seconds)
