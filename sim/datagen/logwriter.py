"""Live web-server access logs: append generated lines to a file at a set rate and rotate the
file as logrotate does. The log-shipping lab tails these files with ``sim.logship``.

Formats (``LOG_FORMATS``), one request per line, each line ending in ``\\n``:

- ``combined``: Apache's combined log format, as ``weblogs.to_common_log_format`` renders it
  (``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"``);
- ``common``: Apache's common log format, the first seven fields of ``combined``;
- ``nginx``: the ``main`` format of the stock nginx.conf (combined plus
  ``"$http_x_forwarded_for"``; nginx logs ``0``, not ``-``, for an empty body and escapes a
  double quote as ``\\x22``);
- ``json``: one JSON object per line with the columns of ``weblogs.SCHEMA`` (``ts`` in
  ISO-8601 UTC with microseconds).

Rotation is *rename* rotation, logrotate's default ``create`` mode: ``access.log.{k}`` becomes
``access.log.{k+1}`` (the one beyond ``keep`` is deleted), ``access.log`` becomes
``access.log.1`` and a new, empty ``access.log`` is created. ``copytruncate`` is not offered:
it loses whatever is written between the copy and the truncate, which no tailer can recover.
A server keeps writing to the renamed file until it reopens its log (logrotate's
``postrotate``: ``nginx -s reopen``); ``rotate(reopen=False)`` plus ``reopen()`` reproduces
that window.

Deterministic: line ``i`` depends only on ``(seed, fmt, start, rate, i)``. Its timestamp is
``start + i / rate`` seconds, never the wall clock, and rows come from fixed blocks of
``BLOCK`` rows (block ``k`` generated with ``writer.chunk_seed(seed, k)``), so how the lines
are cut into ``write()`` calls changes nothing. Tests call ``write``/``rotate`` and never
sleep; ``run()`` paces the same lines on the wall clock for a demo.

Run ``python -m sim.datagen.logwriter --help`` for the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.datagen import weblogs
from sim.datagen.clickstream import TIMESTAMP, epoch_us, time_text
from sim.datagen.writer import chunk_seed, ndjson

LOG_FORMATS = ("combined", "common", "nginx", "json")
BLOCK = 4096  # rows generated at a time; part of the determinism contract
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


def render(table: pa.Table, fmt: str = "combined") -> bytes:
    """The rows of ``table`` (``weblogs.SCHEMA``) as log lines in ``fmt``, each ending in
    ``\\n``, concatenated. Raises ValueError for an unknown format."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    if table.num_rows == 0:
        return b""
    if fmt == "json":
        table = table.set_column(0, "ts", time_text(table["ts"], "iso"))
        return b"".join(buf.to_pybytes() for buf in ndjson(table))
    if fmt == "combined":
        lines = weblogs.to_common_log_format(table)
    elif fmt == "common":
        lines = _common(table)
    else:
        lines = _nginx(table)
    return _joined(lines)


def _text(table: pa.Table, name: str, quote: str) -> pa.Array:
    col = table[name].combine_chunks()
    return pc.replace_substring(col, '"', quote)


def _common(table: pa.Table) -> pa.Array:
    nbytes = table["bytes"].combine_chunks()
    return pc.binary_join_element_wise(
        table["client_ip"].combine_chunks(),
        " - - [",
        time_text(table["ts"], "clf"),
        '] "',
        _text(table, "method", '\\"'),
        " ",
        _text(table, "path", '\\"'),
        ' HTTP/1.1" ',
        pc.cast(table["status"].combine_chunks(), pa.string()),
        " ",
        pc.if_else(pc.equal(nbytes, 0), "-", pc.cast(nbytes, pa.string())),
        "",
    )


def _nginx(table: pa.Table) -> pa.Array:
    esc = "\\x22"  # nginx's escaping of a double quote in a logged variable
    return pc.binary_join_element_wise(
        table["client_ip"].combine_chunks(),
        " - - [",
        time_text(table["ts"], "clf"),
        '] "',
        _text(table, "method", esc),
        " ",
        _text(table, "path", esc),
        ' HTTP/1.1" ',
        pc.cast(table["status"].combine_chunks(), pa.string()),
        " ",
        pc.cast(table["bytes"].combine_chunks(), pa.string()),
        ' "',
        _text(table, "referrer", esc),
        '" "',
        _text(table, "user_agent", esc),
        '" "-"',
        "",
    )


