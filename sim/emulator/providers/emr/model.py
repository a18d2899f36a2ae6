"""EMR's domain model: clusters and steps with EMR's documented states, durable in SQLite.

Cluster: STARTING -> BOOTSTRAPPING -> RUNNING (a step runs) / WAITING (idle, kept alive)
-> TERMINATING -> TERMINATED | TERMINATED_WITH_ERRORS.
Step: PENDING -> RUNNING -> COMPLETED | FAILED | CANCELLED (CANCEL_PENDING while a running
step is being stopped). ActionOnFailure: TERMINATE_CLUSTER (alias TERMINATE_JOB_FLOW) cancels
the rest and ends the cluster with errors; CANCEL_AND_WAIT cancels the pending steps and waits;
CONTINUE goes on with the next step.

Durations are simulated seconds on the emulator clock (real EMR takes minutes to start; the
lab does not need to wait that long, and ``BDLAB_CLOCK_SPEED`` shrinks them further).
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError

STARTING_S = 3.0
BOOTSTRAP_S = 2.0
TERMINATING_S = 2.0

ACTIVE = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
ENDED = ("TERMINATED", "TERMINATED_WITH_ERRORS")
STEP_DONE = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
ACTIONS = ("TERMINATE_JOB_FLOW", "TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE")


def _id(prefix: str) -> str:
    return prefix + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))


@dataclass
class Step:
    id: str
    cluster_id: str
    seq: int
    name: str
    action_on_failure: str
    jar: str
    args: list[str]
    main_class: str | None
    properties: dict[str, str]
    state: str = "PENDING"
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    reason: dict[str, str] = field(default_factory=dict)
    failure: dict[str, str] = field(default_factory=dict)


@dataclass
class Cluster:
    id: str
    name: str
    state: str
    created: float
    spec: dict[str, Any]
    log_uri: str | None
    keep_alive: bool
    changed: float = 0.0  # when the current state began (sim time)
    ready: float | None = None
    ended: float | None = None
    reason: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:elasticmapreduce:{self.spec.get('region', 'us-east-1')}:"
            f"{self.spec.get('account', '123456789012')}:cluster/{self.id}"
        )


class EmrBackend:
    """Clusters and steps of one emulator."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.clock = clock
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS clusters(id TEXT PRIMARY KEY, doc TEXT);
            CREATE TABLE IF NOT EXISTS steps(id TEXT PRIMARY KEY, cluster TEXT, seq INTEGER,
                                             doc TEXT);
            CREATE INDEX IF NOT EXISTS steps_by_cluster ON steps(cluster, seq);
            """
        )

    # ---------------------------------------------------------------- storage
    def _save_cluster(self, c: Cluster) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO clusters VALUES(?,?)", (c.id, json.dumps(c.__dict__))
        )

    def _save_step(self, s: Step) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO steps VALUES(?,?,?,?)",
            (s.id, s.cluster_id, s.seq, json.dumps(s.__dict__)),
        )

    def cluster(self, cluster_id: str) -> Cluster:
        row = self.db.execute("SELECT doc FROM clusters WHERE id=?", (cluster_id,)).fetchone()
        if row is None:
            raise AwsError("InvalidRequestException", f"Cluster id '{cluster_id}' is not valid.")
        return Cluster(**json.loads(row[0]))

    def clusters(self) -> list[Cluster]:
        return [Cluster(**json.loads(r[0])) for r in self.db.execute("SELECT doc FROM clusters")]

    def steps(self, cluster_id: str) -> list[Step]:
        return [
            Step(**json.loads(r[0]))
            for r in self.db.execute(
                "SELECT doc FROM steps WHERE cluster=? ORDER BY seq", (cluster_id,)
            )
        ]

    def step(self, cluster_id: str, step_id: str) -> Step:
        row = self.db.execute(
            "SELECT doc FROM steps WHERE id=? AND cluster=?", (step_id, cluster_id)
        ).fetchone()
        if row is None:
            self.cluster(cluster_id)
            raise AwsError("InvalidRequestException", f"Step id '{step_id}' is not valid.")
        return Step(**json.loads(row[0]))

    # -------------------------------------------------------------- commands
    def run_job_flow(self, spec: dict[str, Any]) -> Cluster:
        name = spec.get("Name")
        if not name:
            raise AwsError("ValidationException", "Name is required.")
        level = spec.get("StepConcurrencyLevel")
        if level is not None and not 1 <= int(level) <= 256:
            raise AwsError("ValidationException", "StepConcurrencyLevel must be between 1 and 256.")
        inst = spec.get("Instances") or {}
        c = Cluster(
            id=_id("j-"),
            name=name,
            state="STARTING",
            created=self.clock.now(),
            spec=spec,
            log_uri=spec.get("LogUri"),
            keep_alive=bool(inst.get("KeepJobFlowAliveWhenNoSteps", False)),
            tags={t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []},
        )
        c.changed = c.created
        self._save_cluster(c)
        if spec.get("Steps"):
            self.add_steps(c.id, spec["Steps"], check_state=False)
        return c

    def add_steps(
        self, cluster_id: str, steps: list[dict[str, Any]], check_state: bool = True
    ) -> list[str]:
        c = self.cluster(cluster_id)
        if check_state and c.state in ENDED + ("TERMINATING",):
            raise AwsError(
                "ValidationException",
                "A job flow that is shutting down, terminated, or finished may not be modified.",
            )
        if len(steps) > 256:
            raise AwsError("ValidationException", "Maximum number of steps (256) exceeded.")
        level = int(c.spec.get("StepConcurrencyLevel") or 1)
        for spec in steps:
            action = spec.get("ActionOnFailure", "TERMINATE_CLUSTER")
            if check_state and level > 1 and action != "CONTINUE":
                # StepConfig (EMR API reference): with StepConcurrencyLevel > 1 a step asking
                # for CANCEL_AND_WAIT or TERMINATE_CLUSTER is not submitted
                raise AwsError(
                    "ValidationException",
                    f"ActionOnFailure {action} is not valid for a cluster whose "
                    f"StepConcurrencyLevel is {level}: only CONTINUE is supported above 1.",
                )
        existing = self.steps(cluster_id)
        seq = max((s.seq for s in existing), default=0)
        ids = []
        for spec in steps:
            jar_step = spec.get("HadoopJarStep") or {}
            action = spec.get("ActionOnFailure", "TERMINATE_CLUSTER")
            if action not in ACTIONS:
                raise AwsError("ValidationException", f"Invalid ActionOnFailure {action!r}.")
            if not jar_step.get("Jar"):
                raise AwsError("ValidationException", "HadoopJarStep.Jar is required.")
            seq += 1
            s = Step(
                id=_id("s-"),
                cluster_id=cluster_id,
                seq=seq,
                name=spec.get("Name", ""),
                action_on_failure=action,
                jar=jar_step["Jar"],
                args=list(jar_step.get("Args") or []),
                main_class=jar_step.get("MainClass"),
                properties={p["Key"]: p.get("Value", "") for p in jar_step.get("Properties") or []},
                created=self.clock.now(),
            )
            self._save_step(s)
            ids.append(s.id)
        return ids

    def terminate(self, cluster_ids: list[str]) -> list[Cluster]:
        out = []
        for cid in cluster_ids:
            c = self.cluster(cid)
            if c.spec.get("Instances", {}).get("TerminationProtected"):
                raise AwsError(
                    "ValidationException",
                    f"Could not shut down one or more job "
                    f"flows since they are termination protected: {cid}",
                )
            if c.state not in ENDED + ("TERMINATING",):
                self.set_state(c, "TERMINATING", "USER_REQUEST", "Terminated by user request")
            out.append(c)
        return out

    def cancel_steps(self, cluster_id: str, step_ids: list[str]) -> list[dict[str, str]]:
        self.cluster(cluster_id)
        info = []
        for sid in step_ids:
            s = self.step(cluster_id, sid)
            if s.state == "PENDING":
                self.set_step(s, "CANCELLED")
                info.append({"StepId": sid, "Status": "SUBMITTED", "Reason": ""})
            elif s.state == "RUNNING":
                self.set_step(s, "CANCEL_PENDING")
                info.append({"StepId": sid, "Status": "SUBMITTED", "Reason": ""})
            else:
                info.append(
                    {
                        "StepId": sid,
                        "Status": "FAILED",
                        "Reason": f"Step is in state {s.state} and cannot be cancelled.",
                    }
                )
        return info

    def set_tags(self, cluster_id: str, add: dict[str, str], remove: list[str]) -> None:
        c = self.cluster(cluster_id)
        c.tags.update(add)
        for k in remove:
            c.tags.pop(k, None)
        self._save_cluster(c)

    def update_spec(self, cluster_id: str, **changes: Any) -> None:
        c = self.cluster(cluster_id)
        c.spec.update(changes)
        self._save_cluster(c)

    def set_termination_protection(self, cluster_ids: list[str], on: bool) -> None:
        for cid in cluster_ids:
            c = self.cluster(cid)
            c.spec.setdefault("Instances", {})["TerminationProtected"] = on
            self._save_cluster(c)

    # ------------------------------------------------------------ transitions
    def set_state(self, c: Cluster, state: str, code: str = "", message: str = "") -> None:
        now = self.clock.now()
        c.state, c.changed = state, now
        c.reason = {"Code": code, "Message": message} if code else {}
        if state in ("RUNNING", "WAITING") and c.ready is None:
            c.ready = now
        if state in ENDED:
            c.ended = now
        self._save_cluster(c)

    def set_step(self, s: Step, state: str, failure: dict[str, str] | None = None) -> None:
        now = self.clock.now()
        s.state = state
        if state == "RUNNING":
            s.started = now
        if state in STEP_DONE:
            s.ended = now
        if failure:
            s.failure = failure
        self._save_step(s)

    def recover(self) -> None:
        """After a restart: a step that was running when the emulator died has failed."""
        for c in self.clusters():
            for s in self.steps(c.id):
                if s.state in ("RUNNING", "CANCEL_PENDING"):
                    self.set_step(
                        s,
                        "FAILED",
                        {
                            "Reason": "Step was interrupted: the emulator restarted while it ran.",
                            "Message": "Re-submit the step; Spark jobs should be idempotent.",
                        },
                    )
                    self.apply_failure(c, s)

    def apply_failure(self, c: Cluster, s: Step) -> None:
        """EMR's ActionOnFailure after step ``s`` failed."""
        if s.action_on_failure == "CONTINUE":
            return
        for other in self.steps(c.id):
            if other.state == "PENDING":
                self.set_step(other, "CANCELLED")
        if s.action_on_failure in ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
            self.set_state(c, "TERMINATING", "STEP_FAILURE", f"Shut down as step failed: {s.name}")
            c.spec["_with_errors"] = True
            self._save_cluster(c)

    def close(self) -> None:
        self.db.close()
