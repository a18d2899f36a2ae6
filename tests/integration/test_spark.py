"""A real SparkSession writing and reading Parquet and Delta through s3a on the emulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark(profile: Any, cfg: Any) -> Iterator[Any]:
    from spark import session

    s = session.get_session(profile, cfg, app_name="bdlab-tests")
    yield s
    session.stop()


def test_daily_revenue_transform_on_a_small_frame(spark: Any) -> None:
    from spark.jobs.daily_revenue import daily_revenue

    rows = [
        (datetime(2026, 1, 12, 1), "purchase", "KR", 10.0, 2),
        (datetime(2026, 1, 12, 2), "purchase", "KR", 5.0, 1),
        (datetime(2026, 1, 12, 3), "view", "KR", 99.0, 0),
        (datetime(2026, 1, 13, 4), "purchase", "US", 1.5, 3),
    ]
    df = spark.createDataFrame(
        rows, "event_time timestamp, event_type string, country string, price double, quantity int"
    )
    out = {(r.dt, r.country): (r.orders, r.revenue) for r in daily_revenue(df).collect()}
    assert out == {("2026-01-12", "KR"): (2, 25.0), ("2026-01-13", "US"): (1, 4.5)}


def test_delta_round_trip_through_s3a(spark: Any, aws: Callable[[str], Any], bucket: str) -> None:
    df = spark.createDataFrame(
        [(i, f"2026-01-{12 + i % 3}", i * 1.5) for i in range(30)], "id int, dt string, v double"
    )
    path = f"s3a://{bucket}/delta/t"
    df.write.format("delta").partitionBy("dt").save(path)
    df.limit(5).write.format("delta").mode("append").save(path)
    back = spark.read.format("delta").load(path)
    assert back.count() == 35
    assert {r.dt for r in back.select("dt").distinct().collect()} == {
        "2026-01-12",
        "2026-01-13",
        "2026-01-14",
    }
    keys = [
        o["Key"] for o in aws("s3").list_objects_v2(Bucket=bucket, Prefix="delta/t/")["Contents"]
    ]
    assert "delta/t/_delta_log/00000000000000000000.json" in keys
    assert "delta/t/_delta_log/00000000000000000001.json" in keys
    assert any(k.startswith("delta/t/dt=2026-01-12/") and k.endswith(".parquet") for k in keys)
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    assert sorted(h.version for h in history) == [0, 1]


def test_delta_and_parquet_on_a_versioned_bucket(
    spark: Any, aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    """Issue 12 §4: s3a and Delta keep working when the bucket keeps versions (overwrites
    and the committer's deletes leave noncurrent versions and delete markers behind)."""
    s3 = aws("s3")
    name = unique("vspark")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    df = spark.createDataFrame([(i, i % 3) for i in range(20)], "id int, p int")
    delta = f"s3a://{name}/delta/t"
    df.write.format("delta").partitionBy("p").save(delta)
    df.limit(4).write.format("delta").mode("overwrite").save(delta)
    assert spark.read.format("delta").load(delta).count() == 4
    parquet = f"s3a://{name}/pq"
    df.write.mode("overwrite").parquet(parquet)
    df.limit(7).write.mode("overwrite").parquet(parquet)
    assert spark.read.parquet(parquet).count() == 7
    versions = s3.list_object_versions(Bucket=name)
    assert versions.get("DeleteMarkers")  # the first Parquet files were deleted: markers
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=name)


