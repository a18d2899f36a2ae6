"""Every `bdlab` verb through the real console script: happy path and bad input."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bdlab_env, free_port, run_bdlab

pytestmark = pytest.mark.integration


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    e = bdlab_env(tmp_path / "state", free_port())
    yield e
    run_bdlab(["down"], e)


def test_up_status_down(env: dict[str, str]) -> None:
    r = run_bdlab(["up"], env)
    assert r.returncode == 0, r.stderr
    assert "up pid" in r.stdout
    r = run_bdlab(["up"], env)
    assert r.returncode == 0 and "already running" in r.stdout
    st = json.loads(run_bdlab(["status", "--json"], env).stdout)
    assert st["profile"] == "embedded" and st["emulator"] == "running"
    assert st["endpoint"].endswith(env["BDLAB_PORT"])
    assert st["runners"]["spark"].startswith("local[*]")
    human = run_bdlab(["status"], env).stdout
    assert "what runs where" in human and "running" in human
    r = run_bdlab(["down"], env)
    assert r.returncode == 0 and "stopped pid" in r.stdout
    assert json.loads(run_bdlab(["status", "--json"], env).stdout)["emulator"] == "not running"


def test_port_taken_is_one_clear_line(env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(env["BDLAB_PORT"])))
        s.listen()
        r = run_bdlab(["up"], env)
    assert r.returncode == 2
    assert "already in use" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr


def test_wrong_profile_and_unknown_lab(env: dict[str, str]) -> None:
    r = run_bdlab(["--profile", "prod", "status"], env)
    assert r.returncode == 2 and "unknown profile 'prod'" in r.stderr
    r = run_bdlab(["status"], {**env, "BDLAB_PROFILE": "staging"})
    assert r.returncode == 2 and "embedded, localstack, aws" in r.stderr
    r = run_bdlab(["check", "9.9.9"], env)
    assert r.returncode == 2 and "unknown lab '9.9.9'" in r.stderr and "bdlab labs" in r.stderr
    r = run_bdlab(["--profile", "aws", "up"], env)
    assert r.returncode == 2 and "no embedded emulator" in r.stderr
    r = run_bdlab(["status"], {**env, "BDLAB_PORT": "http"})
    assert r.returncode == 2 and "BDLAB_PORT" in r.stderr


def test_lab_cycle_run_check_reset(env: dict[str, str]) -> None:
    labs = {lab["id"]: lab for lab in json.loads(run_bdlab(["labs", "--json"], env).stdout)}
    assert list(labs) == [
        "1.1.3",
        "1.2.4",
        "1.2.5",
        "1.3.4",
        "1.3.5",
        "1.3.6",
        "2.1.3",
        "2.2.4",
        "2.2.5",
        "2.3.4",
        "2.3.5",
        "3.1.4",
        "3.2.5",
        "3.2.6",
    ]
    assert labs["1.2.4"]["status"] == "not started"
    r = run_bdlab(["run", "1.2.4"], env)  # the learner's skeleton: TODO message, exit 1
    assert r.returncode == 1 and "TODO" in r.stderr and "1단계" in r.stderr
    r = run_bdlab(["check", "1.2.4", "--json"], env)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["passed"] == 0 and out["checks"][0]["hint"]
    r = run_bdlab(["run", "1.2.4", "--solution"], env)
    assert r.returncode == 0, r.stderr
    r = run_bdlab(["check", "1.2.4"], env)
    assert r.returncode == 0 and "8/8 checks passed" in r.stdout
    labs = {lab["id"]: lab for lab in json.loads(run_bdlab(["labs", "--json"], env).stdout)}
    assert labs["1.2.4"]["status"] == "passed" and labs["1.2.4"]["checks"] == "8/8"
    r = run_bdlab(["reset", "1.2.4"], env)
    assert r.returncode == 0 and "objects removed" in r.stdout
    assert json.loads(run_bdlab(["check", "1.2.4", "--json"], env).stdout)["passed"] == 0


def test_clock_faults_doctor_and_full_reset(env: dict[str, str]) -> None:
    assert run_bdlab(["up", "--clock-speed", "60"], env).returncode == 0
    clock = json.loads(run_bdlab(["clock", "--json"], env).stdout)
    assert clock["speed"] == 60
    after = json.loads(run_bdlab(["clock", "--advance", "3600", "--json"], env).stdout)
    assert after["now"] - clock["now"] >= 3600
    # People read dates, not epoch seconds: the clock and status show the date and the offset.
    human = run_bdlab(["clock"], env).stdout
    ahead = re.compile(r"\+0 d 0[1-3]:\d\d vs wall clock")  # x60: a few seconds add minutes
    assert "UTC" in human and ahead.search(human), human
    assert ahead.search(run_bdlab(["status"], env).stdout)
    said = run_bdlab(["faults", "error_rate=0.1", "--service", "s3"], env).stdout
    assert "faults for s3: error_rate=0.1" in said and "bdlab faults --reset" in said
    f = json.loads(
        run_bdlab(["faults", "throttle_rate=0.5", "--service", "s3", "--json"], env).stdout
    )
    assert f["values"]["s3"] == {"error_rate": 0.1, "throttle_rate": 0.5}
    r = run_bdlab(["faults", "explode=1"], env)
    assert r.returncode == 2 and "unknown fault knob" in r.stderr
    assert json.loads(run_bdlab(["faults", "--reset", "--json"], env).stdout)["values"] == {}
    assert "none active" in run_bdlab(["faults", "--reset"], env).stdout
    r = run_bdlab(["faults", "throttle_rate=abc"], env)
    assert r.returncode == 2 and "throttle_rate must be a number between 0 and 1" in r.stderr
    assert "_bdlab" not in r.stderr and "convert" not in r.stderr, r.stderr
    listing = run_bdlab(["faults"], env).stdout  # the knobs as a table, not raw JSON
    assert "throttle_rate" in listing and "hot_shard" in listing and "{" not in listing
    doc = run_bdlab(["doctor", "--json"], env)
    names = {d["name"]: d for d in json.loads(doc.stdout)}
    assert names["java"]["level"] == "ok" and names["emulator"]["level"] == "ok"
    assert names["port"]["found"].endswith("serves this bdlab emulator")
    r = run_bdlab(["reset"], env)  # no --yes and no terminal: refuses
    assert r.returncode == 2 and "--yes" in r.stderr
    r = run_bdlab(["reset", "--yes"], env)
    assert r.returncode == 0 and "wiped" in r.stdout
    assert not Path(env["BDLAB_STATE_DIR"]).exists()


def test_setup_offline_verifies_the_cache(env: dict[str, str], tmp_path: Path) -> None:
    r = run_bdlab(["setup", "--offline"], env)  # the real cache, filled by scripts/setup.sh
    assert r.returncode == 0 and "present" in r.stdout
    r = run_bdlab(["setup", "--offline"], {**env, "BDLAB_JARS_DIR": str(tmp_path / "empty")})
    assert r.returncode == 2 and "bdlab setup" in r.stderr and "Traceback" not in r.stderr


JVM_BANNERS = ("Using incubator modules", "log level", "NativeCodeLoader", "log4j", "WARN ")


@pytest.mark.spark
def test_a_real_spark_start_prints_no_jvm_banners(env: dict[str, str]) -> None:
    """`bdlab run 1.2.5` on the untouched skeleton starts the lab's SparkSession, then stops
    at the learner's first TODO: the JVM's start-up lines go to the driver log, not the
    terminal (the cheap stand-in for the 72 s solution run)."""
    r = run_bdlab(["run", "1.2.5"], env, timeout=300)
    assert r.returncode == 1 and "TODO 1단계" in r.stderr, r.stdout + r.stderr
    assert "✓ Spark 세션 시작" in r.stdout, r.stdout
    for noise in JVM_BANNERS:
        assert noise not in r.stdout + r.stderr, noise
    log = (Path(env["BDLAB_STATE_DIR"]) / "logs" / "spark-driver.log").read_text()
    assert "Using incubator modules" in log  # the JVM did say it, to the log


@pytest.mark.slow
@pytest.mark.spark
def test_demo_end_to_end(env: dict[str, str]) -> None:
    r = run_bdlab(["demo", "--rows", "20000"], env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "daily revenue" in r.stdout and "2026-01-18" in r.stdout
    # No JVM banners in normal output: they go to the state folder's driver log.
    for noise in ("Using incubator modules", "log level", "WARN NativeCodeLoader"):
        assert noise not in r.stdout + r.stderr, noise
    assert (Path(env["BDLAB_STATE_DIR"]) / "logs" / "spark-driver.log").exists()
    out = json.loads(run_bdlab(["demo", "--rows", "20000", "--json"], env, timeout=600).stdout)
    assert out["result_rows"] > 0 and out["raw"]["files"] == 7


@pytest.mark.slow
def test_bench_quick(env: dict[str, str], tmp_path: Path) -> None:
    r = run_bdlab(
        ["bench", "--quick", "--targets", "null,bdlab", "--json", str(tmp_path / "b.json")],
        env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "b.json").read_text())


def test_more_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    r = run_bdlab(["demo", "--rows", "-5"], env)
    assert r.returncode == 2 and "--rows" in r.stderr and "Traceback" not in r.stderr
    r = run_bdlab(["run", "no-such-lab"], env)
    assert r.returncode == 2 and "unknown lab" in r.stderr
    assert run_bdlab(["up"], env).returncode == 0
    r = run_bdlab(["clock", "--speed", "0"], env)
    assert r.returncode == 2 and "clock speed" in r.stderr
    r = run_bdlab(["doctor"], {**env, "BDLAB_JARS_DIR": str(tmp_path / "nojars")})
    assert r.returncode == 1 and "bdlab setup" in r.stdout
    # JAVA_HOME pointing nowhere: doctor passed and Spark died; now doctor fails with the fix.
    r = run_bdlab(["doctor", "--json"], {**env, "JAVA_HOME": str(tmp_path / "nojdk")})
    java = {d["name"]: d for d in json.loads(r.stdout)}["java"]
    assert r.returncode == 1 and java["level"] == "fail" and "JAVA_HOME" in java["fix"]
    r = run_bdlab(["down"], env)
    assert "stopped" in r.stdout
    assert "not running" in run_bdlab(["down"], env).stdout


@pytest.mark.spark
def test_emr_verbs(env: dict[str, str], tmp_path: Path) -> None:
    job = tmp_path / "hello.py"
    job.write_text(
        "import sys\nfrom pyspark.sql import SparkSession\n"
        "print('HELLO', SparkSession.builder.getOrCreate().range(int(sys.argv[1])).count())\n"
    )
    assert run_bdlab(["up"], env).returncode == 0
    r = run_bdlab(["emr", "create", "--name", "cli-test"], env)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert cid.startswith("j-")
    r = run_bdlab(["emr", "submit", cid, str(job), "7"], env, timeout=300)
    assert r.returncode == 0 and "COMPLETED" in r.stdout, r.stdout + r.stderr
    info = json.loads(run_bdlab(["emr", "status", cid, "--json"], env).stdout)
    sid = info["steps"][0]["Id"]
    assert info["steps"][0]["Status"]["State"] == "COMPLETED"
    assert "HELLO 7" in run_bdlab(["emr", "logs", cid, sid, "--which", "stdout"], env).stdout
    # A failed step: `emr logs` without --which shows the log that holds the cause (PySpark
    # writes the Python traceback to the step's stdout, not its stderr).
    boom = tmp_path / "boom.py"
    boom.write_text("raise RuntimeError('boom: the learner script failed')\n")
    r = run_bdlab(["emr", "submit", cid, str(boom)], env, timeout=300)
    assert r.returncode != 0 and "boom: the learner script failed" in r.stderr, r.stderr
    added = re.search(r"step (s-\w+) added", r.stdout)
    assert added, r.stdout
    sid2 = added.group(1)
    stderr_log = run_bdlab(["emr", "logs", cid, sid2, "--which", "stderr"], env).stdout
    assert "RuntimeError: boom" not in stderr_log  # so the default must choose, not guess
    r = run_bdlab(["emr", "logs", cid, sid2], env)
    assert r.returncode == 0 and "RuntimeError: boom: the learner script failed" in r.stdout
    assert "showing its stdout" in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    r = run_bdlab(["emr", "submit", cid, str(tmp_path / "missing.py")], env)
    assert r.returncode == 2 and "neither a file" in r.stderr
    r = run_bdlab(["emr", "status", "j-NOPE"], env)
    assert r.returncode == 2 and "InvalidRequestException" in r.stderr
    assert run_bdlab(["emr", "terminate", cid], env).returncode == 0
