"""Verbs that run work: setup (jars, Spark class archive), demo, bench, notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from sim import runtime
from sim.cli import common
from sim.cli.common import app, console, fail, guard, note


# -------------------------------------------------------------- setup & demo
@app.command()
@guard
def setup(
    offline: bool = typer.Option(False, "--offline", help="only verify the cache"),
    cds: bool = typer.Option(True, "--cds/--no-cds", help="train the Spark class archive"),
    kcl: bool = typer.Option(
        False, "--kcl", help="also fetch the Kinesis Client Library (Java, 76 MB) and amazon_kclpy"
    ),
) -> None:
    """Fetch Spark's extra jars once into the project's cache (then it works offline) and
    train the driver's class-data-sharing archive (faster Spark starts)."""
    from spark import jars

    cache = common.cfg().jars_path
    missing = jars.missing_jars(cache)
    if not missing:
        console.print(f"jars: all {len(jars.load_lock())} present in {cache}")
    else:
        _fetch_jars(cache, missing, offline)
    if cds:
        _train_cds(cache, verify_only=offline)
    if kcl:
        _fetch_kcl(cache, offline)


def _fetch_kcl(cache: Path, offline: bool) -> None:
    from sim.kinesis import kcl
    from spark import jars

    lock = jars.load_lock(kcl.LOCK)
    if kcl.missing(cache) == 0:
        console.print(f"kcl: all {len(lock)} jars and amazon_kclpy present in {cache / 'kcl'}")
        return
    with console.status("fetching the KCL's jars and amazon_kclpy (once)"):
        try:
            install = kcl.ensure_kcl(cache, offline=offline, repo=common.cfg().maven_repo)
        except kcl.KclMissingError as exc:
            common.fail(str(exc))
    console.print(f"kcl: {len(install.jars)} jars and amazon_kclpy in {cache / 'kcl'}")


def _fetch_jars(cache: Path, missing: list[Any], offline: bool) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from spark import jars

    total = sum(j.size for j in missing)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console
    ) as progress:
        task = progress.add_task(f"{len(missing)} jars", total=total)

        seen: dict[str, int] = {}

        def tick(spec: Any, done: int, size: int) -> None:  # done is cumulative per jar
            progress.update(
                task, advance=done - seen.get(spec.filename, 0), description=spec.filename
            )
            seen[spec.filename] = done

        jars.ensure_jars(cache, offline=offline, progress=tick, repo=common.cfg().maven_repo)
    console.print(f"jars: {len(jars.load_lock())} in {cache} ({total / 1e6:.1f} MB fetched)")


def _train_cds(cache: Path, verify_only: bool = False) -> None:
    """The driver's class-data-sharing archive (spark/cds.py), trained again when stale."""
    from spark import cds, jars, session

    cfg = common.cfg()
    java = session.java_binary()
    if java is None or session.java_version(java) is None:
        console.print("cds: skipped (no Java yet; Spark needs Java 17+)")
        return
    jar_paths = jars.ensure_jars(cache, offline=True)
    if cds.is_current(cfg, java, jar_paths):
        console.print(f"cds: Spark class archive is current ({cds.archive_path(cfg, java)})")
        return
    if verify_only:
        console.print("cds: no current Spark class archive; `bdlab setup` trains one")
        return
    console.print("cds: training the Spark class archive (once, ~1 min; faster Spark starts)")
    try:
        archive = cds.build(cfg, java, jar_paths)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        console.print(f"cds: not built, Spark works without it ({e})")
        return
    console.print(f"cds: {archive} ({archive.stat().st_size / 1e6:.0f} MB)")


@app.command()
@guard
def demo(
    rows: int = typer.Option(
        200_000, "--rows", min=1000, max=100_000_000, help="events to generate"
    ),
    as_json: bool = typer.Option(False, "--json"),
    dashboard: bool = typer.Option(
        False,
        "--dashboard",
        help="then start the BI dashboard and the monitoring console on the demo's data",
    ),
    browser: bool = typer.Option(
        True, "--browser/--no-browser", help="with --dashboard: open a browser tab for each"
    ),
) -> None:
    """The main job: data -> partitioned S3 lake -> Spark (s3a) -> Delta table -> results."""
    from sim import demo as demo_mod

    cfg, prof = common.cfg(), common.prof()
    runtime.ensure_up(prof, cfg, say=note)
    result = demo_mod.run(prof, cfg, rows=rows, console=None if as_json else console)
    if as_json:
        print(json.dumps(result, indent=1, default=str))
        return
    if not dashboard:
        note(
            "see it: `bdlab dashboard` (BI over the lake) and `bdlab dashboard --monitoring` "
            "(the pipeline's metrics, alarms and notifications), or `bdlab demo --dashboard`"
        )
        return
    # The demo's Spark JVM (about 1 GB) has nothing left to do while the dashboards run
    from spark import session

    session.stop(jvm=True)
    _open_dashboards(prof, demo_mod.demo_bucket(prof), browser, cfg.state_path / "spice")


def _open_dashboards(
    prof: Any, bucket: str, browser: bool = True, spice_dir: Path | None = None
) -> None:
    """Start both dashboards on the demo's data (two Streamlit servers on free ports, a
    browser tab each where there is a browser) until Ctrl-C; SPICE kept in ``spice_dir``."""
    from dashboards.common import launch

    try:
        launch.check_streamlit()
    except launch.LaunchError as exc:
        fail(str(exc))
    root = Path(launch.__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root.parent), env.get("PYTHONPATH", "")) if p
    )
    procs = []
    for name, app_dir, args in (
        ("BI dashboard", "bi", launch.AppArgs(prof, bucket, spice_dir=spice_dir)),
        ("Monitoring console", "monitoring", launch.AppArgs(prof)),
    ):
        port = launch.free_port()
        cmd = launch.command(root / app_dir / "app.py", port, args)
        procs.append(
            subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        )
        if browser:
            launch.open_when_up(f"http://127.0.0.1:{port}/")
        console.print(f"{name}: http://127.0.0.1:{port}/")
    console.print("Ctrl-C stops both.")
    try:
        for p in procs:
            p.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guard
def bench(ctx: typer.Context) -> None:
    """Run the S3 benchmark (scripts/bench/s3_bench.py) and print its table."""
    import subprocess

    script = common.cfg().root / "scripts" / "bench" / "s3_bench.py"
    if not script.exists():
        fail(f"{script} not found: benchmarks ship with the source checkout.")
    raise typer.Exit(subprocess.call([sys.executable, str(script), *ctx.args]))


@app.command()
@guard
def notebook(
    port: int = typer.Option(8888, "--port"),
    token: str | None = typer.Option(None, "--token", help="default: a random one"),
) -> None:
    """Start JupyterLab on 127.0.0.1 with the course notebooks (`from spark.notebook import spark`)."""
    import secrets
    import socket

    root = common.cfg().root / "notebooks"
    if not root.is_dir():
        fail(f"{root} not found: notebooks ship with the source checkout.")
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            fail(f"port {port} on 127.0.0.1 is in use: pick another with --port.")
    tok = token or secrets.token_hex(16)
    console.print(f"JupyterLab: http://127.0.0.1:{port}/lab?token={tok}  (Ctrl-C stops it)")
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        f"--IdentityProvider.token={tok}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        cmd.append("--allow-root")
    sys.stdout.flush()
    # Become JupyterLab (no child left behind when this process is stopped).
    os.execv(sys.executable, cmd)
