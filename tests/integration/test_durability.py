"""What the emulator acknowledged survives kill -9 and a clean down/up."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import clients, profiles, settings
from sim.emulator.server import wait_healthy
from tests.conftest import free_port

pytestmark = pytest.mark.integration


class Proc:
    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port = state, port
        self.p: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sim.emulator",
                "--port",
                str(self.port),
                "--state-dir",
                str(self.state),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert wait_healthy(f"http://127.0.0.1:{self.port}/_bdlab/health", 30, self.p), (
            self.p.stderr.read() if self.p.stderr else ""
        )
        return self

    def kill9(self) -> None:
        assert self.p is not None
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.terminate()
            self.p.wait(15)


@pytest.fixture()
def proc(tmp_path: Path) -> Iterator[Proc]:
    p = Proc(tmp_path / "state", free_port()).start()
    yield p
    p.stop()


def _client(port: int, service: str) -> Any:
    return clients.client(
        service, profiles.resolve(settings.load({"port": port}, environ={}), "embedded")
    )


def test_acknowledged_writes_survive_kill9(proc: Proc) -> None:
    s3 = _client(proc.port, "s3")
    s3.create_bucket(Bucket="durable")
    payloads = {f"obj/{i:04d}": os.urandom(1000 + i) for i in range(200)}
    acked: dict[str, bytes] = {}
    lock = threading.Lock()

    def writer(keys: list[str]) -> None:
        for k in keys:
            s3.put_object(Bucket="durable", Key=k, Body=payloads[k])
            with lock:
                acked[k] = payloads[k]

    keys = sorted(payloads)
    threads = [threading.Thread(target=writer, args=(keys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    big = os.urandom(9 * 1024 * 1024)
    s3.put_object(Bucket="durable", Key="big", Body=big)
    s3.put_object(Bucket="durable", Key="obj/0000", Body=b"overwritten")
    acked["obj/0000"] = b"overwritten"
    s3.delete_object(Bucket="durable", Key="obj/0001")
    acked.pop("obj/0001")
    sqs = _client(proc.port, "sqs")
    url = sqs.create_queue(QueueName="durable-q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="keep me")
    ddb = _client(proc.port, "dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="t", Item={"k": {"S": "a"}, "v": {"N": "1"}})
    kin = _client(proc.port, "kinesis")
    kin.create_stream(StreamName="st", ShardCount=2)
    seqs = [
        kin.put_record(StreamName="st", Data=f"r{i}".encode(), PartitionKey=f"k{i}")[
            "SequenceNumber"
        ]
        for i in range(20)
    ]

    proc.kill9()
    proc.start()

    s3 = _client(proc.port, "s3")
    found = {
        o["Key"]
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket="durable", Prefix="obj/")
        for o in p.get("Contents", [])
    }
    assert found == set(acked)
    for k, v in acked.items():
        assert s3.get_object(Bucket="durable", Key=k)["Body"].read() == v
    assert (
        hashlib.md5(s3.get_object(Bucket="durable", Key="big")["Body"].read()).digest()
        == hashlib.md5(big).digest()
    )
    sqs = _client(proc.port, "sqs")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["keep me"]
    ddb = _client(proc.port, "dynamodb")
    assert ddb.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]["v"]["N"] == "1"
    kin = _client(proc.port, "kinesis")
    got = []
    for shard in kin.list_shards(StreamName="st")["Shards"]:
        it = kin.get_shard_iterator(
            StreamName="st", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        got += [r["SequenceNumber"] for r in kin.get_records(ShardIterator=it)["Records"]]
    assert sorted(got) == sorted(seqs)  # same records, same sequence numbers


def test_clean_restart_keeps_state_and_clock(proc: Proc) -> None:
    import json
    import urllib.request

    s3 = _client(proc.port, "s3")
    s3.create_bucket(Bucket="clean")
    s3.put_object(Bucket="clean", Key="k", Body=b"v")
    base = f"http://127.0.0.1:{proc.port}"
    req = urllib.request.Request(base + "/_bdlab/clock", data=b'{"advance": 86400}', method="POST")
    ahead = json.loads(urllib.request.urlopen(req).read())["now"]
    proc.stop()
    proc.start()
    assert _client(proc.port, "s3").get_object(Bucket="clean", Key="k")["Body"].read() == b"v"
    assert json.loads(urllib.request.urlopen(base + "/_bdlab/clock").read())["now"] >= ahead
