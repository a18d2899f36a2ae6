"""AWS's own consumer, the KCL 3 (Java) through amazon-kclpy's MultiLangDaemon, reads a
stream from bdlab's emulator end to end: HTTP/2, AWS CBOR, ListShards with ShardFilter,
leases, checkpoints, worker metrics and coordinator state in DynamoDB, and a split while it
runs, with the parent drained before its children.

The KCL is fetched once (``bdlab setup --kcl``, 76 MB of jars and amazon_kclpy) and runs on
wall time: the test waits for an outside process, not for the emulator's clock.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import clients, profiles
from sim.kinesis import kcl
from sim.kinesis.producer import Producer
from tests.conftest import settings_for

pytestmark = pytest.mark.integration
PROCESSOR = Path(__file__).with_name("kcl") / "processor.py"


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> kcl.KclInstall:
    cfg = settings_for(tmp_path_factory.mktemp("kcl-settings"))
    return kcl.ensure_kcl(cfg.jars_path, repo=cfg.maven_repo)


def lines(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(x) for x in out.read_text().splitlines() if x.strip()]


def wait_for(out: Path, n: int, daemon: kcl.MultiLangDaemon, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len({x["data"] for x in lines(out)}) >= n:
            return
        assert daemon.running(), f"the KCL daemon exited:\n{daemon.tail()}"
        time.sleep(0.5)  # an outside JVM on wall time, not the emulator's clock
    got = len({x["data"] for x in lines(out)})
    pytest.fail(f"KCL processed {got} of {n} records in {timeout_s} s:\n{daemon.tail()}")


# FANOUT (SubscribeToShard over HTTP/2 with CBOR events) takes ~35 s on 2 cores: it runs
# with `-m slow`; boto3's fan-out tests and the h2c/CBOR tests run by default.
@pytest.fixture(params=["POLLING", pytest.param("FANOUT", marks=pytest.mark.slow)])
def daemon(
    install: kcl.KclInstall,
    private_profile: profiles.Profile,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[kcl.MultiLangDaemon, Path, str]]:
    """A KCL worker reading with GetRecords (POLLING) or SubscribeToShard over HTTP/2
    (FANOUT, enhanced fan-out: the KCL registers its consumer itself)."""
    out = tmp_path / "out.jsonl"
    mode = request.param
    props = kcl.properties(
        stream=f"kcl-{mode.lower()}",
        application=f"kcl-{mode.lower()}-app",
        retrieval_mode=mode,
        executable=f"{sys.executable} {PROCESSOR}",
        endpoint_url=private_profile.endpoint_url,
        region=private_profile.region or "us-east-1",
    )
    d = kcl.MultiLangDaemon(
        install,
        props,
        tmp_path,
        env={
            "AWS_ACCESS_KEY_ID": private_profile.access_key or "test",
            "AWS_SECRET_ACCESS_KEY": private_profile.secret_key or "test",
            "KCL_OUT": str(out),
        },
    )
    yield d, out, mode
    d.stop()


def test_kcl_reads_the_stream_through_a_split(
    private_profile: profiles.Profile, daemon: tuple[kcl.MultiLangDaemon, Path, str]
) -> None:
    d, out, mode = daemon
    stream = f"kcl-{mode.lower()}"
    kin = clients.client("kinesis", private_profile)
    kin.create_stream(StreamName=stream, ShardCount=2)
    producer = Producer(kin, stream, ordered=True)
    keys = [f"user-{i}" for i in range(10)]

    def batch(start: int, n: int) -> None:
        producer.put((f"{k}:{start + j}".encode(), k) for j in range(n) for k in keys)

    batch(0, 20)  # 200 records
    d.start()
    wait_for(out, 200, d)

    # reshard while the KCL runs: shard 0 splits in two, the next records go to its children
    shard0 = kin.list_shards(StreamName=stream)["Shards"][0]
    lo, hi = (int(shard0["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    kin.split_shard(
        StreamName=stream,
        ShardToSplit=shard0["ShardId"],
        NewStartingHashKey=str((lo + hi) // 2),
    )
    batch(20, 20)  # 200 more, in the children of shard 0 and in shard 1
    wait_for(out, 400, d)

    got = lines(out)
    assert {x["data"] for x in got} == {f"{k}:{j}" for k in keys for j in range(40)}
    # per key, in order: the KCL drained the parent before it started either child
    for k in keys:
        seen = [int(x["data"].split(":")[1]) for x in got if x["key"] == k]
        firsts = list(dict.fromkeys(seen))
        assert firsts == sorted(firsts), f"{k} out of order: {firsts}"
    shards_read = {x["shard"] for x in got}
    assert len(shards_read) == 4  # the two first shards and both children

    # the KCL's lease table (in the emulator's DynamoDB) says the parent is finished
    ddb = clients.client("dynamodb", private_profile)
    deadline = time.monotonic() + 60
    while True:
        leases = {
            i["leaseKey"]["S"]: i.get("checkpoint", {}).get("S")
            for i in ddb.scan(TableName=f"{stream}-app")["Items"]
        }
        if leases.get(shard0["ShardId"]) == "SHARD_END" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert leases.get(shard0["ShardId"]) == "SHARD_END", leases
    assert d.stop() is not None
