"""Running the gateway: in the foreground, in a background process (``bdlab up``), or in a
thread of the current process (the pytest fixture and the demo)."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from sim.emulator.gateway import VERSION, Gateway
from sim.emulator.http2 import SniffingProtocol
from sim.emulator.providers.emr.runner import StepLauncher

# Every emulator process carries this in its argv, so that a pid can be verified as ours.
EMULATOR_MARK = "--bdlab-emulator"


class EmulatorError(RuntimeError):
    """Starting or stopping the emulator failed; the message says how to fix it."""


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a taken port is one clear line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise EmulatorError(
                f"port {port} on {host} is already in use: stop what runs there "
                f"(`bdlab down` if it is bdlab, or check `ss -ltnp | grep :{port}`), "
                f"or pick another port with --port / BDLAB_PORT."
            ) from exc
        raise EmulatorError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _config(app: Gateway, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="uvloop",
        # HTTP/1.1 through httptools, and h2c for the Java SDK (see sim/emulator/http2.py)
        http=SniffingProtocol,
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        server_header=False,
        proxy_headers=False,
        date_header=True,  # AWS answers every request with Date (uvicorn caches it per second)
    )


@dataclass(frozen=True)
class EmulatorConfig:
    """What one emulator instance needs; whoever starts it resolves these (the emulator reads
    no settings of its own)."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 4566
    clock_speed: float = 1.0
    fsync: bool = False
    log_level: str = "warning"
    kinesis_limits: bool = True  # AWS's per-shard limits (off: benchmarks, demos; logged)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def pid_file(state_dir: Path) -> Path:
    return state_dir / "emulator.pid"


def serve(
    config: EmulatorConfig, launcher: StepLauncher | None = None, **gateway_options: bool
) -> None:
    """Run the emulator in this process until SIGTERM/SIGINT (Ctrl-C stops it cleanly)."""
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    sock = bind(config.host, config.port)
    gateway = Gateway(
        config.state_dir,
        config.port,
        config.clock_speed,
        config.fsync,
        launcher=launcher,
        host=config.host,
        **{"kinesis_limits": config.kinesis_limits, **gateway_options},
    )
    pf = pid_file(config.state_dir)
    identity = {
        "pid": os.getpid(),
        "host": config.host,
        "port": config.port,
        "state_dir": str(config.state_dir),
        "version": VERSION,
        "started": time.time(),
    }
    pf.write_text(json.dumps(identity))
    try:
        uvicorn.Server(_config(gateway, config.log_level)).run(sockets=[sock])
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(pf.read_text()).get("pid") == os.getpid():
                pf.unlink()


def health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The emulator's ``/_bdlab/health`` at ``url`` (a full URL), or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return dict(json.loads(r.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_healthy(
    url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = health(url, 0.5)
        if h is not None:
            return h
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


@dataclass
class Running:
    """A verified emulator process of one state folder."""

    pid: int
    host: str
    port: int
    state_dir: str
    answering: bool  # its health endpoint answered with this pid and state folder

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class Lookup:
    """What the pid file of a state folder leads to: a verified emulator, or a stale record."""

    running: Running | None = None
    stale_pid: int | None = None  # a recorded pid that is not this state folder's emulator


