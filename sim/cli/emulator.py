"""Verbs about the embedded emulator and the configuration: up, down, status, doctor,
config, env, clock, faults."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from sim import admin, runtime
from sim.cli.common import app, cfg, console, fail, guard, override, prof
from sim.emulator import server


@app.command()
@guard
def up(
    foreground: bool = typer.Option(False, "--foreground", help="Run in this terminal."),
    port: int | None = typer.Option(None, "--port", help="Port of the gateway (default 4566)."),
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    clock_speed: float | None = typer.Option(None, "--clock-speed", help="e.g. 60"),
) -> None:
    """Start the embedded emulator (background by default)."""
    override(port=port, host=host, clock_speed=clock_speed)
    c, p = cfg(), prof()
    if not p.can("autostart"):
        fail(
            f"profile {p.name!r} has no embedded emulator ({p.summary}); "
            "`bdlab up` is for the embedded profile."
        )
    if foreground:
        from sim.cli import serve

        console.print(
            f"bdlab emulator on {p.endpoint_url}, state in {c.state_path} (Ctrl-C stops it)"
        )
        try:
            serve.run(c)
        except KeyboardInterrupt:
            pass  # uvicorn has shut down cleanly and re-raises the Ctrl-C it caught
        console.print("stopped")
        return
    t0 = time.perf_counter()
    found = server.lookup(c.state_path)
    if found.running is not None and found.running.answering:
        console.print(f"already running: pid {found.running.pid} on {found.running.url}")
        return
    if found.running is not None:
        fail(
            f"the emulator of {c.state_path} (pid {found.running.pid}) runs but does not "
            f"answer on {found.running.url}: `bdlab down` stops it, then `bdlab up`."
        )
    if found.stale_pid is not None:
        console.print(
            f"[dim]note: removed a stale pid file (pid {found.stale_pid} is not this "
            "emulator; it was left alone)[/]"
        )
    pid, h = runtime.start_background(c)
    console.print(
        f"[green]up[/] pid {pid} on {p.endpoint_url} in "
        f"{time.perf_counter() - t0:.2f} s; state in {c.state_path} "
        f"({h['s3']['buckets']} bucket(s), {h['s3']['objects']} object(s))"
    )


@app.command()
@guard
def down() -> None:
    """Stop the background emulator (its state stays in the state folder)."""
    c = cfg()
    found = server.lookup(c.state_path)
    if found.stale_pid is not None:
        console.print(
            f"[dim]note: removed a stale pid file (pid {found.stale_pid} is not this "
            "emulator; it was left alone)[/]"
        )
    pid = server.stop_background(c.state_path)
    if pid:
        console.print(f"stopped pid {pid}")
        return
    console.print(f"not running (state folder {c.state_path})")
    owner = server.port_owner(c.host, c.port)
    if owner is not None and not runtime.ours(owner, c):
        console.print(f"note: {server.describe_owner(owner, c.host, c.port)}", highlight=False)


def _clock_line(clock: dict[str, Any]) -> str:
    now = datetime.fromtimestamp(clock["now"], UTC)
    offset = float(clock.get("offset", 0.0))
    ahead = ", in step with the wall clock"
    if abs(offset) >= 1:
        days, rest = divmod(abs(offset), 86_400)
        hours, rest = divmod(rest, 3600)
        ahead = f", {'+' if offset > 0 else '-'}{int(days)} d {int(hours):02d}:{int(rest // 60):02d} vs wall clock"
    return f"{now:%Y-%m-%d %H:%M:%S} UTC (x{clock['speed']:g}{ahead})"


@app.command()
@guard
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Active profile, endpoints, emulator health and what runs where."""
    c, p = cfg(), prof()
    health = runtime.emulator_health(p) if p.uses_emulator else None
    other = None
    if health is not None and p.can("autostart") and not runtime.ours(health, c):
        other, health = health, None
    emulator = "none"
    if p.uses_emulator:
        emulator = "running" if health else ("other" if other else "not running")
    info: dict[str, Any] = {
        "profile": p.name,
        "profile_source": c.sources["profile"],
        "summary": p.summary,
        "endpoint": p.endpoint_url or "AWS default endpoints",
        "region": p.region or "(from AWS config)",
        "credentials": "static test/test" if p.access_key else "default AWS credential chain",
        "state_dir": str(c.state_path),
        "emulator": emulator,
        "other_emulator": other,
        "capabilities": sorted(p.capabilities),
        "runners": dict(p.runners),
        "health": health,
        "streams": _streams(p, health) if (health or not p.uses_emulator) else [],
    }
    if as_json:
        print(json.dumps(info, indent=1, default=str))
        return
    t = Table(show_header=False, box=None)
    for k in ("profile", "summary", "endpoint", "region", "credentials", "state_dir", "emulator"):
        val = info[k]
        if k == "profile":
            val = f"[bold]{val}[/] (from {info['profile_source']})"
        if k == "emulator" and health:
            val = (
                f"[green]running[/] pid {health['pid']}, up {health['uptime_s']:.0f} s, "
                f"{health['s3']['buckets']} bucket(s) / {health['s3']['objects']} object(s)"
                + (", [yellow]faults active[/] (`bdlab faults`)" if health["faults_active"] else "")
                + (
                    ", [yellow]Kinesis limits OFF[/] (kinesis_limits = false)"
                    if health.get("kinesis_limits") is False
                    else ""
                )
            )
        elif k == "emulator" and other:
            val = f"[red]another bdlab emulator on this port[/] (pid {other.get('pid')}, state {other.get('state_dir')})"
        elif k == "emulator" and p.uses_emulator:
            val = "[red]not running[/] (`bdlab up`)"
        t.add_row(f"[dim]{k}[/]", str(val))
    if health:
        t.add_row("[dim]clock[/]", _clock_line(health["clock"]))
    console.print(t)
    r = Table("what", "runs on", title="what runs where", title_justify="left")
    for what, where in p.runners.items():
        r.add_row(what, where)
    console.print(r)
    if info["streams"]:
        streams = Table(
            "stream",
            "open shards",
            "closed",
            "iterator age (max, 5 min)",
            title="Kinesis streams",
            title_justify="left",
        )
        for st in info["streams"]:
            age = st["iterator_age_ms"]
            streams.add_row(
                st["name"],
                str(st["open_shards"]),
                str(st["closed_shards"]),
                "no reads" if age is None else f"{age / 1000:,.1f} s",
            )
        console.print(streams)


