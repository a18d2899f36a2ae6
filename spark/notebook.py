"""One import for notebooks: ``from spark.notebook import spark, s3`` gives a SparkSession and an
S3 client for the active profile (starting the embedded emulator if it is not running)."""

from __future__ import annotations

from typing import Any

from sim import clients, runtime, settings


def _profile() -> Any:
    cfg = settings.load()
    prof = clients.active_profile()
    runtime.ensure_up(prof, cfg)
    return prof


def __getattr__(name: str) -> Any:
    if name == "spark":
        from spark.session import get_session

        return get_session(_profile(), app_name="bdlab-notebook")
    if name in ("s3", "emr", "kinesis", "glue"):
        return clients.client(name, _profile())
    if name == "profile":
        return _profile()
    raise AttributeError(name)
