"""What every verb group shares: the Typer app, the consoles, the settings and profile
resolved once per invocation, and the guard that turns expected failures into one line."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from sim import admin, clients, profiles, runtime, settings
from sim.emulator import server

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="bdlab: local AWS big-data pipeline lab (embedded | localstack | aws).",
)
# soft_wrap: a long line stays one line when output goes to a file or a pipe (80 columns).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@dataclass
class Resolved:
    """Settings and profile of this invocation, resolved once by the group callback."""

    cfg: settings.Settings | None = None
    profile: profiles.Profile | None = None


_resolved = Resolved()


def cfg() -> settings.Settings:
    if _resolved.cfg is None:  # only when a verb runs without the callback (never in use)
        resolve({})
    assert _resolved.cfg is not None
    return _resolved.cfg


def prof() -> profiles.Profile:
    if _resolved.profile is None:
        resolve({})
    assert _resolved.profile is not None
    return _resolved.profile


def resolve(overrides: dict[str, Any]) -> None:
    """Resolve settings and profile from the global flags (the one settings.load() call)."""
    _resolved.cfg = runtime.adopt_running_port(settings.load(overrides))
    _resolved.profile = profiles.resolve(_resolved.cfg)


def override(**changes: Any) -> None:
    """Apply a verb's own flags (e.g. ``up --port``) on top of the resolved settings."""
    if any(v is not None for v in changes.values()):
        _resolved.cfg = cfg().with_values(**changes)
        _resolved.profile = profiles.resolve(_resolved.cfg)


def note(message: str) -> None:
    """A side remark on stderr (stdout stays clean for --json)."""
    err_console.print(f"[dim]{escape(message)}[/]", highlight=False)


def fail(message: str, code: int = 2) -> None:
    # escaped: an AWS message such as "not found: [name]" is text, not rich markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _expected() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import NoCredentialsError, NoRegionError

    from labs.harness import LabError
    from spark.jars import JarsMissingError
    from spark.session import SparkSetupError

    return (
        clients.AccessError,
        NoCredentialsError,
        NoRegionError,
        settings.SettingsError,
        profiles.ProfileError,
        LabError,
        server.EmulatorError,
        runtime.NotReachable,
        admin.AdminError,
        JarsMissingError,
        SparkSetupError,
    )


def guard(fn: Any) -> Any:
    """Turn every expected failure into one actionable line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:
            if isinstance(exc, _expected()):
                fail(str(exc))
            import traceback  # unexpected: one line here, the traceback in a file

            path = Path(tempfile.gettempdir()) / "bdlab-last-error.txt"
            path.write_text(traceback.format_exc())
            fail(f"{type(exc).__name__}: {exc} (bdlab bug? traceback saved in {path})", 1)

    return wrapper


@app.callback()
def main(
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="embedded | localstack | aws (default: embedded)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port of the embedded emulator."),
    state_dir: str | None = typer.Option(None, "--state-dir", help="Emulator state folder."),
) -> None:
    try:
        resolve({"profile": profile, "port": port, "state_dir": state_dir})
    except (settings.SettingsError, profiles.ProfileError) as exc:
        fail(str(exc))
