"""S3 benchmark: a null HTTP server (the ceiling), stock moto (the baseline) and bdlab's emulator,
measured side by side in one run with the same boto3 client code.

Workloads per target (each bounded in time and count):
  put-1k-t1 / put-1k-t4  PutObject of 1 KiB objects, distinct keys, 1 and 4 threads sharing one
                         client (obj/s over --duration seconds after a warm-up)
  put-64m / get-64m      one 64 MiB object from/to memory (MB/s = 10^6 bytes/s, best of --reps)
  up                     spawn -> first successful answer (ms, best of --reps fresh starts)

Run:  python scripts/bench/s3_bench.py [--duration 5] [--targets null,moto,bdlab] [--quick]
Writes bench-results/s3_bench.json (relative to the working directory) unless --json says where.

All targets run at once and every workload is interleaved across them (round-robin 1 s slices
of each PutObject cell, round-robin reps), because this machine is noisy.

Heavy imports (boto3, rich, sim.*) are deferred so that ``--serve-null`` (the null server this
script spawns from itself) starts as fast as possible.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PY = sys.executable
TARGETS = ("null", "moto", "bdlab")
BUCKET = "bdlab-bench"
BIG = 64 * 1024 * 1024
BIG_KEY = f"big/size-{BIG}"  # the null server reads the size hint from the key
EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
MAX_OPS_PER_CELL = 500_000  # a count bound on top of the time bound
MAX_ERRORS_PER_CELL = 50


# --------------------------------------------------------------------------- null server
def serve_null(host: str, port: int) -> None:
    """Answer 200 to everything, as cheaply as Python allows (asyncio Protocol + httptools)."""
    import asyncio
    import re

    import httptools

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # still a fine ceiling on the stock loop
        pass

    size_hint = re.compile(rb"size-(\d+)")
    buffers: dict[int, memoryview] = {}

    def body_of(size: int) -> memoryview:
        # bytes(n) is calloc'ed: zero pages cost nothing until first sent.
        buf = buffers.get(size)
        if buf is None:
            buf = buffers[size] = memoryview(bytes(size))
        return buf

    head_fmt = (
        "HTTP/1.1 200 OK\r\nETag: " + EMPTY_ETAG + "\r\nx-amz-request-id: null\r\n"
        "Content-Type: {ctype}\r\nContent-Length: {length}\r\n{conn}\r\n"
    )
    put_head = head_fmt.format(ctype="application/xml", length=0, conn="").encode()

    class Null(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            self.parser = httptools.HttpRequestParser(self)
            self.url = b""
            self.expect = False

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.t.close()

        # httptools callbacks
        def on_message_begin(self) -> None:
            self.url = b""
            self.expect = False

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            if name.lower() == b"expect" and value.lower() == b"100-continue":
                self.expect = True

        def on_headers_complete(self) -> None:
            # botocore sends PutObject with Expect: 100-continue and waits up to 1 s for this.
            if self.expect:
                self.t.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        def on_body(self, body: bytes) -> None:
            pass  # read and discarded

        def on_message_complete(self) -> None:
            keep = self.parser.should_keep_alive()
            method = self.parser.get_method()
            m = size_hint.search(self.url) if method in (b"GET", b"HEAD") else None
            if m is None:
                if keep:
                    self.t.write(put_head)
                else:
                    self.t.write(
                        head_fmt.format(
                            ctype="application/xml", length=0, conn="Connection: close\r\n"
                        ).encode()
                    )
            else:
                size = int(m.group(1))
                self.t.write(
                    head_fmt.format(
                        ctype="application/octet-stream",
                        length=size,
                        conn="" if keep else "Connection: close\r\n",
                    ).encode()
                )
                if method == b"GET":
                    self.t.write(body_of(size))
            if not keep:
                self.t.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        server = await loop.create_server(Null, host, port, backlog=1024, reuse_address=True)
        async with server:
            await stop

    asyncio.run(main())


# --------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One target server process, started and stopped by PID."""

    target: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path  # temp dir: log file, and bdlab's state dir
    started: float  # perf_counter() just before spawning

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 8) -> str:
        try:
            lines = (self.workdir / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n    ".join(lines[-n:])


def command(target: str, port: int, workdir: Path) -> list[str]:
    if target == "null":
        return [PY, str(Path(__file__).resolve()), "--serve-null", "--port", str(port)]
    if target == "moto":
        moto = Path(PY).with_name("moto_server")
        exe = [str(moto)] if moto.exists() else [PY, "-m", "moto.server"]
        return [*exe, "-H", "127.0.0.1", "-p", str(port)]
    if target == "bdlab":
        return [
            PY,
            "-m",
            "sim.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-dir",
            str(workdir / "state"),
        ]
    raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")


def spawn(target: str) -> Server:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bdlab-bench-{target}-"))
    log = open(workdir / "server.log", "wb")  # the child owns it from here
    cmd = command(target, port, workdir)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    return Server(target, port, proc, workdir, t0)


def probe(server: Server) -> bool:
    """One readiness probe: bdlab must say healthy; moto and null need any HTTP answer."""
    path = "/_bdlab/health" if server.target == "bdlab" else "/"
    try:
        with urllib.request.urlopen(server.endpoint + path, timeout=1.0) as r:
            data = r.read()
            if server.target == "bdlab":
                return r.status == 200 and json.loads(data).get("status") == "running"
            return True
    except urllib.error.HTTPError:
        return server.target != "bdlab"  # an HTTP error is still an answer
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_up(server: Server, timeout: float = 60.0) -> float:
    """Seconds from spawn to the first successful answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe(server):
            return time.perf_counter() - server.started
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.target} exited with {server.proc.returncode}:\n    " + server.log_tail()
            )
        time.sleep(0.005)
    raise RuntimeError(
        f"{server.target} did not answer within {timeout:.0f} s:\n    " + server.log_tail()
    )


def stop(server: Server, timeout: float = 10.0) -> None:
    """Terminate by PID, kill after ``timeout``, delete the temp dir (bdlab state included)."""
    proc = server.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    shutil.rmtree(server.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- clients
def s3_client(port: int) -> Any:
    """A boto3 S3 client for the embedded profile on ``port``, from the one client factory."""
    from sim import clients, profiles, settings

    profile = profiles.resolve(
        settings.load({"port": port, "host": "127.0.0.1", "region": "us-east-1"}), "embedded"
    )
    return clients.client("s3", profile)


# --------------------------------------------------------------------------- workloads
# The targets run side by side and every workload is interleaved across them (round-robin
# slices and reps), so a burst of noise on this shared machine hits all targets alike.
SLICE_S = 1.0  # length of one round-robin slice of a PutObject cell


@dataclass
class Cell:
    value: float  # the headline number
    unit: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class PutTally:
    ops: int = 0
    window: float = 0.0
    lat: list[float] = field(default_factory=list)
    slice_rates: list[float] = field(default_factory=list)
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def cell(self, threads: int, warmup: float) -> Cell:
        lats = sorted(self.lat)

        def pct(p: float) -> float | None:
            return round(lats[min(len(lats) - 1, int(p * len(lats)))] * 1000, 3) if lats else None

        return Cell(
            self.ops / self.window if self.window > 0 else 0.0,
            "obj/s",
            {
                "threads": threads,
                "ops": self.ops,
                "window_s": round(self.window, 3),
                "warmup_s": warmup,
                "slice_rates": [round(r, 1) for r in self.slice_rates],
                "p50_ms": pct(0.50),
                "p99_ms": pct(0.99),
                "retries": self.retries,
                "errors": len(self.errors),
                "first_errors": self.errors[:3],
            },
        )


def put_slice(
    client: Any, threads: int, duration: float, tag: str, tally: PutTally | None, max_ops: int
) -> None:
    """``threads`` threads sharing ``client`` PUT 1 KiB objects for ``duration`` seconds.

    Only requests that start and finish inside the window count; ``tally=None`` is a warm-up.
    """
    body = os.urandom(1024)
    lock = threading.Lock()
    t0 = time.perf_counter()
    until = t0 + duration
    counted = [0] * threads
    lat: list[list[float]] = [[] for _ in range(threads)]
    retries = [0]
    errors: list[str] = []
    per_thread = max(1, max_ops // threads)

    def work(i: int) -> None:
        n = 0
        while n < per_thread and len(errors) < MAX_ERRORS_PER_CELL:
            start = time.perf_counter()
            if start >= until:
                return
            key = f"{tag}/t{i}/{n:08d}"
            n += 1
            try:
                r = client.put_object(Bucket=BUCKET, Key=key, Body=body)
            except Exception as exc:  # counted and reported; the cell goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            end = time.perf_counter()
            if r["ResponseMetadata"].get("RetryAttempts"):
                with lock:
                    retries[0] += r["ResponseMetadata"]["RetryAttempts"]
            if end <= until:
                counted[i] += 1
                lat[i].append(end - start)

    pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(duration + 130)  # a stuck request ends at botocore's read timeout
    if tally is None:
        return
    window = min(time.perf_counter(), until) - t0
    ops = sum(counted)
    tally.ops += ops
    tally.window += window
    tally.slice_rates.append(ops / window if window > 0 else 0.0)
    tally.lat.extend(x for xs in lat for x in xs)
    tally.retries += retries[0]
    tally.errors.extend(errors)


def put_small(
    clients: dict[str, Any], threads: int, duration: float, warmup: float, log: Any
) -> dict[str, Cell]:
    """One PutObject cell per target, run as interleaved slices of about ``SLICE_S``."""
    name = f"put-1k-t{threads}"
    for client in clients.values():
        put_slice(client, threads, warmup, f"{name}/warm", None, MAX_OPS_PER_CELL)
    slices = max(1, round(duration / SLICE_S))
    tallies = {t: PutTally() for t in clients}
    for s in range(slices):
        for target, client in clients.items():
            budget = MAX_OPS_PER_CELL - tallies[target].ops
            if budget > 0:
                put_slice(
                    client, threads, duration / slices, f"{name}/s{s}", tallies[target], budget
                )
    cells = {t: tallies[t].cell(threads, warmup) for t in clients}
    for t, c in cells.items():
        log(
            f"  {t:5} {name}: {c.value:8,.0f} obj/s  p50 {c.raw['p50_ms']} ms  "
            f"p99 {c.raw['p99_ms']} ms err {c.raw['errors']} retry {c.raw['retries']}"
        )
    return cells


def big_object(clients: dict[str, Any], reps: int, log: Any) -> dict[str, tuple[Cell, Cell]]:
    """Put then get one 64 MiB object from memory, ``reps`` rounds over targets; best of each."""
    data = os.urandom(BIG)
    puts: dict[str, list[float]] = {t: [] for t in clients}
    gets: dict[str, list[float]] = {t: [] for t in clients}
    notes: dict[str, list[str]] = {t: [] for t in clients}
    retries = dict.fromkeys(clients, 0)
    for _ in range(reps):
        for target, client in clients.items():
            t = time.perf_counter()
            r = client.put_object(Bucket=BUCKET, Key=BIG_KEY, Body=data)
            puts[target].append(time.perf_counter() - t)
            retries[target] += r["ResponseMetadata"].get("RetryAttempts", 0)
            t = time.perf_counter()
            r = client.get_object(Bucket=BUCKET, Key=BIG_KEY)
            got = r["Body"].read()
            gets[target].append(time.perf_counter() - t)
            retries[target] += r["ResponseMetadata"].get("RetryAttempts", 0)
            if len(got) != BIG:
                notes[target].append(f"get returned {len(got)} bytes, expected {BIG}")
            elif target != "null" and got != data:
                notes[target].append("get returned different bytes than were put")
            del got
    out: dict[str, tuple[Cell, Cell]] = {}
    for target in clients:
        raw = {"bytes": BIG, "reps": reps, "retries": retries[target], "notes": notes[target]}
        out[target] = (
            Cell(
                BIG / min(puts[target]) / 1e6,
                "MB/s",
                {**raw, "seconds": [round(x, 4) for x in puts[target]]},
            ),
            Cell(
                BIG / min(gets[target]) / 1e6,
                "MB/s",
                {**raw, "seconds": [round(x, 4) for x in gets[target]]},
            ),
        )
        log(
            f"  {target:5} 64 MiB: put {out[target][0].value:7,.1f} MB/s  "
            f"get {out[target][1].value:7,.1f} MB/s  {'; '.join(notes[target])}"
        )
    return out


def measure_up(targets: list[str], reps: int, log: Any) -> dict[str, Cell]:
    """Fresh starts, ``reps`` rounds over targets (the long-running servers are stopped)."""
    times: dict[str, list[float]] = {t: [] for t in targets}
    for _ in range(reps):
        for target in targets:
            server = spawn(target)
            try:
                times[target].append(wait_up(server))
            finally:
                stop(server)
    cells = {
        t: Cell(min(v) * 1000, "ms", {"seconds": [round(x, 4) for x in v]})
        for t, v in times.items()
    }
    for t, c in cells.items():
        log(f"  {t:5} up: {c.value:6,.0f} ms  (all: {c.raw['seconds']})")
    return cells


def run(
    targets: list[str], args: argparse.Namespace, log: Any, failures: dict[str, str]
) -> dict[str, dict[str, Cell]]:
    """Start every target, run each workload interleaved across them, stop them, then 'up'."""
    servers: dict[str, Server] = {}
    clients: dict[str, Any] = {}
    results: dict[str, dict[str, Cell]] = {t: {} for t in targets}
    try:
        for target in targets:
            try:
                server = servers[target] = spawn(target)
                took = wait_up(server)
                client = s3_client(server.port)
                client.create_bucket(Bucket=BUCKET)
                clients[target] = client
                log(
                    f"[bold]{target}[/] up on :{server.port} in {took * 1000:.0f} ms "
                    f"(pid {server.proc.pid})"
                )
            except Exception as exc:
                failures[target] = f"{type(exc).__name__}: {exc}"
                log(f"[red]{target} failed to start:[/] {failures[target]}")
        for threads in (1, 4):
            for t, c in put_small(clients, threads, args.duration, args.warmup, log).items():
                results[t][f"put-1k-t{threads}"] = c
        for t, (put, get) in big_object(clients, args.reps, log).items():
            results[t]["put-64m"], results[t]["get-64m"] = put, get
    finally:
        for server in servers.values():
            stop(server)
    for t, c in measure_up([t for t in targets if t in clients], args.reps, log).items():
        results[t]["up"] = c
    return {t: r for t, r in results.items() if r}


# --------------------------------------------------------------------------- output
ROWS = (
    ("put-1k-t1", "put 1KiB x1 thr", "obj/s", True),
    ("put-1k-t4", "put 1KiB x4 thr", "obj/s", True),
    ("put-64m", "put 64MiB", "MB/s", True),
    ("get-64m", "get 64MiB", "MB/s", True),
    ("up", "up (spawn->answer)", "ms", False),
)


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def render(results: dict[str, dict[str, Cell]], console: Any) -> None:
    from rich.table import Table

    table = Table(
        title="S3 bench (up: lower is better, rest: higher is better)",
        caption="64 MiB and up: best of reps; MB = 10^6 bytes",
    )
    table.add_column("workload")
    table.add_column("unit")
    for t in TARGETS:
        table.add_column(t, justify="right")
    table.add_column("bdlab %null", justify="right")
    table.add_column("bdlab/moto", justify="right")
    for key, label, unit, _higher in ROWS:
        vals = {
            t: (results[t][key].value if t in results and key in results[t] else None)
            for t in TARGETS
        }
        b, n, m = vals["bdlab"], vals["null"], vals["moto"]
        pct = f"{b / n * 100:.0f}%" if b is not None and n else "-"
        ratio = f"{b / m:.2f}x" if b is not None and m else "-"
        table.add_row(label, unit, *(fmt(vals[t]) for t in TARGETS), pct, ratio)
    console.print(table)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import boto3
    import botocore

    versions = {"boto3": boto3.__version__, "botocore": botocore.__version__}
    with contextlib.suppress(Exception):
        import moto

        versions["moto"] = moto.__version__
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "loadavg_start": os.getloadavg(),
        "versions": versions,
    }


# --------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds per PutObject cell after warm-up (default 5; 1 with --quick)",
    )
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 1)")
    p.add_argument("--reps", type=int, default=None, help="reps for 64 MiB and up (default 3)")
    p.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="comma-separated subset of null,moto,bdlab (in this order)",
    )
    p.add_argument("--json", default="bench-results/s3_bench.json", help="where to write JSON")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s cells, 1 rep")
    p.add_argument("--serve-null", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.duration is None:
        a.duration = 1.0 if a.quick else 5.0
    if a.warmup is None:
        a.warmup = 0.3 if a.quick else 1.0
    if a.reps is None:
        a.reps = 1 if a.quick else 3
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    bad = [t for t in a.targets if t not in TARGETS]
    if bad or not a.targets:
        p.error(
            f"--targets: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(TARGETS)}"
        )
    if a.duration <= 0 or a.reps < 1:
        p.error("--duration must be > 0 and --reps >= 1")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.serve_null:
        serve_null("127.0.0.1", args.port)
        return 0

    from rich.console import Console

    console = Console()
    started = time.time()
    results: dict[str, dict[str, Cell]] = {}
    failures: dict[str, str] = {}
    try:
        results = run([t for t in TARGETS if t in args.targets], args, console.print, failures)
    except Exception as exc:
        failures["run"] = f"{type(exc).__name__}: {exc}"
        console.print(f"[red]benchmark failed:[/] {failures['run']}")
    render(results, console)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "s3_bench",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "machine": machine(),
        "config": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "reps": args.reps,
            "targets": args.targets,
            "quick": args.quick,
            "big_bytes": BIG,
            "small_bytes": 1024,
            "mb": 1_000_000,
        },
        "results": {
            t: {k: {"value": round(c.value, 3), "unit": c.unit, **c.raw} for k, c in cells.items()}
            for t, cells in results.items()
        },
        "failures": failures,
    }
    if "bdlab" in results:
        ref = {"null": "bdlab_over_null", "moto": "bdlab_over_moto"}
        doc["comparison"] = {
            name: {
                k: round(results["bdlab"][k].value / results[base][k].value, 4)
                for k, *_ in ROWS
                if results[base].get(k) and results[base][k].value
            }
            for base, name in ref.items()
            if base in results
        }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
