"""Class-data sharing (CDS) for the Spark driver JVM: a faster start and faster first queries.

A fresh Spark + Delta driver loads, parses and verifies some 28,000 classes from 313 jars
before and during its first jobs; on a 2-core laptop that is seconds of every session, every
lab check and every EMR step. The JDK's dynamic CDS archive (JEP 350) records those classes
once, already parsed and verified, and later JVMs map the file instead.

``bdlab setup`` trains the archive: ``python -m spark.cds`` runs the lake ETL on a few
thousand generated events (plus an S3A file system object) in a JVM started with
``-XX:ArchiveClassesAtExit`` and keeps the file in the jar cache (``.cds/``, one per venv and JDK).
``spark.session`` then starts drivers with ``-XX:SharedArchiveFile``. The JVM checks the
archive itself (same JDK build, same jars with the same sizes and times) and silently goes
without it when anything changed; ``bdlab setup`` notices that from the stamp next to the
archive and trains it again.

Measured (1M-row lake ETL, 2 cores): run 38 s instead of 42-43 s, session start ~2.5 s
faster; see docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim import settings

# The JVM would print a warning when the archive does not match (after a JDK or jar update);
# bdlab setup reports that instead.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def archive_path(cfg: settings.Settings, java: str | None = None) -> Path:
    """Beside the jars it was trained with, one per Python environment and JDK (the driver's
    class path names the venv's PySpark jars, so two checkouts need two archives)."""
    import pyspark

    from spark.session import java_binary

    java = java or java_binary() or "none"
    key = f"{sys.prefix}|{os.path.realpath(java)}|{pyspark.__version__}"
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]
    return cfg.jars_path / ".cds" / f"driver-{digest}.jsa"


def _stamp_path(archive: Path) -> Path:
    return archive.with_suffix(".json")


def stamp(java: str, jar_paths: list[Path]) -> dict[str, Any]:
    """What the archive depends on: the JDK build, PySpark's jars and bdlab's extra jars."""
    import pyspark

    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    spark_jars = Path(pyspark.__file__).parent / "jars"
    files = sorted(spark_jars.glob("*.jar")) + list(jar_paths)
    return {
        "java": os.path.realpath(java),
        "java_version": (out.stderr or out.stdout).strip().splitlines()[-1:],
        "pyspark": pyspark.__version__,
        "jars": [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files],
    }


def java_options(cfg: settings.Settings, java: str | None = None) -> str:
    """The driver's JVM options for the archive ('' when there is none)."""
    archive = archive_path(cfg, java)
    return f"-XX:SharedArchiveFile={archive} {QUIET}" if archive.is_file() else ""


def is_current(cfg: settings.Settings, java: str, jar_paths: list[Path]) -> bool:
    archive = archive_path(cfg, java)
    try:
        recorded = json.loads(_stamp_path(archive).read_text())
    except (OSError, ValueError):
        return False
    return archive.is_file() and recorded.get("stamp") == stamp(java, jar_paths)


def build(cfg: settings.Settings, java: str, jar_paths: list[Path], timeout: float = 900) -> Path:
    """Trains the archive in a child process (the JVM writes it when it exits)."""
    archive = archive_path(cfg, java)
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".jsa.tmp")
    tmp.unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "spark.cds", "--train", str(tmp), "--settings", cfg.to_json()],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )
    if proc.returncode != 0 or not tmp.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            f"training the Spark class archive failed (exit {proc.returncode}):\n{tail}"
        )
    tmp.replace(archive)
    prune(archive.parent)
    meta = {
        "prefix": sys.prefix,
        "stamp": stamp(java, jar_paths),
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t, 1),
        "bytes": archive.stat().st_size,
    }
    _stamp_path(archive).write_text(json.dumps(meta, indent=1))
    return archive


def prune(folder: Path) -> list[Path]:
    """Removes the archives of Python environments that no longer exist (each checkout's
    venv trains its own, ~220 MB); returns what it removed."""
    gone = []
    for meta in folder.glob("driver-*.json"):
        try:
            prefix = json.loads(meta.read_text()).get("prefix")
        except (OSError, ValueError):
            continue
        if prefix and not Path(prefix).exists():
            for f in (meta.with_suffix(".jsa"), meta):
                f.unlink(missing_ok=True)
                gone.append(f)
    return gone


def _workload(spark: Any, work: Path) -> None:
    """What a session typically does: JSON -> Delta zones (write, MERGE, replaceWhere),
    reads, aggregations, and an S3A file system (no request is sent)."""
    from datetime import datetime as dt

    from sim.datagen import clickstream
    from spark.jobs import lake_etl

    raw = work / "raw"
    raw.mkdir()
    table = clickstream.generate(3000, dt(2026, 1, 12, tzinfo=UTC), 2, seed=7)
    rows = table.to_pylist()
    for i, part in enumerate((rows[:2000], rows[2000:])):
        lines = [json.dumps({k: _plain(v) for k, v in r.items()}) for r in part]
        if i == 0:
            lines += ["{not json", json.dumps({"event_id": "x", "price": "abc"})]
            (raw / "drift.json").write_text('{"a": 1}\n{"a": 2}\n')
        (raw / f"part-{i}.json").write_text("\n".join(lines) + "\n")
        lake_etl.run(spark, f"file://{raw}", f"file://{work / 'lake'}")
    silver = spark.read.format("delta").load(f"file://{work / 'lake'}/silver/events")
    silver.groupBy("country").count().collect()
    silver.write.mode("overwrite").parquet(f"file://{work / 'pq'}")
    spark.read.parquet(f"file://{work / 'pq'}").where("price > 10").count()
    jvm = spark.sparkContext._jvm  # noqa: SLF001 (load S3A and the AWS SDK client classes)
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    try:
        fs = jvm.org.apache.hadoop.fs.FileSystem.newInstance(
            jvm.java.net.URI("s3a://bdlab-cds-training/"), conf
        )
        fs.close()
    except Exception as e:  # noqa: BLE001 (optional: the archive is still useful without it)
        print(f"cds: S3A classes not archived ({type(e).__name__})", file=sys.stderr)


def _plain(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v


def _train(out: Path, cfg: settings.Settings) -> int:
    from sim import profiles
    from spark import session

    base = session.driver_java_options(cfg, cds=False)
    extra = {"spark.driver.extraJavaOptions": f"{base} -XX:ArchiveClassesAtExit={out} {QUIET}"}
    spark = session.get_session(profiles.resolve(cfg), cfg, app_name="bdlab-cds", extra=extra)
    proc = spark.sparkContext._gateway.proc  # noqa: SLF001 (the driver JVM)
    with tempfile.TemporaryDirectory(prefix="bdlab-cds-") as d:
        _workload(spark, Path(d))
    session.stop()
    # The driver exits when its stdin closes, and writes the archive on the way out.
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait(timeout=600)
    return 0 if out.is_file() else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "--train" and args[2] == "--settings":
        return _train(Path(args[1]), settings.Settings.from_json(args[3]))
    print(
        "usage: python -m spark.cds --train <archive> --settings <json>  (bdlab setup runs it)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
