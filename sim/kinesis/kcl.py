"""The official Kinesis Client Library (KCL 3, Java) with a Python record processor, through
amazon-kclpy's MultiLangDaemon, on any profile.

Why it is here: bdlab's own consumer (``sim.kinesis.consumer``) follows the KCL's rules, but
only AWS's own client proves the emulator speaks Kinesis as AWS does: the KCL uses the Java
SDK v2 (HTTP/2, AWS CBOR), lists shards with ShardFilter, keeps its leases, checkpoints,
worker metrics and coordinator state in DynamoDB, and drains parents before children.
https://docs.aws.amazon.com/streams/latest/dev/kcl.html

Two parts, both fetched once and used unmodified:

- the MultiLangDaemon's jars, pinned with sha1 in ``kcl.lock.json`` (the runtime closure of
  ``software.amazon.kinesis:amazon-kinesis-client-multilang:3.1.3``), into
  ``<jars_dir>/kcl`` by the same downloader as Spark's jars;
- the ``amazon_kclpy`` Python package (the processor side of the MultiLang protocol), from its
  PyPI sdist, sha256-checked. ``pip install amazon-kclpy`` cannot be used: its build downloads
  the jars its pom names, and the KCL version it pins is not on every Maven mirror.

``bdlab setup --kcl`` fetches both. :class:`MultiLangDaemon` writes the properties file from a
profile (endpoints, region, credentials) and runs ``java``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark import jars as jarcache

LOCK = Path(__file__).with_name("kcl.lock.json")
MAIN_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"
KCLPY_VERSION = "3.2.0"
KCLPY_SHA256 = "62e81cc84714c920fe6aa5d61837b298fe7e01f6326dcb564b12ab8e6c4aca4e"
SETUP = "bdlab setup --kcl"

# KCL's defaults are tuned for production (a 60 s pause after each shard sync, 10 s lease
# failover); these make a local run start reading in seconds. Pass your own to change them.
QUICK_TIMINGS: Mapping[str, int] = {
    "shardSyncIntervalMillis": 1000,
    "failoverTimeMillis": 3000,
    "leaseAssignmentIntervalMillis": 1000,
    "parentShardPollIntervalMillis": 1000,
    "idleTimeBetweenReadsInMillis": 250,
}


class KclMissingError(RuntimeError):
    """The KCL's jars or amazon_kclpy are not there and could not be fetched (one line)."""


@dataclass(frozen=True)
class KclInstall:
    jars: list[Path]  # the daemon's classpath, lock order
    python_path: Path  # the folder holding the ``amazon_kclpy`` package


def _kclpy_dir(root: Path) -> Path:
    return root / f"amazon_kclpy-{KCLPY_VERSION}"


