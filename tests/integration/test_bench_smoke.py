"""Smoke run of scripts/bench/s3_bench.py: it starts its own servers, exits 0 and writes JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "s3_bench.py"


@pytest.mark.slow
@pytest.mark.integration
def test_s3_bench_quick_writes_positive_numbers(tmp_path: Path) -> None:
    out = tmp_path / "s3_bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--targets", "null,bdlab", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["machine"]["nproc"] >= 1
    assert set(doc["results"]) == {"null", "bdlab"}
    for target, cells in doc["results"].items():
        for name in ("put-1k-t1", "put-1k-t4", "put-64m", "get-64m", "up"):
            assert cells[name]["value"] > 0, (target, name, cells[name])
        assert cells["put-1k-t1"]["errors"] == 0, (target, cells["put-1k-t1"])
        assert not cells["get-64m"]["notes"], (target, cells["get-64m"])
