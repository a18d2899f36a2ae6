"""One import for notebooks: ``from spark.notebook import spark, s3`` gives a SparkSession and an
S3 client for the active profile (starting the embedded emulator if it is not running).

A public entry point: settings are resolved here, once per kernel, and handed down.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sim import profiles, runtime, settings


@lru_cache(maxsize=1)
def _resolved() -> tuple[settings.Settings, profiles.Profile]:
    cfg = runtime.adopt_running_port(settings.load())
    prof = profiles.resolve(cfg)
    runtime.ensure_up(prof, cfg)
    return cfg, prof


def __getattr__(name: str) -> Any:
    if name == "spark":
        from spark.session import get_session

        cfg, prof = _resolved()
        return get_session(prof, cfg, app_name="bdlab-notebook")
    if name in ("s3", "emr", "kinesis", "glue"):
        from sim import clients

        return clients.client(name, _resolved()[1])
    if name == "profile":
        return _resolved()[1]
    if name == "settings":
        return _resolved()[0]
    raise AttributeError(name)
