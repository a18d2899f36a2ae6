"""Whole-stack memory during the demo (issue 16's measure: emulator + Spark job + Streamlit
<= 3 GiB): a fresh emulator on its own state folder and port, the BI dashboard and the
monitoring console started on it, then `bdlab demo` (its Spark job included); every process of
the stack is sampled every 0.5 s and the peak of their summed RSS is reported. The baseline,
in the same run, is the demo alone on a second fresh emulator (no dashboards).

Run:  python scripts/bench/stack_rss.py [--rows 200000]
RSS sums count shared pages once per process (an upper bound of what the stack holds).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
BDLAB = Path(sys.executable).with_name("bdlab")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(state: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDLAB_")}
    env.update({"BDLAB_STATE_DIR": str(state), "BDLAB_PORT": str(port), "BROWSER": "true"})
    return env


class Sampler:
    """Peak summed RSS (MiB) of the processes ``roots()`` returns and their children, with
    the per-kind peaks (emulator, java, streamlit, other)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.peak = 0.0
        self.kinds: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _procs(self) -> list[psutil.Process]:
        out: dict[int, psutil.Process] = {}
        for pid in list(self.roots):
            try:
                p = psutil.Process(pid)
                out[p.pid] = p
                for c in p.children(recursive=True):
                    out[c.pid] = c
            except psutil.NoSuchProcess:
                continue
        return list(out.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0.0
            kinds: dict[str, float] = {}
            for p in self._procs():
                try:
                    rss = p.memory_info().rss / 2**20
                    cmd = " ".join(p.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                kind = (
                    "emulator" if "--bdlab-emulator" in cmd or "sim.emulator" in cmd
                    else "java (Spark)" if "java" in p.name()
                    else "streamlit" if "streamlit" in cmd
                    else "other"
                )  # fmt: skip
                kinds[kind] = kinds.get(kind, 0.0) + rss
                total += rss
            self.peak = max(self.peak, total)
            for k, v in kinds.items():
                self.kinds[k] = max(self.kinds.get(k, 0.0), v)
            self._stop.wait(0.5)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def emulator_pid(state: Path) -> int:
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "--bdlab-emulator" in cmd and str(state) in cmd:
            return int(p.info["pid"])
    raise RuntimeError(f"no emulator found for {state}")


def one_run(rows: int, dashboards: bool) -> tuple[float, dict[str, float], float]:
    with tempfile.TemporaryDirectory(prefix="stack-rss-") as tmp:
        state, port = Path(tmp) / "state", free_port()
        env = env_for(state, port)
        subprocess.run([str(BDLAB), "up"], env=env, check=True, capture_output=True)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            roots = [emulator_pid(state)]
            urls = []
            if dashboards:
                for extra in ([], ["--monitoring"]):
                    web = free_port()
                    cmd = [str(BDLAB), "dashboard", "--no-browser", "--port", str(web), *extra]
                    p = subprocess.Popen(
                        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    procs.append(p)
                    roots.append(p.pid)
                    urls.append(f"http://127.0.0.1:{web}/")
                time.sleep(5)  # both servers up
            t0 = time.perf_counter()
            demo = subprocess.Popen(
                [str(BDLAB), "demo", "--rows", str(rows), "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with Sampler([*roots, demo.pid]) as s, Viewers(urls) as v:
                demo.wait()
                v.reload()  # the pages again on the demo's data: SPICE imports it
            return s.peak, s.kinds, time.perf_counter() - t0
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
            subprocess.run([str(BDLAB), "down"], env=env, capture_output=True)


class Viewers:
    """Headless Chromium (Debian's; not counted in the stack) with each URL open, so that
    the Streamlit scripts run as they do for a user; nothing when there is no browser."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.pw: Any = None
        self.browser: Any = None
        self.pages: list[Any] = []

    def __enter__(self) -> Viewers:
        if not self.urls or not Path("/usr/bin/chromium").exists():
            return self
        from playwright.sync_api import sync_playwright

        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        for url in self.urls:
            page = self.browser.new_page()
            page.goto(url)
            page.wait_for_timeout(3000)
            self.pages.append(page)
        return self

    def reload(self) -> None:
        for page in self.pages:
            page.reload()
            page.wait_for_timeout(5000)

    def __exit__(self, *exc: object) -> None:
        if self.browser is not None:
            self.browser.close()
            self.pw.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    a = ap.parse_args()
    base_peak, base_kinds, base_s = one_run(a.rows, dashboards=False)
    peak, kinds, secs = one_run(a.rows, dashboards=True)
    print(f"{'stack':<32} {'peak RSS MiB':>12} {'demo s':>8}")
    print(f"{'demo alone (baseline)':<32} {base_peak:>12,.0f} {base_s:>8.1f}")
    print(f"{'demo + BI + monitoring console':<32} {peak:>12,.0f} {secs:>8.1f}")
    for k, v in sorted(kinds.items()):
        print(f"  peak of {k:<22} {v:>12,.0f}")
    print(f"goal: <= 3,072 MiB -> {'met' if peak <= 3072 else 'NOT met'}")


if __name__ == "__main__":
    main()
