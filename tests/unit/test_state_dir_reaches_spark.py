"""--state-dir reaches Spark's warehouse and staging folders and the EMR step launcher
(issue 11: they used ./.bdlab whatever the flag said)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import profiles, settings
from spark import session


def test_spark_conf_follows_the_state_folder(tmp_path: Path) -> None:
    cfg = settings.load({"state_dir": str(tmp_path / "st")}, environ={}, root=tmp_path)
    conf = session.build_conf(profiles.resolve(cfg), cfg, [])
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "st" / "spark-warehouse")
    assert conf["spark.hadoop.fs.s3a.committer.staging.tmp.path"] == str(
        tmp_path / "st" / "spark-staging"
    )


def test_the_emr_step_launcher_uses_the_settings_it_was_handed(tmp_path: Path) -> None:
    from spark import jars
    from spark.submit import LocalSparkSubmit

    real = settings.load()
    if jars.missing_jars(real.jars_path) or session.java_version() is None:
        pytest.skip("needs Java and the jar cache (scripts/setup.sh)")
    cfg = settings.load(
        {"state_dir": str(tmp_path / "st"), "jars_dir": str(real.jars_path)},
        environ={},
        root=tmp_path,
    )
    cmd = LocalSparkSubmit(cfg).submit_command("http://127.0.0.1:4999")
    assert cmd.conf["spark.sql.warehouse.dir"].startswith(str(tmp_path / "st"))
    assert cmd.conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:4999"
    assert cmd.program[0].endswith("spark-submit")
    empty = cfg.with_values(jars_dir=str(tmp_path / "nojars"))
    with pytest.raises(jars.JarsMissingError, match="bdlab setup"):
        LocalSparkSubmit(empty).submit_command("http://127.0.0.1:4999")
