"""The extra JVM jars bdlab adds to PySpark, and the local cache that holds them.

PySpark's wheel already ships Spark, Scala, Hadoop's shaded client and their common
dependencies.  What it lacks for the labs is pinned in ``jars.lock.json`` next to this
file: hadoop-aws plus the individual AWS SDK v2 modules it really uses (instead of the
~650 MB SDK ``bundle``), Delta Lake, spark-avro and spark-hadoop-cloud (S3A committers).

This module owns that lock, the cache directory (``BDLAB_JARS_DIR``, default
``~/.cache/bdlab/jars``) and the download: plain HTTPS from Maven Central
(``BDLAB_MAVEN_REPO`` overrides the base URL), sha1-verified, written atomically, with
``mvn dependency:copy`` as a fallback when ``mvn`` is on PATH.  Spark is then started
with ``spark.jars`` set to the local paths, so a session never resolves anything online.

``python -m spark.jars`` downloads what is missing and prints the local paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MAVEN_REPO",
    "LOCK_PATH",
    "JarSpec",
    "JarsMissingError",
    "ensure_jars",
    "load_lock",
    "lock_metadata",
    "missing_jars",
    "spark_jars_conf",
]

LOCK_PATH: Path = Path(__file__).with_name("jars.lock.json")
DEFAULT_MAVEN_REPO = "https://repo1.maven.org/maven2"

_ATTEMPTS = 3
_TIMEOUT_S = 60.0
_CHUNK = 1 << 16
_MVN_TIMEOUT_S = 600.0

Progress = Callable[["JarSpec", int, int], None]
"""Called as ``progress(spec, bytes_done, bytes_total)`` while one jar downloads."""


@dataclass(frozen=True)
class JarSpec:
    """One pinned Maven artifact (always the plain ``.jar``, no classifier)."""

    group: str
    artifact: str
    version: str
    sha1: str
    size: int

    @property
    def filename(self) -> str:
        """File name in the cache, as Maven names it: ``artifact-version.jar``."""
        return f"{self.artifact}-{self.version}.jar"

    @property
    def coordinate(self) -> str:
        """``group:artifact:version``, the form ``mvn`` and ``spark.jars.packages`` take."""
        return f"{self.group}:{self.artifact}:{self.version}"

    def url(self, repo: str | None = None) -> str:
        """Download URL of the jar in a Maven-layout repository."""
        base = (repo or DEFAULT_MAVEN_REPO).rstrip("/")
        return (
            f"{base}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"
        )

    def path_in(self, cache_dir: Path) -> Path:
        """Where this jar lives in ``cache_dir``."""
        return cache_dir / self.filename


class JarsMissingError(RuntimeError):
    """Jars from the lock are not in the cache and could not (or may not) be downloaded.

    The message is a single line a person can act on.
    """

    def __init__(self, message: str, missing: list[JarSpec] | None = None) -> None:
        super().__init__(message)
        self.missing: list[JarSpec] = list(missing or [])


def _read_lock(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def load_lock(path: Path = LOCK_PATH) -> list[JarSpec]:
    """Return the pinned jars in lock order (the order they go on ``spark.jars``)."""
    return [
        JarSpec(
            group=str(j["group"]),
            artifact=str(j["artifact"]),
            version=str(j["version"]),
            sha1=str(j["sha1"]).lower(),
            size=int(j["size"]),
        )
        for j in _read_lock(path)["jars"]
    ]


def lock_metadata(path: Path = LOCK_PATH) -> dict[str, Any]:
    """Top-level lock fields other than the jar list (spark_version, hadoop_version, ...)."""
    return {k: v for k, v in _read_lock(path).items() if k != "jars"}


def _sha1_of(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - Maven publishes sha1; integrity, not security
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_present(spec: JarSpec, cache_dir: Path, verify: bool) -> bool:
    path = spec.path_in(cache_dir)
    try:
        if path.stat().st_size != spec.size:
            return False
    except OSError:
        return False
    return not verify or _sha1_of(path) == spec.sha1


def missing_jars(
    cache_dir: Path, *, verify: bool = False, lock: list[JarSpec] | None = None
) -> list[JarSpec]:
    """Jars of the lock that are absent from ``cache_dir`` (or have the wrong size).

    Files only ever appear in the cache through a verified atomic rename, so the size
    check is enough day to day; ``verify=True`` also recomputes every sha1.
    """
    cache = cache_dir
    specs = load_lock() if lock is None else lock
    return [s for s in specs if not _is_present(s, cache, verify)]


def _summary(missing: list[JarSpec], total: int, cache_dir: Path, label: str = "Spark") -> str:
    names = ", ".join(s.filename for s in missing[:3])
    if len(missing) > 3:
        names += ", ..."
    return f"{label} jars missing in {cache_dir}: {len(missing)} of {total} ({names})."


def _download_http(spec: JarSpec, dest: Path, progress: Progress | None, repo: str) -> None:
    """Fetch one jar into ``dest`` via a temp file; raise OSError/ValueError on failure."""
    url = spec.url(repo)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha1()  # noqa: S324
        done = 0
        request = urllib.request.Request(url, headers={"User-Agent": "bdlab-jars/1"})
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=_TIMEOUT_S) as resp,
        ):  # noqa: S310
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(spec, done, spec.size)
        got = digest.hexdigest()
        if got != spec.sha1:
            raise ValueError(f"sha1 mismatch for {url}: got {got}, lock says {spec.sha1}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _download_mvn(spec: JarSpec, dest: Path) -> None:
    """Let Maven fetch the jar (honours ~/.m2/settings.xml mirrors and proxies)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise OSError("mvn not on PATH")
    with tempfile.TemporaryDirectory(prefix=".mvn-", dir=dest.parent) as tmpdir:
        cmd = [
            mvn,
            "-q",
            "-B",
            "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
            f"-Dartifact={spec.coordinate}:jar",
            f"-DoutputDirectory={tmpdir}",
            "-Dmdep.useBaseVersion=true",
        ]
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd, capture_output=True, text=True, timeout=_MVN_TIMEOUT_S, check=False, cwd=tmpdir
        )
        got_path = Path(tmpdir) / spec.filename
        if result.returncode != 0 or not got_path.is_file():
            tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
            raise OSError(f"mvn dependency:copy failed for {spec.coordinate}: {tail[0]}")
        got = _sha1_of(got_path)
        if got != spec.sha1:
            raise ValueError(f"sha1 mismatch from mvn for {spec.coordinate}: got {got}")
        os.replace(got_path, dest)


