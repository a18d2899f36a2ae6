"""The course notebooks run headless against the emulator; `bdlab notebook` serves them."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, bdlab_env, free_port, run_bdlab

pytestmark = pytest.mark.integration


@pytest.mark.spark
@pytest.mark.parametrize(
    "name",
    [
        "1.3.3_dataframe_api.ipynb",
        # ~55 s on 2 cores: in the slow set so the default suite stays near 15 minutes
        pytest.param("1.3.4_large_batch.ipynb", marks=pytest.mark.slow),
    ],
)
def test_notebook_runs_headless(
    name: str, profile: Any, cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BDLAB_PORT", str(cfg.port))
    monkeypatch.setenv("BDLAB_STATE_DIR", str(cfg.state_path))
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []


def test_bdlab_notebook_serves_jupyterlab(tmp_path: Path) -> None:
    import subprocess
    import sys

    port = free_port()
    env = bdlab_env(tmp_path / "state", free_port())
    exe = Path(sys.executable).with_name("bdlab")
    proc = subprocess.Popen(
        [str(exe), "notebook", "--port", str(port), "--token", "t0k"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/contents?token=t0k", timeout=2
                ) as r:
                    names = [c["name"] for c in json.loads(r.read())["content"]]
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, (
                    "JupyterLab did not start"
                )
                time.sleep(0.5)
        assert "1.3.3_dataframe_api.ipynb" in names
    finally:
        proc.terminate()
        proc.wait(30)


def test_bdlab_notebook_port_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run_bdlab(
            ["notebook", "--port", str(s.getsockname()[1])],
            bdlab_env(tmp_path / "state", free_port()),
            timeout=60,
        )
    assert r.returncode == 2 and "in use" in r.stderr
