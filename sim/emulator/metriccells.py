"""Per-minute metric cells on the emulator clock, for providers that publish AWS's own metrics
(AWS/Kinesis, AWS/Firehose): each cell keeps Sum, SampleCount, Maximum and Minimum, so one
PutMetricData with StatisticValues carries a whole minute, or the part of it so far (CloudWatch
adds the parts of a period up)."""

from __future__ import annotations

from collections.abc import Container


class MetricCells:
    """Cells keyed by (resource name, minute start) and metric name."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, float], dict[str, list[float]]] = {}
        # Running totals for Prometheus (cells are taken away each minute; a counter must
        # not go back): (resource, metric) -> [sum, samples, last value].
        self.totals: dict[tuple[str, str], list[float]] = {}

    def count(self, resource: str, now: float, metric: str, value: float) -> None:
        cell = self.cells.setdefault((resource, now - now % 60), {}).setdefault(
            metric, [0.0, 0.0, float("-inf"), float("inf")]
        )
        cell[0] += value
        cell[1] += 1
        cell[2] = max(cell[2], value)
        cell[3] = min(cell[3], value)
        total = self.totals.setdefault((resource, metric), [0.0, 0.0, 0.0])
        total[0] += value
        total[1] += 1
        total[2] = value

    def take(
        self, before: float, open_minutes: bool, alive: Container[str]
    ) -> list[tuple[str, float, str, list[float]]]:
        """The finished minutes (starting before ``before``), and with ``open_minutes`` the
        current one so far: ``(resource, minute, metric, [sum, samples, max, min])``, removed.
        Cells of resources no longer ``alive`` are dropped."""
        done = [k for k in self.cells if k[0] in alive and (open_minutes or k[1] + 60 <= before)]
        out = []
        for key in sorted(done, key=lambda k: k[1]):
            for metric, cell in self.cells.pop(key).items():
                out.append((key[0], key[1], metric, cell))
        for key in [k for k in self.cells if k[0] not in alive]:
            del self.cells[key]
        for tkey in [k for k in self.totals if k[0] not in alive]:
            del self.totals[tkey]
        return out


def _unit(metric: str) -> str:
    if metric.endswith("Bytes"):
        return "Bytes"
    if metric.endswith("Milliseconds"):
        return "Milliseconds"
    if metric.endswith("DataFreshness"):
        return "Seconds"
    return "Count"


def metric_data(
    items: list[tuple[str, float, str, list[float]]], dimension: str, sub_dimension: str = ""
) -> list[dict[str, object]]:
    """PutMetricData entries (StatisticValues) for taken cells. A metric named
    ``Name@value`` gets the second dimension ``sub_dimension=value`` (Kinesis's ShardId)."""
    out: list[dict[str, object]] = []
    for resource, minute, name, (total, n, high, low) in items:
        dims = [{"Name": dimension, "Value": resource}]
        metric, _, sub = name.partition("@")
        if sub and sub_dimension:
            dims.append({"Name": sub_dimension, "Value": sub})
        out.append(
            {
                "MetricName": metric,
                "Dimensions": dims,
                "Timestamp": minute,
                "StatisticValues": {
                    "SampleCount": n,
                    "Sum": total,
                    "Minimum": low,
                    "Maximum": high,
                },
                "Unit": _unit(metric),
            }
        )
    return out
