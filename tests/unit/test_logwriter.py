"""The live log writer (formats, rename rotation, determinism, pacing) and the agent's
data processing options (LOGTOJSON, SINGLELINE), without network."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sim.datagen.logwriter import LOG_FORMATS, LogWriter
from sim.logship.config import AgentConfig, ConfigError, ProcessingOption
from sim.logship.processing import LogToJson, chain, single_line

START = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def lines_of(*paths: Path) -> list[bytes]:
    return [line for p in paths for line in p.read_bytes().splitlines(keepends=True)]


# --------------------------------------------------------------------------- writer
def test_same_seed_same_lines_however_the_writes_are_cut(tmp_path: Path) -> None:
    a = LogWriter(tmp_path / "a.log", seed=7, start=START)
    for n in (1, 4095, 2, 3000, 0, 7):  # crosses generation blocks mid-write
        a.write(n)
    b = LogWriter(tmp_path / "b.log", seed=7, start=START)
    b.write(7105)
    c = LogWriter(tmp_path / "c.log", seed=8, start=START)
    c.write(7105)
    assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()
    assert (tmp_path / "a.log").read_bytes() != (tmp_path / "c.log").read_bytes()
    assert a.lines_written == 7105 and len(lines_of(tmp_path / "a.log")) == 7105


@pytest.mark.parametrize("fmt", LOG_FORMATS)
def test_every_format_is_one_line_per_request_on_the_rate_timeline(
    tmp_path: Path, fmt: str
) -> None:
    w = LogWriter(tmp_path / "x.log", fmt=fmt, rate=4.0, start=START)
    w.write(9)
    lines = lines_of(tmp_path / "x.log")
    assert len(lines) == 9 and all(line.endswith(b"\n") for line in lines)
    text = [line.decode() for line in lines]
    if fmt == "json":
        rows = [json.loads(t) for t in text]
        assert list(rows[0]) == [
            "ts",
            "client_ip",
            "method",
            "path",
            "status",
            "bytes",
            "latency_ms",
            "user_agent",
            "referrer",
        ]
        assert rows[8]["ts"] == (START + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        return
    # Line i is stamped START + i / rate: 4 lines share each second.
    assert "[06/May/2024:07:08:09 +0000]" in text[3]
    assert "[06/May/2024:07:08:11 +0000]" in text[8]
    fmt_parser = {"common": "COMMONAPACHELOG"}.get(fmt, "COMBINEDAPACHELOG")
    parser = LogToJson(fmt_parser)
    parsed = [parser.parse(t.rstrip("\n")) for t in text]
    assert all(p is not None for p in parsed), text
    if fmt == "common":
        assert all(t.rstrip("\n").endswith(("-", *"0123456789")) for t in text)
        assert all('" "' not in t for t in text)  # no referrer/agent fields
    if fmt == "nginx":
        assert all(t.rstrip("\n").endswith('"-"') for t in text)  # $http_x_forwarded_for
        assert all(p is not None and p["bytes"] is not None for p in parsed)  # 0, never "-"


def test_rename_rotation_keeps_n_files_and_moves_inodes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    w = LogWriter(log, keep=2, start=START)
    w.write(3)
    first_inode = log.stat().st_ino
    w.rotate()
    assert (tmp_path / "access.log.1").stat().st_ino == first_inode  # renamed, not copied
    assert log.stat().st_size == 0 and log.stat().st_ino != first_inode
    w.write(4)
    w.rotate()
    w.write(5)
    w.rotate()  # the first file (3 lines) falls off the end (keep=2)
    w.write(6)
    assert w.files() == [tmp_path / "access.log.2", tmp_path / "access.log.1", log]
    assert [len(lines_of(p)) for p in w.files()] == [4, 5, 6]
    # Together they are lines 3..17 of the one timeline, in order.
    assert b"".join(lines_of(*w.files())) == w.lines(3, 15)
    assert w.rotations == 3


def test_size_rotation_cuts_at_line_boundaries(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    w = LogWriter(log, keep=50, max_bytes=2_000, start=START)
    w.write(100)
    files = w.files()
    assert len(files) > 5
    assert all(0 < p.stat().st_size <= 2_000 for p in files)
    assert b"".join(lines_of(*files)) == w.lines(0, 100)


def test_a_partial_line_is_finished_by_the_next_write_or_in_its_own_file_on_rotation(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    w = LogWriter(log, start=START)
    w.write(2)
    w.write_partial()
    assert not log.read_bytes().endswith(b"\n") and w.lines_written == 2
    w.write(1)
    assert log.read_bytes() == w.lines(0, 4) and w.lines_written == 4
    w.write_partial()
    w.rotate()
    assert (tmp_path / "access.log.1").read_bytes() == w.lines(0, 5)
    w.write(1)
    assert log.read_bytes() == w.lines(5, 1)


def test_rotation_without_reopen_writes_on_into_the_renamed_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    w = LogWriter(log, start=START)
    w.write(2)
    w.rotate(reopen=False)
    w.write(3)  # the server has not been told to reopen its log yet
    assert not log.exists()
    w.reopen()
    w.write(1)
    assert (tmp_path / "access.log.1").read_bytes() == w.lines(0, 5)
    assert log.read_bytes() == w.lines(5, 1)


def test_run_paces_lines_on_an_injected_clock(tmp_path: Path) -> None:
    now = [0.0]
    w = LogWriter(tmp_path / "access.log", rate=50, start=START)
    n = w.run(
        2.0,
        rotate_every_s=0.75,
        tick_s=0.25,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert n == 100 == w.lines_written
    assert w.rotations == 2
    assert b"".join(lines_of(*w.files())) == w.lines(0, 100)


def test_bad_writer_arguments_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="log format must be one of"):
        LogWriter(tmp_path / "x.log", fmt="w3c")
    with pytest.raises(ValueError, match="rate must be > 0"):
        LogWriter(tmp_path / "x.log", rate=0)


# --------------------------------------------------------------------------- LOGTOJSON
COMBINED = (
    '203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)


def test_combined_apache_log_to_json_as_the_agent_names_the_fields() -> None:
    out = LogToJson("COMBINEDAPACHELOG")((COMBINED + "\n").encode())
    assert out is not None and out.endswith(b"}\n") and out.count(b"\n") == 1
    assert json.loads(out) == {
        "host": "203.0.113.9",
        "ident": None,  # "-" is null in the Apache formats
        "authuser": "frank",
        "datetime": "10/Oct/2000:13:55:36 -0700",
        "request": "GET /apache_pb.gif HTTP/1.0",
        "response": "200",
        "bytes": "2326",
        "referer": "http://www.example.com/start.html",
        "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }
    # Key order is the format's; the JSON is compact.
    assert out.startswith(b'{"host":"203.0.113.9","ident":null,"authuser":"frank"')


def test_common_log_and_custom_field_names() -> None:
    common = COMBINED.split(' "http')[0]
    parsed = LogToJson("COMMONAPACHELOG").parse(common)
    assert parsed is not None and parsed["bytes"] == "2326" and "referer" not in parsed
    names = ("ip", "id", "user", "time", "req", "status", "size")
    renamed = LogToJson("COMMONAPACHELOG", custom_field_names=names).parse(common)
    assert renamed is not None and list(renamed) == list(names)
    with pytest.raises(ValueError, match="customFieldNames has 2 names"):
        LogToJson("COMMONAPACHELOG", custom_field_names=("a", "b"))


def test_match_pattern_with_custom_fields_and_lines_that_do_not_match() -> None:
    conv = LogToJson("COMMONAPACHELOG", r"(\w+)=(\d+)", ("key", "value"))
    assert json.loads(conv(b"latency=42\n") or b"") == {"key": "latency", "value": "42"}
    assert conv(b"not a match\n") is None  # dropped, as the agent drops it
    assert LogToJson("COMBINEDAPACHELOG")(b"garbage\n") is None
    with pytest.raises(ValueError, match="needs customFieldNames"):
        LogToJson("COMMONAPACHELOG", r"(\w+)")


def test_error_log_and_syslog_formats() -> None:
    err = (
        "[Wed Oct 11 14:32:52 2000] [core:error] [pid 3540:tid 4567] [client 127.0.0.1] "
        "client denied by server configuration: /export/home/live/ap/htdocs/test"
    )
    e = LogToJson("APACHEERRORLOG").parse(err)
    assert e is not None and (e["module"], e["severity"], e["processid"], e["threadid"]) == (
        "core",
        "error",
        "3540",
        "4567",
    )
    s = LogToJson("SYSLOG").parse("Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages")
    assert s == {
        "timestamp": "Mar 12 12:00:08",
        "hostname": "server2",
        "program": "rcd",
        "processid": "308",
        "message": "Loaded 12 packages",
    }


def test_singleline_and_a_chain_in_order() -> None:
    assert single_line(b"  a\n\t b \n") == b"ab\n"
    run = chain(
        (ProcessingOption("SINGLELINE"), ProcessingOption("LOGTOJSON", "COMBINEDAPACHELOG"))
    )
    assert run is not None
    out = run(("   " + COMBINED + "   \n").encode())
    assert out is not None and json.loads(out)["host"] == "203.0.113.9"
    assert chain(()) is None


def test_agent_json_processing_options_are_checked_when_read(tmp_path: Path) -> None:
    def flows(option: dict[str, object]) -> dict[str, object]:
        return {
            "flows": [
                {
                    "filePattern": "logs/access.log*",
                    "kinesisStream": "weblogs",
                    "dataProcessingOptions": [option],
                }
            ]
        }

    ok = AgentConfig.from_dict(
        flows({"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}), tmp_path
    )
    opt = ok.flows[0].data_processing_options[0]
    assert (opt.option_name, opt.log_format) == ("LOGTOJSON", "COMBINEDAPACHELOG")
    assert ok.flows[0].file_pattern == os.path.join(tmp_path, "logs/access.log*")
    for bad, message in [
        ({"optionName": "LOGTOJSON", "logFormat": "IIS"}, "logFormat must be one of"),
        ({"optionName": "LOGTOJSN"}, "optionName must be one of"),
        ({"optionName": "CSVTOJSON"}, "not implemented by bdlab's agent"),
        (
            {"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "("},
            "dataProcessingOptions",
        ),
        (
            {"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "customFieldNames": ["a"]},
            "customFieldNames has 1 names",
        ),
        ({"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPatern": "x"}, "did you mean"),
    ]:
        with pytest.raises(ConfigError, match=message):
            AgentConfig.from_dict(flows(bad), tmp_path)
