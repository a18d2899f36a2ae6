"""`bdlab doctor`: every precondition of bdlab, each problem with the command that fixes it."""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sim import clients, profiles, runtime, settings


@dataclass
class Finding:
    name: str
    level: str  # ok | warn | fail
    found: str
    fix: str = ""


def _python() -> Finding:
    v = sys.version_info
    ok = v >= (3, 11)
    return Finding(
        "python",
        "ok" if ok else "fail",
        sys.version.split()[0],
        "" if ok else "install Python 3.11+ and rerun scripts/setup.sh",
    )


def _packages() -> list[Finding]:
    out = []
    for name, want in (
        ("pyspark", "4.2.0"),
        ("delta-spark", "4.4.1"),
        ("boto3", None),
        ("moto", None),
    ):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(Finding(name, "fail", "not installed", "run scripts/setup.sh"))
            continue
        level = "ok" if want is None or have == want else "warn"
        out.append(
            Finding(
                name,
                level,
                have,
                "" if level == "ok" else f"bdlab is tested with {want}: rerun scripts/setup.sh",
            )
        )
    return out


def _java() -> Finding:
    from spark.session import SparkSetupError, java_binary, java_home_problem, java_version

    bad_home = java_home_problem()
    if bad_home:
        return Finding("java", "fail", bad_home, SparkSetupError.JAVA_HOME_FIX)
    v = java_version()
    if v is None:
        return Finding(
            "java",
            "fail",
            "not found",
            "install Java 17+ (apt-get install openjdk-17-jre-headless / brew "
            "install openjdk@17) or set JAVA_HOME",
        )
    if v < 17:
        return Finding("java", "fail", f"{v} at {java_binary()}", "Spark 4 needs Java 17+")
    return Finding("java", "ok", f"{v} at {java_binary()}")


def _jars(cfg: settings.Settings) -> Finding:
    from spark import jars

    cache = cfg.jars_path
    missing = jars.missing_jars(cache)
    total = len(jars.load_lock())
    if missing:
        return Finding(
            "spark jars",
            "fail",
            f"{len(missing)} of {total} missing in {cache}",
            "run `bdlab setup` while online",
        )
    return Finding("spark jars", "ok", f"{total} in {cache}")


def _port(cfg: settings.Settings, prof: profiles.Profile) -> Finding:
    if not prof.can("autostart"):
        return Finding("port", "ok", f"not used by profile {prof.name}")
    h = runtime.emulator_health(prof)
    if h is not None and runtime.ours(h, cfg):
        return Finding("port", "ok", f"{cfg.host}:{cfg.port} serves this bdlab emulator")
    if h is not None and "state_dir" in h:
        return Finding(
            "port",
            "fail",
            f"{cfg.host}:{cfg.port} serves the bdlab emulator of {h['state_dir']}",
            f"`bdlab --state-dir {h['state_dir']} down`, or --port / BDLAB_PORT",
        )
    s = socket.socket()
    # As the emulator binds: connections of a just-stopped emulator in TIME-WAIT do not
    # keep it from starting, so they must not fail this check either.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((cfg.host, cfg.port))
    except OSError:
        return Finding(
            "port",
            "fail",
            f"{cfg.host}:{cfg.port} taken by another program",
            f"stop it (`ss -ltnp | grep :{cfg.port}`) or use --port / BDLAB_PORT",
        )
    finally:
        s.close()
    return Finding("port", "ok", f"{cfg.host}:{cfg.port} free")


def _disk(cfg: settings.Settings) -> Finding:
    path = cfg.state_path
    probe = path if path.exists() else Path.cwd()
    free = shutil.disk_usage(probe).free / 2**30
    if free < 0.5:
        return Finding(
            "disk",
            "fail",
            f"{free:.1f} GiB free at {probe}",
            "free disk space or move the state with --state-dir",
        )
    if free < 2:
        return Finding(
            "disk", "warn", f"{free:.1f} GiB free at {probe}", "labs with Spark want ~2 GiB free"
        )
    return Finding("disk", "ok", f"{free:.0f} GiB free at {probe}")


def _emulator(prof: profiles.Profile, cfg: settings.Settings) -> Finding:
    if not prof.uses_emulator:
        try:
            ident = clients.client("sts", prof).get_caller_identity()
            return Finding("aws credentials", "ok", f"account {ident['Account']}")
        except Exception as exc:  # any credential/network failure is the finding itself
            return Finding(
                "aws credentials",
                "fail",
                type(exc).__name__,
                "configure credentials (`aws configure` or AWS_PROFILE)",
            )
    h = runtime.emulator_health(prof)
    if h is None:
        start = "`bdlab up`" if prof.can("autostart") else "start LocalStack"
        return Finding(
            "emulator",
            "warn",
            f"no answer at {prof.endpoint_url}",
            f"{start} (labs and the demo start the embedded one themselves)",
        )
    if prof.can("autostart") and not runtime.ours(h, cfg):
        return Finding(
            "emulator",
            "fail",
            f"another checkout's emulator (state {h.get('state_dir')}) at {prof.endpoint_url}",
            "see the port row",
        )
    return Finding(
        "emulator", "ok", f"{h.get('version', '?')} pid {h.get('pid', '?')} at {prof.endpoint_url}"
    )


def run(cfg: settings.Settings) -> list[Finding]:
    prof = profiles.resolve(cfg)
    return [
        _python(),
        *_packages(),
        _java(),
        _jars(cfg),
        _port(cfg, prof),
        _disk(cfg),
        _emulator(prof, cfg),
    ]
