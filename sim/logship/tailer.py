"""Following the files of one flow by identity, and the durable checkpoints of how far each
was shipped.

A file is known by ``(st_dev, st_ino)``, not by name, so a rename rotation
(``access.log`` -> ``access.log.1``, logrotate's default) changes nothing for it: its
descriptor stays open and its offset stays valid. A fingerprint (SHA-1 of the first
``FINGERPRINT_BYTES`` bytes, or fewer while the file is shorter) guards against inode reuse:
a checkpoint whose inode now holds other bytes is not applied. Files are read oldest first
(the order they were discovered in; files discovered by the same scan are ordered by their
rotation number, ``.2`` before ``.1`` before the live file, then by modification time), so
a rotated file is finished before the new one is started. Only complete lines are read:
bytes after the last newline wait for it. A file that leaves the pattern (renamed out of it,
or deleted) is read through its open descriptor until its complete lines are acknowledged,
then let go; so give a pattern that also matches the rotated names (``access.log*``), as the
agent's documentation does, if the server may still write to a file after renaming it.

What the Kinesis Agent does with copytruncate rotation, this does too: a file that shrank is
read again from its start, and whatever was written between the copy and the truncate is
lost; rename rotation is the supported mode.

Checkpoints are one JSON file for all flows, replaced atomically (temporary file, fsync,
``os.replace``, fsync of the folder) so a crash leaves the old or the new version, never a
mix. The agent writes it only after the records up to those offsets were acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from glob import glob
from pathlib import Path

FINGERPRINT_BYTES = 128
READ_CHUNK = 1 << 20  # bytes read per pread
CHECKPOINT_VERSION = 1
MARK_RESOLUTION_S = 1.0  # line ages are known to this resolution (and the polling's)

FileKey = tuple[int, int]  # (st_dev, st_ino)


class CheckpointError(RuntimeError):
    """The checkpoint file cannot be read or written; the message says what to do."""


@dataclass(frozen=True)
class Checkpoint:
    """How far one file was shipped: every byte before ``offset`` is acknowledged."""

    dev: int
    ino: int
    offset: int
    fp_len: int
    fp: str
    path: str

    @property
    def key(self) -> FileKey:
        return (self.dev, self.ino)


class CheckpointStore:
    """``{"version": 1, "flows": {flow_id: [checkpoint, ...]}}`` at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, list[Checkpoint]]:
        """Every flow's checkpoints; {} when the file does not exist yet."""
        try:
            doc = json.loads(self.path.read_text())
            return {
                flow: [Checkpoint(**c) for c in entries] for flow, entries in doc["flows"].items()
            }
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint file {str(self.path)!r} is damaged ({exc}); move it away to "
                "start over (files are then read again per initialPosition)."
            ) from None
        except OSError as exc:
            raise CheckpointError(
                f"checkpoint file {str(self.path)!r} cannot be read: {exc.strerror}."
            ) from None

    def save(self, flows: dict[str, list[Checkpoint]]) -> None:
        doc = {
            "version": CHECKPOINT_VERSION,
            "flows": {k: [asdict(c) for c in v] for k, v in sorted(flows.items())},
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself must survive a power cut
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise CheckpointError(
                f"cannot write checkpoint file {str(self.path)!r}: {exc.strerror}."
            ) from None


@dataclass(eq=False)
class TrackedFile:
    """One file of a flow and where the agent stands in it (byte offsets)."""

    key: FileKey
    path: str
    fd: int
    seq: int  # discovery order: lower is older
    size: int = 0
    fp_len: int = 0
    fp: str = ""
    acked_offset: int = 0  # everything before is acknowledged (and checkpointed)
    read_offset: int = 0  # everything before is in the send buffer or acknowledged
    counted_to: int = 0  # bytes scanned for newlines
    complete_end: int = 0  # end of the last complete line seen
    unread_lines: int = 0  # complete lines in [read_offset, complete_end)
    header_left: int = 0  # skipHeaderLines still to skip
    in_glob: bool = True
    # (complete_end, time first seen): dates the oldest line not yet acknowledged.
    marks: deque[tuple[int, float]] = field(default_factory=deque)

    @property
    def bytes_behind(self) -> int:
        return max(self.size - self.acked_offset, 0)


def _fingerprint(fd: int, n: int) -> str:
    return hashlib.sha1(os.pread(fd, n, 0)).hexdigest() if n else ""


_ROTATION_NUMBER = re.compile(r"\.(\d+)$")


def _age_rank(path: str, mtime_ns: int) -> tuple[int, int, str]:
    """Sort key, oldest first, for files first seen in the same scan: logrotate's numbered
    copies (``.2`` before ``.1``) before the live file, then modification time. Numbers
    beat times because a server may still append to ``.1`` after the new file exists."""
    m = _ROTATION_NUMBER.search(path)
    return (-int(m.group(1)) if m else 0, mtime_ns, path)


class Tracker:
    """The files matching one flow's ``pattern``, read oldest first, line by line.

    ``initial_position`` (START_OF_FILE | END_OF_FILE) applies to the files present at the
    first start of a flow (no checkpoint for it yet); files appearing later, such as the new
    file after a rotation, are read from their start, as the Kinesis Agent does.
    ``clock`` (seconds) dates when lines were first seen, for the age of the oldest unsent
    line; ``wall`` is the clock file modification times are on.
    """

    def __init__(
        self,
        pattern: str,
        initial_position: str = "END_OF_FILE",
        skip_header_lines: int = 0,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.pattern = pattern
        self.initial_position = initial_position
        self.skip_header_lines = skip_header_lines
        self.clock = clock
        self.wall = wall
        self.files: dict[FileKey, TrackedFile] = {}
        self.truncations = 0  # files that shrank (copytruncate): read again from 0
        self.abandoned_bytes = 0  # unfinished last lines of files that went away
        self._seq = 0
        self._restored: dict[FileKey, Checkpoint] | None = None

    def restore(self, checkpoints: list[Checkpoint] | None) -> None:
        """Checkpoints saved for this flow (None: the flow never ran, so
        ``initial_position`` applies)."""
        self._restored = None if checkpoints is None else {c.key: c for c in checkpoints}

    # ------------------------------------------------------------------ discovery
    def refresh(self) -> None:
        """Scan the pattern, follow renames, notice new bytes and new complete lines."""
        found: dict[FileKey, tuple[str, os.stat_result]] = {}
        for path in sorted(glob(self.pattern)):
            try:
                st = os.stat(path)
            except FileNotFoundError:  # rotated away between glob and stat
                continue
            if stat.S_ISREG(st.st_mode):
                found[(st.st_dev, st.st_ino)] = (path, st)
        new = [(key, p, st) for key, (p, st) in found.items() if key not in self.files]
        new.sort(key=lambda x: _age_rank(x[1], x[2].st_mtime_ns))
        for key, path, st in new:
            self._track(key, path, st)
        self._restored = {} if self._restored is None else self._restored
        for tf in list(self.files.values()):
            if tf.key in found:
                tf.path, tf.in_glob = found[tf.key][0], True
            else:
                tf.in_glob = False
            self._observe(tf)
            # A file that left the pattern (deleted, or renamed out of it) is kept, through
            # its open descriptor, until everything complete in it is acknowledged.
            if not tf.in_glob and tf.acked_offset >= tf.complete_end:
                self.abandoned_bytes += max(tf.size - tf.complete_end, 0)
                os.close(tf.fd)
                del self.files[tf.key]

    def _track(self, key: FileKey, path: str, st: os.stat_result) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != key:  # replaced between stat and open: next scan
            os.close(fd)
            return
        tf = TrackedFile(key=key, path=path, fd=fd, seq=self._seq, size=fst.st_size)
        self._seq += 1
        ckpt = (self._restored or {}).get(key)
        if ckpt is not None and self._matches(tf, ckpt):
            start = ckpt.offset
        elif self._restored is None and self.initial_position == "END_OF_FILE":
            start = self._last_line_end(fd, fst.st_size)
        else:
            start = 0
        tf.acked_offset = tf.read_offset = tf.counted_to = tf.complete_end = start
        tf.header_left = self.skip_header_lines if start == 0 else 0
        self.files[key] = tf

    @staticmethod
    def _matches(tf: TrackedFile, ckpt: Checkpoint) -> bool:
        """Same bytes at the start (not a reused inode) and not shrunk below the offset."""
        if tf.size < max(ckpt.offset, ckpt.fp_len):
            return False
        return _fingerprint(tf.fd, ckpt.fp_len) == ckpt.fp

    @staticmethod
    def _last_line_end(fd: int, size: int) -> int:
        """Offset just after the last newline before ``size`` (0 if none)."""
        end = size
        while end > 0:
            start = max(0, end - READ_CHUNK)
            at = os.pread(fd, end - start, start).rfind(b"\n")
            if at >= 0:
                return start + at + 1
            end = start
        return 0

    def _observe(self, tf: TrackedFile) -> None:
        st = os.fstat(tf.fd)
        size = st.st_size
        if size < tf.counted_to or size < tf.read_offset:
            # Shrunk: copytruncate. Start over; nothing acknowledged can be in there now.
            self.truncations += 1
            tf.acked_offset = tf.read_offset = tf.counted_to = tf.complete_end = 0
            tf.unread_lines, tf.fp_len, tf.fp = 0, 0, ""
            tf.marks.clear()
        tf.size = size
        if tf.fp_len < FINGERPRINT_BYTES and size > tf.fp_len:
            tf.fp_len = min(size, FINGERPRINT_BYTES)
            tf.fp = _fingerprint(tf.fd, tf.fp_len)
        if size <= tf.counted_to:
            return
        at, lines, last = tf.counted_to, 0, -1
        while at < size:
            data = os.pread(tf.fd, min(READ_CHUNK, size - at), at)
            if not data:
                break
            lines += data.count(b"\n")
            nl = data.rfind(b"\n")
            if nl >= 0:
                last = at + nl + 1
            at += len(data)
        tf.counted_to = at
        if last > tf.complete_end:
            tf.complete_end = last
            tf.unread_lines += lines
            # Dated by the modification time: the newest of these bytes was written then,
            # so the age reported is a lower bound, as fine as the polling.
            seen = self.clock() - max(0.0, self.wall() - st.st_mtime)
            if tf.marks and seen - tf.marks[-1][1] < MARK_RESOLUTION_S:
                # Within a second of the last mark: extend it, so a stalled destination
                # with frequent polls keeps one mark a second, not one a poll.
                tf.marks[-1] = (last, tf.marks[-1][1])
            else:
                tf.marks.append((last, seen))

    # ------------------------------------------------------------------ reading
    def ordered(self) -> list[TrackedFile]:
        """Tracked files, oldest first."""
        return sorted(self.files.values(), key=lambda f: f.seq)

    def read_chunk(self, tf: TrackedFile) -> Iterator[tuple[bytes, int]]:
        """Complete lines from ``tf.read_offset`` on (each with its newline) and the offset
        just after each. The caller advances ``tf.read_offset`` as it takes them."""
        at = tf.read_offset
        todo = tf.complete_end - at
        if todo <= 0:
            return
        data = os.pread(tf.fd, min(todo, READ_CHUNK), at)
        cut = data.rfind(b"\n")
        if cut < 0:  # one line longer than a chunk: it ends before complete_end
            buf = bytearray(data)
            while cut < 0:
                more = os.pread(
                    tf.fd, min(READ_CHUNK, tf.complete_end - at - len(buf)), at + len(buf)
                )
                if not more:
                    return
                i = more.find(b"\n")
                buf += more if i < 0 else more[: i + 1]
                cut = len(buf) - 1 if i >= 0 else -1
            data = bytes(buf)
        pos = at
        for piece in data[: cut + 1].split(b"\n")[:-1]:
            pos += len(piece) + 1
            yield piece + b"\n", pos

    def consumed(self, tf: TrackedFile, end: int) -> None:
        """The line ending at ``end`` went into the send buffer."""
        tf.read_offset = end
        tf.unread_lines -= 1

    # ------------------------------------------------------------------ acknowledgement
    def ack(self, offsets: dict[FileKey, int]) -> None:
        """Records up to these offsets were acknowledged by the destination."""
        for key, end in offsets.items():
            tf = self.files.get(key)
            if tf is None or end <= tf.acked_offset:
                continue
            tf.acked_offset = end
            while tf.marks and tf.marks[0][0] <= end:
                tf.marks.popleft()

    def checkpoints(self) -> list[Checkpoint]:
        return [
            Checkpoint(tf.key[0], tf.key[1], tf.acked_offset, tf.fp_len, tf.fp, tf.path)
            for tf in self.ordered()
        ]

    def oldest_unacked(self) -> float | None:
        """When the oldest complete line not yet acknowledged was first seen (clock s)."""
        times = [
            tf.marks[0][1]
            for tf in self.files.values()
            if tf.marks and tf.acked_offset < tf.complete_end
        ]
        return min(times) if times else None

    def close(self) -> None:
        for tf in self.files.values():
            os.close(tf.fd)
        self.files.clear()
