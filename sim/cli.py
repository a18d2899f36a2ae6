"""The `bdlab` command: one group for the emulator, labs, demo, setup and diagnostics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sim import profiles, runtime, settings
from sim.emulator import server

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="bdlab: local AWS big-data pipeline lab (embedded | localstack | aws).",
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class _State:
    overrides: dict[str, Any] = {}


def _settings() -> settings.Settings:
    return settings.load(_State.overrides)


def _profile(cfg: settings.Settings | None = None) -> profiles.Profile:
    return profiles.resolve(cfg or _settings())


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _guard(fn: Any) -> Any:
    """Turn every expected failure into one actionable line and exit code 2."""
    import functools

    from labs.harness import LabError
    from spark.jars import JarsMissingError

    expected: tuple[type[BaseException], ...] = (
        settings.SettingsError,
        profiles.ProfileError,
        LabError,
        server.EmulatorError,
        runtime.NotReachable,
        JarsMissingError,
    )
    try:
        from spark.session import SparkSetupError

        expected += (SparkSetupError,)
    except ImportError:
        pass

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except expected as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # unexpected: one line here, the traceback in a file
            import traceback

            path = Path(tempfile.gettempdir()) / "bdlab-last-error.txt"
            path.write_text(traceback.format_exc())
            _fail(f"{type(exc).__name__}: {exc} (bdlab bug? traceback saved in {path})", 1)

    return wrapper


@app.callback()
def main(
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="embedded | localstack | aws (default: embedded)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port of the embedded emulator."),
    state_dir: str | None = typer.Option(None, "--state-dir", help="Emulator state folder."),
) -> None:
    _State.overrides = {"profile": profile, "port": port, "state_dir": state_dir}
    try:
        profiles.resolve(_settings())
    except (settings.SettingsError, profiles.ProfileError) as exc:
        _fail(str(exc))


# ----------------------------------------------------------------- emulator
@app.command()
@_guard
def up(
    foreground: bool = typer.Option(False, "--foreground", help="Run in this terminal."),
    clock_speed: float | None = typer.Option(None, "--clock-speed"),
) -> None:
    """Start the embedded emulator (background by default)."""
    cfg = _settings()
    prof = _profile(cfg)
    if not prof.runs_embedded_emulator:
        _fail(
            f"profile {prof.name!r} has no embedded emulator ({prof.summary}); "
            "`bdlab up` is for the embedded profile."
        )
    speed = clock_speed if clock_speed is not None else cfg.clock_speed
    if foreground:
        console.print(f"bdlab emulator on {prof.endpoint_url} (Ctrl-C stops it)")
        server.serve(cfg.host, cfg.port, cfg.state_path, speed, cfg.fsync, cfg.log_level)
        return
    t0 = time.perf_counter()
    existing = server.running(cfg.state_path)
    if existing is not None and runtime.emulator_health(prof) is not None:
        console.print(f"already running: pid {existing.pid} on {prof.endpoint_url}")
        return
    pid, h = server.start_background(
        cfg.host, cfg.port, cfg.state_path, speed, cfg.fsync, cfg.log_level
    )
    console.print(
        f"[green]up[/] pid {pid} on {prof.endpoint_url} in "
        f"{time.perf_counter() - t0:.2f} s; state in {cfg.state_path} "
        f"({h['s3']['buckets']} buckets, {h['s3']['objects']} objects)"
    )


@app.command()
@_guard
def down() -> None:
    """Stop the background emulator (its state stays in the state folder)."""
    cfg = _settings()
    pid = server.stop_background(cfg.state_path)
    console.print(f"stopped pid {pid}" if pid else "not running")


@app.command()
@_guard
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Active profile, endpoints, emulator health and what runs where."""
    cfg = _settings()
    prof = _profile(cfg)
    health = runtime.emulator_health(prof) if prof.uses_emulator else None
    info: dict[str, Any] = {
        "profile": prof.name,
        "profile_source": cfg.sources["profile"],
        "summary": prof.summary,
        "endpoint": prof.endpoint_url or "AWS default endpoints",
        "region": prof.region or "(from AWS config)",
        "credentials": "static test/test" if prof.access_key else "default AWS credential chain",
        "emulator": ("running" if health else "not running") if prof.uses_emulator else "none",
        "runners": dict(prof.runners),
        "health": health,
    }
    if as_json:
        print(json.dumps(info, indent=1))
        return
    t = Table(show_header=False, box=None)
    for k in ("profile", "summary", "endpoint", "region", "credentials", "emulator"):
        val = info[k]
        if k == "profile":
            val = f"[bold]{val}[/] (from {info['profile_source']})"
        if k == "emulator" and health:
            val = (
                f"[green]running[/] pid {health['pid']}, up {health['uptime_s']:.0f} s, "
                f"{health['s3']['buckets']} buckets / {health['s3']['objects']} objects, "
                f"clock x{health['clock']['speed']:g}"
                + (", [yellow]faults active[/]" if health["faults_active"] else "")
            )
        elif k == "emulator" and prof.uses_emulator:
            val = "[red]not running[/] (`bdlab up`)"
        t.add_row(f"[dim]{k}[/]", str(val))
    console.print(t)
    r = Table("what", "runs on", title="what runs where", title_justify="left")
    for what, where in prof.runners.items():
        r.add_row(what, where)
    console.print(r)


