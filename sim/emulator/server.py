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
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from sim.emulator.gateway import Gateway


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
        http="httptools",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        server_header=False,
        proxy_headers=False,
        date_header=False,
    )


def pid_file(state_dir: Path) -> Path:
    return state_dir / "emulator.pid"


def serve(
    host: str,
    port: int,
    state_dir: Path,
    clock_speed: float = 1.0,
    fsync: bool = False,
    log_level: str = "warning",
) -> None:
    """Run the emulator in the foreground until SIGTERM/SIGINT."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    sock = bind(host, port)
    gateway = Gateway(state_dir, port, clock_speed, fsync)
    pf = pid_file(state_dir)
    pf.write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port}))
    try:
        uvicorn.Server(_config(gateway, log_level)).run(sockets=[sock])
    finally:
        with contextlib.suppress(FileNotFoundError):
            if json.loads(pf.read_text()).get("pid") == os.getpid():
                pf.unlink()


def health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
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
    pid: int
    host: str
    port: int


def running(state_dir: Path) -> Running | None:
    """The emulator process recorded in ``state_dir``, if it is alive."""
    pf = pid_file(state_dir)
    try:
        info = json.loads(pf.read_text())
        os.kill(int(info["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError):
        return None
    except PermissionError:
        pass
    return Running(int(info["pid"]), info["host"], int(info["port"]))


def start_background(
    host: str,
    port: int,
    state_dir: Path,
    clock_speed: float = 1.0,
    fsync: bool = False,
    log_level: str = "warning",
    timeout: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    """Start ``python -m sim.emulator`` detached; returns (pid, health) once it answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = running(state_dir)
    if existing is not None:
        raise EmulatorError(
            f"the emulator already runs (pid {existing.pid}, port "
            f"{existing.port}); `bdlab down` stops it."
        )
    bind(host, port).close()  # fail fast, with the clear message, if the port is taken
    log_path = state_dir / "emulator.log"
    cmd = [
        sys.executable,
        "-m",
        "sim.emulator",
        "--host",
        host,
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--clock-speed",
        str(clock_speed),
        "--log-level",
        log_level,
    ] + (["--fsync"] if fsync else [])
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=os.getcwd(),
        )
    h = wait_healthy(f"http://{host}:{port}/_bdlab/health", timeout, proc)
    if h is None:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise EmulatorError("the emulator did not come up; last log lines:\n  " + "\n  ".join(tail))
    return proc.pid, h


def stop_background(state_dir: Path, timeout: float = 15.0) -> int | None:
    """SIGTERM the recorded emulator (SIGKILL after ``timeout``); returns its pid."""
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
    ) -> None:
        self.sock = bind(host, port)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.gateway = Gateway(state_dir, self.port, clock_speed, fsync)
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
def embedded(state_dir: Path, port: int = 0) -> Iterator[ThreadedEmulator]:
    emu = ThreadedEmulator(state_dir, port=port).start()
    try:
        yield emu
    finally:
        emu.stop()
