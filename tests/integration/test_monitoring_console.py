"""The monitoring console's reads (dashboards/monitoring/panels.py) on the real emulator:
panels with the thresholds of the alarms watching them, alarm states and history, a stored
CloudWatch dashboard body's widgets, empty states."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboards.common import clock
from dashboards.monitoring import panels
from sim import profiles
from tests.conftest import free_port

pytestmark = pytest.mark.integration

PASS_RATE = next(p for p in panels.HEALTH if p.key == "pass_rate")


def put_pass_rate(
    aws: Callable[[str], Any], dataset: str, points: list[tuple[float, float]]
) -> None:
    aws("cloudwatch").put_metric_data(
        Namespace="bdlab/quality",
        MetricData=[
            {
                "MetricName": "PassRate",
                "Dimensions": [{"Name": "Dataset", "Value": dataset}],
                "Timestamp": datetime.fromtimestamp(t, UTC),
                "Value": v,
                "Unit": "Percent",
            }
            for t, v in points
        ],
    )


def test_panels_alarms_history_and_dashboards(
    profile: profiles.Profile, aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    c = panels.Console(profile, clock.for_profile(profile))
    now = c.now()
    dataset = unique("orders")
    put_pass_rate(aws, dataset, [(now - 3000, 100.0), (now - 300, 80.0)])
    alarm = unique("quality-low")
    aws("cloudwatch").put_metric_alarm(
        AlarmName=alarm,
        Namespace="bdlab/quality",
        MetricName="PassRate",
        Dimensions=[{"Name": "Dataset", "Value": dataset}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=95,
        ComparisonOperator="LessThanThreshold",
        # no datapoint in the last minute counts as breaching: the next evaluation on the
        # clock keeps it in ALARM (the state SetAlarmState gives it below)
        TreatMissingData="breaching",
    )
    aws("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="pass rate 80 < 95"
    )

    hour = c.panel(PASS_RATE, 3600)
    (mine,) = [s for s in hour.series if s.label == dataset]
    assert [v for _, v in mine.points] == [100.0, 80.0]
    assert (alarm, 95.0) in hour.thresholds
    quarter = c.panel(PASS_RATE, 900)
    (mine,) = [s for s in quarter.series if s.label == dataset]
    assert [v for _, v in mine.points] == [80.0]

    row = next(r for r in c.alarms() if r["name"] == alarm)
    assert row["threshold"] == 95.0 and row["metric"] == "bdlab/quality PassRate"
    assert row["state"] == "ALARM"
    assert c.alarms()[0]["state"] == "ALARM"  # alarms in ALARM come first
    history = c.history(alarm)
    assert history and "INSUFFICIENT_DATA to ALARM" in history[-1]["summary"]  # oldest last

    name = unique("pipeline")
    body = {
        "widgets": [
            {"type": "text", "properties": {"markdown": "# Pipeline"}},
            {
                "type": "metric",
                "properties": {
                    "title": "pass rate",
                    "stat": "Average",
                    "period": 60,
                    "metrics": [["bdlab/quality", "PassRate", "Dataset", dataset]],
                },
            },
        ]
    }
    aws("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    assert name in c.dashboards()
    widgets = c.dashboard_widgets(name, 3600)
    assert widgets[0] == ("", "# Pipeline")
    title, lines = widgets[1]
    assert title == "pass rate" and isinstance(lines, list)
    assert [v for _, v in lines[0].points] == [100.0, 80.0]
    aws("cloudwatch").delete_alarms(AlarmNames=[alarm])
    aws("cloudwatch").delete_dashboards(DashboardNames=[name])


def test_empty_states_on_a_fresh_emulator(private_profile: profiles.Profile) -> None:
    c = panels.Console(private_profile, clock.for_profile(private_profile))
    data = c.panel(next(p for p in panels.HEALTH if p.key == "incoming"), 3600)
    assert data.empty == "no Kinesis stream yet" and data.series == []
    assert c.alarms() == [] and c.steps() == [] and c.dashboards() == []
    assert c.inbox() == []


def test_widget_metrics_in_the_consoles_compact_form() -> None:
    q = panels.widget_queries(
        {
            "stat": "Sum",
            "period": 60,
            "metrics": [
                ["AWS/Kinesis", "IncomingRecords", "StreamName", "clicks"],
                [".", ".", ".", "orders", {"stat": "Maximum", "label": "orders"}],
                [{"expression": "m1 + m2", "label": "both", "id": "e1"}],
            ],
        }
    )
    assert q[1]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "StreamName", "Value": "orders"}]
    assert q[1]["MetricStat"]["Stat"] == "Maximum" and q[1]["Label"] == "orders"
    assert q[0]["MetricStat"]["Stat"] == "Sum" and q[0]["MetricStat"]["Period"] == 60
    assert q[2] == {"Id": "e1", "Expression": "m1 + m2", "Label": "both"}


APP = Path(__file__).resolve().parents[2] / "dashboards" / "monitoring" / "app.py"


def _run_app(monkeypatch: pytest.MonkeyPatch, prof: profiles.Profile) -> Any:
    from streamlit.testing.v1 import AppTest

    from dashboards.common import launch

    monkeypatch.setattr(sys, "argv", [str(APP), *launch.AppArgs(prof).to_argv()])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    return at


def test_the_console_page_on_a_fresh_emulator_and_with_it_down(
    monkeypatch: pytest.MonkeyPatch, private_profile: profiles.Profile
) -> None:
    """Empty states say what to do; the emulator down is one line, never a traceback."""
    at = _run_app(monkeypatch, private_profile)
    assert not at.exception
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "no alarms yet" in captions and "no Kinesis stream yet" in captions
    assert "no CloudWatch dashboards yet" in captions
    down = profiles.from_options(
        {**profiles.to_options(private_profile), "endpointUrl": f"http://127.0.0.1:{free_port()}"}
    )
    at = _run_app(monkeypatch, down)
    assert not at.exception
    errors = [str(e.value) for e in at.error]
    assert any("does not answer" in e and "bdlab up" in e for e in errors), errors
