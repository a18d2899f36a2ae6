"""RestoreObject's rules (sim/emulator/providers/s3/restore.py), on a given clock."""

from __future__ import annotations

import pytest

from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3 import restore as R

DAY = 86_400.0
T0 = 1_767_225_600.0 + 13 * 3600  # 2026-01-01 13:00 UTC


def test_restore_timeline_and_expiry_rounding() -> None:
    status, rec = R.request("GLACIER", {}, 3, "Standard", T0)
    assert status == 202
    assert rec["ready"] == T0 + 5 * 3600  # 18:00
    assert rec["expiry"] == T0 - 13 * 3600 + 4 * DAY  # 3 days after 18:00 -> next midnight
    assert R.header("GLACIER", rec, T0 + 60) == 'ongoing-request="true"'
    assert not R.readable("GLACIER", rec, T0 + 60)
    assert R.readable("GLACIER", rec, rec["ready"])
    assert R.header("GLACIER", rec, rec["ready"]) == (
        'ongoing-request="false", expiry-date="Mon, 05 Jan 2026 00:00:00 GMT"'
    )
    assert not R.readable("GLACIER", rec, rec["expiry"])  # expired: archived again
    assert R.header("GLACIER", rec, rec["expiry"]) is None
    status, again = R.request("GLACIER", rec, 1, "Bulk", rec["expiry"] + 1)
    assert status == 202 and again["ready"] == rec["expiry"] + 1 + 12 * 3600


def test_restore_requests_that_aws_refuses() -> None:
    with pytest.raises(AwsError) as e:
        R.request("STANDARD_IA", {}, 1, "Standard", T0)
    assert (e.value.code, e.value.status) == ("InvalidObjectState", 403)
    for days in (None, 0, R.MAX_DAYS + 1):
        with pytest.raises(AwsError) as e:
            R.request("GLACIER", {}, days, "Standard", T0)
        assert e.value.code == "InvalidArgument"
    with pytest.raises(AwsError) as e:
        R.request("GLACIER", {}, 1, "Fast", T0)
    assert e.value.code == "MalformedXML"
    with pytest.raises(AwsError) as e:
        R.request("DEEP_ARCHIVE", {}, 1, "Expedited", T0)
    assert e.value.code == "InvalidArgument" and "Standard or Bulk" in e.value.message
    _, rec = R.request("DEEP_ARCHIVE", {}, 1, "Bulk", T0)
    assert rec["ready"] == T0 + 48 * 3600
    with pytest.raises(AwsError) as e:
        R.request("DEEP_ARCHIVE", rec, 1, "Bulk", T0 + 3600)
    assert (e.value.code, e.value.status) == ("RestoreAlreadyInProgress", 409)


def test_objects_outside_the_archive_classes_are_always_readable() -> None:
    assert R.readable("STANDARD", {}, T0)
    assert R.readable("GLACIER_IR", {}, T0)
    assert not R.readable("GLACIER", {}, T0)
    assert R.state("STANDARD", {"ready": 0, "expiry": T0 * 2}, T0) is None
