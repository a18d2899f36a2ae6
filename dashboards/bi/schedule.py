"""Refresh schedules evaluated on a clock (the emulator's): a schedule is due when one of its
slots (every 15 min, 30 min or hour; every day, week on a weekday or month on a day of the
month at HH:MM, in the schedule's time zone) began after the dataset's last refresh attempt. A dataset never imported is due at once (QuickSight imports a
new SPICE dataset when it is created). When a full and an incremental slot fall due together,
the full refresh runs.

No timer of its own: :meth:`Scheduler.tick` is called by whoever drives it (the app's
background thread every few seconds of wall time, a test after advancing the clock).
"""

from __future__ import annotations

import calendar
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dashboards.bi.registry import WEEKDAYS, Refresh
from dashboards.bi.spice import Spice

_MINUTES = {"15min": 15, "30min": 30, "hourly": 60}


def _slots_around(refresh: Refresh, now: float) -> list[float]:
    """Slot starts (epoch s) of a daily, weekly or monthly ``refresh`` from about a month
    before ``now`` to a month after, read as wall times in its zone (so a 02:00 Asia/Seoul
    slot is 17:00 UTC the day before, and a DST change moves the UTC instant, not the wall
    time)."""
    tz = ZoneInfo(refresh.timezone)
    local = datetime.fromtimestamp(now, tz)
    hh, mm = (int(x) for x in refresh.at.split(":"))
    days: list[date] = []
    if refresh.every == "monthly":
        for shift in (-1, 0, 1):
            y, m = divmod(local.year * 12 + local.month - 1 + shift, 12)
            last = calendar.monthrange(y, m + 1)[1]
            dom = last if refresh.on_day == "LAST_DAY_OF_MONTH" else int(refresh.on_day)
            days.append(date(y, m + 1, dom))
    else:
        span = 7 if refresh.every == "weekly" else 1
        want = WEEKDAYS.index(refresh.on_day) if refresh.every == "weekly" else None
        for shift in range(-span, span + 1):
            d = local.date() + timedelta(days=shift)
            if want is None or d.weekday() == want:
                days.append(d)
    return [datetime(d.year, d.month, d.day, hh, mm, tzinfo=tz).timestamp() for d in days]


def last_slot(refresh: Refresh, now: float) -> float:
    """Start (epoch s) of the latest slot of ``refresh`` at or before ``now``."""
    if not refresh.calendar:
        step = _MINUTES[refresh.every]
        local = datetime.fromtimestamp(now, ZoneInfo(refresh.timezone))
        floor = local.replace(minute=local.minute - local.minute % step, second=0, microsecond=0)
        return floor.astimezone(UTC).timestamp()
    return max(t for t in _slots_around(refresh, now) if t <= now)


def next_slot(refresh: Refresh, now: float) -> float:
    """Start (epoch s) of the first slot of ``refresh`` after ``now``."""
    if not refresh.calendar:
        return last_slot(refresh, now) + _MINUTES[refresh.every] * 60
    return min(t for t in _slots_around(refresh, now) if t > now)


def due(refreshes: tuple[Refresh, ...], last: float | None, now: float) -> str | None:
    """Which refresh is due at ``now`` after one at ``last`` (None: never): "full",
    "incremental" or None."""
    if not refreshes:
        return None if last is not None else "full"
    if last is None or last > now + 60:
        # never imported, or the clock went back (an emulator reset under a kept SPICE file)
        return "full"
    modes = {r.mode for r in refreshes if last_slot(r, now) > last}
    if "full" in modes:
        return "full"
    return "incremental" if modes else None


class Scheduler:
    """Runs the due refreshes of a :class:`Spice` store on its clock."""

    def __init__(self, store: Spice) -> None:
        self.store = store
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: str | None = None  # why the last tick could not read the clock
        self.first_pass = threading.Event()  # set once the thread's first tick has ended

    def tick(self, now: float | None = None) -> dict[str, str]:
        """Refresh every due dataset; returns {dataset: mode run}. A clock that cannot be read
        (the emulator down) sets :attr:`error` and refreshes nothing."""
        if now is None:
            try:
                now = self.store.clock()
            except Exception as exc:  # AdminError: the emulator is down; one line on the page
                self.error = str(exc)
                return {}
        self.error = None
        ran: dict[str, str] = {}
        for ds in self.store.registry.datasets:
            st = self.store.states[ds.name]
            last = st.last_attempt if st.last_attempt is not None else None
            mode = due(ds.refresh, last, now)
            if mode is not None:
                self.store.refresh(ds.name, mode, now=now)
                ran[ds.name] = mode
        return ran

    def next_due(self, name: str, now: float) -> float | None:
        """When dataset ``name``'s next scheduled refresh starts (epoch s), or None."""
        slots = [next_slot(r, now) for r in self.store.registry[name].refresh]
        return min(slots) if slots else None

    def start(
        self,
        every_s: float = 5.0,
        on_error: Callable[[BaseException], Any] | None = None,
        at_once: bool = False,
    ) -> None:
        """Tick every ``every_s`` s of wall time on a daemon thread (idempotent); with
        ``at_once`` the first tick runs at once (the first import, off the page's thread);
        :attr:`first_pass` is set when it has ended."""
        if self._thread is not None:
            return

        def guarded() -> None:
            try:
                self.tick()
            except Exception as exc:  # keep scheduling; the page shows dataset errors
                if on_error is not None:
                    on_error(exc)

        def loop() -> None:
            if at_once:
                guarded()
            self.first_pass.set()
            while not self._stop.wait(every_s):
                guarded()

        self._thread = threading.Thread(target=loop, name="bi-scheduler", daemon=True)
        self._thread.start()

    def stop(self, wait_s: float = 0.0) -> None:
        """Stop ticking; with ``wait_s`` wait up to that long for a refresh under way to end
        (a process must not exit while a thread is inside DuckDB: the C++ runtime aborts)."""
        self._stop.set()
        if wait_s and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(wait_s)
