"""Shared fixtures: one real emulator per test session (in-process, over HTTP), real boto3."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import clients, profiles, settings
from sim.emulator.server import ThreadedEmulator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# What a developer's machine may set for the jar cache; nothing else of theirs leaks in.
_KEPT_ENV = ("BDLAB_JARS_DIR", "BDLAB_MAVEN_REPO", "BDLAB_SPARK_CDS")


def settings_for(state_dir: Path, **overrides: Any) -> settings.Settings:
    """Settings for tests: defaults, the state in ``state_dir``, no bdlab.toml of the checkout."""
    env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV}
    return settings.load({"state_dir": str(state_dir), **overrides}, environ=env, root=state_dir)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    from spark.submit import LocalSparkSubmit

    state = tmp_path_factory.mktemp("emulator-state")
    emu = ThreadedEmulator(state, launcher=LocalSparkSubmit(settings_for(state))).start()
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def cfg(emulator: ThreadedEmulator) -> settings.Settings:
    """The settings of the test emulator (its port and state folder)."""
    return settings_for(emulator.gateway.state_dir, port=emulator.port)


@pytest.fixture(scope="session")
def profile(cfg: settings.Settings) -> profiles.Profile:
    return profiles.resolve(cfg, "embedded")


@pytest.fixture(scope="module")
def private_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[profiles.Profile]:
    """A profile on an emulator of this test module's own (its clock can be advanced without
    moving the session emulator's)."""
    emu = ThreadedEmulator(tmp_path_factory.mktemp("private-state")).start()
    yield profiles.resolve(settings_for(emu.gateway.state_dir, port=emu.port), "embedded")
    emu.stop()


@pytest.fixture(scope="session")
def aws(profile: profiles.Profile) -> Callable[[str], Any]:
    """aws("s3") -> a real boto3 client on the test emulator."""
    return lambda service: clients.client(service, profile)


@pytest.fixture()
def unique() -> Callable[[str], str]:
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def bucket(aws: Callable[[str], Any], unique: Callable[[str], str]) -> Iterator[str]:
    """A fresh bucket, emptied and deleted afterwards."""
    s3 = aws("s3")
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    s3.delete_bucket(Bucket=name)


def bdlab_env(state_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDLAB_")}
    env.update({"BDLAB_STATE_DIR": str(state_dir), "BDLAB_PORT": str(port), **extra})
    return env


def run_bdlab(
    args: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `bdlab` console script."""
    exe = Path(sys.executable).with_name("bdlab")
    return subprocess.run(
        [str(exe), *args],
        env=env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
