"""The log-shipping agent's parts that need no network: file identity and ordering,
checkpoints, configuration rules, and the Firehose sink's batching and per-entry retry
(bdlab has no Firehose provider of its own yet, so that sink is exercised here against a
scripted stand-in for PutRecordBatch; the Kinesis sink has integration tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sim.logship import Agent, AgentConfig, ConfigError, Flow, ShipError
from sim.logship.sinks import FIREHOSE_MAX_BYTES, FirehoseSink
from sim.logship.tailer import Checkpoint, CheckpointError, CheckpointStore, Tracker


def lines(tracker: Tracker) -> list[bytes]:
    """Read every complete line the tracker sees now, oldest file first, and ack them."""
    tracker.refresh()
    out = []
    for tf in tracker.ordered():
        for line, end in list(tracker.read_chunk(tf)):
            tracker.consumed(tf, end)
            out.append(line)
        tracker.ack({tf.key: tf.read_offset})
    return out


def test_a_checkpoint_applies_only_to_the_same_bytes_on_the_same_inode(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first file line 1\nfirst file line 2\n")
    t = Tracker(str(log), "START_OF_FILE")
    assert lines(t) == [b"first file line 1\n", b"first file line 2\n"]
    (saved,) = t.checkpoints()
    assert saved.offset == log.stat().st_size and saved.fp_len == saved.offset
    t.close()

    resumed = Tracker(str(log), "START_OF_FILE")
    resumed.restore([saved])
    with open(log, "ab") as f:
        f.write(b"line 3\n")
    assert lines(resumed) == [b"line 3\n"]
    resumed.close()

    # Same inode number, other bytes (a deleted file's inode reused): start from 0.
    reused = Checkpoint(saved.dev, saved.ino, 18, saved.fp_len, "0" * 40, saved.path)
    t2 = Tracker(str(log), "START_OF_FILE")
    t2.restore([reused])
    assert len(lines(t2)) == 3
    t2.close()


def test_files_found_in_one_scan_are_read_oldest_rotation_first(tmp_path: Path) -> None:
    for name, text in [("a.log", b"c\n"), ("a.log.1", b"b\n"), ("a.log.2", b"a\n")]:
        (tmp_path / name).write_bytes(text)
        os.utime(tmp_path / name, ns=(10**18, 10**18))  # same mtime: names decide
    t = Tracker(str(tmp_path / "a.log*"), "START_OF_FILE")
    assert lines(t) == [b"a\n", b"b\n", b"c\n"]
    t.close()


def test_end_of_file_applies_to_a_first_start_only_and_stops_at_the_last_newline(
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"old\nhalf")
    t = Tracker(str(tmp_path / "a.log*"), "END_OF_FILE")
    t.restore(None)
    assert lines(t) == []
    with open(log, "ab") as f:
        f.write(b" done\n")
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"new file\n")  # appeared after the start: read from its beginning
    assert lines(t) == [b"half done\n", b"new file\n"]
    t.close()


def test_a_deleted_file_is_finished_through_its_descriptor_then_let_go(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"1\n")
    t = Tracker(str(log), "START_OF_FILE")
    t.refresh()
    with open(log, "ab") as f:
        f.write(b"2\npartial")
    log.unlink()
    assert lines(t) == [b"1\n", b"2\n"]
    t.refresh()
    assert t.files == {} and t.abandoned_bytes == len(b"partial")


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    t = Tracker(str(log), "START_OF_FILE")
    assert len(lines(t)) == 2
    log.write_bytes(b"3\n")  # copytruncate: same inode, shorter
    assert lines(t) == [b"3\n"] and t.truncations == 1
    t.close()


def test_checkpoints_round_trip_and_a_damaged_file_is_one_line(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt.json")
    assert store.load() == {}
    c = Checkpoint(1, 2, 30, 30, "ab", "/x/a.log")
    store.save({"kinesis:s:/x/a.log*": [c]})
    assert store.load() == {"kinesis:s:/x/a.log*": [c]}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.json"]  # no temporary left
    (tmp_path / "ckpt.json").write_text('{"flows": ')
    with pytest.raises(CheckpointError, match="is damaged .*move it away") as err:
        store.load()
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- config
def flow(**kw: Any) -> dict[str, Any]:
    return {"filePattern": "/var/log/app.log*", "kinesisStream": "s", **kw}


def test_defaults_follow_the_kinesis_agent(tmp_path: Path) -> None:
    cfg = AgentConfig.from_dict({"flows": [flow()]}, tmp_path, "agent")
    f = cfg.flows[0]
    assert (f.partition_key_option, f.initial_position) == ("RANDOM", "END_OF_FILE")
    assert (f.max_buffer_age_millis, f.max_buffer_size_records) == (60_000, 500)
    assert f.buffer_bytes == 5 * 1024 * 1024 and f.flow_id == "kinesis:s:/var/log/app.log*"
    fh = AgentConfig.from_dict({"flows": [{"filePattern": "/l/*", "deliveryStream": "d"}]})
    assert fh.flows[0].buffer_bytes == 4 * 1024 * 1024 and fh.flows[0].flow_id == "fh:d:/l/*"
    assert cfg.checkpoint_file == tmp_path / "agent.checkpoints.json"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"flows": [flow(maxBufferSizeRecords=501)]},
            r"maxBufferSizeRecords = 501 is outside 1..500",
        ),
        (
            {"flows": [flow(maxBufferAgeMillis=10)]},
            r"maxBufferAgeMillis = 10 is outside 1,000..900,000",
        ),
        ({"flows": [flow(deliveryStream="d")]}, "set exactly one of kinesisStream"),
        ({"flows": [flow(partitionKeyOption="HASH")]}, "partitionKeyOption must be one of RANDOM"),
        ({"flows": [flow(multiLineStartPattern="^x")]}, "does not implement; remove it"),
        ({"flows": [flow(maxBufferSizeRecords="10")]}, "must be an integer"),
        ({"flows": [{"kinesisStream": "s"}]}, "has no filePattern"),
        ({"flows": []}, "has no flows"),
        ({"flow": []}, "unknown key 'flow' .did you mean 'flows'"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        AgentConfig.from_dict(doc)
    assert "\n" not in str(err.value)


def test_endpoint_and_credential_keys_are_listed_as_ignored() -> None:
    cfg = AgentConfig.from_dict({"kinesis.endpoint": "x", "awsAccessKeyId": "k", "flows": [flow()]})
    assert cfg.ignored == ("kinesis.endpoint", "awsAccessKeyId")


# --------------------------------------------------------------------------- Firehose
class ScriptedFirehose:
    """Answers PutRecordBatch as Firehose does, failing the entries ``fail`` names
    ((call number, index in the call) -> error code) inside an HTTP 200."""

    def __init__(self, fail: dict[tuple[int, int], str] | None = None) -> None:
        self.fail = fail or {}
        self.calls: list[list[bytes]] = []
        self.delivered: list[bytes] = []

    def describe_delivery_stream(self, DeliveryStreamName: str) -> dict[str, Any]:
        return {"DeliveryStreamDescription": {"DeliveryStreamName": DeliveryStreamName}}

    def put_record_batch(
        self, DeliveryStreamName: str, Records: list[dict[str, bytes]]
    ) -> dict[str, Any]:
        n = len(self.calls)
        batch = [r["Data"] for r in Records]
        assert len(batch) <= 500 and sum(map(len, batch)) <= FIREHOSE_MAX_BYTES
        self.calls.append(batch)
        out = []
        for i, data in enumerate(batch):
            code = self.fail.get((n, i))
            if code:
                out.append({"ErrorCode": code, "ErrorMessage": "try again"})
            else:
                self.delivered.append(data)
                out.append({"RecordId": f"r{n}-{i}"})
        failed = sum("ErrorCode" in o for o in out)
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": out}


def test_firehose_batches_by_count_and_bytes_and_resends_only_failed_entries() -> None:
    fh = ScriptedFirehose({(0, 3): "ServiceUnavailableException", (0, 499): "InternalFailure"})
    sink = FirehoseSink(fh, "d", sleep=lambda s: None)
    records = [(b"%05d\n" % i, "") for i in range(1_200)]
    sink.put(records)
    # The 2 failed entries lead the next call, ahead of the records not yet sent.
    assert [len(c) for c in fh.calls] == [500, 500, 202]
    assert fh.calls[1][:3] == [b"00003\n", b"00499\n", b"00500\n"]
    assert sorted(fh.delivered) == sorted(d for d, _ in records)
    assert (sink.stats.sent, sink.stats.retried, sink.stats.throttled) == (1_200, 2, 1)

    big = [(b"x" * (1024 * 1000 - 1) + b"\n", "")] * 9  # 1,000 KiB each: 4 per 4 MiB call
    fh2 = ScriptedFirehose()
    FirehoseSink(fh2, "d", sleep=lambda s: None).put(big)
    assert [len(c) for c in fh2.calls] == [4, 4, 1]


def test_firehose_gives_up_after_attempts_without_progress() -> None:
    fh = ScriptedFirehose({(n, 0): "ServiceUnavailableException" for n in range(10)})
    sink = FirehoseSink(fh, "d", sleep=lambda s: None, max_attempts=3)
    with pytest.raises(ShipError, match="1 records not accepted after 3 attempts"):
        sink.put([(b"a\n", "")])


def test_an_agent_flow_to_firehose_checkpoints_after_acknowledgement(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(7)))
    fh = ScriptedFirehose({(0, 1): "ServiceUnavailableException"})
    config = AgentConfig(
        (
            Flow(
                str(log),
                delivery_stream="d",
                initial_position="START_OF_FILE",
                max_buffer_size_records=5,
            ),
        ),
        tmp_path / "ckpt.json",
    )
    agent = Agent(config, lambda service: fh, sleep=lambda s: None)
    assert agent.run_once().records_sent == 5
    saved = json.loads((tmp_path / "ckpt.json").read_text())["flows"]["fh:d:" + str(log)]
    assert saved[0]["offset"] == len(b"".join(b"line %d\n" % i for i in range(5)))
    agent.stop()
    assert sorted(fh.delivered) == sorted(log.read_bytes().splitlines(keepends=True))
