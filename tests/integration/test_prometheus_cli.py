"""The components' /metrics as real processes serve them: `bdlab produce`, `bdlab consume` and
`bdlab agent` with --metrics-port against the session emulator, scraped while they run; the
counters must match what was sent and read."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, bdlab_env, free_port
from tests.integration.test_prometheus import scrape, value

pytestmark = pytest.mark.integration


def bdlab(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen[str]:
    import sys

    exe = Path(sys.executable).with_name("bdlab")
    return subprocess.Popen(
        [str(exe), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def scrape_until(
    url: str, done: Callable[[dict[Any, float]], bool], proc: subprocess.Popen[str], secs: float
) -> list[dict[Any, float]]:
    """Every scrape of ``url`` until ``done`` says so (the last one is it); fails when the
    process ends first or ``secs`` pass."""
    seen: list[dict[Any, float]] = []
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            seen.append(scrape(url))
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"exited {proc.returncode} before its metrics matched: {err}")
            time.sleep(0.1)  # not serving yet
            continue
        if done(seen[-1]):
            return seen
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"{url}: not there within {secs} s; last scrape {seen[-1:]}")


def finished(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return dict(json.loads(out))


@pytest.fixture()
def env(profile: Any, tmp_path: Path) -> dict[str, str]:
    port = int((profile.endpoint_url or "").rsplit(":", 1)[-1])
    return bdlab_env(tmp_path / "state", port)


def test_produce_and_consume_count_what_they_send_and_read(
    env: dict[str, str], aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    kin = aws("kinesis")
    stream, app = unique("cli-prom"), unique("cli-app")
    kin.create_stream(StreamName=stream, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    pport, cport = free_port(), free_port()
    # both at once, as in a pipeline: the consumer reads while the producer sends
    producer = bdlab(
        ["produce", stream, "--rate", "60", "--seconds", "2.5", "--json"]
        + ["--metrics-port", str(pport), "--metrics-linger", "2"],
        env,
    )
    consumer = bdlab(
        ["consume", stream, "--app", app, "--idle-passes", "4", "--idle-sleep", "0.7", "--json"]
        + ["--metrics-port", str(cport), "--metrics-linger", "2"],
        env,
    )
    try:
        sent = scrape_until(
            f"http://127.0.0.1:{pport}/metrics",
            lambda s: value(s, "bdlab_producer_records_sent_total", stream=stream) >= 150,
            producer,
            30,
        )
        read = scrape_until(
            f"http://127.0.0.1:{cport}/metrics",
            lambda s: value(s, "bdlab_consumer_records_total", stream=stream) >= 150,
            consumer,
            30,
        )
        produced, consumed = finished(producer), finished(consumer)
    finally:
        for proc in (producer, consumer):
            if proc.poll() is None:
                proc.kill()
        aws("dynamodb").delete_table(TableName=app)
        kin.delete_stream(StreamName=stream)
    # scraped during the run (from before the first record), final values = the summaries
    assert value(sent[0], "bdlab_producer_records_sent_total", stream=stream) < 150
    last = sent[-1]
    assert produced["records"] == produced["kinesis_records"] == 150  # rate x seconds
    assert value(last, "bdlab_producer_records_sent_total", stream=stream) == 150
    assert value(last, "bdlab_producer_calls_total", stream=stream) == produced["calls"] > 1
    assert sum(produced["shards"].values()) == 150 and len(produced["shards"]) == 2
    final = read[-1]
    assert consumed["records"] == 150 == sum(consumed["event_types"].values())
    assert value(final, "bdlab_consumer_records_total", stream=stream, application=app) == 150
    assert value(final, "bdlab_consumer_batches_total", application=app) == consumed["batches"]
    assert consumed["shards"] == produced["shards"]
    lag = {dict(k[1])["shard"] for k in final if k[0] == "bdlab_consumer_millis_behind_latest"}
    assert lag == set(produced["shards"])


def test_produce_reports_a_missing_stream_and_a_taken_port_in_one_line(
    env: dict[str, str], aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    import socket

    from tests.conftest import run_bdlab

    missing = run_bdlab(["produce", unique("nope"), "--seconds", "1"], env)
    assert missing.returncode == 2 and "ResourceNotFoundException" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    bad = run_bdlab(["produce", "s", "--source", "file"], env)
    assert bad.returncode == 2 and "--file" in bad.stderr
    kin = aws("kinesis")
    stream = unique("cli-port")
    kin.create_stream(StreamName=stream, ShardCount=1)
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            busy = run_bdlab(["consume", stream, "--app", "a", "--metrics-port", port], env)
    finally:
        kin.delete_stream(StreamName=stream)
    assert busy.returncode == 2 and "choose another --metrics-port" in busy.stderr
    assert "Traceback" not in busy.stderr


def test_the_agent_serves_its_lag_and_counters(
    env: dict[str, str], aws: Callable[[str], Any], unique: Callable[[str], str], tmp_path: Path
) -> None:
    from sim.datagen.logwriter import LogWriter

    kin = aws("kinesis")
    stream = unique("cli-agent")
    kin.create_stream(StreamName=stream, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    (tmp_path / "logs").mkdir()
    LogWriter(tmp_path / "logs" / "access.log", fmt="combined", seed=3).write(30)
    conf = {
        "flows": [
            {
                "filePattern": "logs/access.log*",
                "kinesisStream": stream,
                "initialPosition": "START_OF_FILE",
                "maxBufferAgeMillis": 1000,  # the shortest: a partial batch goes after 1 s
            }
        ]
    }
    (tmp_path / "agent.json").write_text(json.dumps(conf))
    port = free_port()
    agent = bdlab(
        ["agent", "--config", "agent.json", "--metrics-port", str(port)]
        + ["--duration", "30", "--report-every", "1", "--json"],
        env,
        cwd=tmp_path,
    )
    try:
        seen = scrape_until(
            f"http://127.0.0.1:{port}/metrics",
            lambda s: value(s, "bdlab_agent_records_sent_total") == 30,
            agent,
            30,
        )
        agent.terminate()  # SIGTERM: the agent stops cleanly and prints its final status
        status = finished(agent)
    finally:
        if agent.poll() is None:
            agent.kill()
        kin.delete_stream(StreamName=stream)
    last = seen[-1]
    labels = {dict(k[1])["destination"] for k in last if k[0] == "bdlab_agent_bytes_behind"}
    assert len(labels) == 1 and stream in labels.pop()
    assert value(last, "bdlab_agent_bytes_behind") == 0
    assert value(last, "bdlab_agent_lines_pending") == 0
    assert value(last, "bdlab_agent_records_throttled_total") == 0
    assert status["flows"][0]["records_sent"] == 30 and status["bytes_behind"] == 0
