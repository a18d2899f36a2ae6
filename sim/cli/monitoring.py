"""Monitoring verbs: ``bdlab prom-bridge`` (chosen Prometheus series -> CloudWatch on the active
profile) and ``bdlab prometheus`` (Debian's prometheus binary with monitoring/prometheus.yml,
scraping bdlab on this host). See docs/monitoring.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import typer

from sim import clients
from sim.cli import common
from sim.cli.common import app, console, guard

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "monitoring" / "prometheus.yml"
INSTALL_HINT = (
    "Prometheus is not installed here: `sudo apt-get install prometheus` (Debian/Ubuntu) or a "
    "release from https://prometheus.io/download/, or `docker compose --profile monitoring up -d`."
)


@app.command("prom-bridge")
@guard
def prom_bridge(
    urls: list[str] = typer.Argument(
        None, help="/metrics URLs to scrape (default: the emulator's, on embedded/localstack)."
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="TOML/JSON mapping (default: bdlab's series, see docs)."
    ),
    namespace: str | None = typer.Option(None, "--namespace", help="CloudWatch namespace."),
    interval: float | None = typer.Option(None, "--interval", help="Scrape every N seconds."),
    period: float | None = typer.Option(None, "--period", help="Publish every N seconds."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after N seconds."),
) -> None:
    """Publish chosen Prometheus series to CloudWatch (PutMetricData): counters as the Sum of
    their increase per period, gauges as StatisticValues (Maximum), histograms from _sum/_count."""
    from dataclasses import replace

    from sim.monitoring import prombridge

    profile = common.prof()
    try:
        m = prombridge.load_mapping(mapping) if mapping else prombridge.DEFAULT_MAPPING
        changes = {
            k: v
            for k, v in (("namespace", namespace), ("interval_s", interval), ("period_s", period))
            if v is not None
        }
        m = replace(m, **changes)  # type: ignore[arg-type]
    except prombridge.MappingError as exc:
        common.fail(str(exc))
    if not urls:
        if not profile.endpoint_url:
            common.fail(f"profile {profile.name!r} has no emulator: give the /metrics URLs.")
        urls = [f"{profile.endpoint_url}/metrics"]
    clients.check_access(profile)
    cw = clients.client("cloudwatch", profile)
    stop = threading.Event()
    common.note(
        f"scraping {', '.join(urls)} every {m.interval_s:g} s, publishing to {m.namespace} "
        f"every {m.period_s:g} s on profile {profile.name} (Ctrl-C stops)"
    )
    try:
        sent = prombridge.run(
            urls, m, cw, stop=stop, duration_s=duration, report=lambda line: common.note(line)
        )
    except KeyboardInterrupt:
        stop.set()
        return
    console.print(f"published {sent} values to {m.namespace}")


def host_config(text: str, emulator_port: int) -> str:
    """monitoring/prometheus.yml for a Prometheus on this host: the Docker host name becomes
    127.0.0.1 and the emulator's default port the running one."""
    return text.replace("host.docker.internal:4566", f"127.0.0.1:{emulator_port}").replace(
        "host.docker.internal", "127.0.0.1"
    )


@app.command("prometheus")
@guard
def prometheus(
    port: int = typer.Option(9090, "--port", help="Port of Prometheus's web UI (loopback)."),
    check: bool = typer.Option(False, "--check", help="Write and check the config, then exit."),
) -> None:
    """Run Debian's prometheus binary (if on PATH) scraping the emulator and the components on
    127.0.0.1, with its data under the state folder; Ctrl-C stops it."""
    cfg = common.cfg()
    binary = shutil.which("promtool" if check else "prometheus")
    if binary is None:
        common.fail(INSTALL_HINT)
    if not CONFIG.is_file():
        common.fail(f"{CONFIG} is missing: run bdlab from its checkout (it ships monitoring/).")
    folder = cfg.state_path / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(host_config(CONFIG.read_text(), cfg.port))
    if check:
        done = subprocess.run([str(binary), "check", "config", str(config)], check=False)
        raise typer.Exit(done.returncode)
    args = [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    common.note(f"Prometheus on http://127.0.0.1:{port} with {config}")
    os.execv(args[0], args)  # noqa: S606 (the binary found on PATH, our own arguments)
