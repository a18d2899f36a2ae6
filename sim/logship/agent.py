"""A log-shipping agent in the style of the Kinesis Agent: it tails files matching each flow's
``filePattern`` and sends their lines, one record per line (newline included, as the agent
sends them), to a Kinesis data stream or a Firehose stream.

Guarantees (what the tests hold):

- Nothing is lost and nothing is read twice across rename rotation: files are followed by
  identity (``sim.logship.tailer``), the rotated file is finished before the new one, and a
  partial last line waits for its newline.
- A file's checkpoint moves only after the destination acknowledged every record up to it
  (PutRecords / PutRecordBatch entries all succeeded, failed entries resent), and is written
  durably before the next batch is read. A crash therefore sends again at most the batch
  that was acknowledged but not yet checkpointed; a graceful ``stop()`` sends what is
  buffered and checkpoints, so a restart sends nothing twice.
- ``status()`` says how far behind it is: bytes (size minus checkpoint, summed over files),
  complete lines not yet acknowledged, and the age of the oldest of them.

Ordering: a file's lines are put in file order, so a one-shard stream returns them in file
order, unless a PutRecords entry failed and was resent after later entries of its call
succeeded (throttling); the Kinesis Agent behaves the same. With several shards the lines
spread over them (RANDOM keys, or DETERMINISTIC: the MD5 of the line) and only each shard
is ordered.

Driving it: ``run_once()`` scans, reads what is complete and sends every full batch (and a
partial one older than ``maxBufferAgeMillis``); ``flush()`` sends the partial batch now;
``run()`` loops for the command line (``python -m sim.logship``). Nothing waits on wall
time except ``run()``'s pause between polls and the retry backoff, whose ``sleep`` is
injectable (tests advance the emulator's clock instead).
https://docs.aws.amazon.com/streams/latest/dev/writing-with-agents.html
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.logship import processing
from sim.logship.config import KINESIS, AgentConfig, Flow
from sim.logship.sinks import FirehoseSink, KinesisSink, Record, ShipError, Sink
from sim.logship.tailer import Checkpoint, CheckpointStore, FileKey, Tracker

Hook = Callable[[str], None]  # called with "before_send" | "after_send" | "after_checkpoint"
MAX_PARTITION_KEY = 256  # characters; a Kinesis record's size counts its key


@dataclass
class Progress:
    """What one ``run_once``/``flush``/``stop`` did."""

    lines_read: int = 0
    records_sent: int = 0
    batches: int = 0


@dataclass(frozen=True)
class FileStatus:
    path: str
    size: int  # bytes
    acked_offset: int  # bytes acknowledged and checkpointed
    read_offset: int  # bytes read into the send buffer or acknowledged
    bytes_behind: int  # size - acked_offset
    lines_unread: int  # complete lines not read yet
    following: bool  # still matches filePattern (False: renamed away or deleted, being finished)


@dataclass(frozen=True)
class FlowStatus:
    flow_id: str
    destination: str
    kind: str  # "kinesis" | "firehose"
    files_tracked: int
    files_behind: int  # files with bytes not yet acknowledged
    bytes_behind: int  # sum over files of size - checkpointed offset
    lines_pending: int  # complete lines not yet acknowledged (buffered + unread)
    lines_buffered: int  # read, waiting in the send buffer
    oldest_unsent_age_s: float | None  # age of the oldest of those lines; None if none
    lines_read: int  # since start
    records_sent: int  # acknowledged since start
    records_dropped: int  # lines LOGTOJSON could not parse (dropped, as the agent does)
    header_lines_skipped: int
    records_truncated: int  # longer than the record limit: cut, terminator appended
    calls: int  # PutRecords / PutRecordBatch calls
    retried: int  # entries resent after a per-record failure
    throttled: int
    truncations: int  # files that shrank (copytruncate) and were read again from 0
    abandoned_bytes: int  # unfinished last lines of files that went away
    files: tuple[FileStatus, ...]


@dataclass(frozen=True)
class AgentStatus:
    flows: tuple[FlowStatus, ...]

    @property
    def bytes_behind(self) -> int:
        return sum(f.bytes_behind for f in self.flows)

    @property
    def lines_pending(self) -> int:
        return sum(f.lines_pending for f in self.flows)

    @property
    def lines_buffered(self) -> int:
        return sum(f.lines_buffered for f in self.flows)

    @property
    def oldest_unsent_age_s(self) -> float | None:
        ages = [f.oldest_unsent_age_s for f in self.flows if f.oldest_unsent_age_s is not None]
        return max(ages) if ages else None

    def summary(self) -> str:
        """One line, like the Kinesis Agent's progress log."""
        age = self.oldest_unsent_age_s
        sent = sum(f.records_sent for f in self.flows)
        read = sum(f.lines_read for f in self.flows)
        return (
            f"{read} lines read, {sent} records sent; behind: {self.bytes_behind} bytes, "
            f"{self.lines_pending} lines"
            + (f", oldest unsent {age:.1f} s" if age is not None else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_behind": self.bytes_behind,
            "lines_pending": self.lines_pending,
            "lines_buffered": self.lines_buffered,
            "oldest_unsent_age_s": self.oldest_unsent_age_s,
            "flows": [asdict(f) for f in self.flows],
        }


@dataclass
class _Buffer:
    # (file, offset just after the line, record or None for a line that sends nothing)
    entries: list[tuple[FileKey, int, Record | None]] = field(default_factory=list)
    records: int = 0
    nbytes: int = 0
    since: float = 0.0  # clock time the first entry arrived


class _FlowRunner:
    """One flow: its files, its send buffer and its destination."""

    def __init__(
        self,
        flow: Flow,
        sink: Sink,
        saved: list[Checkpoint] | None,
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        rng: random.Random,
        hook: Hook | None,
        on_acked: Callable[[], None],
    ) -> None:
        self.flow = flow
        self.sink = sink
        self.clock = clock
        self.rng = rng
        self.hook = hook
        self.on_acked = on_acked
        self.tracker = Tracker(
            flow.file_pattern, flow.initial_position, flow.skip_header_lines, clock, wall
        )
        self.tracker.restore(saved)
        self.convert = processing.chain(flow.data_processing_options)
        self.buffer = _Buffer()
        self.terminator = flow.truncated_record_terminator.encode()
        self.counts = {"lines_read": 0, "dropped": 0, "headers": 0, "truncated": 0}

    # ------------------------------------------------------------------ records
    def _record(self, line: bytes) -> tuple[Record | None, str | None]:
        """The record for ``line`` and what happened to it ("dropped", "truncated", None)."""
        data = line
        if self.convert is not None:
            converted = self.convert(line)
            if converted is None:
                return None, "dropped"
            data = converted
        what = None
        limit = self.flow.max_record_bytes - (MAX_PARTITION_KEY if self.flow.kind == KINESIS else 0)
        if len(data) > limit:
            what = "truncated"
            data = data[: limit - len(self.terminator)] + self.terminator
        if self.flow.partition_key_option == "DETERMINISTIC":
            key = hashlib.md5(data).hexdigest()  # the agent's choice: MD5 of the data
        else:
            key = repr(self.rng.random() * 1_000_000)  # the agent's: a random double
        return (data, key), what

    def _size(self, rec: Record) -> int:
        data, key = rec
        return len(data) + (len(key.encode()) if self.flow.kind == KINESIS else 0)

    # ------------------------------------------------------------------ the loop
    def poll(self, progress: Progress) -> None:
        self.tracker.refresh()
        for tf in self.tracker.ordered():
            while tf.read_offset < tf.complete_end:
                taken = 0
                for line, end in self.tracker.read_chunk(tf):
                    header = tf.header_left > 0
                    rec, what = (None, "headers") if header else self._record(line)
                    n = self._size(rec) if rec is not None else 0
                    buf = self.buffer
                    if (
                        rec is not None
                        and buf.records
                        and (
                            buf.records + 1 > self.flow.max_buffer_size_records
                            or buf.nbytes + n > self.flow.buffer_bytes
                        )
                    ):
                        self.send(progress)  # may raise: then this line is read again
                    self._add(tf.key, end, rec, n)
                    self.tracker.consumed(tf, end)
                    tf.header_left -= header
                    if what is not None:
                        self.counts[what] += 1
                    self.counts["lines_read"] += 1
                    progress.lines_read += 1
                    taken += 1
                    if self.buffer.records >= self.flow.max_buffer_size_records:
                        self.send(progress)
                if not taken:  # the file changed under us (truncated): next scan sorts it out
                    break
        age_ms = (self.clock() - self.buffer.since) * 1000
        if self.buffer.entries and age_ms >= self.flow.max_buffer_age_millis:
            self.send(progress)

    def _add(self, key: FileKey, end: int, rec: Record | None, n: int) -> None:
        buf = self.buffer
        if not buf.entries:
            buf.since = self.clock()
        buf.entries.append((key, end, rec))
        buf.records += rec is not None
        buf.nbytes += n

    def send(self, progress: Progress) -> None:
        """Send the buffer; on acknowledgement move and save the checkpoints. ShipError
        leaves the buffer as it was, to be sent again."""
        buf = self.buffer
        if not buf.entries:
            return
        records = [r for _, _, r in buf.entries if r is not None]
        if records:
            self._hook("before_send")
            self.sink.put(records)
            self._hook("after_send")
        offsets: dict[FileKey, int] = {}
        for key, end, _ in buf.entries:
            offsets[key] = end
        self.tracker.ack(offsets)
        self.buffer = _Buffer()
        progress.records_sent += len(records)
        progress.batches += bool(records)
        self.on_acked()
        self._hook("after_checkpoint")

    def _hook(self, point: str) -> None:
        if self.hook is not None:
            self.hook(point)

    # ------------------------------------------------------------------ status
    def status(self) -> FlowStatus:
        self.tracker.refresh()
        files = tuple(
            FileStatus(
                path=tf.path,
                size=tf.size,
                acked_offset=tf.acked_offset,
                read_offset=tf.read_offset,
                bytes_behind=tf.bytes_behind,
                lines_unread=tf.unread_lines,
                following=tf.in_glob,
            )
            for tf in self.tracker.ordered()
        )
        buffered = len(self.buffer.entries)
        oldest = self.tracker.oldest_unacked()
        st = self.sink.stats
        return FlowStatus(
            flow_id=self.flow.flow_id,
            destination=self.flow.destination,
            kind=self.flow.kind,
            files_tracked=len(files),
            files_behind=sum(f.bytes_behind > 0 for f in files),
            bytes_behind=sum(f.bytes_behind for f in files),
            lines_pending=buffered + sum(f.lines_unread for f in files),
            lines_buffered=buffered,
            oldest_unsent_age_s=None if oldest is None else max(0.0, self.clock() - oldest),
            lines_read=self.counts["lines_read"],
            records_sent=st.sent,
            records_dropped=self.counts["dropped"],
            header_lines_skipped=self.counts["headers"],
            records_truncated=self.counts["truncated"],
            calls=st.calls,
            retried=st.retried,
            throttled=st.throttled,
            truncations=self.tracker.truncations,
            abandoned_bytes=self.tracker.abandoned_bytes,
            files=files,
        )


class Agent:
    """Ships the lines of every flow in ``config`` and checkpoints what was acknowledged.

    ``clients(service)`` returns a boto3 client for "kinesis" or "firehose" (in bdlab,
    ``lambda s: sim.clients.client(s, profile)``). ``clock`` (seconds) times buffer ages and
    line ages; ``sleep`` is the retry backoff's pause; ``hook(point)`` is called at
    "before_send", "after_send" (acknowledged, checkpoint not yet moved) and
    "after_checkpoint" so a test can simulate a crash at each point by raising.

    Raises ``ConfigError`` (a flow's folder is missing), ``ShipError`` (a destination does
    not exist or cannot be reached, checked at start unless ``check=False``) and
    ``CheckpointError`` (a damaged checkpoint file), each with a one-line message.
    """

    def __init__(
        self,
        config: AgentConfig,
        clients: Callable[[str], Any],
        *,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        hook: Hook | None = None,
        check: bool = True,
    ) -> None:
        config.check_paths()
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.store = CheckpointStore(config.checkpoint_file)
        saved = self.store.load()
        ids = {f.flow_id for f in config.flows}
        # Checkpoints of flows not in this config are kept: a flow left out for a while
        # resumes where it was when it comes back.
        self._other_flows = {k: v for k, v in saved.items() if k not in ids}
        self.rng = rng or random.Random()
        self.runners: list[_FlowRunner] = []
        for flow in config.flows:
            cls = KinesisSink if flow.kind == KINESIS else FirehoseSink
            sink = cls(
                clients(flow.kind),
                flow.destination,
                sleep=sleep,
                rng=self.rng,
                base_delay_s=flow.retry_initial_backoff_millis / 1000,
                max_delay_s=flow.retry_max_backoff_millis / 1000,
            )
            if check:
                sink.check()
            self.runners.append(
                _FlowRunner(
                    flow,
                    sink,
                    saved.get(flow.flow_id),
                    clock=clock,
                    wall=wall,
                    rng=self.rng,
                    hook=hook,
                    on_acked=self.save,
                )
            )
        self._lock = threading.Lock()
        self._stopped = False
        # Settle the starting positions now: END_OF_FILE must mean the end as of this first
        # start, not as of whenever the first checkpoint happens to be written.
        for r in self.runners:
            r.tracker.refresh()
        self.save()

    def save(self) -> None:
        """Write every flow's checkpoints (acknowledged offsets only) durably."""
        flows = dict(self._other_flows)
        for r in self.runners:
            flows[r.flow.flow_id] = r.tracker.checkpoints()
        self.store.save(flows)

    def run_once(self) -> Progress:
        """Scan, read every complete line, send each full batch and a partial batch older
        than maxBufferAgeMillis. ShipError when a batch could not be delivered (it stays
        buffered; the next call sends it again)."""
        progress = Progress()
        with self._lock:
            self._running()
            for r in self.runners:
                r.poll(progress)
        return progress

    def flush(self) -> Progress:
        """Send every buffered record now, whatever its age."""
        progress = Progress()
        with self._lock:
            self._running()
            for r in self.runners:
                r.send(progress)
        return progress

    def _running(self) -> None:
        if self._stopped:
            raise RuntimeError("this agent was stopped; start a new Agent to resume")

    def stop(self) -> Progress:
        """Graceful stop: send what is buffered, checkpoint, close the files. A restart
        then sends nothing twice. Idempotent."""
        if self._stopped:
            return Progress()
        try:
            return self.flush()
        finally:  # also when the flush failed: what was acknowledged is checkpointed
            with self._lock:
                self.save()
                self._final = AgentStatus(tuple(r.status() for r in self.runners))
                for r in self.runners:
                    r.tracker.close()
                self._stopped = True

    def final_status(self) -> AgentStatus:
        """The lag as the graceful stop left it (or now, while running)."""
        if self._stopped and getattr(self, "_final", None) is not None:
            return self._final
        return self.status()

    def status(self) -> AgentStatus:
        """Lag and counters, with file sizes as of now."""
        with self._lock:
            self._running()
            return AgentStatus(tuple(r.status() for r in self.runners))

    def run(
        self,
        *,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        report: Callable[[str], None] | None = None,
        report_every_s: float = 30.0,
    ) -> None:
        """Poll until ``stop`` is set or ``duration_s`` passed, then stop gracefully.
        A failed send is reported and tried again after a pause (doubling up to 30 s)."""
        event = stop or threading.Event()
        pause = min(r.flow.min_time_between_file_polls_millis for r in self.runners) / 1000
        t0 = last_report = time.monotonic()
        backoff = 0.0
        try:
            while not event.is_set():
                try:
                    self.run_once()
                    backoff = 0.0
                except ShipError as exc:
                    backoff = min(30.0, max(1.0, backoff * 2))
                    if report:
                        report(f"send failed, retrying in {backoff:.0f} s: {exc}")
                now = time.monotonic()
                if report and now - last_report >= report_every_s:
                    report(self.status().summary())
                    last_report = now
                if duration_s is not None and now - t0 >= duration_s:
                    break
                event.wait(max(pause, backoff))
        finally:
            self.stop()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