def test_parquet_uses_the_magic_committer(
    spark: Any, aws: Callable[[str], Any], bucket: str
) -> None:
    df = spark.range(1000).selectExpr("id", "cast(id % 4 as string) as part")
    df.write.partitionBy("part").parquet(f"s3a://{bucket}/pq/t")
    s3 = aws("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="pq/")["Contents"]]
    assert not any("__magic" in k for k in keys), keys
    success = json.loads(s3.get_object(Bucket=bucket, Key="pq/t/_SUCCESS")["Body"].read())
    assert success["committer"] == "magic"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert spark.read.parquet(f"s3a://{bucket}/pq/t").count() == 1000
    assert spark.read.parquet(f"s3a://{bucket}/pq/t").where("part = '1'").count() == 250


def test_session_settings_fit_a_laptop(spark: Any) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.parquet.outputTimestampType") == "TIMESTAMP_MICROS"
    assert int(conf.get("spark.sql.shuffle.partitions")) <= 8
    assert conf.get("spark.hadoop.fs.s3a.path.style.access") == "true"
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"


def test_demo_main_job(spark: Any, profile: Any, cfg: Any) -> None:
    from sim import demo

    out = demo.run(profile, cfg, rows=20_000)
    assert out["raw"]["files"] == 7 and out["result_rows"] > 0
    assert {r["dt"] for r in out["rows"]} == {f"2026-01-{d}" for d in range(12, 19)}
    assert all(r["revenue"] > 0 for r in out["rows"])
    # The BI dashboard's other gold tables, and the same job as an EMR step (its output is
    # the dashboard's EMR sheet)
    assert [g.rsplit("/", 1)[1] for g in out["gold"]] == ["funnel", "top_products"]
    assert out["emr"]["state"] == "COMPLETED" and out["emr"]["objects"] >= 7
    # The streaming stage: every event produced is read back, with AWS's limits on.
    st = out["streaming"]
    assert st["produced"] == st["consumed"] == sum(st["by_type"].values()) == demo.STREAM_EVENTS
    # Firehose read the same stream into Parquet (nothing from an earlier run counted) and
    # the real-time job's daily windows cover the seven days
    an = out["analytics"]
    assert an["delivered"] == demo.STREAM_EVENTS and an["objects"] >= 1
    assert [w["window"] for w in an["top"]] == [f"2026-01-{d}" for d in range(12, 19)]
    assert all(w["orders"] > 0 and w["revenue"] > 0 for w in an["top"])
    # The fault on cue: armed (OK), the hot shard's minute -> ALARM, quiet minutes -> OK; one
    # notification per transition in SQS and in the mailbox
    al = out["alerting"]
    assert al["throttled"] > 0
    assert al["states"] == ["INSUFFICIENT_DATA", "OK", "ALARM", "OK"]
    assert [n["state"] for n in al["notifications"]] == ["OK", "ALARM", "OK"]
    assert al["mails"] == 3
    assert [c.split(" | ")[0] for c in al["chat"]] == ["OK", "ALARM", "OK"]


def test_missing_jars_is_one_clear_line(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from spark import jars, session

    with pytest.raises(jars.JarsMissingError, match=r"bdlab setup"):
        jars.ensure_jars(tmp_path / "empty", offline=True)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojava"))
    # JAVA_HOME pointing nowhere: Spark's launcher would use it and die, so say so first.
    with pytest.raises(session.SparkSetupError, match="JAVA_HOME=.*nojava has no bin/java"):
        session.require_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(session.SparkSetupError, match="Java not found.*openjdk-17"):
        session.require_java()


def test_the_driver_maps_the_class_archive_setup_trained(spark: Any, cfg: Any) -> None:
    """scripts/setup.sh trains it (bdlab setup); a driver that does not map it starts slower."""
    from spark import cds, jars, session

    if not cfg.spark_cds:
        pytest.skip("BDLAB_SPARK_CDS=0: the suite runs without the class archive")

    java = session.java_binary()
    assert java is not None
    paths = jars.ensure_jars(cfg.jars_path, offline=True)
    assert cds.is_current(cfg, java, paths), "no current class archive: run `bdlab setup`"
    pid = spark.sparkContext._gateway.proc.pid
    maps = Path(f"/proc/{pid}/maps")
    if not maps.exists():
        pytest.skip("no /proc on this system")
    assert str(cds.archive_path(cfg)) in maps.read_text()


def test_the_jdk_accepts_the_jit_directives(cfg: Any) -> None:
    """A benchmark option (spark/tuning.py): off by default, and a file the JDK can parse."""
    from spark import session

    java = session.java_binary()
    assert java is not None
    default = session.driver_java_options(cfg, cds=False)
    assert "Diagnostic" not in default and "CompilerDirectives" not in default
    flags = session.driver_java_options(cfg.with_values(spark_jit_directives=True), cds=False)
    jit = [f for f in flags.split() if "Diagnostic" in f or "CompilerDirectives" in f]
    assert len(jit) == 2, flags
    out = subprocess.run(
        [java, *jit, "-XX:+CompilerDirectivesPrint", "-version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "org/codehaus/*.*" in out.stdout + out.stderr


def test_the_default_driver_has_no_diagnostic_flags(spark: Any) -> None:
    opts = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert "UnlockDiagnosticVMOptions" not in opts and "CompilerDirectives" not in opts
    assert "-Duser.timezone=UTC" in opts