def _fetch_kclpy(root: Path) -> None:
    """Download amazon-kclpy's sdist with pip (so pip's index and proxy settings apply),
    check its sha256 and unpack only its Python package."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"amazon-kclpy=={KCLPY_VERSION}",
            "-d",
            tmp,
        ]
        # pip prepares an sdist's metadata (in an isolated build env); that fetches no jars.
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        sdist = Path(tmp) / f"amazon_kclpy-{KCLPY_VERSION}.tar.gz"
        if not sdist.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise KclMissingError(
                f"could not download amazon-kclpy {KCLPY_VERSION} from PyPI ({last}); "
                f"run `{SETUP}` while online."
            )
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != KCLPY_SHA256:
            raise KclMissingError(
                f"amazon-kclpy {KCLPY_VERSION} from PyPI has sha256 {digest}, expected "
                f"{KCLPY_SHA256}; check your package index."
            )
        staging = Path(tempfile.mkdtemp(dir=root))
        with tarfile.open(sdist) as tar:
            prefix = f"amazon_kclpy-{KCLPY_VERSION}/amazon_kclpy/"
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
            for m in members:
                m.name = m.name[len(f"amazon_kclpy-{KCLPY_VERSION}/") :]
            tar.extractall(staging, members=members, filter="data")
        target = _kclpy_dir(root)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)


def ensure_kcl(
    jars_dir: Path,
    *,
    offline: bool = False,
    progress: jarcache.Progress | None = None,
    repo: str = jarcache.DEFAULT_MAVEN_REPO,
) -> KclInstall:
    """The KCL's jars and amazon_kclpy under ``<jars_dir>/kcl``, fetched when missing.

    Raises :class:`KclMissingError` (one actionable line) when they are missing and cannot be
    fetched, or ``offline`` is set.
    """
    root = jars_dir.expanduser() / "kcl"
    try:
        paths = jarcache.ensure_jars(
            root,
            offline=offline,
            progress=progress,
            repo=repo,
            lock=LOCK,
            setup_command=SETUP,
            label="KCL",
        )
    except jarcache.JarsMissingError as exc:
        raise KclMissingError(str(exc)) from None
    if not (_kclpy_dir(root) / "amazon_kclpy" / "kcl.py").exists():
        if offline:
            raise KclMissingError(
                f"amazon_kclpy {KCLPY_VERSION} is missing in {root}; run `{SETUP}` while online."
            )
        root.mkdir(parents=True, exist_ok=True)
        _fetch_kclpy(root)
    return KclInstall(jars=paths, python_path=_kclpy_dir(root))


def missing(jars_dir: Path) -> int:
    """How many parts (jars, plus amazon_kclpy) are not in the cache yet."""
    root = jars_dir.expanduser() / "kcl"
    n = len(jarcache.missing_jars(root, lock=jarcache.load_lock(LOCK)))
    return n + (0 if (_kclpy_dir(root) / "amazon_kclpy" / "kcl.py").exists() else 1)


def properties(
    *,
    stream: str,
    application: str,
    executable: str,
    endpoint_url: str | None,
    region: str,
    initial_position: str = "TRIM_HORIZON",
    retrieval_mode: str = "POLLING",
    timings: Mapping[str, int] = QUICK_TIMINGS,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The MultiLangDaemon's properties file (KCL's multilang configuration keys).

    ``endpoint_url`` None means AWS's own endpoints. Credentials come from the environment
    (``EnvironmentVariableCredentialsProvider``) when an endpoint is given, else from the
    default chain. CloudWatch metrics are off (``metricsLevel = NONE``): the daemon has no
    CloudWatch endpoint setting, and bdlab's Kinesis publishes AWS/Kinesis metrics itself.
    """
    lines = {
        "executableName": executable,
        "streamName": stream,
        "applicationName": application,
        "processingLanguage": f"python/{sys.version_info.major}.{sys.version_info.minor}",
        "initialPositionInStream": initial_position,
        "regionName": region,
        "retrievalMode": retrieval_mode,
        "metricsLevel": "NONE",
        "AwsCredentialsProvider": (
            "EnvironmentVariableCredentialsProvider"
            if endpoint_url
            else "DefaultCredentialsProvider"
        ),
        **{k: str(v) for k, v in timings.items()},
        **{k: str(v) for k, v in (extra or {}).items()},
    }
    if endpoint_url:
        lines["kinesisEndpoint"] = endpoint_url
        lines["dynamoDBEndpoint"] = endpoint_url
    return "".join(f"{k} = {v}\n" for k, v in lines.items())


class MultiLangDaemon:
    """One KCL worker: ``java -cp <jars> MultiLangDaemon --properties-file <file>``, which
    starts ``executable`` (a Python record processor built on amazon_kclpy) per shard lease.

    ``env`` is added to the daemon's environment (credentials, settings for the processor);
    amazon_kclpy is put on the processor's PYTHONPATH. Output goes to ``log``.
    """

    def __init__(
        self,
        install: KclInstall,
        properties_text: str,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        java: str = "java",
    ) -> None:
        self.install = install
        self.workdir = workdir
        self.props = workdir / "kcl.properties"
        self.log = workdir / "kcl-daemon.log"
        self.props.write_text(properties_text, encoding="utf-8")
        self.env = dict(env or {})
        self.java = java
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MultiLangDaemon:
        if shutil.which(self.java) is None:
            raise KclMissingError(
                "java not found: the KCL needs Java 17+ (apt-get install openjdk-17-jre-headless)."
            )
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.install.python_path), env.get("PYTHONPATH", "")) if p
        )
        classpath = os.pathsep.join(str(p) for p in self.install.jars)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.java, "-cp", classpath, MAIN_CLASS, "--properties-file", str(self.props)],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (the daemon's shutdown hook asks processors to checkpoint), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        """The end of the daemon's log, for error messages."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
