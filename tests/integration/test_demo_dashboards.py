"""`bdlab demo --dashboard`'s last step: both dashboards start on the demo's data, answer on
their ports, and stop together on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim import profiles

pytestmark = pytest.mark.integration


def test_both_dashboards_start_and_stop_together(profile: profiles.Profile) -> None:
    code = (
        "import json, sys\n"
        "from sim import profiles\n"
        "from sim.cli.jobs import _open_dashboards\n"
        "prof = profiles.from_options(json.loads(sys.argv[1]))\n"
        "_open_dashboards(prof, 'no-such-demo-bucket')\n"
    )
    env_opts = json.dumps(profiles.to_options(profile))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, env_opts],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # BROWSER=true: the tab Streamlit opens is the `true` command (no desktop here)
        env=dict(os.environ, BROWSER="true"),
    )
    try:
        assert proc.stdout is not None
        urls = []
        for _ in range(3):
            line = proc.stdout.readline()
            urls += re.findall(r"http://127\.0\.0\.1:\d+/", line)
        assert len(urls) == 2, urls
        for url in urls:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "_stcore/health", timeout=1) as r:
                        assert r.read() == b"ok"
                        break
                except OSError:
                    assert time.monotonic() < deadline, f"{url} did not answer"
                    time.sleep(0.3)
        # the browser openers are gone, not left as zombies of this process
        assert _zombie_children(proc.pid) == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        for url in urls:  # both servers went with it
            with pytest.raises(OSError):
                urllib.request.urlopen(url + "_stcore/health", timeout=1)
    finally:
        if proc.poll() is None:
            # a failed assertion above: Ctrl-C, so that it stops its two servers too (a kill
            # would leave them running, orphaned)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _zombie_children(pid: int) -> list[int]:
    """Children of ``pid`` in state Z (exited, never waited for), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
