"""Every configuration read in bdlab, as one declarative table.

A value comes from (highest first): a CLI flag, a ``BDLAB_*`` environment variable,
``bdlab.toml`` (in the working directory, or the file named by ``BDLAB_CONFIG``), the default.
Nothing else in the code base reads ``os.environ`` for bdlab settings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting has a value bdlab cannot use; the message says which and how to fix it."""


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


@dataclass(frozen=True)
class Setting:
    """One knob: its name, where it is read from, its type and default."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    env: str = ""
    toml_key: str = ""

    def env_name(self) -> str:
        return self.env or f"BDLAB_{self.name.upper()}"

    def key(self) -> str:
        return self.toml_key or self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("profile", "embedded", str, "Active profile: embedded | localstack | aws."),
    Setting("host", "127.0.0.1", str, "Address the embedded emulator binds (loopback by default)."),
    Setting("port", 4566, int, "Port of the embedded emulator's gateway."),
    Setting("state_dir", ".bdlab", str, "Folder holding all emulator state (survives restarts)."),
    Setting("clock_speed", 1.0, float, "Emulator clock speed: 60 makes a 60 s period take 1 s."),
    Setting(
        "region", "us-east-1", str, "Default AWS region for the embedded and localstack profiles."
    ),
    Setting("fsync", False, _bool, "fsync object data before acknowledging (power-loss safety)."),
    Setting("jars_dir", "", str, "Spark jar cache (default ~/.cache/bdlab/jars)."),
    Setting("spark_driver_memory", "2g", str, "spark.driver.memory for local Spark."),
    Setting("spark_shuffle_partitions", 8, int, "spark.sql.shuffle.partitions for local Spark."),
    Setting("localstack_endpoint", "http://127.0.0.1:4566", str, "LocalStack gateway URL."),
    Setting(
        "aws_region",
        "",
        str,
        "Region for the aws profile (default: the AWS config's).",
        env="BDLAB_AWS_REGION",
    ),
    Setting("log_level", "warning", str, "Emulator log level."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings plus where each value came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def state_path(self) -> Path:
        return Path(self.values["state_dir"]).expanduser().resolve()


def config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    explicit = env.get("BDLAB_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"BDLAB_CONFIG points to {path}, which does not exist.")
        return path
    candidate = Path.cwd() / "bdlab.toml"
    return candidate if candidate.is_file() else None


def load(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting: CLI overrides > environment > bdlab.toml > default."""
    env = os.environ if environ is None else environ
    file_values: dict[str, Any] = {}
    path = config_file(env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
        file_values = dict(data.get("bdlab", data))
        unknown = sorted(set(file_values) - {s.key() for s in SETTINGS})
        if unknown:
            raise SettingsError(
                f"{path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(s.key() for s in SETTINGS)}."
            )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        raw: Any = s.default
        source = "default"
        if s.key() in file_values:
            raw, source = file_values[s.key()], f"{path}"
        if s.env_name() in env and env[s.env_name()] != "":
            raw, source = env[s.env_name()], s.env_name()
        if overrides and overrides.get(s.name) is not None:
            raw, source = overrides[s.name], "command line"
        try:
            values[s.name] = s.parse(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(
                f"setting {s.name}={raw!r} (from {source}) is invalid: {exc}. {s.help}"
            ) from exc
        sources[s.name] = source
    return Settings(values, sources)


def describe(name: str) -> Setting:
    return _BY_NAME[name]