def _streams(p: Any, health: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Streams with their shards and how far their readers are behind (the maximum
    GetRecords.IteratorAgeMilliseconds of the last 5 minutes, from CloudWatch)."""
    from datetime import timedelta

    from botocore.exceptions import BotoCoreError, ClientError

    from sim import clients

    try:
        kin = clients.client("kinesis", p, retries=False)
        cw = clients.client("cloudwatch", p, retries=False)
        names = kin.list_streams(Limit=20)["StreamNames"]
        now = datetime.fromtimestamp(health["clock"]["now"], UTC) if health else datetime.now(UTC)
        out = []
        for name in names:
            shards = kin.list_shards(StreamName=name)["Shards"]
            closed = sum("EndingSequenceNumber" in s["SequenceNumberRange"] for s in shards)
            points = cw.get_metric_statistics(
                Namespace="AWS/Kinesis",
                MetricName="GetRecords.IteratorAgeMilliseconds",
                Dimensions=[{"Name": "StreamName", "Value": name}],
                StartTime=now - timedelta(minutes=5),
                EndTime=now + timedelta(minutes=1),
                Period=60,
                Statistics=["Maximum"],
            )["Datapoints"]
            out.append(
                {
                    "name": name,
                    "open_shards": len(shards) - closed,
                    "closed_shards": closed,
                    "iterator_age_ms": max((d["Maximum"] for d in points), default=None),
                }
            )
        return out
    except (BotoCoreError, ClientError):
        return []  # no Kinesis reachable (or no credentials): status still answers


@app.command()
@guard
def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check Python, Java, Spark jars, port, disk and the emulator; print fixes."""
    from sim import doctor as doc

    results = doc.run(cfg())
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


@app.command("config")
@guard
def config_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every setting with its value and where it came from (flag, env, bdlab.toml, default)."""
    c = cfg()
    rows = c.listing()
    if as_json:
        print(json.dumps({"root": str(c.root), "settings": rows}, indent=1, default=str))
        return
    # One line per setting, never cut: values and variable names must stay copyable.
    console.print(f"project root: {c.root}", highlight=False, soft_wrap=True)
    for r in rows:
        src = r["source"]
        console.print(
            f"{r['name']:<25} {r['value']}  [dim]({src}; {r['env']})[/]",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
@guard
def env(shell: str = typer.Option("sh", "--shell", help="sh | fish | powershell")) -> None:
    """Print the AWS environment of the active profile: `eval "$(bdlab env)"`, then the
    AWS CLI and any boto3 program talk to it."""
    p = prof()
    values: dict[str, str] = {}
    if p.endpoint_url:
        values["AWS_ENDPOINT_URL"] = p.endpoint_url
    if p.access_key is not None:
        values["AWS_ACCESS_KEY_ID"] = p.access_key
        values["AWS_SECRET_ACCESS_KEY"] = p.secret_key or ""
    if p.region:
        values["AWS_DEFAULT_REGION"] = p.region
        values["AWS_REGION"] = p.region
    values["AWS_PAGER"] = ""  # the AWS CLI v2 would page short outputs through less
    for k, v in values.items():
        if shell == "fish":
            print(f"set -gx {k} {v};")
        elif shell == "powershell":
            print(f'$Env:{k} = "{v}"')
        else:
            print(f"export {k}={v}" if v else f"export {k}=''")


def _admin(capability: str) -> admin.Admin:
    return admin.Admin.of(prof(), capability)


@app.command()
@guard
def clock(
    speed: float | None = typer.Option(None, "--speed", help="e.g. 60: a minute a second"),
    advance: float | None = typer.Option(None, "--advance", help="jump N seconds ahead"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show or change the emulator clock."""
    a = _admin("clock")
    data = a.set_clock(speed, advance) if (speed is not None or advance is not None) else a.clock()
    if as_json:
        print(json.dumps(data))
        return
    console.print(f"emulator clock: {_clock_line(data)}", highlight=False)


@app.command()
@guard
def faults(
    assignments: list[str] = typer.Argument(None, help="knob=value, e.g. throttle_rate=0.2"),
    service: str = typer.Option("*", "--service", help="scope, e.g. s3 (default: all)"),
    reset: bool = typer.Option(False, "--reset", help="clear every fault"),
    as_json: bool = typer.Option(False, "--json", help="the whole fault table as JSON"),
) -> None:
    """Show or set fault-injection knobs (all off by default)."""
    a = _admin("faults")
    if reset:
        data = a.reset_faults()
    elif assignments:
        knobs: dict[str, Any] = {}
        for item in assignments:
            if "=" not in item:
                fail(f"expected knob=value, got {item!r}")
            k, v = item.split("=", 1)
            knobs[k] = v
        data = a.set_faults(service, **knobs)
    else:
        data = a.faults()
        if not as_json:
            from rich.table import Table

            table = Table("knob", "default", "what it does", title="fault knobs (knob=value)")
            for k in data.get("knobs", []):
                table.add_row(k["name"], repr(k["default"]), k["help"])
            console.print(table)
            _print_active(data)
            return
    if as_json:
        print(json.dumps(data))
        return
    _print_active(data)


def _print_active(data: dict[str, Any]) -> None:
    active = {
        scope: knobs
        for scope, knobs in data.get("values", {}).items()
        if any(k != "seed" for k in knobs)
    }
    if not active:
        console.print("faults: none active (every knob at its default)")
        return
    for scope, knobs in sorted(active.items()):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(knobs.items()))
        console.print(f"faults for {'every service' if scope == '*' else scope}: {shown}")
    console.print("clear them with `bdlab faults --reset`")
