"""The emulator's command line names its state folder; a pid file is trusted only for an
emulator of exactly that folder (an emulator of /x/st2 is not one of /x/st)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.emulator import server
from sim.emulator.server import EMULATOR_MARK, runs_emulator_of


def _argv(state_dir: str) -> list[str]:
    settings = json.dumps({"state_dir": state_dir})
    return [
        sys.executable,
        "-m",
        "sim.cli.serve",
        EMULATOR_MARK,
        "--state-dir",
        state_dir,
        "--settings",
        settings,
    ]


def test_the_state_folder_must_be_a_whole_argument(tmp_path: Path) -> None:
    st, st2 = tmp_path / "st", tmp_path / "st2"
    assert runs_emulator_of(_argv(str(st)), st)
    assert not runs_emulator_of(_argv(str(st2)), st)  # a prefix of another folder
    assert not runs_emulator_of(_argv(str(st)), st2)
    assert runs_emulator_of([EMULATOR_MARK, f"--state-dir={st}"], st)
    # The folder only inside --settings, or no emulator mark: not this folder's emulator.
    assert not runs_emulator_of([EMULATOR_MARK, "--settings", json.dumps({"d": str(st)})], st)
    assert not runs_emulator_of(["vim", "--state-dir", str(st)], st)


def test_ps_lines_without_argv_boundaries(tmp_path: Path) -> None:
    st = tmp_path / "my st"  # a space inside the folder's name
    line = " ".join(_argv(str(st)))
    assert runs_emulator_of(line, st)
    assert not runs_emulator_of(" ".join(_argv(f"{st}2")), st)
    assert not runs_emulator_of(line.replace(EMULATOR_MARK, "--other"), st)


@pytest.fixture()
def emulator_of_st2(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose argv is an emulator's for ``st2`` (it answers no HTTP: as while an
    emulator starts or hangs); it lives until the test ends."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; print('ready', flush=True); sys.stdin.read()",
            EMULATOR_MARK,
            "--state-dir",
            str(tmp_path / "st2"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"  # exec'd: /proc shows its own argv now
    yield proc
    proc.kill()
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()


def _record(state_dir: Path, pid: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing answers there
    state_dir.mkdir(parents=True, exist_ok=True)
    server.pid_file(state_dir).write_text(
        json.dumps({"pid": pid, "host": "127.0.0.1", "port": port})
    )


def test_a_pid_file_naming_another_folders_emulator_is_stale(
    tmp_path: Path, emulator_of_st2: subprocess.Popen[bytes]
) -> None:
    st, st2 = tmp_path / "st", tmp_path / "st2"
    _record(st, emulator_of_st2.pid)
    found = server.lookup(st)
    assert found.running is None and found.stale_pid == emulator_of_st2.pid
    _record(st2, emulator_of_st2.pid)
    found = server.lookup(st2)
    assert found.running is not None and found.running.pid == emulator_of_st2.pid
    assert not found.running.answering
