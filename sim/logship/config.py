"""The agent's configuration as data, read from an ``agent.json`` shaped like the Kinesis
Agent's: ``{"checkpointFile": ..., "flows": [{"filePattern": ..., "kinesisStream": ...}]}``.

Option names, defaults and ranges follow the agent's documentation and source:
https://docs.aws.amazon.com/streams/latest/dev/writing-with-agents.html (Kinesis Data Streams),
https://docs.aws.amazon.com/firehose/latest/dev/agent-config-settings.html (Firehose),
https://docs.aws.amazon.com/firehose/latest/dev/pre-processing.html (dataProcessingOptions).

A key the agent knows but bdlab's agent does not implement, an unknown key, a value out of
range or of the wrong type is a :class:`ConfigError` whose message is one line naming the key
and the fix. Endpoint and credential keys (``kinesis.endpoint``, ``awsAccessKeyId``, ...) are
accepted and listed in :attr:`AgentConfig.ignored`: the bdlab profile supplies those.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINESIS = "kinesis"
FIREHOSE = "firehose"
# PutRecords: 500 records, 5 MiB; a record (data + partition key) at most 1 MiB.
KINESIS_MAX_RECORDS = 500
KINESIS_MAX_BATCH_BYTES = 5 * 1024 * 1024
KINESIS_MAX_RECORD_BYTES = 1024 * 1024
# PutRecordBatch: 500 records, 4 MiB; a record at most 1,000 KiB.
FIREHOSE_MAX_RECORDS = 500
FIREHOSE_MAX_BATCH_BYTES = 4 * 1024 * 1024
FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024

PARTITION_KEY_OPTIONS = ("RANDOM", "DETERMINISTIC")
INITIAL_POSITIONS = ("START_OF_FILE", "END_OF_FILE")
PROCESSING_OPTIONS = ("SINGLELINE", "LOGTOJSON")
LOG_FORMATS = ("COMMONAPACHELOG", "COMBINEDAPACHELOG", "APACHEERRORLOG", "SYSLOG")


class ConfigError(ValueError):
    """The agent configuration cannot be used; the message is one line saying what to fix."""


@dataclass(frozen=True)
class ProcessingOption:
    """One entry of ``dataProcessingOptions``: ``SINGLELINE``, or ``LOGTOJSON`` with a
    ``logFormat`` and optionally ``matchPattern`` + ``customFieldNames``."""

    option_name: str
    log_format: str | None = None
    match_pattern: str | None = None
    custom_field_names: tuple[str, ...] | None = None
    json_format: str = "COMPACT"


@dataclass(frozen=True)
class Flow:
    """One ``flows[]`` entry: which files to tail and where to send their lines.

    Exactly one of ``kinesis_stream`` / ``delivery_stream``. Units as in agent.json:
    milliseconds, records, bytes. ``max_buffer_size_bytes`` defaults to the destination's
    batch limit (5 MiB for PutRecords, 4 MiB for PutRecordBatch).
    """

    file_pattern: str
    kinesis_stream: str | None = None
    delivery_stream: str | None = None
    partition_key_option: str = "RANDOM"
    initial_position: str = "END_OF_FILE"
    max_buffer_age_millis: int = 60_000
    max_buffer_size_records: int = 500
    max_buffer_size_bytes: int | None = None
    data_processing_options: tuple[ProcessingOption, ...] = ()
    skip_header_lines: int = 0
    truncated_record_terminator: str = "\n"
    min_time_between_file_polls_millis: int = 100
    retry_initial_backoff_millis: int = 100
    retry_max_backoff_millis: int = 10_000

    def __post_init__(self) -> None:
        where = f"flow {self.file_pattern!r}"
        if (self.kinesis_stream is None) == (self.delivery_stream is None):
            raise ConfigError(
                f"{where}: set exactly one of kinesisStream (Kinesis Data Streams) or "
                "deliveryStream (Firehose)."
            )
        if not self.file_pattern:
            raise ConfigError("a flow has an empty filePattern: give a path or glob.")
        _choice(where, "partitionKeyOption", self.partition_key_option, PARTITION_KEY_OPTIONS)
        _choice(where, "initialPosition", self.initial_position, INITIAL_POSITIONS)
        _range(where, "maxBufferAgeMillis", self.max_buffer_age_millis, 1_000, 900_000)
        _range(where, "maxBufferSizeRecords", self.max_buffer_size_records, 1, self.max_records)
        _range(where, "maxBufferSizeBytes", self.buffer_bytes, 1, self.max_batch_bytes)
        _range(where, "skipHeaderLines", self.skip_header_lines, 0, 2**31)
        _range(
            where,
            "minTimeBetweenFilePollsMillis",
            self.min_time_between_file_polls_millis,
            1,
            3_600_000,
        )
        _range(where, "retryInitialBackoffMillis", self.retry_initial_backoff_millis, 1, 3_600_000)
        _range(where, "retryMaxBackoffMillis", self.retry_max_backoff_millis, 1, 3_600_000)
        term = self.truncated_record_terminator.encode()
        if not term or len(term) >= self.max_record_bytes:
            raise ConfigError(f"{where}: truncatedRecordTerminator must be 1 or more bytes.")

    @property
    def kind(self) -> str:
        return KINESIS if self.kinesis_stream is not None else FIREHOSE

    @property
    def destination(self) -> str:
        return str(self.kinesis_stream if self.kinesis_stream is not None else self.delivery_stream)

    @property
    def flow_id(self) -> str:
        """The agent's flow id: ``kinesis:<stream>:<pattern>`` or ``fh:<stream>:<pattern>``;
        checkpoints are kept per flow id."""
        prefix = "kinesis" if self.kind == KINESIS else "fh"
        return f"{prefix}:{self.destination}:{self.file_pattern}"

    @property
    def max_records(self) -> int:
        return KINESIS_MAX_RECORDS if self.kind == KINESIS else FIREHOSE_MAX_RECORDS

    @property
    def max_batch_bytes(self) -> int:
        return KINESIS_MAX_BATCH_BYTES if self.kind == KINESIS else FIREHOSE_MAX_BATCH_BYTES

    @property
    def max_record_bytes(self) -> int:
        return KINESIS_MAX_RECORD_BYTES if self.kind == KINESIS else FIREHOSE_MAX_RECORD_BYTES

    @property
    def buffer_bytes(self) -> int:
        return self.max_buffer_size_bytes or self.max_batch_bytes


@dataclass(frozen=True)
class AgentConfig:
    """The whole agent: its flows and the checkpoint file (JSON, rewritten atomically)."""

    flows: tuple[Flow, ...]
    checkpoint_file: Path
    ignored: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.flows:
            raise ConfigError('agent.json has no flows: add {"flows": [{"filePattern": ...}]}.')
        ids = [f.flow_id for f in self.flows]
        if len(set(ids)) != len(ids):
            raise ConfigError("two flows have the same filePattern and destination.")

    def check_paths(self) -> None:
        """Raise ConfigError when a flow's folder does not exist (files may appear later;
        the folder must be there) or the checkpoint file's folder cannot be created."""
        for f in self.flows:
            folder = _fixed_prefix(f.file_pattern)
            if not folder.is_dir():
                raise ConfigError(
                    f"filePattern {f.file_pattern!r}: folder {str(folder)!r} does not exist; "
                    "create it or fix filePattern."
                )
        try:
            self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"checkpointFile {str(self.checkpoint_file)!r}: cannot create its folder "
                f"({exc.strerror}); choose a writable path."
            ) from None

    @classmethod
    def from_dict(cls, doc: Any, base_dir: Path | None = None, name: str = "agent") -> AgentConfig:
        """Parse an agent.json document. Relative paths are relative to ``base_dir``; the
        checkpoint file defaults to ``<base_dir>/<name>.checkpoints.json``."""
        base = base_dir or Path.cwd()
        if not isinstance(doc, dict):
            raise ConfigError('agent.json must be a JSON object: {"flows": [...]}.')
        ignored: list[str] = []
        for key in doc:
            if key in _GENERAL or key in _IGNORED_GENERAL:
                if key in _IGNORED_GENERAL:
                    ignored.append(key)
                continue
            raise ConfigError(_unknown("agent.json", key, _GENERAL))
        flows_doc = doc.get("flows")
        if not isinstance(flows_doc, list):
            raise ConfigError('agent.json: "flows" must be a list of flow objects.')
        flows = tuple(_flow(i, f, base) for i, f in enumerate(flows_doc))
        ckpt = doc.get("checkpointFile")
        if ckpt is not None and not isinstance(ckpt, str):
            raise ConfigError("agent.json: checkpointFile must be a path (a string).")
        path = Path(ckpt).expanduser() if ckpt else base / f"{name}.checkpoints.json"
        return cls(flows, path if path.is_absolute() else base / path, tuple(ignored))

    @classmethod
    def load(cls, path: str | Path) -> AgentConfig:
        """Read ``path`` (agent.json). ConfigError when missing or not valid JSON."""
        p = Path(path)
        try:
            text = p.read_text()
        except FileNotFoundError:
            raise ConfigError(f"config file {str(p)!r} not found: give --config PATH.") from None
        except OSError as exc:
            raise ConfigError(f"config file {str(p)!r} cannot be read: {exc.strerror}.") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
            ) from None
        return cls.from_dict(doc, p.resolve().parent, p.stem)


