"""The monitoring console's Streamlit script (the CloudWatch console stand-in): it only
renders what ``panels.py`` reads. Sections: alarms (state, reason, history), pipeline health
(Kinesis, Firehose, data quality, with the thresholds of the alarms watching each metric drawn
on its graph), EMR steps, the notification inbox, and a CloudWatch dashboard body stored with
PutDashboard. A time-range picker and auto-refresh in the sidebar; "now" is the emulator clock.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.common import errors
from dashboards.monitoring import panels, runtime

ARGV = tuple(sys.argv[1:])
# State colours as Streamlit's Markdown colours (text, not emoji: a projector's machine may
# lack an emoji font and draw empty boxes)
STATE_COLOUR = {"ALARM": "red", "OK": "green", "INSUFFICIENT_DATA": "gray"}


def time_axis(window: tuple[float, float]) -> Any:
    """The x encoding of every time chart: UTC (the emulator clock's zone, whatever the
    browser's), 24-hour labels, and the picked time range as the domain (not just the span
    of the points)."""
    start, end = (datetime.fromtimestamp(t, UTC) for t in window)
    return alt.X(
        "time:T",
        title="time (UTC)",
        scale=alt.Scale(type="utc", domain=[start.isoformat(), end.isoformat()]),
        # a range of half a day or more crosses midnight: say the day too
        axis=alt.Axis(
            format="%m-%d %H:%M" if end - start >= timedelta(hours=12) else "%H:%M",
            labelOverlap=True,
        ),
    )


def legend(field: str) -> Any:
    """A colour legend beside the chart with whole names (stream names share long prefixes
    and the default cuts them to the same text). Beside, not above or below: Streamlit's
    chart height includes a legend there and squeezes the plot to a few pixels."""
    return alt.Color(field, legend=alt.Legend(labelLimit=0, title=None))


def console(argv: tuple[str, ...]) -> panels.Console:
    """The process's console for these arguments (:mod:`dashboards.monitoring.runtime`)."""
    return runtime.get(argv)


def section(title: str, render: Any, *args: Any) -> None:
    """A section whose failure is one line on the page, never a traceback."""
    st.subheader(title)
    try:
        render(*args)
    except Exception as exc:  # the page stays up; the line says what to do
        st.warning(errors.one_line(exc))


def chart(data: panels.PanelData, window: tuple[float, float]) -> None:
    p = data.panel
    if data.empty:
        st.caption(f"{p.title}: {data.empty}")
        return
    rows = [
        {"time": datetime.fromtimestamp(t, UTC), "value": v, "resource": s.label}
        for s in data.series
        for t, v in s.points
    ]
    cols = st.columns(max(1, min(4, len(data.series))))
    for col, s in zip(cols, data.series, strict=False):
        values = [v for _, v in s.points]
        avg = sum(values) / len(values) if values else None
        col.metric(
            f"{p.title} · {s.label}",
            "no data" if avg is None else f"{avg:,.1f}",
            help=f"{p.stat} per {p.period} s, averaged over the range ({p.unit})",
        )
    if not rows:
        st.caption(f"{p.title}: no datapoints in this range")
        return
    df = pd.DataFrame(rows)
    lines = (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=time_axis(window),
            y=alt.Y("value:Q", title=p.unit or p.metric),
            color=legend("resource:N"),
            tooltip=["resource:N", alt.Tooltip("time:T", format="%H:%M:%S"), "value:Q"],
        )
    )
    layers: Any = lines
    if data.thresholds:
        th = pd.DataFrame([{"alarm": n, "threshold": v} for n, v in data.thresholds])
        rule = (
            alt.Chart(th)
            .mark_rule(color="red", strokeDash=[6, 3])
            .encode(y="threshold:Q", tooltip=["alarm:N", "threshold:Q"])
        )
        layers = lines + rule
    st.altair_chart(layers.properties(title=p.title, height=220), width="stretch")


