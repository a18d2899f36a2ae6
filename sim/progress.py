"""Live progress for anything that takes more than a second or two: a spinner with the step's
name, its elapsed time and, while Spark runs, Spark's own job and stage progress (read from
``SparkContext.statusTracker()``), so a 70-second lab run is never silent.

Code that does work reports steps through a :class:`Reporter` (``LabContext.step``, the
demo); the CLI supplies a live one, tests and library use a silent one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console


class Reporter:
    """Receives step names; the base class is silent (library use, tests)."""

    def step(self, name: str) -> None:
        """A new step starts (the previous one, if any, ends)."""

    def done(self, name: str, seconds: float) -> None:
        """A step ended after ``seconds``."""


def spark_status() -> str:
    """'Spark job 3: stage 2/5, tasks 12/40' for the active local session, or ''."""
    try:
        from spark.session import active_context
    except ImportError:
        return ""
    sc = active_context()
    if sc is None:
        return ""
    try:
        tracker = sc.statusTracker()
        jobs = tracker.getActiveJobsIds()
        stages = tracker.getActiveStageIds()
        if not jobs and not stages:
            return ""
        done = total = 0
        for sid in stages:
            info = tracker.getStageInfo(sid)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
        job = f"job {max(jobs)}" if jobs else "job"
        return f"Spark {job}: {len(stages)} stage(s), tasks {done}/{total}"
    except Exception:  # the session may stop while we look: progress is best effort
        return ""


class LiveReporter(Reporter):
    """A rich status line: '<step> (12 s) - Spark job 4: 1 stage(s), tasks 3/8'."""

    def __init__(self, console: Console, extra: Callable[[], str] = spark_status) -> None:
        self.console = console
        self.extra = extra
        self.name = ""
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._status: Any = None
        self._thread: threading.Thread | None = None

    def step(self, name: str) -> None:
        self.name, self.started = name, time.monotonic()
        self._render()

    def done(self, name: str, seconds: float) -> None:
        self.console.print(f"  [green]✓[/] {name} [dim]({seconds:.1f} s)[/]", highlight=False)

    def _render(self) -> None:
        if self._status is None:
            return
        elapsed = time.monotonic() - self.started
        extra = self.extra()
        text = f"{self.name or 'working'} [dim]({elapsed:.0f} s)[/]"
        self._status.update(text + (f" [cyan]{extra}[/]" if extra else ""))

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._render()

    def __enter__(self) -> LiveReporter:
        self._status = self.console.status("starting", spinner="dots")
        self._status.__enter__()
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bdlab-progress")
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._status is not None:
            self._status.__exit__(*exc)
            self._status = None


@contextlib.contextmanager
def timed(reporter: Reporter, name: str) -> Iterator[None]:
    """Report ``name`` as the current step for the duration of the block."""
    t0 = time.monotonic()
    reporter.step(name)
    yield
    reporter.done(name, time.monotonic() - t0)
