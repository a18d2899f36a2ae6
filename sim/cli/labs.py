"""Verbs about labs: labs, run, check, reset."""

from __future__ import annotations

import json
import shutil
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sim import progress, runtime
from sim.cli.common import app, cfg, console, err_console, fail, guard, note, prof
from sim.emulator import server


@app.command("labs")
@guard
def labs_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the labs with your progress (on the active profile)."""
    from labs import harness

    p = prof()
    progress = harness.load_progress(cfg(), p.name)
    rows: list[dict[str, Any]] = []
    for lab_id, lab in harness.discover().items():
        entry = progress.get(lab_id, {})
        rows.append(
            {
                "id": lab_id,
                "title": lab.info.title,
                "part": lab.info.part,
                "status": "broken" if lab.broken else entry.get("status", "not started"),
                "checks": f"{entry['passed']}/{entry['total']}" if entry else "",
                "folder": str(lab.path),
                "problem": lab.broken,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    t = Table("lab", "title", "status", "checks", title=f"profile {p.name}", title_justify="left")
    for r in rows:
        color = {"passed": "green", "failed": "red", "broken": "red"}.get(r["status"], "dim")
        t.add_row(r["id"], r["title"], f"[{color}]{r['status']}[/]", r["checks"])
    console.print(t)
    for r in rows:
        if r["problem"]:
            err_console.print(f"[red]{r['id']}:[/] {r['problem']}", highlight=False)


def _faults_active(p: Any) -> bool:
    """Whether injected faults are on (then say so: results will differ from AWS's)."""
    if not p.can("faults"):
        return False
    from sim.admin import Admin

    try:
        active = bool(Admin.of(p, "faults").health().get("faults_active"))
    except Exception:  # an emulator too old or unreachable: no warning rather than an error
        return False
    if active:
        note(
            "injected faults are active: `bdlab faults` shows them, `bdlab faults --reset` clears them"
        )
    return active


@app.command()
@guard
def run(
    lab_id: str = typer.Argument(..., help="lab id, e.g. 1.2.4"),
    solution: bool = typer.Option(False, "--solution", help="run the reference solution"),
) -> None:
    """Run a lab's code (yours, or the reference solution) against the active profile."""
    from labs import harness

    lab = harness.find(lab_id)
    c, p = cfg(), prof()
    lab.require_importable()
    runtime.ensure_up(p, c, say=note)
    faulty = _faults_active(p)
    console.print(
        f"running lab {lab.info.id} {lab.info.title} "
        f"({'solution' if solution else 'lab.py'}) on profile {p.name}"
    )
    t0 = time.perf_counter()
    main = lab.runner(solution)
    try:
        with progress.LiveReporter(console) as reporter:
            result = main(harness.context(lab, p, c, reporter))
    except NotImplementedError as exc:
        fail(f"{exc}  ({lab.path / 'lab.py'})", 1)
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:  # the learner's own code raised: show it as theirs
        if solution and faulty:
            fail(
                f"the reference solution stopped with {type(exc).__name__}: {exc} - injected "
                "faults are active (`bdlab faults` shows them, `bdlab faults --reset` clears them).",
                1,
            )
        if solution:
            raise
        err_console.print(harness.student_traceback(lab, exc), highlight=False, markup=False)
        fail(f"lab {lab.info.id}: your code stopped with {type(exc).__name__} (above).", 1)
    console.print(f"[green]done[/] in {time.perf_counter() - t0:.1f} s")
    _show_result(result)
    console.print(f"next: `bdlab check {lab.info.id}`")


def _rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    t = Table(*cols, title=title, title_justify="left")
    for r in rows:
        t.add_row(*(_cell(r.get(c, "")) for c in cols))
    return t


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _show_result(result: object) -> None:
    """A lab's return value as tables: scalars as key/value rows, lists of records (e.g.
    1.2.5's format comparison) as a table each, flat mappings on one row."""
    if not isinstance(result, dict):
        if result is not None:
            console.print(str(result))
        return
    t = Table(show_header=False, box=None)
    tables = []
    commands = []
    for k, v in result.items():
        if isinstance(v, str) and v.startswith("bdlab "):
            commands.append((k, v))  # a command to copy: its own line, never wrapped
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            tables.append(_rows_table(str(k), v))
        elif isinstance(v, dict) and v and all(not isinstance(x, dict | list) for x in v.values()):
            t.add_row(f"[dim]{k}[/]", ", ".join(f"{a}={_cell(b)}" for a, b in v.items()))
        else:
            t.add_row(f"[dim]{k}[/]", _cell(v))
    console.print(t)
    for table in tables:
        # Into a pipe or a file the console is 80 columns, and a 10-column comparison (1.2.5)
        # would be cut to "11,2…": there, print it at the width it needs.
        needed = console.measure(table, options=console.options.update_width(1000)).maximum
        if console.is_terminal or needed <= console.width:
            console.print(table)
        else:
            Console(file=console.file, width=needed, soft_wrap=True).print(table)
    for k, cmd in commands:
        console.print(f"{k}: {cmd}", soft_wrap=True, highlight=False, markup=False)


@app.command()
@guard
def check(
    lab_id: str = typer.Argument(..., help="lab id, e.g. 1.2.4"),
    as_json: bool = typer.Option(False, "--json"),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="also show the exception of a check that crashed"
    ),
) -> None:
    """Run a lab's checks against real state; failures say expected, found and a hint."""
    from labs import harness

    lab = harness.find(lab_id)
    c, p = cfg(), prof()
    lab.require_importable()
    runtime.ensure_up(p, c, say=note)
    _faults_active(p)
    results = harness.run_checks(lab, harness.context(lab, p, c))
    harness.record(c, lab, p.name, results)
    passed = sum(r.passed for r in results)
    if as_json:
        print(
            json.dumps(
                {
                    "lab": lab.info.id,
                    "profile": p.name,
                    "passed": passed,
                    "total": len(results),
                    "checks": harness.results_json(results),
                },
                indent=1,
                ensure_ascii=False,
            )
        )
    else:
        console.print(f"[bold]{lab.info.id} {lab.info.title}[/] (profile {p.name})")
        for r in results:
            if r.passed:
                console.print(f"  [green]✓[/] {r.order}. {r.title}")
            elif r.skipped:
                console.print(f"  [dim]- {r.order}. {r.title}  ({r.hint})[/]", highlight=False)
                if verbose and r.details:
                    console.print(f"      자세히: {r.details}", highlight=False, markup=False)
            else:
                console.print(f"  [red]✗[/] {r.order}. {r.title}")
                console.print(f"      기대: {r.expected}", highlight=False, markup=False)
                console.print(f"      실제: {r.found}", highlight=False, markup=False)
                console.print(f"      [yellow]힌트:[/] {r.hint}", highlight=False)
                if verbose and r.details:
                    console.print(f"      자세히: {r.details}", highlight=False, markup=False)
        console.print(f"{passed}/{len(results)} checks passed")
    if passed != len(results):
        raise typer.Exit(1)


@app.command()
@guard
def reset(
    lab_id: str | None = typer.Argument(None, help="a lab id; without it: ALL state"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask"),
) -> None:
    """Reset one lab (its resources), or wipe the whole emulator state folder."""
    c, p = cfg(), prof()
    if lab_id:
        from labs import harness

        lab = harness.find(lab_id)
        runtime.ensure_up(p, c, say=note)
        removed = lab.reset(harness.context(lab, p, c))
        harness.forget(c, lab, p.name)
        if isinstance(removed, int) and not isinstance(removed, bool):
            console.print(f"lab {lab.info.id} reset ({removed} objects removed)")
        else:
            console.print(f"lab {lab.info.id} reset")
        return
    state = c.state_path
    if not yes:
        if not sys.stdin.isatty():
            fail(f"refusing to wipe {state} without confirmation: add --yes.")
        typer.confirm(f"Delete ALL emulator state in {state}?", abort=True)
    pid = server.stop_background(state)
    if state.exists():
        shutil.rmtree(state)
    console.print(f"wiped {state}" + (f" (stopped emulator pid {pid})" if pid else ""))
