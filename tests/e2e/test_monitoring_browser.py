"""The monitoring console in a real browser: `bdlab dashboard --monitoring` (real Streamlit)
on the test emulator with a quality metric, an alarm in ALARM and a stored CloudWatch
dashboard, opened in Debian's headless Chromium through Playwright (``executable_path``: no
browser download). The time range is changed and the rendered average follows; the alarm's
state is shown; the screenshot is not blank."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sim import admin, clients, profiles, settings
from tests.conftest import bdlab_env, free_port
from tests.e2e.test_bi_browser import CHROMIUM, _need_browser, _not_blank, _wait_healthy

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DATASET = "browser-orders"
ALARM = "browser-quality-low"


@pytest.fixture(scope="module")
def console(profile: profiles.Profile, cfg: settings.Settings) -> Iterator[str]:
    _need_browser()
    cw = clients.client("cloudwatch", profile)
    now = float(admin.Admin(profile.endpoint_url or "").clock()["now"])
    cw.put_metric_data(
        Namespace="bdlab/quality",
        MetricData=[
            {
                "MetricName": "PassRate",
                "Dimensions": [{"Name": "Dataset", "Value": DATASET}],
                "Timestamp": datetime.fromtimestamp(t, UTC),
                "Value": v,
            }
            for t, v in ((now - 3000, 100.0), (now - 300, 80.0))
        ],
    )
    cw.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="bdlab/quality",
        MetricName="PassRate",
        Dimensions=[{"Name": "Dataset", "Value": DATASET}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=95,
        ComparisonOperator="LessThanThreshold",
        # no datapoint in the last minute counts as breaching: the next evaluation on the
        # clock keeps it in ALARM (the state SetAlarmState gives it below)
        TreatMissingData="breaching",
    )
    cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="pass rate 80 < 95")
    body = {
        "widgets": [
            {"type": "text", "properties": {"markdown": "## Quality board"}},
            {
                "type": "metric",
                "properties": {
                    "title": "orders pass rate",
                    "metrics": [["bdlab/quality", "PassRate", "Dataset", DATASET]],
                    "period": 60,
                    "stat": "Average",
                },
            },
        ]
    }
    cw.put_dashboard(DashboardName="browser-board", DashboardBody=json.dumps(body))
    port = free_port()
    exe = Path(sys.executable).with_name("bdlab")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--monitoring", "--no-browser", "--port", str(port)],
        env=bdlab_env(cfg.state_path, cfg.port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert re.search(rf"Monitoring console: http://127\.0\.0\.1:{port}/", first), first
        _wait_healthy(port, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        cw.delete_alarms(AlarmNames=[ALARM])
        cw.delete_dashboards(DashboardNames=["browser-board"])


def test_the_time_range_changes_the_rendered_numbers(console: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(console)
            metric = page.locator('[data-testid="stMetric"]').filter(
                has_text=f"Data quality pass rate · {DATASET}"
            )
            value = metric.locator('[data-testid="stMetricValue"]')
            expect(value).to_have_text("90.0", timeout=30_000)  # last hour: 100 and 80
            # the alarm table (a canvas grid: its cells are attached, not "visible")
            expect(page.get_by_text(ALARM).first).to_be_attached()
            tile = page.locator('[data-testid="stMetric"]').filter(has_text="ALARM")
            expect(tile.locator('[data-testid="stMetricValue"]')).not_to_have_text("0")
            # the sidebar's time range applies to every panel
            page.locator('[data-testid="stSelectbox"]').filter(has_text="Time range").click()
            page.get_by_role("option", name="15 minutes").click()
            expect(value).to_have_text("80.0", timeout=20_000)  # only the 80 is that recent
            expect(page.get_by_text("Quality board")).to_be_visible()
            expect(page.get_by_text("orders pass rate")).to_be_visible()
            shot = tmp_path / "monitoring.png"
            page.screenshot(path=str(shot), full_page=True)
            assert "Traceback" not in page.content()
        finally:
            browser.close()
    colours, drawn = _not_blank(shot)
    assert colours > 50 and drawn > 0.02, (colours, drawn)
