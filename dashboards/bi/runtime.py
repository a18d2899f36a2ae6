"""The BI dashboard's process-wide runtime: one SPICE store and its refresh scheduler per set
of app arguments, shared by every browser session (and by every rerun of the script: this
module is imported once per process, the script is executed again on each rerun).

:func:`prewarm` builds it when the server process starts (``dashboards.common.serve``), so
the first import of the datasets runs while Streamlit starts, not when the first page asks.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import threading
from pathlib import Path

from dashboards.bi import registry, schedule, spice
from dashboards.common import clock, launch

_lock = threading.Lock()
# argv -> (the datasets file's fingerprint, store, scheduler)
_runtimes: dict[tuple[str, ...], tuple[str, spice.Spice, schedule.Scheduler]] = {}


@functools.lru_cache(maxsize=16)
def _args(argv: tuple[str, ...]) -> launch.AppArgs:
    # parsed once per argument list: get() runs on every rerun of every page
    return launch.AppArgs.from_argv(list(argv))


def _fingerprint(datasets: Path | None) -> str:
    if datasets is None:
        return ""
    try:
        return hashlib.sha256(datasets.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"  # registry.load says why, in one line


def get(argv: tuple[str, ...]) -> tuple[spice.Spice, schedule.Scheduler]:
    """The store and scheduler for the app arguments ``argv`` (see
    :class:`dashboards.common.launch.AppArgs`), built on first use: the registry loaded (a
    broken datasets file raises :class:`registry.RegistryError`), the scheduler started with
    its first pass at once. The first import runs on the scheduler's thread, dataset by
    dataset: a page waits only for the datasets it shows first.

    An edited ``--datasets`` file is picked up on the next page load: the old store's
    scheduler is stopped and the new registry imported from scratch."""
    args = _args(argv)
    mark = _fingerprint(args.datasets)
    with _lock:
        held = _runtimes.get(argv)
        if held is not None and held[0] == mark:
            return held[1], held[2]
        reg = registry.load(args.datasets) if args.datasets else registry.default()
        if held is not None:
            _retire(held)
        store = spice.Spice(
            reg, args.profile, args.bucket, clock.for_profile(args.profile), args.spice_file()
        )
        sched = schedule.Scheduler(store)
        sched.start(every_s=args.tick_s, at_once=True)
        _runtimes[argv] = (mark, store, sched)
        return store, sched


def _retire(held: tuple[str, spice.Spice, schedule.Scheduler]) -> None:
    # The store stays open: a page rendering from it finishes on it; it goes with its last
    # reference. (With a SPICE file the new store opens the same database: DuckDB shares one
    # instance per file within a process.)
    held[2].stop()


def reset(wait_s: float = 30.0) -> None:
    """Forget every runtime, their schedulers stopped (waiting up to ``wait_s`` for a refresh
    under way): the next :func:`get` imports from scratch. For checks that must see the lake
    as it is now, and at exit (a thread inside DuckDB when the interpreter ends aborts the
    process: "terminate called after throwing an instance of ''")."""
    with _lock:
        held = list(_runtimes.values())
        _runtimes.clear()
    for h in held:
        h[2].stop(wait_s)


atexit.register(reset)


def prewarm(argv: tuple[str, ...]) -> None:
    """Build the runtime (its first import starts) and load what the first page's charts
    import (altair, through Streamlit's charts)."""
    get(argv)
    import altair  # noqa: F401  (Streamlit's charts import it on the first chart)
