"""``python -m dashboards.common.serve SCRIPT [streamlit options] -- [app arguments]``:
Streamlit's own command line (``streamlit run``, through ``streamlit.web.cli.main``, the
entry point ``python -m streamlit`` calls) in a process that first starts the dashboard's
warm-up on a thread: ``dashboards.<app>.runtime.prewarm(app_argv)`` when the script's folder
has one. Streamlit runs a script only when a browser session opens, so without it the first
page would pay for the heavy imports and the first dataset import; with it they overlap the
server's start-up."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def warm_up(script: Path, app_argv: tuple[str, ...]) -> threading.Thread | None:
    """Start ``dashboards.<script's folder>.runtime.prewarm(app_argv)`` on a daemon thread;
    None when that dashboard has no runtime module. Its failures are the page's to show (the
    page asks the same runtime again), so the thread swallows them."""
    try:
        mod = importlib.import_module(f"dashboards.{script.parent.name}.runtime")
    except ModuleNotFoundError:
        return None

    def run() -> None:
        try:
            mod.prewarm(app_argv)
        except Exception:  # the page reports it: it builds the runtime again and fails there
            pass

    thread = threading.Thread(target=run, name="dashboard-prewarm", daemon=True)
    thread.start()
    return thread


def skip_slow_optional_imports() -> None:
    """Keep out of this process an optional module that costs more than the whole page:
    jsonschema (under altair, which every chart imports) imports ``rfc3987_syntax`` when it
    is installed (Jupyter's dependencies install it) and that builds a grammar for 1.5 s, for
    an IRI format check no chart uses. Without it jsonschema skips that check, a path it
    supports (the module is optional)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


STOP_GRACE_S = 5.0


def exit_if_a_stop_is_lost(grace_s: float = STOP_GRACE_S) -> None:
    """Make Ctrl-C (and SIGTERM) always end the server. Streamlit's handler asks its server to
    stop; a stop that arrives before the server has started is lost (the runtime is stopped,
    then the server starts anyway and serves on: seen with Streamlit 1.67 in the first ~4 s).
    So the handler Streamlit installs is wrapped: after it runs, the process ends by itself
    ``grace_s`` seconds later if it is still there (a normal stop takes ~1 s)."""
    install = signal.signal

    def wrapped_install(signum: int, handler: Any) -> Any:
        if signum in (signal.SIGINT, signal.SIGTERM) and callable(handler):
            inner = handler

            def handler_then_deadline(n: int, frame: Any) -> None:
                inner(n, frame)
                timer = threading.Timer(grace_s, os._exit, args=(128 + n,))
                timer.daemon = True
                timer.start()

            return install(signum, handler_then_deadline)
        return install(signum, handler)

    signal.signal = wrapped_install  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m dashboards.common.serve SCRIPT [options] -- [args]")
    app_argv = tuple(argv[argv.index("--") + 1 :]) if "--" in argv else ()
    skip_slow_optional_imports()
    exit_if_a_stop_is_lost()
    warm_up(Path(argv[0]), app_argv)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *argv]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C before Streamlit's own handler is in place: no traceback
        sys.exit(130)
