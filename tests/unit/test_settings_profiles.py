from __future__ import annotations

from pathlib import Path

import pytest

from sim import profiles, settings


def test_precedence_cli_over_env_over_toml_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "bdlab.toml"
    cfg.write_text('profile = "localstack"\nport = 4600\nregion = "eu-west-1"\n')
    monkeypatch.chdir(tmp_path)
    s = settings.load(environ={})
    assert (s.profile, s.port, s.region) == ("localstack", 4600, "eu-west-1")
    assert s.sources["port"].endswith("bdlab.toml")
    s = settings.load(environ={"BDLAB_PORT": "4700"})
    assert s.port == 4700 and s.sources["port"] == "BDLAB_PORT"
    s = settings.load({"port": 4800}, environ={"BDLAB_PORT": "4700"})
    assert s.port == 4800 and s.sources["port"] == "command line"
    assert settings.load(environ={}).clock_speed == 1.0


def test_bad_values_say_what_and_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(settings.SettingsError, match="port='abc' .*BDLAB_PORT"):
        settings.load(environ={"BDLAB_PORT": "abc"})
    (tmp_path / "bdlab.toml").write_text("colour = 1\n")
    with pytest.raises(settings.SettingsError, match="unknown setting.*colour"):
        settings.load(environ={})
    (tmp_path / "bdlab.toml").write_text("port = [\n")
    with pytest.raises(settings.SettingsError, match="not valid TOML"):
        settings.load(environ={})


def test_profiles_are_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = settings.load({"port": 4999}, environ={})
    emb = profiles.resolve(s)
    assert emb.name == "embedded" and emb.endpoint_url == "http://127.0.0.1:4999"
    assert emb.spark_conf["spark.hadoop.fs.s3a.endpoint"] == emb.endpoint_url
    assert emb.spark_conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert emb.spark_conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert (
        emb.boto_kwargs()["aws_access_key_id"] == emb.spark_conf["spark.hadoop.fs.s3a.access.key"]
    )
    real = profiles.resolve(s, "aws")
    assert real.endpoint_url is None and real.access_key is None
    assert "spark.hadoop.fs.s3a.endpoint" not in real.spark_conf
    assert real.runners["emr_steps"] == "Amazon EMR" and real.tag_resources
    ls = profiles.resolve(s, "localstack")
    assert ls.health_url and ls.health_url.endswith("/_localstack/health")
    with pytest.raises(
        profiles.ProfileError, match="unknown profile 'prod'.*embedded, localstack, aws"
    ):
        profiles.resolve(s, "prod")


def test_no_profile_branches_outside_profiles_module() -> None:
    import re

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for pkg in ("sim", "labs", "spark", "dashboards"):
        for f in (root / pkg).rglob("*.py"):
            if f.name == "profiles.py" and f.parent.name == "sim":
                continue
            if re.search(r"profile(\.name)?\s*==", f.read_text()):
                offenders.append(str(f))
    assert offenders == []