# agent.json key -> Flow field (and the type it must have).
_FLOW_KEYS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "filePattern": ("file_pattern", str),
    "kinesisStream": ("kinesis_stream", str),
    "deliveryStream": ("delivery_stream", str),
    "partitionKeyOption": ("partition_key_option", str),
    "initialPosition": ("initial_position", str),
    "maxBufferAgeMillis": ("max_buffer_age_millis", int),
    "maxBufferSizeRecords": ("max_buffer_size_records", int),
    "maxBufferSizeBytes": ("max_buffer_size_bytes", int),
    "dataProcessingOptions": ("data_processing_options", list),
    "skipHeaderLines": ("skip_header_lines", int),
    "truncatedRecordTerminator": ("truncated_record_terminator", str),
    "minTimeBetweenFilePollsMillis": ("min_time_between_file_polls_millis", int),
    "retryInitialBackoffMillis": ("retry_initial_backoff_millis", int),
    "retryMaxBackoffMillis": ("retry_max_backoff_millis", int),
}
# Keys of the real agent that this one does not implement: named, so the error says so.
_FLOW_UNSUPPORTED = (
    "multiLineStartPattern",
    "fileFooterPattern",
    "aggregatedRecordSizeBytes",
    "maxTimeBetweenFileTrackerRefreshMillis",
    "publishQueueCapacity",
    "waitOnFullPublishQueueMillis",
    "waitOnEmptyPublishQueueMillis",
    "waitOnFullRetryQueueMillis",
)
_GENERAL = ("flows", "checkpointFile")
_IGNORED_GENERAL = (
    "assumeRoleARN",
    "assumeRoleExternalId",
    "awsAccessKeyId",
    "awsSecretAccessKey",
    "cloudwatch.emitMetrics",
    "cloudwatch.endpoint",
    "kinesis.endpoint",
    "firehose.endpoint",
    "sts.endpoint",
    "userDefinedCredentialsProvider.classname",
    "userDefinedCredentialsProvider.location",
)
_OPTION_KEYS = ("optionName", "logFormat", "matchPattern", "customFieldNames", "jsonFormat")


