"""CloudWatch Logs export tasks (CreateExportTask, DescribeExportTasks, CancelExportTask), kept
by bdlab in one JSON file (moto's wrote into moto's own S3).

A task is PENDING when created; once the emulator clock has passed ``START_DELAY_S`` after its
creation, the next Logs call runs it (RUNNING while its objects are written, then COMPLETED or
FAILED). Each account has at most one active (PENDING or RUNNING) task, as AWS says. See
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateExportTask.html
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from sim.emulator.protocol import AwsError

START_DELAY_S = 1.0  # emulator seconds a task stays PENDING (so polling code sees it)
ACTIVE = ("PENDING", "RUNNING")
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")
DEFAULT_PREFIX = "exportedlogs"
MAX_DESCRIBE = 50
_PRIVATE = ("account", "region")  # kept for bdlab, not part of AWS's ExportTask

_MESSAGES = {
    "PENDING": "Pending",
    "RUNNING": "Running",
    "COMPLETED": "Completed successfully",
    "CANCELLED": "Cancelled by user",
}


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


class ExportTasks:
    """Durable export tasks: ``{taskId: {taskId, taskName, logGroupName, logStreamNamePrefix,
    from, to (ms), destination, destinationPrefix, status: {code, message}, executionInfo:
    {creationTime, completionTime (ms)}, account, region}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tasks: dict[str, dict[str, Any]] = {}
        if path.exists():
            self.tasks = json.loads(path.read_text())

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(self.tasks, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def create(self, p: dict[str, Any], account: str, region: str, now: float) -> dict[str, Any]:
        """A new PENDING task from CreateExportTask's parameters (checked here: time range,
        one active task per account); the caller checked the group and the bucket."""
        start, end = p.get("from"), p.get("to")
        if not isinstance(start, int) or not isinstance(end, int) or start < 0 or end < 0:
            raise _invalid("from and to must be times in milliseconds since the epoch.")
        if start > end:
            raise _invalid("The 'from' time must be earlier than or equal to the 'to' time.")
        if any(
            t["account"] == account and t["status"]["code"] in ACTIVE for t in self.tasks.values()
        ):
            raise AwsError("LimitExceededException", "Resource limit exceeded.")
        prefix = p.get("destinationPrefix")
        task: dict[str, Any] = {
            "taskId": str(uuid.uuid4()),
            "logGroupName": p["logGroupName"],
            "from": start,
            "to": end,
            "destination": p["destination"],
            "destinationPrefix": DEFAULT_PREFIX if prefix is None else str(prefix).strip("/"),
            "status": {"code": "PENDING", "message": _MESSAGES["PENDING"]},
            "executionInfo": {"creationTime": int(now * 1000)},
            "account": account,
            "region": region,
        }
        if p.get("taskName"):
            task["taskName"] = p["taskName"]
        if p.get("logStreamNamePrefix"):
            task["logStreamNamePrefix"] = p["logStreamNamePrefix"]
        self.tasks[task["taskId"]] = task
        self.save()
        return task

    def due(self, now: float) -> list[dict[str, Any]]:
        """PENDING tasks whose start time has come, oldest first."""
        return sorted(
            (
                t
                for t in self.tasks.values()
                if t["status"]["code"] == "PENDING"
                and t["executionInfo"]["creationTime"] / 1000 + START_DELAY_S <= now
            ),
            key=lambda t: t["executionInfo"]["creationTime"],
        )

    def set_status(self, task: dict[str, Any], code: str, now: float, message: str = "") -> None:
        task["status"] = {"code": code, "message": message or _MESSAGES.get(code, code)}
        if code in FINISHED:
            task["executionInfo"]["completionTime"] = int(now * 1000)
        self.save()

    def cancel(self, task_id: Any, account: str, now: float) -> None:
        """CancelExportTask: ResourceNotFoundException, InvalidOperationException when the
        task has finished."""
        task = self.tasks.get(str(task_id))
        if task is None or task["account"] != account:
            raise AwsError("ResourceNotFoundException", "The specified export task does not exist.")
        if task["status"]["code"] not in ACTIVE:
            raise AwsError(
                "InvalidOperationException", "The specified export task has already finished."
            )
        self.set_status(task, "CANCELLED", now)

    def describe(self, p: dict[str, Any], account: str) -> dict[str, Any]:
        """DescribeExportTasks: ``{"exportTasks": [...], "nextToken"?}``, newest first;
        taskId, statusCode, limit (1..50, default 50) and nextToken (an offset)."""
        limit = p.get("limit") or MAX_DESCRIBE
        if not isinstance(limit, int) or not 1 <= limit <= MAX_DESCRIBE:
            raise _invalid(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                f"constraint: Member must have value between 1 and {MAX_DESCRIBE}"
            )
        tasks = [t for t in self.tasks.values() if t["account"] == account]
        if p.get("taskId"):
            tasks = [t for t in tasks if t["taskId"] == p["taskId"]]
        if p.get("statusCode"):
            tasks = [t for t in tasks if t["status"]["code"] == p["statusCode"]]
        tasks.sort(key=lambda t: -t["executionInfo"]["creationTime"])
        try:
            start = int(p.get("nextToken") or 0)
        except ValueError as exc:
            raise _invalid("The specified nextToken is invalid.") from exc
        page = tasks[start : start + limit]
        out: dict[str, Any] = {
            "exportTasks": [{k: v for k, v in t.items() if k not in _PRIVATE} for t in page]
        }
        if start + limit < len(tasks):
            out["nextToken"] = str(start + limit)
        return out
