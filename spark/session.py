"""A SparkSession for the active profile: local[*], s3a on the profile's endpoint, Delta.

Tuned for a 2-core, 8 GB laptop: a small driver heap, few shuffle partitions, no UI.
The S3A magic committer writes task output as pending multipart uploads that become
visible only at job commit, so a killed job leaves no partial files (see
shared/aws-semantics.md, "Spark on EMR writing to S3").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sim import profiles, settings
from spark import jars, tuning


class SparkSetupError(RuntimeError):
    """Java or the jars are not there; one line says how to fix it."""

    JAVA_HOME_FIX = (
        "point JAVA_HOME at a JDK 17+ (the folder holding bin/java) or unset it to use the "
        "java on PATH"
    )


_lock = threading.Lock()
LOG4J = Path(__file__).with_name("log4j2.properties")
_active: dict[str, Any] = {}


def java_home_problem() -> str | None:
    """What is wrong with ``JAVA_HOME`` when it is set but has no ``bin/java`` (Spark's
    launcher would use it and die), else None."""
    home = os.environ.get("JAVA_HOME")
    if home and not (Path(home) / "bin" / "java").exists():
        return f"JAVA_HOME={home} has no bin/java"
    return None


def java_binary() -> str | None:
    """The java Spark's launcher will run: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set
    (None if that does not exist), else the first ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return str(java) if java.exists() else None
    return shutil.which("java")


def java_version(binary: str | None = None) -> int | None:
    """Major version of the java Spark will use (None when there is none)."""
    java = binary or java_binary()
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def require_java(minimum: int = 17) -> int:
    bad_home = java_home_problem()
    if bad_home:
        raise SparkSetupError(f"{bad_home}: {SparkSetupError.JAVA_HOME_FIX}.")
    v = java_version()
    if v is None:
        raise SparkSetupError(
            "Java not found: Spark needs Java 17 or newer. Install it (Debian/Ubuntu: "
            "`sudo apt-get install openjdk-17-jre-headless`, macOS: `brew install openjdk@17`, "
            "Windows: Temurin 17) or set JAVA_HOME."
        )
    if v < minimum:
        raise SparkSetupError(
            f"Java {v} found at {java_binary()}, but Spark 4 needs Java "
            f"{minimum}+: install Java 17+ and point JAVA_HOME at it."
        )
    return v


def committer_conf() -> dict[str, str]:
    return {
        "spark.hadoop.fs.s3a.committer.name": "magic",
        "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
        "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
        "spark.sql.parquet.output.committer.class": "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter",
    }


def driver_java_options(cfg: settings.Settings, cds: bool = True) -> str:
    """The driver JVM's options: UTC, bdlab's log4j2 file, and whatever spark/tuning.py's
    settings switch on (the class-data-sharing archive, benchmark-only JIT directives)."""
    base = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J}"
    return f"{base} {tuning.driver_jvm_options(cfg, cds=cds)}".strip()


def build_conf(
    profile: profiles.Profile, cfg: settings.Settings, jar_paths: list[Path]
) -> dict[str, str]:
    """Every Spark setting bdlab uses, derived from the profile (no profile names here)."""
    conf: dict[str, str] = {
        "spark.master": "local[*]",
        "spark.app.name": "bdlab",
        "spark.driver.memory": cfg.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(cfg.spark_shuffle_partitions),
        "spark.default.parallelism": str(cfg.spark_shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": driver_java_options(cfg),
        # On the JVM's own class path too (not only spark.jars' class loader), so that the
        # class-data-sharing archive covers Delta, S3A and the AWS SDK (spark/cds.py).
        "spark.driver.extraClassPath": os.pathsep.join(str(p) for p in jar_paths),
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.jars": ",".join(str(p) for p in jar_paths),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.warehouse.dir": str(cfg.state_path / "spark-warehouse"),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.fast.upload.buffer": "bytebuffer",
        "spark.hadoop.fs.s3a.multipart.size": "32M",
        "spark.hadoop.fs.s3a.connection.maximum": "64",
        "spark.hadoop.fs.s3a.attempts.maximum": "5",
        "spark.hadoop.fs.s3a.retry.limit": "5",
        "spark.hadoop.fs.s3a.change.detection.mode": "server",
        "spark.hadoop.fs.s3a.bucket.probe": "0",
        "spark.hadoop.fs.s3a.directory.marker.retention": "keep",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.hadoop.fs.s3a.committer.staging.tmp.path": str(cfg.state_path / "spark-staging"),
    }
    conf.update(committer_conf())
    conf.update(profile.spark_conf)
    return conf


def get_session(
    profile: profiles.Profile,
    cfg: settings.Settings,
    app_name: str = "bdlab",
    extra: Mapping[str, str] | None = None,
) -> Any:
    """The (cached) SparkSession of ``profile`` with ``cfg``'s Spark settings (jars, memory,
    warehouse and staging under the state folder). Checks Java and the jars first, offline:
    raises :class:`SparkSetupError` or ``JarsMissingError`` with the fix."""
    prof = profile
    key = f"{prof.name}|{prof.endpoint_url}|{cfg.state_path}"
    with _lock:
        spark = _active.get(key)
        if spark is not None and spark._jsc is not None:  # noqa: SLF001 (alive?)
            return spark
        require_java()
        # Spark's own launcher reads these; loopback keeps it off the network.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        jar_paths = jars.ensure_jars(cfg.jars_path, offline=True)
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName(app_name)
        for k, v in {**build_conf(prof, cfg, jar_paths), **(extra or {})}.items():
            builder = builder.config(k, v)
        with _jvm_output_to(cfg.state_path / "logs" / "spark-driver.log"):
            spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        _active.clear()
        _active[key] = spark
        return spark


@contextlib.contextmanager
def _jvm_output_to(log: Path) -> Iterator[None]:
    """While the driver JVM starts, point this process's stderr at ``log``: the JVM inherits
    it, so its banners ("Using incubator modules", launcher and log4j start-up lines) and
    later warnings go to the log instead of the learner's terminal. Errors still reach
    Python as exceptions. Where stderr is no real file descriptor (some notebooks), nothing
    changes."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(fd)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, fd)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(target)


def active_context() -> Any:
    """The SparkContext of the cached session, or None (for progress reporting)."""
    for spark in list(_active.values()):
        sc = getattr(spark, "sparkContext", None)
        if sc is not None and getattr(sc, "_jsc", None) is not None:
            return sc
    return None


def stop(jvm: bool = False) -> None:
    """Stop the cached sessions; with ``jvm`` also end the driver JVM (PySpark keeps it for
    the next session: ~1 GB held for nothing by a process that runs no more Spark, such as
    ``bdlab demo --dashboard`` once the dashboards are up). The next :func:`get_session`
    starts a new JVM."""
    with _lock:
        for spark in _active.values():
            spark.stop()
        _active.clear()
        if not jvm:
            return
        from pyspark import SparkContext

        gateway = SparkContext._gateway  # noqa: SLF001 (PySpark has no public way to end it)
        if gateway is None:
            return
        proc = getattr(gateway, "proc", None)
        gateway.shutdown()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:  # subprocess.TimeoutExpired: it would not go quietly
                proc.kill()
                proc.wait()
        SparkContext._gateway = None  # noqa: SLF001
        SparkContext._jvm = None  # noqa: SLF001
