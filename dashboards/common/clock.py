"""The clock a dashboard schedules on: the emulator's (``/_bdlab/clock`` through
:mod:`sim.admin`), so that fast-forwarding it runs refreshes, or the wall clock on a profile
without an emulator clock (real AWS)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sim import admin, profiles


def for_profile(profile: profiles.Profile) -> Callable[[], float]:
    """A function returning "now" in epoch seconds for ``profile``; on the emulator it raises
    :class:`sim.admin.AdminError` (one line) while the emulator is down."""
    if not profile.can("admin") or not profile.endpoint_url:
        return time.time
    client = admin.Admin(profile.endpoint_url, timeout=3.0)
    return lambda: float(client.clock()["now"])
