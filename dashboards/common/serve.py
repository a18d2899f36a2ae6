"""``python -m dashboards.common.serve SCRIPT [streamlit options] -- [app arguments]``:
Streamlit's own command line (``streamlit run``, through ``streamlit.web.cli.main``, the
entry point ``python -m streamlit`` calls) in a process that first starts the dashboard's
warm-up on a thread: ``dashboards.<app>.runtime.prewarm(app_argv)`` when the script's folder
has one. Streamlit runs a script only when a browser session opens, so without it the first
page would pay for the heavy imports and the first dataset import; with it they overlap the
server's start-up."""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path


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


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m dashboards.common.serve SCRIPT [options] -- [args]")
    app_argv = tuple(argv[argv.index("--") + 1 :]) if "--" in argv else ()
    skip_slow_optional_imports()
    warm_up(Path(argv[0]), app_argv)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *argv]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])
