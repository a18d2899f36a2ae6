"""The BI dashboard in a real browser: `bdlab dashboard` (real Streamlit) on the test
emulator with the sample lake written into it, opened in Debian's headless Chromium through
Playwright (``executable_path``: no browser download). A filter is changed and the rendered
numbers are checked against the events computed independently; the screenshot is not blank.

Skips, saying why, when Debian's chromium or the playwright package is missing
(scripts/setup.sh installs both)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dashboards.bi import sample
from sim import admin, clients, profiles, settings
from tests.conftest import bdlab_env, free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
BUCKET = "bi-browser-lake"


def _need_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed at {CHROMIUM}: scripts/setup.sh installs it "
            "as root (apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")


def _revenue(events: pa.Table, countries: tuple[str, ...] = ()) -> float:
    keep = pc.equal(events["event_type"], "purchase")
    if countries:
        keep = pc.and_(keep, pc.is_in(events["country"], pa.array(countries)))
    t = events.filter(keep)
    return float(pc.sum(pc.multiply(t["price"], t["quantity"].cast(pa.float64()))).as_py())


@pytest.fixture(scope="module")
def app(profile: profiles.Profile, cfg: settings.Settings) -> Iterator[dict[str, Any]]:
    """`bdlab dashboard --no-browser` on the test emulator over a fresh sample lake."""
    _need_browser()
    lake = sample.write(profile, BUCKET, rows=20_000)
    port = free_port()
    exe = Path(sys.executable).with_name("bdlab")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--no-browser", "--port", str(port), "--bucket", BUCKET],
        env=bdlab_env(cfg.state_path, cfg.port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert re.search(rf"BI dashboard: http://127\.0\.0\.1:{port}/", first), first
        _wait_healthy(port, proc)
        yield {
            "url": f"http://127.0.0.1:{port}/",
            "events": lake["events"],
            "gold_rows": lake["counts"]["gold/daily_revenue"],
        }
    finally:
        proc.terminate()  # bdlab became streamlit (exec): this pid is the server
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        s3 = clients.client("s3", profile)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=BUCKET)


def _wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"bdlab dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the dashboard did not answer within 30 s")


def _not_blank(png: Path) -> tuple[int, float]:
    """(distinct colours, share of pixels that differ from the most common colour)."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 24) or []
    top = max(n for n, _ in colours)
    return len(colours), 1 - top / (img.width * img.height)


def test_a_filter_changes_the_rendered_numbers(
    app: dict[str, Any], profile: profiles.Profile, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    events = app["events"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(app["url"])
            metric = page.locator('[data-testid="stMetric"]')
            revenue = metric.filter(has_text="Revenue").locator('[data-testid="stMetricValue"]')
            orders = metric.filter(has_text="Orders").locator('[data-testid="stMetricValue"]')
            expect(revenue).to_have_text(f"{_revenue(events):,.2f}", timeout=30_000)
            buys = pc.equal(events["event_type"], "purchase")
            expect(orders).to_have_text(f"{pc.sum(buys).as_py():,}")
            # the country filter applies across the visuals: KPI tiles and the breakdown
            page.locator('[data-testid="stMultiSelect"]').filter(has_text="Country").click()
            page.keyboard.type("KR")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            expect(revenue).to_have_text(f"{_revenue(events, ('KR',)):,.2f}", timeout=20_000)
            kr = pc.and_(buys, pc.equal(events["country"], "KR"))
            expect(orders).to_have_text(f"{pc.sum(kr).as_py():,}")
            expect(page.get_by_text("countries: KR")).to_be_visible()
            # the open sheet (Trend) drew its charts, each visual has its CSV button
            expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(2, timeout=20_000)
            expect(page.locator('[data-testid="stDownloadButton"]')).to_have_count(3)
            expect(page.get_by_role("heading", name="Revenue over time")).to_be_visible()
            # the Metric parameter applies across the sheet's visuals; the filters stay
            page.locator('[data-testid="stSidebar"]').get_by_text("orders", exact=True).click()
            expect(page.get_by_role("heading", name="Orders over time")).to_be_visible(
                timeout=20_000
            )
            expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(2, timeout=20_000)
            expect(orders).to_have_text(f"{pc.sum(kr).as_py():,}")
            shot = tmp_path / "bi.png"
            page.screenshot(path=str(shot), full_page=True)
            # another sheet keeps the filter: the gold funnel has no country and says so
            page.get_by_role("tab", name="Funnel").click()
            expect(
                page.get_by_text("funnel has no country column: the Country filter does not apply")
            ).to_be_visible(timeout=20_000)
            expect(page.get_by_role("heading", name="Conversion funnel")).to_be_visible()
            expect(revenue).to_have_text(f"{_revenue(events, ('KR',)):,.2f}")
            assert "Traceback" not in page.content()
            # a slow source (S3 answering 1 s late) shows a spinner, then the rows it read
            page.get_by_role("link", name="Datasets").click()
            page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").click()
            page.get_by_role("option", name="emr_results").click()
            adm = admin.Admin.of(profile)
            adm.set_faults(service="s3", latency_ms=1000)
            try:
                page.get_by_role("button", name="Refresh now (full)").click()
                expect(page.get_by_text("Refreshing emr_results (full)")).to_be_visible()
                done = page.get_by_text(re.compile(r"emr_results: full refresh, \d+ rows"))
                expect(done).to_be_visible(timeout=20_000)
            finally:
                adm.reset_faults()
            assert done.inner_text().split(", ")[1] == f"{app['gold_rows']:,} rows."
        finally:
            browser.close()
    colours, drawn = _not_blank(shot)
    assert colours > 50 and drawn > 0.02, (colours, drawn)
