"""One state folder, one settings path, and an emulator that is verified before it is trusted
or signalled (issue 11, part 1): each test is a finding a new user tripped over."""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, bdlab_env, free_port, run_bdlab

pytestmark = pytest.mark.integration


@pytest.fixture()
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated program whose pid a stale pid file names (after a reboot or kill -9)."""
    # It blocks on its stdin (no timer): it lives exactly as long as the test holds it.
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield proc
    proc.kill()
    proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stale_pid_file_is_never_trusted_or_signalled(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    state, port = tmp_path / "state", free_port()
    env = bdlab_env(state, port)
    state.mkdir()
    record = json.dumps({"pid": stranger.pid, "host": "127.0.0.1", "port": port})
    (state / "emulator.pid").write_text(record)
    st = json.loads(run_bdlab(["status", "--json"], env).stdout)
    assert st["emulator"] == "not running"
    r = run_bdlab(["down"], env)
    assert r.returncode == 0 and "not running" in r.stdout and "stale pid file" in r.stdout
    assert _alive(stranger.pid), "bdlab down killed an unrelated program"
    (state / "emulator.pid").write_text(record)
    try:
        r = run_bdlab(["up"], env)
        assert r.returncode == 0 and "up pid" in r.stdout, r.stdout + r.stderr
        assert _alive(stranger.pid)
        st = json.loads(run_bdlab(["status", "--json"], env).stdout)
        assert st["emulator"] == "running" and st["health"]["pid"] != stranger.pid
        # Its identity: pid, state folder and the installed bdlab's version.
        assert st["health"]["state_dir"] == str(state)
        assert st["health"]["version"] == importlib.metadata.version("bdlab")
    finally:
        assert "stopped pid" in run_bdlab(["down"], env).stdout
    assert _alive(stranger.pid)


def test_another_state_folders_emulator_is_named_not_used(tmp_path: Path) -> None:
    """A second checkout's setup ran its demo against the first checkout's emulator."""
    port = free_port()
    first = bdlab_env(tmp_path / "first", port)
    second = bdlab_env(tmp_path / "second", port)
    assert run_bdlab(["up"], first).returncode == 0
    try:
        for verb in (["up"], ["check", "1.2.4"], ["run", "1.2.4", "--solution"]):
            r = run_bdlab(verb, second)
            assert r.returncode == 2, (verb, r.stdout, r.stderr)
            line = r.stderr.strip()
            assert line.count("\n") == 0 and str(tmp_path / "first") in line
            assert "--port" in line and "BDLAB_PORT=" in line and "Traceback" not in line
            assert f"version {importlib.metadata.version('bdlab')}," in line
        st = json.loads(run_bdlab(["status", "--json"], second).stdout)
        assert st["emulator"] == "other"
        assert st["other_emulator"]["state_dir"] == str(tmp_path / "first")
        r = run_bdlab(["down"], second)
        assert "not running" in r.stdout and str(tmp_path / "first") in r.stdout
        assert not (tmp_path / "second" / "labs.json").exists()
        doc = {d["name"]: d for d in json.loads(run_bdlab(["doctor", "--json"], second).stdout)}
        assert doc["port"]["level"] == "fail" and str(tmp_path / "first") in doc["port"]["found"]
    finally:
        run_bdlab(["down"], first)


def _time_wait_on(port: int) -> bool:
    """Whether a TCP connection whose local port is ``port`` is in TIME-WAIT (Linux)."""
    rows: list[str] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows += Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
    if not rows:
        pytest.skip("no /proc/net/tcp to see TIME-WAIT connections in")
    # Columns: sl local_address rem_address st ...; st 06 is TIME_WAIT.
    return any(
        int(r.split()[1].rsplit(":", 1)[1], 16) == port and r.split()[3] == "06" for r in rows
    )


def test_up_takes_a_port_and_doctor_ignores_time_wait(tmp_path: Path) -> None:
    env = bdlab_env(tmp_path / "state", 4566)
    del env["BDLAB_PORT"]
    port = free_port()
    r = run_bdlab(["up", "--port", str(port)], env)
    assert r.returncode == 0 and f":{port}" in r.stdout, r.stderr
    penv = {**env, "BDLAB_PORT": str(port)}
    # The other verbs find this state folder's emulator on its port without being told.
    st = json.loads(run_bdlab(["status", "--json"], env).stdout)
    assert st["emulator"] == "running" and st["endpoint"].endswith(f":{port}")
    conf = json.loads(run_bdlab(["config", "--json"], env).stdout)
    port_row = {row["name"]: row for row in conf["settings"]}["port"]
    assert port_row["value"] == port and "running emulator" in port_row["source"]
    # A keep-alive connection still open when the emulator stops: the server closes it first,
    # which leaves that connection in TIME-WAIT on the emulator's own port.
    held = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    held.request("GET", "/_bdlab/health")
    assert held.getresponse().read()
    assert "stopped pid" in run_bdlab(["down"], env).stdout
    held.close()
    if not _time_wait_on(port):
        pytest.skip(f"no TIME-WAIT connection on :{port} after down (the kernel reaped it)")
    doc = {d["name"]: d for d in json.loads(run_bdlab(["doctor", "--json"], penv).stdout)}
    assert doc["port"]["level"] == "ok" and "free" in doc["port"]["found"]
    r = run_bdlab(["up", "--port", "99999"], env)
    assert r.returncode == 2 and "1-65535" in r.stderr


def test_the_state_folder_is_the_same_from_any_folder(tmp_path: Path) -> None:
    """`bdlab up` from a lab's folder made a second, empty state folder there."""
    conf = tmp_path / "course"
    conf.mkdir()
    (conf / "bdlab.toml").write_text(f'state_dir = "state"\nport = {free_port()}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDLAB_")}
    env["BDLAB_CONFIG"] = str(conf / "bdlab.toml")
    lab_dir = ROOT / "labs" / "l124_s3_partitioning"
    assert run_bdlab(["up"], env, cwd=lab_dir).returncode == 0
    try:
        for where in (ROOT, ROOT / "notebooks", tmp_path):
            st = json.loads(run_bdlab(["status", "--json"], env, cwd=where).stdout)
            assert st["state_dir"] == str(conf / "state") and st["emulator"] == "running"
        assert not (lab_dir / ".bdlab").exists() and not (lab_dir / "state").exists()
    finally:
        assert "stopped pid" in run_bdlab(["down"], env, cwd=ROOT / "notebooks").stdout


def test_state_dir_flag_reaches_progress_spark_and_emr(tmp_path: Path) -> None:
    """--state-dir X check wrote progress to ./.bdlab; Spark's folders ignored it too."""
    state = tmp_path / "elsewhere"
    env = bdlab_env(tmp_path / "unused", free_port())
    del env["BDLAB_STATE_DIR"]
    work = tmp_path / "cwd"
    work.mkdir()
    try:
        r = run_bdlab(["--state-dir", str(state), "check", "1.2.4"], env, cwd=work)
        assert r.returncode == 1 and "0/8" in r.stdout, r.stderr
        progress = json.loads((state / "labs.json").read_text())
        assert progress["embedded"]["1.2.4"]["status"] == "failed"
        assert not (work / ".bdlab").exists() and not (tmp_path / "unused").exists()
        conf = json.loads(run_bdlab(["--state-dir", str(state), "config", "--json"], env).stdout)
        rows = {row["name"]: row for row in conf["settings"]}
        assert rows["state_dir"]["value"] == str(state)
        assert rows["state_dir"]["source"] == "command line"
    finally:
        run_bdlab(["--state-dir", str(state), "down"], env)


def test_progress_is_kept_per_profile(tmp_path: Path) -> None:
    env = bdlab_env(tmp_path / "state", free_port())
    env.update({"HOME": str(tmp_path / "home"), "AWS_EC2_METADATA_DISABLED": "true"})
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(var, None)
    try:
        assert run_bdlab(["check", "1.2.4"], env).returncode == 1
        for verb in (["check", "1.2.4"], ["run", "1.2.4", "--solution"], ["emr", "status"]):
            r = run_bdlab(["--profile", "aws", *verb], env)
            assert r.returncode == 2 and "no AWS credentials" in r.stderr, r.stderr
            assert "bdlab bug" not in r.stderr and r.stderr.strip().count("\n") == 0
        labs = {x["id"]: x for x in json.loads(run_bdlab(["labs", "--json"], env).stdout)}
        assert labs["1.2.4"]["status"] == "failed"  # the embedded run, untouched by aws
        aws = json.loads(run_bdlab(["--profile", "aws", "labs", "--json"], env).stdout)
        assert {x["id"]: x for x in aws}["1.2.4"]["status"] == "not started"
    finally:
        run_bdlab(["down"], env)


@pytest.fixture()
def black_hole() -> Iterator[tuple[str, list[socket.socket]]]:
    """An instance-metadata endpoint that takes connections and never answers (a laptop's
    169.254.169.254 on some networks): its URL and the connections it took."""
    server = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                taken.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", taken
    server.close()
    for conn in taken:
        conn.close()


@pytest.mark.parametrize("asks_long_wait", [False, True], ids=["botocore-defaults", "long-wait"])
def test_aws_without_credentials_does_not_wait_on_instance_metadata(
    tmp_path: Path, black_hole: tuple[str, list[socket.socket]], asks_long_wait: bool
) -> None:
    """AWS_EC2_METADATA_DISABLED unset, the metadata endpoint silent: each verb says it in one
    line within seconds, even where the environment asks botocore for a long metadata wait."""
    url, taken = black_hole
    env = bdlab_env(tmp_path / "state", free_port())
    env.update({"HOME": str(tmp_path / "home"), "AWS_EC2_METADATA_SERVICE_ENDPOINT": url})
    if asks_long_wait:
        env.update({"AWS_METADATA_SERVICE_TIMEOUT": "20", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "3"})
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        env.pop(var, None)
    for verb in (["check", "1.2.4"], ["emr", "status"]):
        t0 = time.monotonic()
        r = run_bdlab(["--profile", "aws", *verb], env, timeout=120)
        took = time.monotonic() - t0
        assert r.returncode == 2 and "no AWS credentials" in r.stderr, r.stderr
        assert "bdlab bug" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
        # bdlab's start (~2 s, more on a loaded 2-core machine) plus one short metadata try.
        assert took < 12, f"{verb}: {took:.1f} s"
    assert taken, "the metadata endpoint was never asked: the test would prove nothing"


def test_ctrl_c_on_foreground_stops_cleanly(tmp_path: Path) -> None:
    env = bdlab_env(tmp_path / "state", free_port())
    exe = Path(sys.executable).with_name("bdlab")
    proc = subprocess.Popen(
        [str(exe), "up", "--foreground"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            st = json.loads(run_bdlab(["status", "--json"], env).stdout)
            if st["emulator"] == "running":
                break
        else:
            pytest.fail("the foreground emulator did not come up")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "stopped" in out
    assert not (tmp_path / "state" / "emulator.pid").exists()