def _joined(lines: pa.Array) -> bytes:
    """``lines`` each followed by a newline, as one bytes object (no per-row Python)."""
    with_nl = pc.binary_join_element_wise(lines, "\n", "")
    if isinstance(with_nl, pa.ChunkedArray):
        with_nl = with_nl.combine_chunks()
    offsets = np.frombuffer(with_nl.buffers()[1], np.int32, len(with_nl) + 1, with_nl.offset * 4)
    return with_nl.buffers()[2].to_pybytes()[int(offsets[0]) : int(offsets[-1])]


class LogWriter:
    """Appends generated access-log lines to ``path`` and rotates it like logrotate.

    ``rate`` (lines per second) sets the timeline the lines are stamped with and the pace of
    ``run()``. ``keep`` rotated files are kept (``path.1`` newest ... ``path.{keep}``
    oldest). ``max_bytes``, when set, rotates before a line that would take the file past
    that size (logrotate's ``size``, checked at every line instead of by cron). ``clients``
    and ``paths`` size the synthetic population (see ``weblogs.generate``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: str = "combined",
        seed: int = 42,
        rate: float = 100.0,
        start: datetime = DEFAULT_START,
        keep: int = 5,
        max_bytes: int | None = None,
        clients: int = 2_000,
        paths: int = 300,
    ) -> None:
        if fmt not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
        if rate <= 0 or keep < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError("rate must be > 0, keep >= 1 and max_bytes >= 1")
        self.path = Path(path)
        self.fmt = fmt
        self.seed = seed
        self.rate = rate
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.keep = keep
        self.max_bytes = max_bytes
        self.clients = clients
        self.paths = paths
        self.lines_written = 0  # complete lines, over all files
        self.rotations = 0
        self._next = 0  # index of the next line to render
        self._carry = b""  # the rest of a line write_partial() began
        self._block: tuple[int, pa.Table] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size  # of the file the descriptor writes to

    # ------------------------------------------------------------------ content
    def _rows(self, block: int) -> pa.Table:
        if self._block is None or self._block[0] != block:
            table = weblogs.generate(
                BLOCK,
                self.start,
                1,
                seed=chunk_seed(self.seed, block),
                dim_seed=self.seed,
                clients=self.clients,
                paths=self.paths,
            )
            self._block = (block, table)
        return self._block[1]

    def lines(self, first: int, n: int) -> bytes:
        """Lines ``first`` .. ``first + n - 1`` as they are (or would be) written."""
        parts = []
        at, end = first, first + n
        while at < end:
            block, row = divmod(at, BLOCK)
            take = min(BLOCK - row, end - at)
            parts.append(self._rows(block).slice(row, take))
            at += take
        if not parts:
            return b""
        table = pa.concat_tables(parts)
        us = epoch_us(self.start) + np.round(np.arange(first, end) * 1e6 / self.rate)
        table = table.set_column(0, "ts", pa.array(us.astype(np.int64), TIMESTAMP))
        return render(table, self.fmt)

    # ------------------------------------------------------------------ writing
    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)

    def write(self, n: int) -> int:
        """Append ``n`` complete lines (first finishing a line ``write_partial`` began);
        returns the bytes appended. Rotates on ``max_bytes`` between lines."""
        if n < 0:
            raise ValueError("n must be >= 0")
        written = 0
        if self._carry:
            carry, self._carry = self._carry, b""
            self._append(carry)
            self.lines_written += 1
            written += len(carry)
        data = self.lines(self._next, n)
        self._next += n
        self.lines_written += n
        if self.max_bytes is None:
            self._append(data)
            return written + len(data)
        at = 0
        while at < len(data):
            end = at
            while end < len(data):  # as many whole lines as still fit
                nl = data.index(b"\n", end) + 1
                if self._size + nl - at > self.max_bytes and (end > at or self._size > 0):
                    break
                end = nl
            if end > at:
                self._append(data[at:end])
                written += end - at
                at = end
            if at < len(data):
                self.rotate()
        return written

    def write_partial(self) -> int:
        """Append the first half of the next line, without its newline, as a server
        caught mid-write leaves it; the next ``write`` (or ``rotate``) finishes the line.
        Returns the bytes appended."""
        if self._carry:
            return 0
        line = self.lines(self._next, 1)
        self._next += 1
        half = max(1, len(line) // 2)
        self._append(line[:half])
        self._carry = line[half:]
        return half

    # ------------------------------------------------------------------ rotation
    def rotated(self, i: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{i}")

    def files(self) -> list[Path]:
        """The log's files that exist, oldest first (``path.{keep}`` ... ``path.1``, ``path``)."""
        out = [self.rotated(i) for i in range(self.keep, 0, -1) if self.rotated(i).exists()]
        return out + ([self.path] if self.path.exists() else [])

    def rotate(self, reopen: bool = True) -> None:
        """Rename rotation: ``path.{k}`` -> ``path.{k+1}`` (dropping the one beyond ``keep``),
        ``path`` -> ``path.1``, then a new empty ``path``. A line begun by ``write_partial``
        is finished first, in the file it began in. With ``reopen=False`` later writes still
        go to the renamed file until ``reopen()``, like a server not yet told to reopen."""
        if self._carry:
            carry, self._carry = self._carry, b""
            self._append(carry)
            self.lines_written += 1
        oldest = self.rotated(self.keep)
        if oldest.exists():
            oldest.unlink()
        for i in range(self.keep - 1, 0, -1):
            if self.rotated(i).exists():
                os.replace(self.rotated(i), self.rotated(i + 1))
        if self.path.exists():
            os.replace(self.path, self.rotated(1))
        self.rotations += 1
        if reopen:
            self.reopen()

    def reopen(self) -> None:
        """Close the current descriptor and open (creating) ``path`` again."""
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ pacing
    def run(
        self,
        duration_s: float,
        rate: float | None = None,
        *,
        rotate_every_s: float | None = None,
        tick_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Write ``rate`` lines per second (default: the writer's ``rate``) for
        ``duration_s`` seconds, in ``tick_s`` steps, rotating every ``rotate_every_s``
        seconds when given. Returns the lines written. Lines are stamped on the writer's
        own timeline (``start + i / self.rate``), so pass the same rate for stamps that
        match the pace."""
        pace = self.rate if rate is None else rate
        if pace <= 0 or duration_s < 0 or tick_s <= 0:
            raise ValueError("rate and tick_s must be > 0, duration_s >= 0")
        t0 = clock()
        done = 0
        next_rotation = t0 + rotate_every_s if rotate_every_s else None
        while True:
            elapsed = min(clock() - t0, duration_s)
            due = int(pace * elapsed)
            if due > done:
                self.write(due - done)
                done = due
            if next_rotation is not None and clock() >= next_rotation:
                self.rotate()
                next_rotation += rotate_every_s or 0.0
            if elapsed >= duration_s:
                return done
            sleep(tick_s)


def _start(text: str) -> datetime:
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--start {text!r}: give an ISO date/time such as 2024-01-01T09:00:00, or 'now'"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sim.datagen.logwriter",
        description="Append synthetic access-log lines to a file at a set rate, rotating it "
        "like logrotate (rename rotation).",
    )
    ap.add_argument("path", type=Path, help="the live log file, e.g. logs/access.log")
    ap.add_argument("--rate", type=float, default=100.0, help="lines per second (100)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds to run (60)")
    ap.add_argument("--format", dest="fmt", choices=LOG_FORMATS, default="combined")
    ap.add_argument("--rotate-every", type=float, default=None, help="rotate every N seconds")
    ap.add_argument("--max-bytes", type=int, default=None, help="rotate before N bytes")
    ap.add_argument("--keep", type=int, default=5, help="rotated files kept (5)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--start", type=_start, default="now", help="first timestamp, or 'now'")
    args = ap.parse_args(argv)
    try:
        writer = LogWriter(
            args.path,
            fmt=args.fmt,
            seed=args.seed,
            rate=args.rate,
            start=args.start,
            keep=args.keep,
            max_bytes=args.max_bytes,
        )
    except (ValueError, OSError) as exc:
        print(f"logwriter: error: {exc}", file=sys.stderr)
        return 2
    with writer:
        try:
            n = writer.run(args.duration, rotate_every_s=args.rotate_every)
        except KeyboardInterrupt:
            n = writer.lines_written
    print(f"wrote {n} lines to {args.path} ({writer.rotations} rotations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
