from __future__ import annotations

from pathlib import Path

import pytest

from sim import profiles, settings


def test_precedence_cli_over_env_over_toml_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "bdlab.toml"
    cfg.write_text('profile = "localstack"\nport = 4600\nregion = "eu-west-1"\n')
    s = settings.load(environ={}, root=tmp_path)
    assert (s.profile, s.port, s.region) == ("localstack", 4600, "eu-west-1")
    assert s.sources["port"].endswith("bdlab.toml")
    s = settings.load(environ={"BDLAB_PORT": "4700"}, root=tmp_path)
    assert s.port == 4700 and s.sources["port"] == "BDLAB_PORT"
    s = settings.load({"port": 4800}, environ={"BDLAB_PORT": "4700"}, root=tmp_path)
    assert s.port == 4800 and s.sources["port"] == "command line"
    assert settings.load(environ={}, root=tmp_path).clock_speed == 1.0


def test_bad_values_say_what_and_where(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match="port='abc' .*BDLAB_PORT"):
        settings.load(environ={"BDLAB_PORT": "abc"}, root=tmp_path)
    (tmp_path / "bdlab.toml").write_text("colour = 1\n")
    with pytest.raises(settings.SettingsError, match="unknown setting.*colour"):
        settings.load(environ={}, root=tmp_path)
    (tmp_path / "bdlab.toml").write_text("port = [\n")
    with pytest.raises(settings.SettingsError, match="not valid TOML"):
        settings.load(environ={}, root=tmp_path)


def test_out_of_range_values_are_refused(tmp_path: Path) -> None:
    """port = 99999 in bdlab.toml was accepted; now every setting's range is checked."""
    (tmp_path / "bdlab.toml").write_text("port = 99999\n")
    with pytest.raises(settings.SettingsError, match=r"port=99999 .*bdlab.toml.*1-65535"):
        settings.load(environ={}, root=tmp_path)
    (tmp_path / "bdlab.toml").unlink()
    bad = {
        "BDLAB_PORT": "0",
        "BDLAB_CLOCK_SPEED": "-1",
        "BDLAB_SPARK_DRIVER_MEMORY": "lots",
        "BDLAB_SPARK_SHUFFLE_PARTITIONS": "0",
        "BDLAB_LOG_LEVEL": "loud",
        "BDLAB_FSYNC": "maybe",
        "BDLAB_LOCALSTACK_ENDPOINT": "localhost:4566",
    }
    for var, value in bad.items():
        with pytest.raises(settings.SettingsError, match=var):
            settings.load(environ={var: value}, root=tmp_path)


def test_a_cp949_bdlab_toml_is_one_clear_line(tmp_path: Path) -> None:
    """Saved by a Korean Windows editor: a clear line instead of a UnicodeDecodeError."""
    (tmp_path / "bdlab.toml").write_bytes("# 설정\nport = 4600\n".encode("cp949"))
    with pytest.raises(settings.SettingsError, match="not UTF-8.*save it as UTF-8"):
        settings.load(environ={}, root=tmp_path)
    (tmp_path / "bdlab.toml").write_bytes("\ufeff# 설정\nport = 4600\n".encode())
    assert settings.load(environ={}, root=tmp_path).port == 4600  # a BOM is fine


def test_state_folder_is_the_same_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bdlab up` from a lab folder created a second, empty .bdlab there."""
    root = settings.project_root()
    assert (root / "pyproject.toml").is_file()  # a checkout: state lives at its root
    seen = set()
    for where in (root, root / "labs" / "l124_s3_partitioning", root / "notebooks", tmp_path):
        monkeypatch.chdir(where)
        seen.add(settings.load(environ={}).state_path)
    assert seen == {root / ".bdlab"}
    # A relative path the user types is taken from where they typed it; one in bdlab.toml
    # from the file's folder.
    monkeypatch.chdir(tmp_path)
    assert settings.load(environ={"BDLAB_STATE_DIR": "st"}).state_path == tmp_path / "st"
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "bdlab.toml").write_text('state_dir = "here"\n')
    assert settings.load(environ={}, root=conf).state_path == conf / "here"


def test_settings_listing_names_every_source(tmp_path: Path) -> None:
    (tmp_path / "bdlab.toml").write_text("region = 'ap-northeast-2'\n")
    s = settings.load({"port": 4601}, environ={"BDLAB_FSYNC": "1"}, root=tmp_path)
    rows = {r["name"]: r for r in s.listing()}
    assert set(rows) == {x.name for x in settings.SETTINGS}
    assert rows["port"]["source"] == "command line" and rows["port"]["value"] == 4601
    assert rows["fsync"]["source"] == "BDLAB_FSYNC" and rows["fsync"]["value"] is True
    assert rows["region"]["source"].endswith("bdlab.toml")
    assert rows["state_dir"]["value"] == str(tmp_path / ".bdlab")
    assert rows["jars_dir"]["env"] == "BDLAB_JARS_DIR" and rows["maven_repo"]["env"]
    again = settings.Settings.from_json(s.to_json())
    assert again.values == s.values and again.state_path == s.state_path


def test_profiles_are_data(tmp_path: Path) -> None:
    s = settings.load({"port": 4999}, environ={}, root=tmp_path)
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
    # Capabilities are data: code asks what a profile can do, never which one it is.
    assert emb.can("clock") and emb.can("local_emr_steps") and emb.can("autostart")
    assert not real.can("clock") and not ls.can("autostart") and not ls.can("local_emr_steps")
    with pytest.raises(profiles.ProfileError, match="cannot fast-forward the emulator clock"):
        real.require("clock")
    with pytest.raises(KeyError):
        emb.can("teleport")


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