def _fetch_one(spec: JarSpec, cache_dir: Path, progress: Progress | None, repo: str) -> str | None:
    """Bring one jar into the cache; return None on success, else a short reason."""
    dest = spec.path_in(cache_dir)
    reason = "unknown error"
    for attempt in range(_ATTEMPTS):
        try:
            _download_http(spec, dest, progress, repo)
            return None
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} for {spec.url(repo)}"
            if exc.code == 404:
                break  # retrying cannot make a missing artifact appear
        except (OSError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if attempt + 1 < _ATTEMPTS:
            time.sleep(1.0 * (attempt + 1))
    if shutil.which("mvn"):
        try:
            _download_mvn(spec, dest)
            return None
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            reason = f"{reason}; {exc}"
    return reason


def ensure_jars(
    cache_dir: Path,
    *,
    offline: bool = False,
    progress: Progress | None = None,
    repo: str = DEFAULT_MAVEN_REPO,
    lock: Path = LOCK_PATH,
    setup_command: str = "bdlab setup",
    label: str = "Spark",
) -> list[Path]:
    """Make sure every jar of ``lock`` (Spark's by default) is in the cache and return their
    paths in lock order.

    Missing jars are downloaded (HTTPS, sha1-checked, tmp file + rename, a few retries,
    then ``mvn dependency:copy`` if Maven is installed).  With ``offline=True`` nothing
    is downloaded.  Raises :class:`JarsMissingError` with a one-line, actionable message
    when jars are still missing.
    """
    cache = cache_dir.expanduser()
    specs = load_lock(lock)
    missing = missing_jars(cache, lock=specs)
    if missing and offline:
        raise JarsMissingError(
            f"{_summary(missing, len(specs), cache, label)} "
            f"Run `{setup_command}` while online (or copy the jars there).",
            missing,
        )
    if missing:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JarsMissingError(
                f"{_summary(missing, len(specs), cache, label)} Cannot create the folder ({exc.strerror}); "
                "set BDLAB_JARS_DIR to a writable folder.",
                missing,
            ) from exc
        for index, spec in enumerate(missing):
            reason = _fetch_one(spec, cache, progress, repo)
            if reason is None:
                continue
            # Spark cannot start without every jar, and when one fails the network or the
            # mirror is usually down for all: stop here instead of retrying each one.
            failed = missing[index:]
            raise JarsMissingError(
                f"{_summary(failed, len(specs), cache, label)} Download failed ({reason}). "
                f"Run `{setup_command}` while online, set BDLAB_MAVEN_REPO to a reachable Maven "
                "mirror, or copy the jars there.",
                failed,
            )
    return [s.path_in(cache) for s in specs]


def spark_jars_conf(paths: list[Path]) -> str:
    """Value for ``spark.jars``: the local paths, comma-separated."""
    return ",".join(str(p) for p in paths)


def _print_progress(spec: JarSpec, done: int, total: int) -> None:
    if done == total or done % (1 << 22) < _CHUNK:
        print(f"\r{spec.filename}: {done * 100 // max(total, 1):3d}%", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m spark.jars", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--offline", action="store_true", help="do not download; fail if any jar is missing"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="default: the jars_dir setting (BDLAB_JARS_DIR, ~/.cache/bdlab/jars)",
    )
    parser.add_argument(
        "--spark-conf", action="store_true", help="print one comma-separated spark.jars value"
    )
    args = parser.parse_args(argv)
    from sim import settings  # an entry point: settings are resolved here, once

    cfg = settings.load()
    try:
        paths = ensure_jars(
            args.cache_dir or cfg.jars_path,
            offline=args.offline,
            progress=_print_progress,
            repo=cfg.maven_repo,
        )
    except JarsMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.spark_conf:
        print(spark_jars_conf(paths))
    else:
        print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