@app.command()
@_guard
def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check Python, Java, Spark jars, port, disk and the emulator; print fixes."""
    from sim import doctor as doc

    results = doc.run(_settings())
    if as_json:
        print(json.dumps([r.__dict__ for r in results], indent=1))
    else:
        t = Table("", "check", "found", "fix")
        for r in results:
            mark = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
            t.add_row(mark[r.level], r.name, r.found, r.fix)
        console.print(t)
    if any(r.level == "fail" for r in results):
        raise typer.Exit(1)


@app.command()
@_guard
def clock(
    speed: float | None = typer.Option(None, "--speed", help="e.g. 60: a minute a second"),
    advance: float | None = typer.Option(None, "--advance", help="jump N seconds ahead"),
) -> None:
    """Show or change the emulator clock."""
    body: dict[str, Any] = {}
    if speed is not None:
        body["speed"] = speed
    if advance is not None:
        body["advance"] = advance
    data = _admin("/_bdlab/clock", body if body else None)
    console.print_json(data=data)


@app.command()
@_guard
def faults(
    assignments: list[str] = typer.Argument(None, help="knob=value, e.g. throttle_rate=0.2"),
    service: str = typer.Option("*", "--service", help="scope, e.g. s3 (default: all)"),
    reset: bool = typer.Option(False, "--reset", help="clear every fault"),
) -> None:
    """Show or set fault-injection knobs (all off by default)."""
    if reset:
        data = _admin("/_bdlab/faults", method="DELETE")
    elif assignments:
        body: dict[str, Any] = {"service": service}
        for a in assignments:
            if "=" not in a:
                _fail(f"expected knob=value, got {a!r}")
            k, v = a.split("=", 1)
            body[k] = v
        data = _admin("/_bdlab/faults", body)
    else:
        data = _admin("/_bdlab/faults")
    console.print_json(data=data)


def _admin(path: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
    prof = _profile()
    if not prof.runs_embedded_emulator or not prof.endpoint_url:
        _fail(
            f"the clock and faults belong to the embedded emulator; profile {prof.name!r} has none."
        )
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{prof.endpoint_url}{path}", data=data, method=method or ("POST" if data else "GET")
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        _fail(json.loads(exc.read() or b"{}").get("error", str(exc)))
    except (urllib.error.URLError, OSError):
        _fail(f"the emulator does not answer at {prof.endpoint_url}: `bdlab up` first.")


# --------------------------------------------------------------------- labs
@app.command("labs")
@_guard
def labs_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the labs with your progress."""
    from labs import harness

    progress = harness.load_progress()
    rows = []
    for lab_id, lab in harness.discover().items():
        p = progress.get(lab_id, {})
        rows.append(
            {
                "id": lab_id,
                "title": lab.info.title,
                "part": lab.info.part,
                "status": p.get("status", "not started"),
                "checks": f"{p['passed']}/{p['total']}" if p else "",
                "folder": str(lab.path),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    t = Table("lab", "title", "status", "checks")
    for r in rows:
        color = {"passed": "green", "failed": "red"}.get(r["status"], "dim")
        t.add_row(r["id"], r["title"], f"[{color}]{r['status']}[/]", r["checks"])
    console.print(t)


@app.command()
@_guard
def run(
    lab_id: str = typer.Argument(..., help="lab id, e.g. 1.2.4"),
    solution: bool = typer.Option(False, "--solution", help="run the reference solution"),
) -> None:
    """Run a lab's code (yours, or the reference solution) against the active profile."""
    from labs import harness

    lab = harness.find(lab_id)
    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    ctx = harness.context(lab, prof)
    console.print(
        f"running lab {lab.info.id} {lab.info.title} "
        f"({'solution' if solution else 'lab.py'}) on profile {prof.name}"
    )
    t0 = time.perf_counter()
    try:
        result = lab.runner(solution)(ctx)
    except NotImplementedError as exc:
        _fail(f"{exc}  ({lab.path / 'lab.py'})", 1)
    console.print(f"[green]done[/] in {time.perf_counter() - t0:.1f} s: {result}")
    console.print(f"next: `bdlab check {lab.info.id}`")


@app.command()
@_guard
def check(
    lab_id: str = typer.Argument(..., help="lab id, e.g. 1.2.4"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run a lab's checks against real state; failures say expected, found and a hint."""
    from labs import harness

    lab = harness.find(lab_id)
    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    results = harness.run_checks(lab, harness.context(lab, prof))
    harness.record(lab, prof.name, results)
    passed = sum(r.passed for r in results)
    if as_json:
        print(
            json.dumps(
                {
                    "lab": lab.info.id,
                    "passed": passed,
                    "total": len(results),
                    "checks": harness.results_json(results),
                },
                indent=1,
                ensure_ascii=False,
            )
        )
    else:
        console.print(f"[bold]{lab.info.id} {lab.info.title}[/]")
        for r in results:
            if r.passed:
                console.print(f"  [green]✓[/] {r.order}. {r.title}")
            else:
                console.print(f"  [red]✗[/] {r.order}. {r.title}")
                console.print(f"      기대: {r.expected}", highlight=False)
                console.print(f"      실제: {r.found}", highlight=False)
                console.print(f"      [yellow]힌트:[/] {r.hint}", highlight=False)
        console.print(f"{passed}/{len(results)} checks passed")
    if passed != len(results):
        raise typer.Exit(1)


@app.command()
@_guard
def reset(
    lab_id: str | None = typer.Argument(None, help="a lab id; without it: ALL state"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask"),
) -> None:
    """Reset one lab (its resources), or wipe the whole emulator state folder."""
    cfg = _settings()
    if lab_id:
        from labs import harness

        lab = harness.find(lab_id)
        prof = _profile(cfg)
        runtime.ensure_up(prof, cfg)
        removed = lab.reset(harness.context(lab, prof))
        harness.forget(lab)
        console.print(f"lab {lab.info.id} reset ({removed} objects removed)")
        return
    state = cfg.state_path
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"refusing to wipe {state} without confirmation: add --yes.")
        typer.confirm(f"Delete ALL emulator state in {state}?", abort=True)
    pid = server.stop_background(state)
    if state.exists():
        shutil.rmtree(state)
    console.print(f"wiped {state}" + (f" (stopped emulator pid {pid})" if pid else ""))


# -------------------------------------------------------------- setup & demo
@app.command()
@_guard
def setup(
    offline: bool = typer.Option(False, "--offline", help="only verify the cache"),
    cds: bool = typer.Option(True, "--cds/--no-cds", help="train the Spark class archive"),
) -> None:
    """Fetch Spark's extra jars once into the project's cache (then it works offline) and
    train the driver's class-data-sharing archive (faster Spark starts)."""
    from spark import jars
    from spark.session import jar_cache

    cache = jar_cache(_settings())
    missing = jars.missing_jars(cache)
    if not missing:
        console.print(f"jars: all {len(jars.load_lock())} present in {cache}")
    else:
        _fetch_jars(cache, missing, offline)
    if cds:
        _train_cds(cache, verify_only=offline)


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

        jars.ensure_jars(cache, offline=offline, progress=tick)
    console.print(f"jars: {len(jars.load_lock())} in {cache} ({total / 1e6:.1f} MB fetched)")


def _train_cds(cache: Path, verify_only: bool = False) -> None:
    """The driver's class-data-sharing archive (spark/cds.py), trained again when stale."""
    from spark import cds, jars, session

    cfg = _settings()
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
@_guard
def demo(
    rows: int = typer.Option(
        200_000, "--rows", min=1000, max=100_000_000, help="events to generate"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The main job: data -> partitioned S3 lake -> Spark (s3a) -> Delta table -> results."""
    from sim import demo as demo_mod

    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    result = demo_mod.run(prof, cfg, rows=rows, console=None if as_json else console)
    if as_json:
        print(json.dumps(result, indent=1, default=str))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_guard
def bench(ctx: typer.Context) -> None:
    """Run the S3 benchmark (scripts/bench/s3_bench.py) and print its table."""
    import subprocess

    script = Path(__file__).resolve().parent.parent / "scripts" / "bench" / "s3_bench.py"
    if not script.exists():
        _fail(f"{script} not found: benchmarks ship with the source checkout.")
    raise typer.Exit(subprocess.call([sys.executable, str(script), *ctx.args]))


@app.command()
@_guard
def notebook(
    port: int = typer.Option(8888, "--port"),
    token: str | None = typer.Option(None, "--token", help="default: a random one"),
) -> None:
    """Start JupyterLab on 127.0.0.1 with the course notebooks (`from spark.notebook import spark`)."""
    import secrets
    import socket

    root = Path(__file__).resolve().parent.parent / "notebooks"
    if not root.is_dir():
        _fail(f"{root} not found: notebooks ship with the source checkout.")
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            _fail(f"port {port} on 127.0.0.1 is in use: pick another with --port.")
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


# ---------------------------------------------------------------------- emr
emr_app = typer.Typer(no_args_is_help=True, help="EMR clusters and Spark steps (any profile).")
app.add_typer(emr_app, name="emr")


def _emr_guard(fn: Any) -> Any:
    import functools

    from spark.emr import EmrError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return fn(*args, **kwargs)
        except (EmrError, ValueError) as exc:
            _fail(str(exc), 1)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            _fail(f"{err.get('Code')}: {err.get('Message')}")

    return wrapper


def _default_bucket(prof: profiles.Profile) -> str:
    from sim import clients, s3util

    account = clients.client("sts", prof).get_caller_identity()["Account"]
    bucket = f"bdlab-{account}-emr"
    s3util.ensure_bucket(clients.client("s3", prof), bucket, prof.region)
    return bucket


@emr_app.command("create")
@_guard
@_emr_guard
def emr_create(
    name: str = typer.Option("bdlab-emr", "--name"),
    log_uri: str | None = typer.Option(None, "--log-uri", help="default s3://<emr bucket>/logs/"),
    keep_alive: bool = typer.Option(True, "--keep-alive/--auto-terminate"),
    idle_timeout: int = typer.Option(3600, "--idle-timeout", min=60),
) -> None:
    """Create a cluster (RunJobFlow); prints its id."""
    from spark import emr

    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    uri = log_uri or f"s3://{_default_bucket(prof)}/logs/"
    spec = emr.ClusterSpec(
        name=name, log_uri=uri, keep_alive=keep_alive, idle_timeout_s=idle_timeout
    )
    cid = emr.create_cluster(spec, prof)
    print(cid)
    err_console.print(f"logs: {uri}; next: `bdlab emr submit {cid} job.py`", highlight=False)


@emr_app.command("submit")
@_guard
@_emr_guard
def emr_submit(
    cluster_id: str = typer.Argument(...),
    script: str = typer.Argument(..., help="a local .py file (uploaded) or an s3:// URI"),
    args: list[str] = typer.Argument(None, help="arguments for the script"),
    name: str | None = typer.Option(None, "--name"),
    wait: bool = typer.Option(True, "--wait/--no-wait"),
    action: str = typer.Option("CONTINUE", "--action-on-failure"),
) -> None:
    """Add a spark-submit step (AddJobFlowSteps) and, by default, wait for it."""
    from spark import emr

    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    uri = script
    if not script.startswith("s3://"):
        local = Path(script)
        if not local.is_file():
            _fail(f"{script} is neither a file nor an s3:// URI")
        uri = emr.upload(local, f"s3://{_default_bucket(prof)}/jobs/", prof)
    step = emr.SparkStep(name or Path(uri).name, uri, list(args or []), action_on_failure=action)
    sid = emr.submit(cluster_id, [step], prof)[0]
    console.print(f"step {sid} added to {cluster_id} ({uri})")
    if wait:
        emr.wait_step(cluster_id, sid, prof, on_state=lambda st: console.print(f"  {sid}: {st}"))
        console.print(
            f"[green]COMPLETED[/]; output: `bdlab emr logs {cluster_id} {sid} --which stdout`"
        )


@emr_app.command("status")
@_guard
@_emr_guard
def emr_status(
    cluster_id: str | None = typer.Argument(None), as_json: bool = typer.Option(False, "--json")
) -> None:
    """List clusters, or one cluster with its steps."""
    from sim import clients
    from spark import emr

    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    if cluster_id is None:
        clusters = clients.client("emr", prof).list_clusters()["Clusters"]
        if as_json:
            print(json.dumps(clusters, indent=1, default=str))
            return
        t = Table("cluster", "name", "state")
        for c in clusters:
            t.add_row(c["Id"], c["Name"], c["Status"]["State"])
        console.print(t)
        return
    info = emr.describe(cluster_id, prof)
    if as_json:
        print(json.dumps(info, indent=1, default=str))
        return
    c = info["cluster"]
    console.print(
        f"[bold]{c['Id']}[/] {c['Name']}: {c['Status']['State']} "
        f"{c['Status'].get('StateChangeReason', {}).get('Message', '')}"
    )
    t = Table("step", "name", "state", "reason")
    for st in info["steps"]:
        t.add_row(
            st["Id"],
            st["Name"],
            st["Status"]["State"],
            st["Status"].get("FailureDetails", {}).get("Reason", ""),
        )
    console.print(t)


@emr_app.command("logs")
@_guard
@_emr_guard
def emr_logs(
    cluster_id: str = typer.Argument(...),
    step_id: str = typer.Argument(...),
    which: str = typer.Option("stderr", "--which", help="stderr | stdout | controller"),
) -> None:
    """Print a step's log from the cluster's LogUri."""
    from spark import emr

    if which not in ("stderr", "stdout", "controller"):
        _fail("--which must be stderr, stdout or controller")
    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    print(emr.step_log(cluster_id, step_id, which, prof), end="")


@emr_app.command("terminate")
@_guard
@_emr_guard
def emr_terminate(cluster_id: str = typer.Argument(...)) -> None:
    """Terminate a cluster (TerminateJobFlows)."""
    from spark import emr

    cfg = _settings()
    prof = _profile(cfg)
    runtime.ensure_up(prof, cfg)
    emr.terminate(cluster_id, prof)
    console.print(f"{cluster_id}: terminating")


if __name__ == "__main__":
    app()
