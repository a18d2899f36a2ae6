"""EMR's JSON protocol (``ElasticMapReduce.<Op>``): parse, call the model, serialise."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.emr.metrics import NAMESPACE, EmrMetrics
from sim.emulator.providers.emr.model import Cluster, EmrBackend, Step
from sim.emulator.validation import validate

log = logging.getLogger("bdlab.emr")


def _status(
    state: str,
    reason: dict[str, str],
    timeline: dict[str, float | None],
    failure: dict[str, str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "State": state,
        "StateChangeReason": {k: v for k, v in reason.items() if v},
        "Timeline": {k: v for k, v in timeline.items() if v is not None},
    }
    if failure:
        out["FailureDetails"] = failure
    return out


def cluster_doc(c: Cluster) -> dict[str, Any]:
    spec = c.spec
    inst = spec.get("Instances") or {}
    return {
        "Id": c.id,
        "Name": c.name,
        "Status": _status(
            c.state,
            c.reason,
            {"CreationDateTime": c.created, "ReadyDateTime": c.ready, "EndDateTime": c.ended},
        ),
        "ClusterArn": c.arn,
        "LogUri": c.log_uri,
        "ReleaseLabel": spec.get("ReleaseLabel", "emr-7.5.0"),
        "AutoTerminate": not c.keep_alive,
        "TerminationProtected": bool(inst.get("TerminationProtected", False)),
        "VisibleToAllUsers": True,
        "Applications": spec.get("Applications") or [{"Name": "Spark"}],
        "Configurations": spec.get("Configurations") or [],
        "Tags": [{"Key": k, "Value": v} for k, v in c.tags.items()],
        "ServiceRole": spec.get("ServiceRole"),
        "StepConcurrencyLevel": int(spec.get("StepConcurrencyLevel") or 1),
        "NormalizedInstanceHours": 0,
        "MasterPublicDnsName": "localhost",
        "InstanceCollectionType": "INSTANCE_GROUP",
        "Ec2InstanceAttributes": {"IamInstanceProfile": spec.get("JobFlowRole")},
        **(
            {"AutoTerminationPolicy": spec["AutoTerminationPolicy"]}
            if spec.get("AutoTerminationPolicy")
            else {}
        ),
    }


def step_doc(s: Step) -> dict[str, Any]:
    return {
        "Id": s.id,
        "Name": s.name,
        "ActionOnFailure": s.action_on_failure,
        "Config": {
            "Jar": s.jar,
            "Args": s.args,
            "Properties": s.properties,
            **({"MainClass": s.main_class} if s.main_class else {}),
        },
        "Status": _status(
            s.state,
            s.reason,
            {"CreationDateTime": s.created, "StartDateTime": s.started, "EndDateTime": s.ended},
            s.failure or None,
        ),
    }


class EmrProvider(Provider):
    """The ``emr`` service of the gateway."""

    service = "emr"

    def __init__(
        self,
        backend: EmrBackend,
        put_metrics: Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        # AWS/ElasticMapReduce metrics go through the gateway's CloudWatch door (metrics.py)
        self.put_metrics = put_metrics
        self.metrics = EmrMetrics()
        self._running = False

    async def flush_metrics(self) -> None:
        """Publish the clusters' metrics for the current 5-minute period if not yet sent."""
        if self.put_metrics is None:
            return
        b = self.backend
        data = self.metrics.due(b.clusters(), b.steps, b.clock.now())
        for i in range(0, len(data), 1000):  # PutMetricData takes 1,000 metrics a call
            await self.put_metrics(NAMESPACE, data[i : i + 1000])

    async def run_forever(self, every_s: float = 2.0) -> None:
        """:meth:`flush_metrics` every ``every_s`` wall seconds until :meth:`stop`."""
        self._running = True
        while self._running:
            await asyncio.sleep(every_s)
            try:
                await self.flush_metrics()
            except Exception:  # a bad flush must not end the loop; the next one retries
                log.exception("EMR metrics flush failed")

    def stop(self) -> None:
        self._running = False

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        validate(req, body)
        op = req.target.rsplit(".", 1)[-1]
        params = json.loads(body) if body.strip() else {}
        fn = getattr(self, f"op_{op}", None)
        if fn is None:
            raise AwsError(
                "InvalidRequestException", f"bdlab's EMR provider does not implement {op} yet."
            )
        return Response.json(fn(params, req))

    # clusters
    def op_RunJobFlow(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        p["region"] = req.region
        c = self.backend.run_job_flow(p)
        return {"JobFlowId": c.id, "ClusterArn": c.arn}

    def op_DescribeCluster(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        return {"Cluster": cluster_doc(self.backend.cluster(p["ClusterId"]))}

    def op_ListClusters(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        states = set(p.get("ClusterStates") or [])
        after, before = p.get("CreatedAfter"), p.get("CreatedBefore")
        out = []
        for c in sorted(self.backend.clusters(), key=lambda c: -c.created):
            if states and c.state not in states:
                continue
            if (after and c.created < after) or (before and c.created > before):
                continue
            d = cluster_doc(c)
            out.append(
                {k: d[k] for k in ("Id", "Name", "Status", "NormalizedInstanceHours", "ClusterArn")}
            )
        return {"Clusters": out}

    def op_GetAutoTerminationPolicy(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        c = self.backend.cluster(p["ClusterId"])
        policy = c.spec.get("AutoTerminationPolicy")
        return {"AutoTerminationPolicy": policy} if policy else {}

    def op_PutAutoTerminationPolicy(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        self.backend.update_spec(
            p["ClusterId"], AutoTerminationPolicy=p.get("AutoTerminationPolicy")
        )
        return {}

    def op_TerminateJobFlows(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        self.backend.terminate(list(p["JobFlowIds"]))
        return {}

    def op_SetTerminationProtection(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        self.backend.set_termination_protection(
            list(p["JobFlowIds"]), bool(p["TerminationProtected"])
        )
        return {}

    def op_AddTags(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        self.backend.set_tags(
            p["ResourceId"], {t["Key"]: t.get("Value", "") for t in p.get("Tags", [])}, []
        )
        return {}

    def op_RemoveTags(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        self.backend.set_tags(p["ResourceId"], {}, list(p.get("TagKeys", [])))
        return {}

    def op_ListInstanceGroups(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        c = self.backend.cluster(p["ClusterId"])
        inst = c.spec.get("Instances") or {}
        groups = inst.get("InstanceGroups") or [
            {
                "Name": "Master",
                "InstanceRole": "MASTER",
                "InstanceCount": 1,
                "InstanceType": inst.get("MasterInstanceType", "m5.xlarge"),
            }
        ]
        return {
            "InstanceGroups": [
                {
                    "Id": f"ig-{c.id[2:]}{i}",
                    "Name": g.get("Name", g.get("InstanceRole")),
                    "InstanceGroupType": g.get("InstanceRole"),
                    "InstanceType": g.get("InstanceType"),
                    "RequestedInstanceCount": g.get("InstanceCount", 1),
                    "RunningInstanceCount": g.get("InstanceCount", 1)
                    if c.state in ("RUNNING", "WAITING")
                    else 0,
                    "Status": {
                        "State": "RUNNING" if c.state in ("RUNNING", "WAITING") else "PROVISIONING"
                    },
                }
                for i, g in enumerate(groups)
            ]
        }

    # steps
    def op_AddJobFlowSteps(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        return {"StepIds": self.backend.add_steps(p["JobFlowId"], list(p["Steps"]))}

    def op_ListSteps(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        states = set(p.get("StepStates") or [])
        ids = set(p.get("StepIds") or [])
        steps = [
            s
            for s in reversed(self.backend.steps(p["ClusterId"]))
            if (not states or s.state in states) and (not ids or s.id in ids)
        ]
        self.backend.cluster(p["ClusterId"])
        return {"Steps": [step_doc(s) for s in steps]}

    def op_DescribeStep(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        return {"Step": step_doc(self.backend.step(p["ClusterId"], p["StepId"]))}

    def op_CancelSteps(self, p: dict[str, Any], req: Request) -> dict[str, Any]:
        return {
            "CancelStepsInfoList": self.backend.cancel_steps(p["ClusterId"], list(p["StepIds"]))
        }
