"""The class-data-sharing archive is used only while it matches the JDK and the jars."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from sim import settings
from spark import cds

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="needs java")


def test_the_archive_is_stale_when_a_jar_changes(tmp_path: Path) -> None:
    cfg = settings.load({"jars_dir": str(tmp_path / "jars")}, environ={}, root=tmp_path)
    jar = tmp_path / "jars" / "x.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"PK")
    java = str(shutil.which("java"))
    assert cds.java_options(cfg, java) == ""  # no archive: the JVM starts without one
    archive = cds.archive_path(cfg, java)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not really an archive")
    archive.with_suffix(".json").write_text(json.dumps({"stamp": cds.stamp(java, [jar])}))
    assert cds.is_current(cfg, java, [jar])
    assert f"-XX:SharedArchiveFile={archive}" in cds.java_options(cfg, java)
    assert "-Xlog:cds=off" in cds.java_options(cfg, java)  # a stale one is dropped silently
    os.utime(jar, (1, 1))
    assert not cds.is_current(cfg, java, [jar])  # bdlab setup then trains it again


def test_archives_of_removed_venvs_are_pruned(tmp_path: Path) -> None:
    for name, prefix in (("driver-aaa", tmp_path / "gone-venv"), ("driver-bbb", tmp_path)):
        (tmp_path / f"{name}.jsa").write_bytes(b"x")
        (tmp_path / f"{name}.json").write_text(json.dumps({"prefix": str(prefix)}))
    removed = cds.prune(tmp_path)
    assert sorted(p.name for p in removed) == ["driver-aaa.jsa", "driver-aaa.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driver-bbb.jsa", "driver-bbb.json"]