def same_dir(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return str(a) == str(b)


def _command_line(pid: int) -> list[str] | str | None:
    """The command line of ``pid``: its exact argv (Linux /proc), else ``ps``'s one line
    (arguments joined by spaces), or None if it is gone."""
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            raw = proc.read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return None
        except OSError:
            pass
        else:
            return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]] or None
    try:
        out = subprocess.run(
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def runs_emulator_of(command: list[str] | str, state_dir: Path) -> bool:
    """Whether ``command`` (an argv, or ``ps``'s joined line) is an emulator of exactly
    ``state_dir``: it carries :data:`EMULATOR_MARK` and ``--state-dir`` with that folder as
    a whole argument (an emulator of /x/st2 is not one of /x/st)."""
    want = str(state_dir)
    if isinstance(command, str):  # no argv boundaries: the folder must end at a space or the end
        words = command.split(" ")
        if EMULATOR_MARK not in words:
            return False
        for flag in (f" --state-dir {want}", f" --state-dir={want}"):
            at = command.find(flag)
            while at != -1:
                end = at + len(flag)
                if end == len(command) or command[end] == " ":
                    return True
                at = command.find(flag, at + 1)
        return False
    if EMULATOR_MARK not in command:
        return False
    for i, arg in enumerate(command):
        if arg == "--state-dir" and i + 1 < len(command):
            value = command[i + 1]
        elif arg.startswith("--state-dir="):
            value = arg.split("=", 1)[1]
        else:
            continue
        if value == want or same_dir(value, state_dir):
            return True
    return False


def lookup(state_dir: Path) -> Lookup:
    """Find the emulator recorded in ``state_dir`` and verify it before anyone trusts or
    signals its pid: its health endpoint must report that pid and state folder, or (while it
    starts or hangs) its command line must be an emulator of that state folder. A pid file
    that fails both is stale (a reboot or kill -9 left it; the pid may be another program)."""
    pf = pid_file(state_dir)
    try:
        info = json.loads(pf.read_text())
        pid, host, port = int(info["pid"]), str(info["host"]), int(info["port"])
    except FileNotFoundError:
        return Lookup()
    except (ValueError, KeyError, TypeError):
        return Lookup(stale_pid=-1)
    h = health(f"http://{host}:{port}/_bdlab/health", timeout=1.0)
    if h is not None and h.get("pid") == pid and same_dir(h.get("state_dir", ""), state_dir):
        return Lookup(Running(pid, host, port, str(state_dir), answering=True))
    cmdline = _command_line(pid)
    if cmdline and runs_emulator_of(cmdline, state_dir):
        return Lookup(Running(pid, host, port, str(state_dir), answering=False))
    return Lookup(stale_pid=pid)


def running(state_dir: Path) -> Running | None:
    """The verified emulator of ``state_dir``; a stale pid file is removed on the way."""
    found = lookup(state_dir)
    if found.stale_pid is not None:
        with contextlib.suppress(FileNotFoundError):
            pid_file(state_dir).unlink()
    return found.running


def port_owner(host: str, port: int) -> dict[str, Any] | None:
    """The health of whatever bdlab emulator answers on ``host:port`` (None: none does)."""
    h = health(f"http://{host}:{port}/_bdlab/health", timeout=1.0)
    return h if h is not None and "state_dir" in h else None


def describe_owner(owner: dict[str, Any], host: str, port: int) -> str:
    """One line naming the other emulator on a port and the ways out."""
    return (
        f"{host}:{port} is served by another bdlab emulator (pid {owner.get('pid')}, "
        f"version {owner.get('version')}, state in {owner.get('state_dir')}): stop it with "
        f"`bdlab --state-dir {owner.get('state_dir')} down` (or `bdlab down` in its checkout), "
        f"or give this checkout its own port (`bdlab up --port {port + 1}`; the other verbs "
        f"then find it, or set BDLAB_PORT={port + 1})."
    )


def start_background(
    config: EmulatorConfig, command: list[str], timeout: float = 60.0
) -> tuple[int, dict[str, Any]]:
    """Start ``command`` (a process that runs :func:`serve` for ``config``; it must carry
    :data:`EMULATOR_MARK` and the state folder in its argv) detached; returns (pid, health)
    once it answers with its own identity."""
    state_dir = config.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = running(state_dir)
    if existing is not None:
        raise EmulatorError(
            f"the emulator of {state_dir} already runs (pid {existing.pid}, port "
            f"{existing.port}); `bdlab down` stops it."
        )
    owner = port_owner(config.host, config.port)
    if owner is not None:
        raise EmulatorError(describe_owner(owner, config.host, config.port))
    bind(config.host, config.port).close()  # fail fast, with the clear message, if taken
    log_path = state_dir / "emulator.log"
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(
            command,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    h = wait_healthy(f"{config.url}/_bdlab/health", timeout, proc)
    if h is None or h.get("pid") != proc.pid:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise EmulatorError("the emulator did not come up; last log lines:\n  " + "\n  ".join(tail))
    return proc.pid, h


def stop_background(state_dir: Path, timeout: float = 15.0) -> int | None:
    """SIGTERM the verified emulator of ``state_dir`` (SIGKILL after ``timeout``); returns its
    pid, or None when none runs. A stale pid file is removed and its pid never signalled."""
    r = running(state_dir)
    if r is None:
        return None
    os.kill(r.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(r.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(r.pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        pid_file(state_dir).unlink()
    return r.pid


class ThreadedEmulator:
    """The emulator on a background thread of this process (tests, demo, notebooks)."""

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        clock_speed: float = 1.0,
        fsync: bool = False,
        launcher: StepLauncher | None = None,
        own_kinesis: bool = True,
    ) -> None:
        self.sock = bind(host, port)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.gateway = Gateway(
            state_dir,
            self.port,
            clock_speed,
            fsync,
            launcher=launcher,
            host=host,
            own_kinesis=own_kinesis,
        )
        self.server = uvicorn.Server(_config(self.gateway, "warning"))
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name="bdlab-emulator",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ThreadedEmulator:
        self.thread.start()
        if wait_healthy(self.url + "/_bdlab/health", 30) is None:
            raise EmulatorError("the in-process emulator did not answer within 30 s")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def __enter__(self) -> ThreadedEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextlib.contextmanager
def embedded(
    state_dir: Path, port: int = 0, launcher: StepLauncher | None = None
) -> Iterator[ThreadedEmulator]:
    emu = ThreadedEmulator(state_dir, port=port, launcher=launcher).start()
    try:
        yield emu
    finally:
        emu.stop()
