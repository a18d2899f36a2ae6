"""Every configuration read in bdlab, as one declarative table.

A value comes from (highest first): a CLI flag, a ``BDLAB_*`` environment variable,
``bdlab.toml`` (at the project root, or the file named by ``BDLAB_CONFIG``), the default.
Nothing else in the code base reads ``os.environ`` for bdlab settings, and only entry points
(the CLI, ``spark.notebook``, ``sim.clients.active_profile``) call :func:`load`; everything
below them is handed the resolved :class:`Settings`.

The project root is the checkout bdlab runs from (the folder holding ``pyproject.toml`` beside
``sim/``), so the state folder (``<root>/.bdlab``) and ``bdlab.toml`` are the same from any
working directory. An installed (non-editable) bdlab has no checkout: its root is the per-user
data folder (``$XDG_DATA_HOME/bdlab``, default ``~/.local/share/bdlab``). See docs/adr/0007.
"""

from __future__ import annotations

import os
import re
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
    raise ValueError(f"not a boolean: {raw!r} (use true or false)")


def _port(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("not a port number")
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError(f"{value} is not a TCP port (1-65535)")
    return value


def _positive_float(raw: Any) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{raw!r} must be a positive number")
    return value


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("not a number")
    value = int(raw)
    if value < 1:
        raise ValueError(f"{value} must be 1 or more")
    return value


def _memory(raw: Any) -> str:
    text = str(raw).strip().lower()
    if not re.fullmatch(r"\d+[kmgt]?", text):
        raise ValueError(f"{raw!r} is not a JVM memory size (e.g. 1400m, 2g)")
    return text


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return text

    return parse


def _url(raw: Any) -> str:
    text = str(raw).strip().rstrip("/")
    if not re.match(r"https?://[^/\s]+", text):
        raise ValueError(f"{raw!r} is not an http(s) URL")
    return text


def _path(raw: Any) -> str:
    # Relative paths were made absolute where they were read (see load).
    return str(raw)


@dataclass(frozen=True)
class Setting:
    """One knob: its name, where it is read from, its type and default."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    env: str = ""
    toml_key: str = ""
    is_path: bool = False

    def env_name(self) -> str:
        return self.env or f"BDLAB_{self.name.upper()}"

    def key(self) -> str:
        return self.toml_key or self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("profile", "embedded", str, "Active profile: embedded | localstack | aws."),
    Setting("host", "127.0.0.1", str, "Address the embedded emulator binds (loopback by default)."),
    Setting("port", 4566, _port, "Port of the embedded emulator's gateway (1-65535)."),
    Setting(
        "state_dir",
        "",
        _path,
        "Folder holding all emulator state and lab progress (default: <project root>/.bdlab).",
        is_path=True,
    ),
    Setting("clock_speed", 1.0, _positive_float, "Emulator clock speed: 60 makes 60 s take 1 s."),
    Setting(
        "region", "us-east-1", str, "Default AWS region for the embedded and localstack profiles."
    ),
    Setting("fsync", False, _bool, "fsync object data before acknowledging (power-loss safety)."),
    Setting(
        "kinesis_limits",
        True,
        _bool,
        "Enforce Kinesis's per-shard limits as AWS does; off only for a demo or a benchmark "
        "(`bdlab status` then says so).",
    ),
    Setting(
        "jars_dir",
        "",
        _path,
        "Spark jar cache (default ~/.cache/bdlab/jars); the class archive lives in it too.",
        is_path=True,
    ),
    Setting(
        "maven_repo",
        "https://repo1.maven.org/maven2",
        _url,
        "Maven repository `bdlab setup` fetches Spark's extra jars from.",
    ),
    Setting("spark_driver_memory", "2g", _memory, "spark.driver.memory for local Spark."),
    Setting(
        "spark_shuffle_partitions",
        8,
        _positive_int,
        "spark.sql.shuffle.partitions for local Spark.",
    ),
    Setting(
        "spark_cds",
        True,
        _bool,
        "Map the driver's class-data-sharing archive when `bdlab setup` trained one.",
    ),
    Setting(
        "spark_jit_directives",
        False,
        _bool,
        "Benchmark tuning: HotSpot compiler directives for the driver (diagnostic JVM flags).",
    ),
    Setting("localstack_endpoint", "http://127.0.0.1:4566", _url, "LocalStack gateway URL."),
    Setting(
        "aws_region",
        "",
        str,
        "Region for the aws profile (default: the AWS config's).",
        env="BDLAB_AWS_REGION",
    ),
    Setting(
        "log_level",
        "warning",
        _one_of("critical", "error", "warning", "info", "debug"),
        "Emulator log level.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def project_root() -> Path:
    """The checkout bdlab runs from, or the per-user data folder for an installed bdlab."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "sim").is_dir():
        return here
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bdlab"


@dataclass(frozen=True)
class Settings:
    """Resolved settings plus where each value came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=project_root)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def state_path(self) -> Path:
        raw = self.values.get("state_dir") or ""
        return Path(raw).expanduser().resolve() if raw else (self.root / ".bdlab")

    @property
    def jars_path(self) -> Path:
        raw = self.values.get("jars_dir") or ""
        return Path(raw).expanduser() if raw else Path.home() / ".cache" / "bdlab" / "jars"

    def with_values(self, source: str = "command line", **changes: Any) -> Settings:
        """A copy with ``changes`` applied (parsed, validated), recorded as from ``source``."""
        values = dict(self.values)
        sources = dict(self.sources)
        for name, raw in changes.items():
            if raw is None:
                continue
            values[name] = _parse(_BY_NAME[name], raw, source)
            sources[name] = source
        return Settings(values, sources, self.root)

    def to_json(self) -> str:
        """The resolved settings for a child process (it must not resolve them again)."""
        import json

        return json.dumps(
            {"values": dict(self.values), "sources": dict(self.sources), "root": str(self.root)}
        )

    @classmethod
    def from_json(cls, text: str) -> Settings:
        import json

        data = json.loads(text)
        return cls(data["values"], data.get("sources", {}), Path(data["root"]))

    def listing(self) -> list[dict[str, Any]]:
        """Every setting with its value, source, environment variable and help (bdlab config)."""
        out = []
        for s in SETTINGS:
            value = self.values[s.name]
            if s.name == "state_dir":
                value = str(self.state_path)
            elif s.name == "jars_dir":
                value = str(self.jars_path)
            out.append(
                {
                    "name": s.name,
                    "value": value,
                    "source": self.sources.get(s.name, "default"),
                    "env": s.env_name(),
                    "toml": s.key(),
                    "default": s.default,
                    "help": s.help,
                }
            )
        return out


def config_file(environ: Mapping[str, str] | None = None, root: Path | None = None) -> Path | None:
    """``$BDLAB_CONFIG`` if set (it must exist), else ``<project root>/bdlab.toml`` if present."""
    env = os.environ if environ is None else environ
    explicit = env.get("BDLAB_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"BDLAB_CONFIG points to {path}, which does not exist.")
        return path.resolve()
    candidate = (root or project_root()) / "bdlab.toml"
    return candidate if candidate.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8 (TOML files are UTF-8 by definition)."
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
    return dict(data.get("bdlab", data))


def _parse(s: Setting, raw: Any, source: str) -> Any:
    try:
        return s.parse(raw)
    except (TypeError, ValueError) as exc:
        where = s.env_name() if source == s.env_name() else source
        raise SettingsError(
            f"setting {s.name}={raw!r} (from {where}) is invalid: {exc}. {s.help}"
        ) from None


def load(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> Settings:
    """Resolve every setting: CLI overrides > environment > bdlab.toml > default.

    Raises :class:`SettingsError` (one line naming the setting, its source and the fix) for
    an unreadable bdlab.toml, an unknown key or a value of the wrong type or range. Relative
    paths are made absolute here: against the working directory for flags and environment
    variables (what the user typed), against the file's folder for bdlab.toml.
    """
    env = os.environ if environ is None else environ
    base = root or project_root()
    file_values: dict[str, Any] = {}
    path = config_file(env, base)
    if path is not None:
        file_values = _read_toml(path)
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
        anchor: Path | None = None
        if s.key() in file_values:
            raw, source = file_values[s.key()], f"{path}"
            anchor = path.parent if path else None
        if s.env_name() in env and env[s.env_name()] != "":
            raw, source, anchor = env[s.env_name()], s.env_name(), Path.cwd()
        if overrides and overrides.get(s.name) is not None:
            raw, source, anchor = overrides[s.name], "command line", Path.cwd()
        if s.is_path and raw and anchor is not None:
            raw = str((anchor / Path(str(raw)).expanduser()).resolve())
        values[s.name] = _parse(s, raw, source)
        sources[s.name] = source
    return Settings(values, sources, base)


def describe(name: str) -> Setting:
    return _BY_NAME[name]
