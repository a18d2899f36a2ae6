"""Fault injection as settings: knobs that default to off, applied at the provider boundary.

Values are scoped: a knob set for ``"*"`` applies to every service unless a service has its own.
The table is saved in the state folder so a demo's faults survive a restart (and show in
``bdlab status``); ``reset`` clears them.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Knob:
    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str


def _prob(v: Any) -> float:
    try:
        p = float(v)
    except (TypeError, ValueError):
        raise ValueError("must be a number between 0 and 1 (e.g. 0.2)") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError("must be between 0 and 1")
    return p


def _nonneg_int(v: Any) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise ValueError("must be a whole number >= 0 (e.g. 250)") from None
    if n < 0:
        raise ValueError("must be >= 0")
    return n


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError("must be a whole number (e.g. 7)") from None


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if str(v).lower() in {"1", "true", "yes", "on"}:
        return True
    if str(v).lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


KNOBS: tuple[Knob, ...] = (
    Knob(
        "throttle_rate",
        0.0,
        _prob,
        "probability a request is throttled (S3 503 SlowDown, others ThrottlingException)",
    ),
    Knob("error_rate", 0.0, _prob, "probability a request fails with a 500 InternalError"),
    Knob("latency_ms", 0, _nonneg_int, "extra latency added before each request is served"),
    Knob("outage", False, _bool, "the service answers 503 ServiceUnavailable to everything"),
    Knob(
        "hot_shard",
        "",
        str,
        "Kinesis: a shard id (e.g. shardId-000000000000) whose writes are throttled as if "
        "other producers filled it; every stream's shard of that id",
    ),
    Knob("hot_shard_rate", 0.9, _prob, "Kinesis: share of the hot shard's records throttled"),
    Knob("seed", 0, _int, "seed of the fault dice, for repeatable runs"),
)
_KNOBS = {k.name: k for k in KNOBS}


class FaultError(ValueError):
    pass


@dataclass(frozen=True)
class Decision:
    """What the fault layer decided for one request."""

    kind: str | None  # None | "throttle" | "error" | "outage"
    latency_ms: int


class Faults:
    """The live fault table of one emulator."""

    def __init__(self, state_file: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._state_file = state_file
        self._values: dict[str, dict[str, Any]] = {}
        if state_file is not None and state_file.exists():
            self._values = json.loads(state_file.read_text())
        self._rng = random.Random(self.get("seed"))

    def get(self, name: str, service: str = "*") -> Any:
        scoped = self._values.get(service, {})
        if name in scoped:
            return scoped[name]
        return self._values.get("*", {}).get(name, _KNOBS[name].default)

    def set(self, service: str, **values: Any) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            knob = _KNOBS.get(name)
            if knob is None:
                raise FaultError(f"unknown fault knob {name!r}; known: {', '.join(_KNOBS)}")
            try:
                parsed[name] = knob.parse(raw)
            except (TypeError, ValueError) as exc:
                raise FaultError(f"fault {name}={raw!r}: {name} {exc}") from exc
        with self._lock:
            self._values.setdefault(service or "*", {}).update(parsed)
            if "seed" in parsed:
                self._rng = random.Random(parsed["seed"])
            self._save()
        return self.table()

    def reset(self) -> None:
        with self._lock:
            self._values = {}
            self._rng = random.Random(0)
            self._save()

    def table(self) -> dict[str, Any]:
        return {
            "knobs": [{"name": k.name, "default": k.default, "help": k.help} for k in KNOBS],
            "values": json.loads(json.dumps(self._values)),
        }

    def active(self) -> bool:
        return any(
            v != _KNOBS[k].default and k != "seed"
            for scoped in self._values.values()
            for k, v in scoped.items()
        )

    def decide(self, service: str) -> Decision:
        """Roll the dice for one request to ``service``."""
        if not self._values:
            return Decision(None, 0)
        latency = int(self.get("latency_ms", service))
        if self.get("outage", service):
            return Decision("outage", latency)
        with self._lock:
            roll = self._rng.random()
        throttle = float(self.get("throttle_rate", service))
        error = float(self.get("error_rate", service))
        if roll < throttle:
            return Decision("throttle", latency)
        if roll < throttle + error:
            return Decision("error", latency)
        return Decision(None, latency)

    def _save(self) -> None:
        if self._state_file is None:
            return
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._values, indent=1))
        tmp.replace(self._state_file)
