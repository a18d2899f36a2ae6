"""The monitoring console's data (the CloudWatch console stand-in), without Streamlit: which
pipeline resources exist, their metrics over a time range, alarm states with history and
thresholds, EMR step states, the notification inbox, and the widgets of a CloudWatch dashboard
body stored with PutDashboard. Everything is read through the profile's AWS APIs
(``sim.clients``), so the console works on every profile; the emulator's mailbox through
``sim.admin`` when the profile has one.

Panels are data (:data:`HEALTH`): a title, a namespace, a metric, a statistic, the dimension
that names the resource, and the resources it applies to (discovered by listing them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sim import admin, clients, profiles

# time ranges of the picker: label -> seconds before "now"
RANGES = {
    "15 minutes": 900,
    "1 hour": 3600,
    "3 hours": 3 * 3600,
    "12 hours": 12 * 3600,
    "1 day": 86400,
}


@dataclass(frozen=True)
class Panel:
    """One graph of pipeline health: ``metric`` of ``namespace`` by ``dimension`` (one line
    per resource), aggregated with ``stat`` over ``period`` seconds; ``unit`` for the axis."""

    key: str
    title: str
    namespace: str
    metric: str
    stat: str
    dimension: str
    source: str  # which lister discovers the resources: "streams", "firehoses", "quality"
    period: int = 60
    unit: str = ""


HEALTH: tuple[Panel, ...] = (
    Panel(
        "incoming",
        "Kinesis IncomingRecords",
        "AWS/Kinesis",
        "IncomingRecords",
        "Sum",
        "StreamName",
        "streams",
        unit="records",
    ),
    Panel(
        "iterator_age",
        "Kinesis iterator age (max)",
        "AWS/Kinesis",
        "GetRecords.IteratorAgeMilliseconds",
        "Maximum",
        "StreamName",
        "streams",
        unit="ms",
    ),
    Panel(
        "freshness",
        "Firehose DataFreshness (max)",
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        "Maximum",
        "DeliveryStreamName",
        "firehoses",
        unit="s",
    ),
    Panel(
        "delivery",
        "Firehose delivery success",
        "AWS/Firehose",
        "DeliveryToS3.Success",
        "Average",
        "DeliveryStreamName",
        "firehoses",
        unit="ratio",
    ),
    Panel(
        "pass_rate",
        "Data quality pass rate",
        "bdlab/quality",
        "PassRate",
        "Average",
        "Dataset",
        "quality",
        unit="%",
    ),
)


@dataclass
class Series:
    """One line of a panel: ``label`` and its (epoch seconds, value) points, oldest first."""

    label: str
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


@dataclass
class PanelData:
    panel: Panel
    series: list[Series]
    thresholds: list[tuple[str, float]]  # (alarm name, threshold) drawn on the graph
    empty: str = ""  # why there is nothing to draw (no such resource yet), one line


@dataclass
class Console:
    """Reads for one profile; ``now`` is the emulator clock (or the wall clock on AWS)."""

    profile: profiles.Profile
    now: Callable[[], float]
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = clients.client(service, self.profile, retries=False)
        return self._clients[service]

    # ----------------------------------------------------------- discovery
    def resources(self, source: str) -> list[str]:
        """The names a panel's dimension takes: Kinesis streams, Firehose delivery streams, or
        the datasets that published a quality PassRate."""
        if source == "streams":
            return list(self.client("kinesis").list_streams().get("StreamNames", []))
        if source == "firehoses":
            return list(
                self.client("firehose").list_delivery_streams().get("DeliveryStreamNames", [])
            )
        found = self.client("cloudwatch").list_metrics(
            Namespace="bdlab/quality", MetricName="PassRate"
        )
        names = {
            d["Value"]
            for m in found.get("Metrics", [])
            for d in m.get("Dimensions", [])
            if d["Name"] == "Dataset"
        }
        return sorted(names)

    # ----------------------------------------------------------- metrics
    def panel(self, panel: Panel, range_s: int) -> PanelData:
        """The panel's lines over the last ``range_s`` seconds, with the thresholds of the
        alarms watching that metric."""
        names = self.resources(panel.source)
        if not names:
            what = {"streams": "Kinesis stream", "firehoses": "Firehose delivery stream"}
            return PanelData(panel, [], [], f"no {what.get(panel.source, 'quality dataset')} yet")
        queries = [
            {
                "Id": f"m{i}",
                "Label": name,
                "MetricStat": {
                    "Metric": {
                        "Namespace": panel.namespace,
                        "MetricName": panel.metric,
                        "Dimensions": [{"Name": panel.dimension, "Value": name}],
                    },
                    "Period": panel.period,
                    "Stat": panel.stat,
                },
            }
            for i, name in enumerate(names[:20])
        ]
        series = self.metric_data(queries, range_s)
        return PanelData(panel, series, self.thresholds(panel.namespace, panel.metric))

    def metric_data(self, queries: list[dict[str, Any]], range_s: int) -> list[Series]:
        """GetMetricData over ``[now - range_s, now]`` (all pages), one Series per query."""
        end = self.now()
        start = end - range_s
        cw = self.client("cloudwatch")
        out: dict[str, Series] = {}
        token = None
        while True:
            kw: dict[str, Any] = {
                "MetricDataQueries": queries,
                "StartTime": datetime.fromtimestamp(start, UTC),
                "EndTime": datetime.fromtimestamp(end + 60, UTC),
                "ScanBy": "TimestampAscending",
            }
            if token:
                kw["NextToken"] = token
            page = cw.get_metric_data(**kw)
            for r in page.get("MetricDataResults", []):
                s = out.setdefault(r["Id"], Series(r.get("Label") or r["Id"]))
                s.points += [
                    (t.timestamp(), float(v))
                    for t, v in zip(r.get("Timestamps", []), r.get("Values", []), strict=False)
                ]
            token = page.get("NextToken")
            if not token:
                break
        for s in out.values():
            s.points.sort()
        return [out[q["Id"]] for q in queries if q["Id"] in out]

    # ----------------------------------------------------------- alarms
    def alarms(self) -> list[dict[str, Any]]:
        """Every metric and composite alarm: name, state, reason, updated, threshold and the
        metric it watches (``"-"`` for composite and metric-math alarms)."""
        cw = self.client("cloudwatch")
        rows: list[dict[str, Any]] = []
        for page in cw.get_paginator("describe_alarms").paginate(
            AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        ):
            for a in page.get("MetricAlarms", []):
                rows.append(
                    {
                        "name": a["AlarmName"],
                        "state": a["StateValue"],
                        "reason": a.get("StateReason", ""),
                        "updated": a.get("StateUpdatedTimestamp"),
                        "threshold": a.get("Threshold"),
                        "comparison": a.get("ComparisonOperator", ""),
                        "metric": (
                            f"{a['Namespace']} {a['MetricName']}" if a.get("MetricName") else "-"
                        ),
                        "namespace": a.get("Namespace", ""),
                        "metric_name": a.get("MetricName", ""),
                    }
                )
            for a in page.get("CompositeAlarms", []):
                rows.append(
                    {
                        "name": a["AlarmName"],
                        "state": a["StateValue"],
                        "reason": a.get("StateReason", ""),
                        "updated": a.get("StateUpdatedTimestamp"),
                        "threshold": None,
                        "comparison": "",
                        "metric": "-",
                        "namespace": "",
                        "metric_name": "",
                    }
                )
        order = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
        rows.sort(key=lambda r: (order.get(r["state"], 3), r["name"]))
        return rows

    def thresholds(self, namespace: str, metric: str) -> list[tuple[str, float]]:
        return [
            (a["name"], float(a["threshold"]))
            for a in self.alarms()
            if a["namespace"] == namespace
            and a["metric_name"] == metric
            and a["threshold"] is not None
        ]

    def history(self, alarm: str, limit: int = 20) -> list[dict[str, Any]]:
        """The alarm's state changes, newest first: time, summary."""
        items = self.client("cloudwatch").describe_alarm_history(
            AlarmName=alarm,
            HistoryItemType="StateUpdate",
            MaxRecords=limit,
            ScanBy="TimestampDescending",
        )["AlarmHistoryItems"]
        return [{"time": i["Timestamp"], "summary": i["HistorySummary"]} for i in items]

    # ----------------------------------------------------------- EMR, inbox
    def steps(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest EMR steps of active and recently ended clusters: cluster, step, state."""
        emr = self.client("emr")
        rows: list[dict[str, Any]] = []
        for c in emr.list_clusters().get("Clusters", [])[:10]:
            for s in emr.list_steps(ClusterId=c["Id"]).get("Steps", []):
                rows.append(
                    {
                        "cluster": c["Name"],
                        "step": s["Name"],
                        "state": s["Status"]["State"],
                        "reason": (s["Status"].get("FailureDetails") or {}).get("Reason", ""),
                    }
                )
        return rows[:limit]

    def inbox(self) -> list[dict[str, Any]] | None:
        """The emulator's mailbox (SNS email deliveries), newest first; None on a profile
        without one (real AWS delivers email to real inboxes)."""
        if not self.profile.can("admin") or not self.profile.endpoint_url:
            return None
        found = admin.Admin(self.profile.endpoint_url, timeout=3.0).inbox()
        return list(reversed(found.get("messages", [])))

    # ----------------------------------------------------------- dashboards
    def dashboards(self) -> list[str]:
        return [
            d["DashboardName"]
            for d in self.client("cloudwatch").list_dashboards().get("DashboardEntries", [])
        ]

    def dashboard_widgets(self, name: str, range_s: int) -> list[tuple[str, list[Series] | str]]:
        """A stored dashboard body's widgets as (title, lines) for "metric" widgets and
        (title, text) for "text" widgets; other widget types are named, not drawn."""
        body = json.loads(
            self.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"]
        )
        out: list[tuple[str, list[Series] | str]] = []
        for w in body.get("widgets", []):
            props = w.get("properties", {})
            kind = w.get("type")
            if kind == "text":
                out.append(("", str(props.get("markdown", ""))))
                continue
            if kind != "metric":
                out.append((str(props.get("title", kind)), f"({kind} widgets are not drawn here)"))
                continue
            queries = widget_queries(props)
            title = str(props.get("title") or ", ".join(q["Label"] for q in queries))
            out.append((title, self.metric_data(queries, range_s) if queries else []))
        return out


def widget_queries(props: dict[str, Any]) -> list[dict[str, Any]]:
    """A metric widget's ``metrics`` array (the console's compact form: ``[namespace, name,
    dim, value, ..., {options}]``, ``"."`` repeating the row above) as GetMetricData queries."""
    stat = str(props.get("stat", "Average"))
    period = int(props.get("period", 300))
    queries: list[dict[str, Any]] = []
    previous: list[Any] = []
    for i, row in enumerate(props.get("metrics", [])):
        opts = row[-1] if row and isinstance(row[-1], dict) else {}
        parts = [p for p in row if not isinstance(p, dict)]
        parts = [previous[j] if p == "." and j < len(previous) else p for j, p in enumerate(parts)]
        previous = parts
        if "expression" in opts:
            queries.append(
                {
                    "Id": opts.get("id", f"e{i}"),
                    "Expression": opts["expression"],
                    "Label": opts.get("label", opts["expression"]),
                }
            )
            continue
        if len(parts) < 2:
            continue
        dims = [
            {"Name": str(parts[k]), "Value": str(parts[k + 1])} for k in range(2, len(parts) - 1, 2)
        ]
        label = opts.get("label") or " ".join(str(p) for p in parts[1:])
        queries.append(
            {
                "Id": opts.get("id", f"w{i}"),
                "Label": label,
                "MetricStat": {
                    "Metric": {"Namespace": parts[0], "MetricName": parts[1], "Dimensions": dims},
                    "Period": int(opts.get("period", period)),
                    "Stat": str(opts.get("stat", stat)),
                },
            }
        )
    return queries
