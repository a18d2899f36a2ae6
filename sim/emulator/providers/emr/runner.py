"""Runs EMR steps for real: a scheduler moves clusters through their states on the emulator
clock, and each ``command-runner.jar spark-submit ...`` step runs as a local spark-submit
process with bdlab's jars and s3a settings pointed at this emulator (so ``s3://`` paths work
as EMRFS makes them work). Step stdout/stderr go to the cluster's LogUri as EMR writes them:
``<LogUri>/<cluster-id>/steps/<step-id>/{stdout,stderr,controller}.gz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sim.emulator.protocol import AwsError
from sim.emulator.providers.emr.model import (
    BOOTSTRAP_S,
    ENDED,
    STARTING_S,
    TERMINATING_S,
    Cluster,
    EmrBackend,
    Step,
)
from sim.emulator.providers.s3.model import S3Backend

log = logging.getLogger("bdlab.emr")

# spark-submit options that take no value.
_FLAGS = {"--verbose", "-v", "--supervise", "--help", "-h", "--version"}
_LOCALIZED_LISTS = {"--py-files", "--files", "--jars", "--archives"}
_DROPPED = {"--master", "--deploy-mode"}  # EMR's YARN placement; locally it is local[*]


class StepError(Exception):
    """A step that cannot run at all; the message is the failure reason shown by DescribeStep."""


@dataclass(frozen=True)
class SubmitCommand:
    """How to start a local spark-submit against this emulator: the program, the Spark
    conf bdlab adds (jars, s3a endpoint and credentials, committer) and extra environment."""

    program: list[str]
    conf: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)


class StepLauncher(Protocol):
    """What the emulator needs from Spark to run a step; whoever starts the emulator hands
    one in (``spark.submit.LocalSparkSubmit``), so the emulator imports nothing of Spark."""

    def submit_command(self, endpoint_url: str) -> SubmitCommand:
        """The command for a step that reads and writes ``s3://`` through ``endpoint_url``.

        Raises any exception whose message says why no step can run (Java or jars missing).
        """
        ...


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


class StepRunner:
    """Owns the step processes and the cluster state machine of one emulator."""

    def __init__(
        self,
        emr: EmrBackend,
        s3: S3Backend,
        endpoint_url: str,
        workroot: Path,
        launcher: StepLauncher | None = None,
    ) -> None:
        self.emr = emr
        self.s3 = s3
        self.endpoint_url = endpoint_url
        self.workroot = workroot
        self.launcher = launcher
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._stop = asyncio.Event()

    # ---------------------------------------------------------- scheduler
    async def run_forever(self, tick: float = 0.1) -> None:
        self.emr.recover()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep scheduling whatever one cluster did
                log.exception("EMR scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)

    async def stop(self) -> None:
        self._stop.set()
        for proc in list(self.procs.values()):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for task in list(self.tasks.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)

    def tick(self) -> None:
        now = self.emr.clock.now()
        for c in self.emr.clusters():
            if c.state in ENDED:
                continue
            age = now - c.changed
            if c.state == "STARTING" and age >= STARTING_S:
                self.emr.set_state(c, "BOOTSTRAPPING")
            elif c.state == "BOOTSTRAPPING" and age >= BOOTSTRAP_S:
                self.emr.set_state(c, "WAITING", "", "")
                self._schedule(c)
            elif c.state in ("RUNNING", "WAITING"):
                self._schedule(c)
            elif c.state == "TERMINATING":
                self._terminate(c, now)

    def _schedule(self, c: Cluster) -> None:
        steps = self.emr.steps(c.id)
        for s in steps:
            if s.state == "CANCEL_PENDING" and s.id in self.procs:
                with contextlib.suppress(ProcessLookupError):
                    self.procs[s.id].terminate()
        busy = [s for s in steps if s.state in ("RUNNING", "CANCEL_PENDING")]
        limit = int(c.spec.get("StepConcurrencyLevel") or 1)
        pending = [s for s in steps if s.state == "PENDING"]
        while pending and len(busy) < limit:
            s = pending.pop(0)
            self.emr.set_step(s, "RUNNING")
            busy.append(s)
            self.tasks[s.id] = asyncio.get_running_loop().create_task(self._run(c, s))
        c = self.emr.cluster(c.id)
        if c.state not in ("RUNNING", "WAITING"):
            return
        if busy:
            if c.state != "RUNNING":
                self.emr.set_state(c, "RUNNING", "", "")
        elif c.keep_alive:
            if c.state != "WAITING":
                self.emr.set_state(c, "WAITING", "", "")
            idle = (c.spec.get("AutoTerminationPolicy") or {}).get("IdleTimeout")
            if idle and self.emr.clock.now() - c.changed >= float(idle):
                self.emr.set_state(
                    c, "TERMINATING", "ALL_STEPS_COMPLETED", f"Auto-terminated after {idle} s idle."
                )
        else:
            self.emr.set_state(c, "TERMINATING", "ALL_STEPS_COMPLETED", "Steps completed")

    def _terminate(self, c: Cluster, now: float) -> None:
        running = [s for s in self.emr.steps(c.id) if s.id in self.tasks]
        for s in running:
            proc = self.procs.get(s.id)
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        if running or now - c.changed < TERMINATING_S:
            return
        for s in self.emr.steps(c.id):
            if s.state in ("PENDING", "RUNNING", "CANCEL_PENDING"):
                self.emr.set_step(s, "CANCELLED")
        with_errors = bool(c.spec.get("_with_errors"))
        self.emr.set_state(
            c,
            "TERMINATED_WITH_ERRORS" if with_errors else "TERMINATED",
            c.reason.get("Code", ""),
            c.reason.get("Message", ""),
        )

    # ------------------------------------------------------------- a step
    async def _run(self, c: Cluster, s: Step) -> None:
        work = self.workroot / s.id
        work.mkdir(parents=True, exist_ok=True)
        out_path, err_path = work / "stdout", work / "stderr"
        controller: list[str] = []
        rc: int | None = None
        reason = ""
        try:
            cmd, env = self.command(c, s, work, controller)
            controller.append("command: " + shlex.join(cmd))
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    stdout=out,
                    stderr=err,
                    stdin=asyncio.subprocess.DEVNULL,
                    env=env,
                    cwd=work,
                    start_new_session=True,
                )
                self.procs[s.id] = proc
                rc = await proc.wait()
            controller.append(f"exit code: {rc}")
        except StepError as exc:
            reason = str(exc)
            controller.append(f"not run: {reason}")
            err_path.write_text(reason + "\n")
        except Exception as exc:  # the step fails, the emulator goes on
            log.exception("step %s failed to start", s.id)
            reason = f"{type(exc).__name__}: {exc}"
            err_path.write_text(reason + "\n")
        finally:
            self.procs.pop(s.id, None)
        log_file = self._upload_logs(c, s, work, controller)
        s = self.emr.step(c.id, s.id)
        c = self.emr.cluster(c.id)
        if s.state == "CANCEL_PENDING" or (c.state == "TERMINATING" and rc != 0):
            self.emr.set_step(s, "CANCELLED")
        elif rc == 0:
            self.emr.set_step(s, "COMPLETED")
        else:
            # PySpark sends the Python traceback to stdout, the JVM's to stderr: point at the
            # log that holds the error.
            found, where = "", "stderr"
            for name in ("stderr", "stdout"):
                found = _last_error(work / name)
                if found:
                    where = name
                    break
            self.emr.set_step(
                s,
                "FAILED",
                {
                    "Reason": reason or found or f"spark-submit exited with {rc}",
                    "Message": f"Step failed (exit code {rc}); see the step's {where}.",
                    "LogFile": (log_file or "").replace("/stderr.gz", f"/{where}.gz"),
                },
            )
            self.emr.apply_failure(c, s)
        self.tasks.pop(s.id, None)
        # The cluster leaves RUNNING (next step, WAITING or TERMINATING) with the step's end,
        # not at the next tick: nobody may see the step ended while the cluster still runs
        # it (the AWS/ElasticMapReduce IsIdle sample taken in between said 0).
        c = self.emr.cluster(c.id)
        if c.state in ("RUNNING", "WAITING"):
            self._schedule(c)

    def command(
        self, c: Cluster, s: Step, work: Path, controller: list[str]
    ) -> tuple[list[str], dict[str, str]]:
        """The local spark-submit command for an EMR ``command-runner.jar`` step."""
        if s.jar != "command-runner.jar":
            raise StepError(
                f"bdlab runs 'command-runner.jar' steps (spark-submit); the JAR "
                f"{s.jar!r} is not supported locally."
            )
        if not s.args or s.args[0] != "spark-submit":
            first = s.args[0] if s.args else "(no args)"
            raise StepError(f"bdlab's command-runner runs 'spark-submit ...' only; got {first!r}.")
        if self.launcher is None:
            raise StepError(
                "this emulator was started without a Spark step launcher (bdlab up and the "
                "test fixture hand one in); steps cannot run."
            )
        try:
            base = self.launcher.submit_command(self.endpoint_url)
        except Exception as exc:  # the launcher's message says what is missing
            raise StepError(str(exc)) from exc
        conf = dict(base.conf)
        for k in ("spark.master", "spark.app.name"):
            conf.pop(k, None)
        user_opts: list[str] = []
        user_jars: list[str] = []
        args = s.args[1:]
        i = 0
        app: str | None = None
        while i < len(args):
            a = args[i]
            if a.startswith("-") and app is None:
                if a in _FLAGS:
                    user_opts.append(a)
                    i += 1
                    continue
                key, _, inline_val = a.partition("=")
                val = inline_val if inline_val else (args[i + 1] if i + 1 < len(args) else "")
                i += 1 if inline_val else 2
                if key in _DROPPED:
                    controller.append(f"ignored {key} {val} (runs locally)")
                    continue
                if key in _LOCALIZED_LISTS:
                    val = ",".join(self._localize(v, work) for v in val.split(",") if v)
                    if key == "--jars":
                        user_jars.append(val)
                        continue
                user_opts += [key, val]
                continue
            app = self._localize(a, work)
            i += 1
            break
        if app is None:
            raise StepError("spark-submit needs an application (a .py file or a JAR).")
        conf["spark.jars"] = ",".join(j for j in [conf.get("spark.jars", ""), *user_jars] if j)
        conf["spark.app.name"] = s.name or s.id
        cmd = [*base.program, "--master", "local[*]"]
        for k, v in conf.items():
            cmd += ["--conf", f"{k}={v}"]
        cmd += user_opts + [app] + args[i:]
        env = dict(os.environ)
        env.update(
            {
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "SPARK_LOCAL_IP": "127.0.0.1",
                **base.env,
            }
        )
        env.pop("PYSPARK_SUBMIT_ARGS", None)
        return cmd, env

    def _localize(self, uri: str, work: Path) -> str:
        if not uri.startswith(("s3://", "s3a://", "s3n://")):
            return uri
        bucket, key = split_s3(uri)
        try:
            data = self.s3.read_bytes(bucket, key)
        except AwsError as exc:
            raise StepError(f"cannot fetch {uri}: {exc.code}") from exc
        local = work / Path(key).name
        local.write_bytes(data)
        return str(local)

    def _upload_logs(self, c: Cluster, s: Step, work: Path, controller: list[str]) -> str | None:
        if not c.log_uri or not c.log_uri.startswith(("s3://", "s3n://", "s3a://")):
            return None
        bucket, prefix = split_s3(c.log_uri)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        base = f"{prefix}{c.id}/steps/{s.id}/"
        (work / "controller").write_text("\n".join(controller) + "\n")
        try:
            for name in ("controller", "stdout", "stderr"):
                path = work / name
                data = path.read_bytes() if path.exists() else b""
                self.s3.put_bytes(
                    bucket,
                    base + name + ".gz",
                    gzip.compress(data),
                    content_type="application/gzip",
                )
        except AwsError as exc:
            log.warning("cannot write step logs to %s: %s", c.log_uri, exc)
            return None
        return f"s3://{bucket}/{base}stderr.gz"


def _last_error(err: Path) -> str:
    """The real cause of a failed step from one of its logs ('' when none shows): the
    innermost Java cause (the last ``Caused by:`` of the last stack trace, e.g.
    ``NoSuchBucketException``), else the exception line that ends the last Python traceback,
    else the last line naming an error."""
    try:
        text = err.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return failure_cause(text)


_PY_EXC = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure)\w*)(:.*)?$")


def failure_cause(text: str) -> str:
    """See :func:`_last_error`; ``text`` is a step's stderr or stdout."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    caused = [ln.strip() for ln in lines if ln.lstrip().startswith("Caused by:")]
    if caused:
        return caused[-1].removeprefix("Caused by:").strip()[:500]
    last_tb = max((i for i, ln in enumerate(lines) if ln.startswith("Traceback (")), default=-1)
    if last_tb >= 0:
        for ln in lines[last_tb + 1 :]:
            if _PY_EXC.match(ln):
                return ln[:500]
    for ln in reversed(lines):
        if ("Error" in ln or "Exception" in ln) and not ln.lstrip().startswith(("WARNING", "at ")):
            return ln.strip()[:500]
    return ""
