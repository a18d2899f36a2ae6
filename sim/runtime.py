"""Making sure the active profile's AWS is reachable before a lab or the demo talks to it.

For a profile whose emulator bdlab runs itself, a missing emulator is started in the
background (and left running, like ``bdlab up``); for the others a clear line says what to do.
"""

from __future__ import annotations

from typing import Any

from sim import profiles, settings
from sim.emulator import server


class NotReachable(RuntimeError):
    """The profile's AWS endpoint does not answer; the message says how to fix it."""


def emulator_health(profile: profiles.Profile) -> dict[str, Any] | None:
    if profile.health_url is None:
        return None
    return server.health(profile.health_url, timeout=1.0)


def ensure_up(
    profile: profiles.Profile, cfg: settings.Settings, autostart: bool = True
) -> dict[str, Any] | None:
    """Health of the profile's emulator, starting the embedded one if needed."""
    if not profile.uses_emulator:
        return None
    h = emulator_health(profile)
    if h is not None:
        return h
    if profile.runs_embedded_emulator and autostart:
        _pid, h = server.start_background(
            cfg.host, cfg.port, cfg.state_path, cfg.clock_speed, cfg.fsync, cfg.log_level
        )
        return h
    if profile.runs_embedded_emulator:
        raise NotReachable(
            f"the bdlab emulator does not answer at {profile.endpoint_url}: "
            "start it with `bdlab up`."
        )
    raise NotReachable(
        f"{profile.name} does not answer at {profile.endpoint_url}: start it "
        "(`docker compose --profile localstack up -d`, needs Docker and "
        "LOCALSTACK_AUTH_TOKEN) or switch profile with --profile embedded."
    )