def _flow(i: int, doc: Any, base: Path) -> Flow:
    where = f"flows[{i}]"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must be an object with filePattern and a destination.")
    kw: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _FLOW_UNSUPPORTED:
            raise ConfigError(
                f"{where}.{key} is a Kinesis Agent option that bdlab's agent does not "
                "implement; remove it."
            )
        if key not in _FLOW_KEYS:
            raise ConfigError(_unknown(where, key, tuple(_FLOW_KEYS)))
        name, typ = _FLOW_KEYS[key]
        if not isinstance(value, typ) or isinstance(value, bool):
            want = {str: "a string", int: "an integer", list: "a list"}[typ]  # type: ignore[index]
            raise ConfigError(f"{where}.{key} must be {want}, not {json.dumps(value)}.")
        kw[name] = value
    if "file_pattern" not in kw:
        raise ConfigError(
            f"{where} has no filePattern: give the files to tail, e.g. /var/log/app.log*."
        )
    pattern = os.path.expanduser(kw["file_pattern"])
    kw["file_pattern"] = pattern if os.path.isabs(pattern) else str(base / pattern)
    if "data_processing_options" in kw:
        kw["data_processing_options"] = tuple(
            _option(f"{where}.dataProcessingOptions[{j}]", o)
            for j, o in enumerate(kw["data_processing_options"])
        )
    return Flow(**kw)


def _option(where: str, doc: Any) -> ProcessingOption:
    if not isinstance(doc, dict):
        raise ConfigError(f'{where} must be an object such as {{"optionName": "SINGLELINE"}}.')
    for key in doc:
        if key not in _OPTION_KEYS:
            raise ConfigError(_unknown(where, key, _OPTION_KEYS))
    name = doc.get("optionName")
    if name in ("CSVTOJSON", "ADDBRACKETS", "ADDMETADATA", "ADDEC2METADATA"):
        raise ConfigError(
            f"{where}: optionName {name} is not implemented by bdlab's agent "
            f"(it has {', '.join(PROCESSING_OPTIONS)})."
        )
    _choice(where, "optionName", name, PROCESSING_OPTIONS)
    fields = doc.get("customFieldNames")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(x, str) for x in fields)
    ):
        raise ConfigError(f"{where}.customFieldNames must be a list of strings.")
    pattern = doc.get("matchPattern")
    if pattern is not None and not isinstance(pattern, str):
        raise ConfigError(f"{where}.matchPattern must be a regular expression (a string).")
    opt = ProcessingOption(
        option_name=str(name),
        log_format=doc.get("logFormat"),
        match_pattern=pattern,
        custom_field_names=tuple(fields) if fields is not None else None,
        json_format=doc.get("jsonFormat", "COMPACT"),
    )
    if name == "LOGTOJSON":
        _choice(where, "logFormat", opt.log_format, LOG_FORMATS)
        _choice(where, "jsonFormat", opt.json_format, ("COMPACT",))
        if opt.match_pattern is not None and opt.custom_field_names is None:
            raise ConfigError(f"{where}: matchPattern needs customFieldNames (one per group).")
    elif len(doc) > 1:
        raise ConfigError(f"{where}: SINGLELINE takes no other keys.")
    # Build once here so a bad regex or field list is a config error, not a crash later.
    from sim.logship.processing import converter

    converter(opt, where)
    return opt


def _choice(where: str, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{where}: {key} must be one of {', '.join(allowed)}, not {json.dumps(value)}."
        )


def _range(where: str, key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{where}: {key} = {value} is outside {low:,}..{high:,}.")


def _unknown(where: str, key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    return f"{where}: unknown key {key!r}{hint}."


def _fixed_prefix(pattern: str) -> Path:
    """The folder part of ``pattern`` before any glob character."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")
