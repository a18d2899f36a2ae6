"""Durable append-only record logs in segment files: the store under Kinesis's shards and
Firehose's delivery streams.

Layout of one log's folder::

    <first>.log    records numbered <first>, <first>+1, ... (a segment)

A record is one frame: ``u32 length | u64 number | f64 arrival | u16 key length | key | data``
(little-endian), ``length`` covering everything after itself. Frames are appended with one
``write`` per call (a group), before the call is answered: a process killed with -9 keeps them
(the page cache belongs to the kernel); ``fsync=True`` also survives power loss, at the cost the
Kinesis benchmark measures. On open, the segments are scanned to rebuild the index of frame
offsets; a torn last frame (a crash in the middle of a write that was never answered) is cut
off. Whole segments are deleted when their records expire (Kinesis retention) or were
delivered (Firehose).
"""

from __future__ import annotations

import json
import os
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HEAD = struct.Struct("<IQdH")  # length, number, arrival, key length
SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class StoredRecord:
    number: int  # 1, 2, ... within the shard (the sequence number is derived from it)
    arrival: float  # epoch seconds on the emulator clock
    partition_key: str
    data: bytes


class ShardLog:
    """The records of one log (a Kinesis shard, a Firehose stream): append, read by number,
    drop old segments."""

    def __init__(self, folder: Path, fsync: bool = False) -> None:
        self.folder = folder
        self.fsync = fsync
        folder.mkdir(parents=True, exist_ok=True)
        # Per segment: its first number, path, and the offset of each of its frames.
        self.segments: list[tuple[int, Path, array[int]]] = []
        self.arrivals = array("d")  # arrival of each stored record, oldest first
        self.first = 1  # number of the oldest record still stored
        self.next = 1  # number the next record gets
        self._fh: Any = None
        self._size = 0
        self._open()

    # ------------------------------------------------------------------ open / recover
    def _open(self) -> None:
        paths = sorted(self.folder.glob("*.log"), key=lambda p: int(p.stem))
        for path in paths:
            first = int(path.stem)
            offsets: array[int] = array("Q")
            raw = path.read_bytes()
            pos = 0
            number = first
            while pos + _HEAD.size <= len(raw):
                length, num, arrival, _klen = _HEAD.unpack_from(raw, pos)
                end = pos + 4 + length
                if end > len(raw) or num != number:
                    break  # a torn frame: never answered, cut it off below
                offsets.append(pos)
                self.arrivals.append(arrival)
                number += 1
                pos = end
            if pos < len(raw):
                with open(path, "r+b") as fh:
                    fh.truncate(pos)
            if not offsets and path != paths[-1]:
                path.unlink()
                continue
            self.segments.append((first, path, offsets))
            self.next = number
        if self.segments:
            self.first = self.segments[0][0]
        else:
            self.first = self.next

    # ------------------------------------------------------------------ write
    def append(self, records: list[tuple[float, str, bytes]]) -> list[int]:
        """Append ``(arrival, partition_key, data)`` records as one write; their numbers."""
        if not records:
            return []
        if self._fh is None or self._size >= SEGMENT_BYTES:
            self._roll()
        first, _path, offsets = self.segments[-1]
        out = bytearray()
        numbers = []
        for arrival, key, data in records:
            kb = key.encode()
            offsets.append(self._size + len(out))
            out += _HEAD.pack(_HEAD.size - 4 + len(kb) + len(data), self.next, arrival, len(kb))
            out += kb
            out += data
            self.arrivals.append(arrival)
            numbers.append(self.next)
            self.next += 1
        self._fh.write(out)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        self._size += len(out)
        return numbers

    def _roll(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self.segments and self.segments[-1][1].stat().st_size < SEGMENT_BYTES:
            path = self.segments[-1][1]  # the last segment still has room (after a restart)
        else:
            path = self.folder / f"{self.next}.log"
            self.segments.append((self.next, path, array("Q")))
        self._fh = open(path, "ab")
        self._size = self._fh.tell()

    # ------------------------------------------------------------------ read
    def read(self, start: int, max_records: int, max_bytes: int) -> list[StoredRecord]:
        """Records from number ``start`` on (``start`` below the oldest stored: from the
        oldest), at most ``max_records`` and about ``max_bytes`` of data (one record at least)."""
        start = max(start, self.first)
        out: list[StoredRecord] = []
        size = 0
        for first, path, offsets in self.segments:
            if start >= first + len(offsets):
                continue
            i = start - first
            j = min(len(offsets), i + max_records - len(out))
            # One read for the whole run of frames, parsed from memory.
            with open(path, "rb") as fh:
                fh.seek(offsets[i])
                end = offsets[j] if j < len(offsets) else None
                buf = fh.read() if end is None else fh.read(end - offsets[i])
            pos = 0
            while i < j and pos + _HEAD.size <= len(buf):
                length, num, arrival, klen = _HEAD.unpack_from(buf, pos)
                body_at = pos + _HEAD.size
                stop = pos + 4 + length
                key = buf[body_at : body_at + klen].decode()
                data = buf[body_at + klen : stop]
                if out and size + len(data) + klen > max_bytes:
                    return out
                out.append(StoredRecord(num, arrival, key, data))
                size += len(data) + klen
                pos = stop
                i += 1
            start = first + len(offsets)
            if len(out) >= max_records:
                break
        return out

    def arrival_of(self, number: int) -> float | None:
        idx = number - self.first
        return self.arrivals[idx] if 0 <= idx < len(self.arrivals) else None

    def first_at_or_after(self, ts: float) -> int:
        """Number of the first stored record that arrived at ``ts`` or later (``next`` if none)."""
        lo, hi = 0, len(self.arrivals)
        while lo < hi:  # arrivals are non-decreasing (the clock never runs backwards)
            mid = (lo + hi) // 2
            if self.arrivals[mid] < ts:
                lo = mid + 1
            else:
                hi = mid
        return self.first + lo

    # ------------------------------------------------------------------ retention
    def expire_before(self, ts: float) -> int:
        """Delete whole segments whose every record arrived before ``ts``; returns how many
        records went. The segment being written to is kept."""
        dropped = 0
        while len(self.segments) > 1:
            first, path, offsets = self.segments[0]
            last_arrival = self.arrivals[len(offsets) - 1] if len(offsets) else None
            if last_arrival is None or last_arrival >= ts:
                break
            path.unlink(missing_ok=True)
            self.segments.pop(0)
            del self.arrivals[: len(offsets)]
            dropped += len(offsets)
            self.first = self.segments[0][0]
        return dropped

    def drop_before(self, number: int) -> int:
        """Delete whole segments whose every record is numbered below ``number`` (delivered);
        returns how many records went. The segment being written to is kept."""
        dropped = 0
        while len(self.segments) > 1:
            first, path, offsets = self.segments[0]
            if first + len(offsets) > number:
                break
            path.unlink(missing_ok=True)
            self.segments.pop(0)
            del self.arrivals[: len(offsets)]
            dropped += len(offsets)
            self.first = self.segments[0][0]
        return dropped

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def save_meta(path: Path, data: dict[str, Any]) -> None:
    """Write the streams' metadata atomically (a crash leaves the old or the new file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def load_meta(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {"streams": {}}
