"""S3 lifecycle execution on the emulator clock (domain model, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sim.emulator.clock import Clock
from sim.emulator.providers.s3.lifecycle import DAY, next_midnight, run_pass
from sim.emulator.providers.s3.model import S3Backend

RULES = """<LifecycleConfiguration><Rule><ID>tier</ID><Status>Enabled</Status>
<Filter><Prefix>raw/</Prefix></Filter>
<Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition>
<Transition><Days>90</Days><StorageClass>GLACIER</StorageClass></Transition>
<Expiration><Days>365</Days></Expiration>
<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>
</Rule><Rule><ID>off</ID><Status>Disabled</Status><Filter><Prefix>keep/</Prefix></Filter>
<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>"""


def test_rule_times_round_up_to_midnight_utc() -> None:
    t = datetime(2026, 1, 15, 10, 30, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(next_midnight(t + DAY), UTC) == datetime(2026, 1, 17, tzinfo=UTC)
    midnight = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
    assert next_midnight(midnight) == midnight


def test_transitions_expiration_and_aborts_follow_the_clock(tmp_path: Path) -> None:
    clock = Clock()
    s3 = S3Backend(tmp_path, clock)
    s3.create_bucket("lake", "us-east-1", None)
    s3.put_config("lake", "lifecycle", RULES)
    big = b"x" * (200 * 1024)
    s3.put_bytes("lake", "raw/big.bin", big)
    s3.put_bytes("lake", "raw/small.bin", b"tiny")  # < 128 KiB: never transitioned
    s3.put_bytes("lake", "keep/k.bin", big)  # rule disabled
    s3.put_bytes("lake", "other/o.bin", big)  # outside the prefix
    upload = s3.create_upload("lake", "raw/partial.bin", {})
    assert set(run_pass(s3, clock.now()).values()) == {0}
    clock.advance(9 * DAY)
    assert run_pass(s3, clock.now())["aborted"] == 1
    assert s3.list_uploads("lake") == [] and upload
    clock.advance(23 * DAY)  # day 32: STANDARD_IA
    assert run_pass(s3, clock.now())["transitioned"] == 1
    assert s3.head("lake", "raw/big.bin").storage_class == "STANDARD_IA"
    assert s3.head("lake", "raw/small.bin").storage_class == "STANDARD"
    clock.advance(60 * DAY)  # day 92: GLACIER, never back up the waterfall
    run_pass(s3, clock.now())
    assert s3.head("lake", "raw/big.bin").storage_class == "GLACIER"
    clock.advance(300 * DAY)  # day 392: expired
    assert run_pass(s3, clock.now())["expired"] == 2
    assert {o.key for o in s3.iter_keys("lake")} == {"keep/k.bin", "other/o.bin"}
