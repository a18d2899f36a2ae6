"""`bdlab emr ...`: EMR clusters and Spark steps on any profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sim import profiles, runtime
from sim.cli import common
from sim.cli.common import app, console, err_console, fail, guard, note

# ---------------------------------------------------------------------- emr
emr_app = typer.Typer(no_args_is_help=True, help="EMR clusters and Spark steps (any profile).")
app.add_typer(emr_app, name="emr")


def _emr_guard(fn: Any) -> Any:
    import functools

    from spark.emr import EmrError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return fn(*args, **kwargs)
        except (EmrError, ValueError) as exc:
            fail(str(exc), 1)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            fail(f"{err.get('Code')}: {err.get('Message')}")

    return wrapper


def _default_bucket(prof: profiles.Profile) -> str:
    from sim import clients, s3util

    account = clients.client("sts", prof).get_caller_identity()["Account"]
    bucket = f"bdlab-{account}-emr"
    s3util.ensure_bucket(clients.client("s3", prof), bucket, prof.region)
    return bucket


@emr_app.command("create")
@guard
@_emr_guard
def emr_create(
    name: str = typer.Option("bdlab-emr", "--name"),
    log_uri: str | None = typer.Option(None, "--log-uri", help="default s3://<emr bucket>/logs/"),
    keep_alive: bool = typer.Option(True, "--keep-alive/--auto-terminate"),
    idle_timeout: int = typer.Option(3600, "--idle-timeout", min=60),
) -> None:
    """Create a cluster (RunJobFlow); prints its id."""
    from spark import emr

    cfg, prof = common.cfg(), common.prof()
    runtime.ensure_up(prof, cfg, say=note)
    uri = log_uri or f"s3://{_default_bucket(prof)}/logs/"
    spec = emr.ClusterSpec(
        name=name, log_uri=uri, keep_alive=keep_alive, idle_timeout_s=idle_timeout
    )
    cid = emr.create_cluster(spec, prof)
    print(cid)
    err_console.print(f"logs: {uri}; next: `bdlab emr submit {cid} job.py`", highlight=False)


@emr_app.command("submit")
@guard
@_emr_guard
def emr_submit(
    cluster_id: str = typer.Argument(...),
    script: str = typer.Argument(..., help="a local .py file (uploaded) or an s3:// URI"),
    args: list[str] = typer.Argument(None, help="arguments for the script"),
    name: str | None = typer.Option(None, "--name"),
    wait: bool = typer.Option(True, "--wait/--no-wait"),
    action: str = typer.Option("CONTINUE", "--action-on-failure"),
) -> None:
    """Add a spark-submit step (AddJobFlowSteps) and, by default, wait for it."""
    from spark import emr

    cfg, prof = common.cfg(), common.prof()
    runtime.ensure_up(prof, cfg, say=note)
    uri = script
    if not script.startswith("s3://"):
        local = Path(script)
        if not local.is_file():
            fail(f"{script} is neither a file nor an s3:// URI")
        uri = emr.upload(local, f"s3://{_default_bucket(prof)}/jobs/", prof)
    step = emr.SparkStep(name or Path(uri).name, uri, list(args or []), action_on_failure=action)
    sid = emr.submit(cluster_id, [step], prof)[0]
    console.print(f"step {sid} added to {cluster_id} ({uri})")
    if wait:
        emr.wait_step(cluster_id, sid, prof, on_state=lambda st: console.print(f"  {sid}: {st}"))
        console.print(
            f"[green]COMPLETED[/]; output: `bdlab emr logs {cluster_id} {sid} --which stdout`"
        )


@emr_app.command("status")
@guard
@_emr_guard
def emr_status(
    cluster_id: str | None = typer.Argument(None), as_json: bool = typer.Option(False, "--json")
) -> None:
    """List clusters, or one cluster with its steps."""
    from sim import clients
    from spark import emr

    cfg, prof = common.cfg(), common.prof()
    runtime.ensure_up(prof, cfg, say=note)
    if cluster_id is None:
        clusters = clients.client("emr", prof).list_clusters()["Clusters"]
        if as_json:
            print(json.dumps(clusters, indent=1, default=str))
            return
        t = Table("cluster", "name", "state")
        for c in clusters:
            t.add_row(c["Id"], c["Name"], c["Status"]["State"])
        console.print(t)
        return
    info = emr.describe(cluster_id, prof)
    if as_json:
        print(json.dumps(info, indent=1, default=str))
        return
    c = info["cluster"]
    console.print(
        f"[bold]{c['Id']}[/] {c['Name']}: {c['Status']['State']} "
        f"{c['Status'].get('StateChangeReason', {}).get('Message', '')}"
    )
    t = Table("step", "name", "state", "reason")
    for st in info["steps"]:
        t.add_row(
            st["Id"],
            st["Name"],
            st["Status"]["State"],
            st["Status"].get("FailureDetails", {}).get("Reason", ""),
        )
    console.print(t)


@emr_app.command("logs")
@guard
@_emr_guard
def emr_logs(
    cluster_id: str = typer.Argument(...),
    step_id: str = typer.Argument(...),
    which: str | None = typer.Option(
        None,
        "--which",
        help="stderr | stdout | controller (default: the log that holds a failed step's "
        "cause, else stderr)",
    ),
) -> None:
    """Print a step's log from the cluster's LogUri."""
    from sim import clients
    from spark import emr

    if which not in (None, "stderr", "stdout", "controller"):
        fail("--which must be stderr, stdout or controller")
    cfg, prof = common.cfg(), common.prof()
    runtime.ensure_up(prof, cfg, say=note)
    if which is None:
        step = clients.client("emr", prof).describe_step(ClusterId=cluster_id, StepId=step_id)
        details = step["Step"]["Status"].get("FailureDetails", {})
        log_file = str(details.get("LogFile", ""))
        which = "stdout" if log_file.endswith("/stdout.gz") else "stderr"
        if details.get("Reason"):
            err_console.print(
                f"step {step_id} failed: {details['Reason']} (showing its {which})",
                highlight=False,
                markup=False,
            )
    print(emr.step_log(cluster_id, step_id, which, prof), end="")


@emr_app.command("terminate")
@guard
@_emr_guard
def emr_terminate(cluster_id: str = typer.Argument(...)) -> None:
    """Terminate a cluster (TerminateJobFlows)."""
    from spark import emr

    cfg, prof = common.cfg(), common.prof()
    runtime.ensure_up(prof, cfg, say=note)
    emr.terminate(cluster_id, prof)
    console.print(f"{cluster_id}: terminating")
