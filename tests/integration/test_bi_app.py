"""The BI app's bad-input paths (Streamlit's AppTest runs the real script in-process; the
browser test is tests/e2e/test_bi_browser.py) and `bdlab dashboard`'s one-line refusals."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dashboards.common import launch
from sim import profiles, settings
from tests.conftest import bdlab_env, free_port, run_bdlab

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "dashboards" / "bi" / "app.py"


def _run_app(monkeypatch: pytest.MonkeyPatch, args: launch.AppArgs) -> object:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", [str(APP), *args.to_argv()])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    return at


def _texts(at: object) -> str:
    parts = []
    for kind in ("error", "info", "warning", "caption"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def test_a_missing_bucket_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, profile: profiles.Profile
) -> None:
    at = _run_app(monkeypatch, launch.AppArgs(profile, "bi-no-such-bucket"))
    assert not at.exception  # type: ignore[attr-defined]
    text = _texts(at)
    assert "No sales data yet" in text and "bucket does not exist" in text
    assert "Traceback" not in text


def test_the_emulator_down_is_one_line_on_the_page(
    monkeypatch: pytest.MonkeyPatch, profile: profiles.Profile
) -> None:
    down = profiles.from_options(
        {**profiles.to_options(profile), "endpointUrl": f"http://127.0.0.1:{free_port()}"}
    )
    at = _run_app(monkeypatch, launch.AppArgs(down, "any-bucket"))
    assert not at.exception  # type: ignore[attr-defined]
    errors = [str(e.value) for e in at.error]  # type: ignore[attr-defined]
    assert any("does not answer" in e and "bdlab up" in e for e in errors), errors


def test_dashboard_refuses_a_taken_port_and_a_broken_datasets_file(
    cfg: settings.Settings, tmp_path: Path
) -> None:
    env = bdlab_env(cfg.state_path, cfg.port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_bdlab(["dashboard", "--no-browser", "--port", str(port)], env, timeout=60)
    assert r.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "datasets.toml"
    bad.write_text('[[dataset]]\nname = "x"\nsource = { kind = "ftp", path = "a/" }\n')
    r = run_bdlab(["dashboard", "--no-browser", "--datasets", str(bad)], env, timeout=60)
    assert r.returncode == 2 and "source.kind must be one of" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_dashboard_picks_a_free_port_and_the_demo_bucket(cfg: settings.Settings) -> None:
    exe = Path(sys.executable).with_name("bdlab")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--no-browser"],
        env=bdlab_env(cfg.state_path, cfg.port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        m = re.search(r"BI dashboard: http://127\.0\.0\.1:(\d+)/ +\(profile embedded, bucket "
                      r"bdlab-\d+-demo-lake;", "".join(lines))  # fmt: skip
        assert m, lines
        # a demo bucket not written yet on this emulator is said to be missing, once
        missing = "does not exist yet on profile embedded" in "".join(lines)
        assert missing == (m[0].split("bucket ")[1].rstrip(";") not in _buckets(cfg)), lines
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{m[1]}/_stcore/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the dashboard did not answer on the port it printed")
        # no page was opened, yet the server process has started SPICE, kept in the state
        # folder
        spice_dir = cfg.state_path / "spice"
        while time.monotonic() < deadline and not list(
            spice_dir.glob("bdlab-*-demo-lake-*.duckdb")
        ):
            time.sleep(0.2)
        assert list(spice_dir.glob("bdlab-*-demo-lake-*.duckdb")), sorted(spice_dir.glob("*"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _lake_and_datasets(
    profile: profiles.Profile, bucket: str, tmp_path: Path, query: str = ""
) -> Path:
    """A small sample lake in ``bucket`` and a datasets file of its daily_revenue table
    (with ``query`` when given)."""
    from dashboards.bi import sample

    sample.write(profile, bucket, rows=2_000)
    file = tmp_path / "datasets.toml"
    file.write_text(
        '[[dataset]]\nname = "daily_revenue"\n'
        'source = { kind = "delta", path = "gold/daily_revenue" }\n'
        + (f'query = "{query}"\n' if query else "")
    )
    return file


def _buckets(cfg: settings.Settings) -> set[str]:
    from sim import clients

    prof = profiles.resolve(cfg, "embedded")
    return {b["Name"] for b in clients.client("s3", prof).list_buckets()["Buckets"]}


def test_missing_streamlit_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    with pytest.raises(launch.LaunchError, match="streamlit is not installed"):
        launch.check_streamlit()


def test_the_launch_arguments_carry_the_profile() -> None:
    prof = profiles.from_options(
        {"profile": "embedded", "endpointUrl": "http://127.0.0.1:4599", "region": "eu-west-1"}
    )
    args = launch.AppArgs(prof, "b", Path("/x/datasets.toml"), 2.0)
    back = launch.AppArgs.from_argv(args.to_argv())
    assert back == args and back.profile.endpoint_url == "http://127.0.0.1:4599"
    cmd = launch.command(Path("app.py"), 8555, args)
    assert "--server.address=127.0.0.1" in cmd and "--server.headless=true" in cmd


def test_the_server_process_imports_before_the_first_page_and_follows_an_edited_file(
    profile: profiles.Profile, tmp_path: Path
) -> None:
    """`dashboards.common.serve` starts the BI runtime's first import on a thread before
    Streamlit serves (no page asked); an edited --datasets file is a new store on the next
    page load, the old scheduler stopped."""
    from dashboards.bi import runtime
    from dashboards.common import serve

    bucket = "bi-prewarm"
    file = _lake_and_datasets(profile, bucket, tmp_path)
    argv = tuple(launch.AppArgs(profile, bucket, file, tick_s=60).to_argv())
    runtime.reset()
    try:
        thread = serve.warm_up(APP, argv)
        assert thread is not None
        thread.join(timeout=60)
        assert argv in runtime._runtimes  # built by the warm-up, before any page
        store, sched = runtime.get(argv)
        assert sched.first_pass.wait(60)
        assert store.states["daily_revenue"].ready and store.states["daily_revenue"].rows > 0
        assert runtime.get(argv)[0] is store  # every page load shares it
        file.write_text(file.read_text().replace('"daily_revenue"', '"revenue_by_day"', 1))
        new, _ = runtime.get(argv)
        assert new is not store and set(new.states) == {"revenue_by_day"}
        assert sched._stop.is_set()  # the old store's schedules no longer run
        # a dashboard without a runtime module is served as it is
        assert serve.warm_up(tmp_path / "plain" / "app.py", ()) is None
    finally:
        runtime.reset()


def test_a_learner_dataset_missing_columns_or_sheets_is_said_per_visual(
    monkeypatch: pytest.MonkeyPatch, profile: profiles.Profile, tmp_path: Path
) -> None:
    """A datasets file whose daily_revenue query drops country: the KPI tiles still render,
    the country visual says which column to keep, a Country filter says it does not apply
    (never unfiltered numbers silently), and sheets whose datasets the file leaves out are
    not shown. A missing bucket is said once."""
    from dashboards.bi import runtime

    bucket = "bi-app-columns"
    file = _lake_and_datasets(
        profile,
        bucket,
        tmp_path,
        "SELECT CAST(dt AS DATE) AS dt, orders, items, revenue FROM source",
    )
    runtime.reset()
    try:
        at: Any = _run_app(monkeypatch, launch.AppArgs(profile, bucket, file))
        assert not at.exception
        assert [t.label for t in at.tabs] == ["Trend", "Countries"]
        assert {m.label for m in at.metric} >= {"Revenue", "Orders"}
        at.session_state["sheet"] = "Countries"
        at.run()
        text = _texts(at)
        assert "dataset daily_revenue has no column country: keep it in the dataset's query" in (
            text
        ), text
        assert "Binder Error" not in text and "Traceback" not in text
        # the Category filter on the default datasets: the gold tables without the column say so
        at = _run_app(monkeypatch, launch.AppArgs(profile, bucket))
        # the category list comes from top_products or events, imported in the background
        # after the KPI tiles' datasets: wait for them (the page reruns itself the same way)
        deadline = time.monotonic() + 60
        while "Still importing" in _texts(at) and time.monotonic() < deadline:
            time.sleep(0.5)
            at.run()
        at.sidebar.multiselect(key="categories").set_value(["books"]).run()
        text = _texts(at)
        assert (
            "daily_revenue has no category column: the Category filter does not apply here." in text
        ), text
        # a bucket that does not exist: one line, once
        at = _run_app(monkeypatch, launch.AppArgs(profile, "bi-app-nope"))
        text = _texts(at)
        assert text.count("does not exist") == 1 and "bi-app-nope" in text, text
    finally:
        runtime.reset()
