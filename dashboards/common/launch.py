"""How the CLI starts a dashboard and how the dashboard learns what the CLI resolved: the
profile (as :func:`sim.profiles.to_options`) and the bucket travel as script arguments
(``streamlit run app.py -- --profile-options JSON ...``), so nothing below the CLI loads
settings. Streamlit itself is checked for and started here, for every dashboard."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from sim import profiles


class LaunchError(RuntimeError):
    """The dashboard cannot start (no streamlit, port taken); the message says what to do."""


@dataclass(frozen=True)
class AppArgs:
    """What a dashboard process needs: the ``profile``, the ``bucket`` its datasets live in,
    an optional ``datasets`` TOML file (else the built-in registry), how often (wall
    seconds) the refresh scheduler reads the clock (``tick_s``) and the folder SPICE keeps
    its datasets in (``spice_dir``; None: memory only)."""

    profile: profiles.Profile
    bucket: str | None = None
    datasets: Path | None = None
    tick_s: float = 5.0
    spice_dir: Path | None = None

    def to_argv(self) -> list[str]:
        argv = ["--profile-options", json.dumps(profiles.to_options(self.profile))]
        if self.bucket:
            argv += ["--bucket", self.bucket]
        if self.datasets:
            argv += ["--datasets", str(self.datasets)]
        if self.spice_dir:
            argv += ["--spice-dir", str(self.spice_dir)]
        return [*argv, "--tick", str(self.tick_s)]

    def spice_file(self) -> Path | None:
        """The SPICE file of this dashboard: one per profile, endpoint, bucket and datasets
        file (two dashboards on different data never share one), or None."""
        if self.spice_dir is None:
            return None
        key = json.dumps(
            [self.profile.name, self.profile.endpoint_url, self.bucket, str(self.datasets)]
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return self.spice_dir / f"{self.bucket or 'no-bucket'}-{digest}.duckdb"

    @classmethod
    def from_argv(cls, argv: list[str]) -> AppArgs:
        ap = argparse.ArgumentParser(prog="dashboard", add_help=False)
        ap.add_argument("--profile-options", required=True)
        ap.add_argument("--bucket")
        ap.add_argument("--datasets", type=Path)
        ap.add_argument("--tick", type=float, default=5.0)
        ap.add_argument("--spice-dir", type=Path)
        ns, _ = ap.parse_known_args(argv)
        prof = profiles.from_options(json.loads(ns.profile_options))
        return cls(prof, ns.bucket, ns.datasets, ns.tick, ns.spice_dir)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port(port: int) -> None:
    """LaunchError when ``port`` on 127.0.0.1 is taken."""
    with socket.socket() as sock:
        # as the server binds (Tornado sets SO_REUSEADDR): a port a stopped dashboard left in
        # TIME-WAIT is free for it, only a listening one is taken
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise LaunchError(
                f"port {port} on 127.0.0.1 is in use: pick another with --port "
                "(or leave --port out for a free one)."
            ) from None


def check_streamlit() -> None:
    """LaunchError when the streamlit package is not installed in this Python."""
    if importlib.util.find_spec("streamlit") is None:
        raise LaunchError(
            f"streamlit is not installed in {sys.executable}: run `pip install streamlit` "
            "(or scripts/setup.sh) and try again."
        )


def command(script: Path, port: int, args: AppArgs, browser: bool = False) -> list[str]:
    """The command line serving ``script`` on 127.0.0.1:``port``: ``streamlit run``'s, through
    :mod:`dashboards.common.serve` (which starts the dashboard's warm-up first). Always
    headless: a non-headless Streamlit's first run on a machine stops at an e-mail prompt on
    the terminal and never serves; ``browser`` is opened by :func:`open_when_up` instead."""
    del browser
    return [
        sys.executable,
        "-m",
        "dashboards.common.serve",
        str(script),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=minimal",
        # the CLI has printed the URL: no second banner, no server-start info lines
        "--logger.hideWelcomeMessage=true",
        "--logger.level=warning",
        "--",
        *args.to_argv(),
    ]


_OPENER = """
import os, sys, time, urllib.request, webbrowser
# detach (the caller waits only for this first process, so no zombie is left behind, even
# in a CLI that then becomes Streamlit by exec)
if hasattr(os, "fork") and os.fork():
    os._exit(0)
url = sys.argv[1]
for _ in range(120):
    try:
        urllib.request.urlopen(url + "_stcore/health", timeout=1).read()
        webbrowser.open(url)
        break
    except OSError:
        time.sleep(0.5)
"""


def open_when_up(url: str) -> None:
    """Open ``url`` in the user's browser once the dashboard answers (a detached process, so
    it outlives a CLI that becomes Streamlit by exec); gives up after ~60 s."""
    import subprocess

    opener = subprocess.Popen(
        [sys.executable, "-c", _OPENER, url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        opener.wait(timeout=10)  # it forks and exits at once; its child polls the URL
    except subprocess.TimeoutExpired:
        pass
