"""Starting the embedded emulator and making sure the active profile's AWS is reachable.

For a profile whose emulator bdlab runs itself, a missing emulator is started in the
background (and left running, like ``bdlab up``); an emulator of another state folder on the
same port is named in one line instead of being used; for the other profiles a clear line
says what to do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from sim import clients, profiles, settings
from sim.emulator import server


class NotReachable(RuntimeError):
    """The profile's AWS endpoint does not answer; the message says how to fix it."""


def emulator_config(cfg: settings.Settings) -> server.EmulatorConfig:
    return server.EmulatorConfig(
        state_dir=cfg.state_path,
        host=cfg.host,
        port=cfg.port,
        clock_speed=cfg.clock_speed,
        fsync=cfg.fsync,
        log_level=cfg.log_level,
        kinesis_limits=cfg.kinesis_limits,
    )


def child_command(cfg: settings.Settings) -> list[str]:
    """The background emulator process: it gets the settings resolved here (not its own)."""
    return [
        sys.executable,
        "-m",
        "sim.cli.serve",
        server.EMULATOR_MARK,
        "--state-dir",
        str(cfg.state_path),
        "--settings",
        cfg.to_json(),
    ]


def start_background(cfg: settings.Settings) -> tuple[int, dict[str, Any]]:
    """Start the emulator of ``cfg`` detached (raises ``EmulatorError`` with the fix)."""
    return server.start_background(emulator_config(cfg), child_command(cfg))


def adopt_running_port(cfg: settings.Settings) -> settings.Settings:
    """When no port was asked for (flag, environment, bdlab.toml), use the port the state
    folder's own running emulator listens on: after `bdlab up --port 4567`, every other verb
    finds it there instead of knocking on 4566."""
    if cfg.sources.get("port", "default") != "default":
        return cfg
    found = server.lookup(cfg.state_path).running
    if found is None or not found.answering or found.port == cfg.port:
        return cfg
    return cfg.with_values(f"the running emulator (pid {found.pid})", port=found.port)


def emulator_health(profile: profiles.Profile) -> dict[str, Any] | None:
    if profile.health_url is None:
        return None
    return server.health(profile.health_url, timeout=1.0)


def ours(health: dict[str, Any] | None, cfg: settings.Settings) -> bool:
    """Whether ``health`` is the emulator of this state folder."""
    return health is not None and server.same_dir(health.get("state_dir", ""), cfg.state_path)


def ensure_up(
    profile: profiles.Profile,
    cfg: settings.Settings,
    autostart: bool = True,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Health of the profile's emulator, starting the embedded one if needed (``say`` is
    told when it starts one, so that it never starts silently)."""
    if not profile.uses_emulator:
        clients.check_access(profile)
        return None
    h = emulator_health(profile)
    if profile.can("autostart"):
        if h is not None and "state_dir" in h and not ours(h, cfg):
            raise NotReachable(server.describe_owner(h, cfg.host, cfg.port))
        if h is not None:
            return h
        if autostart:
            pid, health = start_background(cfg)
            if say is not None:
                say(
                    f"started the bdlab emulator (pid {pid}) on {profile.endpoint_url}, state in "
                    f"{cfg.state_path}; it keeps running (`bdlab down` stops it)"
                )
            return health
        raise NotReachable(
            f"the bdlab emulator does not answer at {profile.endpoint_url}: "
            "start it with `bdlab up`."
        )
    if h is not None:
        return h
    raise NotReachable(
        f"{profile.name} does not answer at {profile.endpoint_url}: start it "
        "(`docker compose --profile localstack up -d`, needs Docker and "
        "LOCALSTACK_AUTH_TOKEN) or switch profile with --profile embedded."
    )