def alarms_table(c: panels.Console) -> None:
    rows = c.alarms()
    if not rows:
        st.caption("no alarms yet: put one with PutMetricAlarm (lab 3.2.5)")
        return
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in STATE_COLOUR}
    cols = st.columns(3)
    for col, (state, n) in zip(cols, counts.items(), strict=True):
        col.metric(f":{STATE_COLOUR[state]}[{state}]", n)
    df = pd.DataFrame(
        [
            {
                "state": r["state"],
                "alarm": r["name"],
                "metric": r["metric"],
                "threshold": r["threshold"],
                "reason": r["reason"],
            }
            for r in rows
        ]
    )
    st.dataframe(
        df,
        hide_index=True,
        width="stretch",
        column_config={"reason": st.column_config.TextColumn(width="large")},
    )
    # the newest transition's reason in full (a table cell cuts a long one)
    for r in rows:
        if r["state"] == "ALARM":
            st.caption(f":red[{r['name']}]: {r['reason']}")
    pick = st.selectbox("History of", [r["name"] for r in rows], key="history-of")
    if pick:
        hist = c.history(pick)
        st.dataframe(pd.DataFrame(hist), hide_index=True, width="stretch")


def steps_table(c: panels.Console) -> None:
    rows = c.steps()
    if not rows:
        st.caption("no EMR steps yet")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def inbox_table(c: panels.Console) -> None:
    rows = c.inbox()
    if rows is None:
        st.caption("this profile has no local mailbox (real AWS sends email to real inboxes)")
        return
    if not rows:
        st.caption("no notifications yet (SNS email subscriptions land here: `bdlab inbox`)")
        return
    df = pd.DataFrame(rows)[["n", "date", "subject", "to"]]
    st.dataframe(df, hide_index=True, width="stretch")


def stored_dashboard(c: panels.Console, range_s: int, window: tuple[float, float]) -> None:
    names = c.dashboards()
    if not names:
        st.caption("no CloudWatch dashboards yet: PutDashboard stores one (lab 3.2.5)")
        return
    name = st.selectbox("Dashboard", names, key="dashboard")
    for title, content in c.dashboard_widgets(name, range_s):
        if isinstance(content, str):
            st.markdown(content)
            continue
        rows = [
            {"time": datetime.fromtimestamp(t, UTC), "value": v, "line": s.label}
            for s in content
            for t, v in s.points
        ]
        st.markdown(f"**{title}**")
        if rows:
            line = (
                alt.Chart(pd.DataFrame(rows))
                .mark_line(point=True)
                .encode(x=time_axis(window), y="value:Q", color=legend("line:N"))
            )
            st.altair_chart(line.properties(height=200), width="stretch")
        else:
            st.caption("no datapoints in this range")


def main() -> None:
    st.set_page_config(page_title="bdlab monitoring", page_icon="📈", layout="wide")
    st.title("Pipeline monitoring")
    c = console(ARGV)
    label = st.sidebar.selectbox("Time range", list(panels.RANGES), index=1, key="range")
    range_s = panels.RANGES[label]
    auto = st.sidebar.toggle("Auto-refresh (10 s)", value=False, key="auto")
    try:
        now = c.now()
        st.sidebar.caption(
            f"now (emulator clock): {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M:%S} UTC"
        )
    except Exception as exc:
        st.error(errors.one_line(exc))
        return

    @st.fragment(run_every=10 if auto else None)
    def body() -> None:
        try:
            end = c.now()
        except Exception as exc:  # the emulator went down since the page loaded
            st.error(errors.one_line(exc))
            return
        window = (end - range_s, end)
        section("Alarms", alarms_table, c)
        st.subheader("Pipeline health")
        for p in panels.HEALTH:
            try:
                chart(c.panel(p, range_s), window)
            except Exception as exc:
                st.warning(errors.one_line(exc, p.title))
        section("EMR steps", steps_table, c)
        section("Notifications", inbox_table, c)
        section("CloudWatch dashboard", stored_dashboard, c, range_s, window)

    body()


main()
