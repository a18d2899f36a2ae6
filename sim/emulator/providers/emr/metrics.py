"""AWS/ElasticMapReduce metrics of bdlab's clusters, as EMR publishes them: one datapoint per
metric every 5 minutes (stamped at the 5-minute boundary, emulator clock), dimension JobFlowId,
while a cluster is alive and once more after it ends (its final state).

Source: EMR management guide, "Monitoring Amazon EMR metrics with CloudWatch"
(UsingEMR_ViewingMetrics.html). bdlab runs no YARN: each step stands for the one YARN
application a Spark step submits, so the YARN counters follow the steps:

==============  ====================================================  =========================
Metric          bdlab's value                                          YARN / EMR meaning
==============  ====================================================  =========================
IsIdle          1 while the cluster is WAITING (no step), else 0       no tasks or jobs running
AppsSubmitted   steps that started (cumulative)                        applications submitted
AppsCompleted   COMPLETED steps (cumulative)                           applications completed
AppsFailed      FAILED steps, also those failing before Spark ran      applications failed
AppsKilled      CANCELLED / INTERRUPTED steps that had started         applications killed
AppsRunning     RUNNING (and CANCEL_PENDING) steps                     applications running
AppsPending     PENDING steps                                          applications pending
CoreNodesRunning / CoreNodesPending  core instances once RUNNING/WAITING / while starting
==============  ====================================================  =========================

The Apps* counters are cumulative for the cluster's life, as YARN's are: an alarm that should
return to OK after one failure compares periods (metric math ``DIFF(m1) > 0``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.emulator.providers.emr.model import ENDED, Cluster, Step

PERIOD_S = 300  # EMR sends its metrics every five minutes
NAMESPACE = "AWS/ElasticMapReduce"


def _core_nodes(c: Cluster) -> int:
    inst = c.spec.get("Instances") or {}
    groups = inst.get("InstanceGroups") or []
    if groups:
        return sum(
            int(g.get("InstanceCount", 0)) for g in groups if g.get("InstanceRole") == "CORE"
        )
    return max(int(inst.get("InstanceCount", 1)) - 1, 0)


def values(c: Cluster, steps: list[Step]) -> dict[str, float]:
    """The metrics of cluster ``c`` now (names as EMR's, units Count; IsIdle 0 or 1)."""
    states = [s.state for s in steps]
    core = _core_nodes(c)
    up = c.state in ("RUNNING", "WAITING")
    return {
        "IsIdle": 1.0 if c.state == "WAITING" else 0.0,
        "AppsSubmitted": float(sum(1 for s in steps if s.started is not None)),
        "AppsCompleted": float(states.count("COMPLETED")),
        "AppsFailed": float(states.count("FAILED")),
        "AppsKilled": float(
            sum(
                1
                for s in steps
                if s.state in ("CANCELLED", "INTERRUPTED") and s.started is not None
            )
        ),
        "AppsRunning": float(states.count("RUNNING") + states.count("CANCEL_PENDING")),
        "AppsPending": float(states.count("PENDING")),
        "CoreNodesRunning": float(core if up else 0),
        "CoreNodesPending": float(core if c.state in ("STARTING", "BOOTSTRAPPING") else 0),
    }


class EmrMetrics:
    """Which 5-minute boundary each cluster was last published for (in memory: after a
    restart a cluster's current boundary may be sent again, and CloudWatch keeps both)."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # cluster id -> boundary last published

    def due(
        self, clusters: list[Cluster], steps_of: Callable[[str], list[Step]], now: float
    ) -> list[dict[str, Any]]:
        """PutMetricData entries (Value, Unit Count, dimension JobFlowId) for each cluster
        not yet published in the current 5-minute period: alive ones, and an ended one once
        after it ended, if that was within the last period."""
        boundary = now - now % PERIOD_S
        out: list[dict[str, Any]] = []
        for c in clusters:
            last = self.sent.get(c.id)
            if last is not None and last >= boundary:
                continue
            if c.state in ENDED:
                ended = c.ended if c.ended is not None else c.changed
                if ended < boundary - PERIOD_S or (last is not None and last >= ended):
                    continue
            self.sent[c.id] = boundary
            for name, value in values(c, steps_of(c.id)).items():
                out.append(
                    {
                        "MetricName": name,
                        "Dimensions": [{"Name": "JobFlowId", "Value": c.id}],
                        "Timestamp": boundary,
                        "Value": value,
                        "Unit": "Count",
                    }
                )
        return out
