"""Restoring archived objects (RestoreObject), on the emulator clock.

An object in GLACIER or DEEP_ARCHIVE (the archive classes of the storage-class table in
``model.py``) cannot be read (GET answers InvalidObjectState, CopyObject and UploadPartCopy
ObjectNotInActiveTierError) until a restore makes a temporary copy readable, as the S3 user
guide ("Working with archived objects") describes:

- The retrieval takes time by tier. The emulator uses the upper end of what AWS documents:
  GLACIER Expedited 5 minutes, Standard 5 hours, Bulk 12 hours; DEEP_ARCHIVE Standard 12
  hours, Bulk 48 hours (Expedited is not offered for DEEP_ARCHIVE). Advance the clock
  (``POST /_bdlab/clock``) instead of waiting.
- The copy expires ``Days`` after the restore completes, rounded up to the next midnight UTC.
  A restore request on a restored object sets a new expiry from now (200 instead of 202); one
  on an object still being restored gets 409 RestoreAlreadyInProgress.
- The object keeps its storage class throughout; HEAD and GET say where the restore stands in
  ``x-amz-restore``. Copying a restored object (e.g. onto itself with StorageClass STANDARD)
  is how it leaves the archive for good.

The state is a pure function of the restore request and the clock, so nothing has to run in
the background, and it survives restarts with the object's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3.lifecycle import DAY, next_midnight
from sim.emulator.providers.s3.model import ARCHIVE_CLASSES

TIERS = ("Expedited", "Standard", "Bulk")
RETRIEVAL_SECONDS = {
    ("GLACIER", "Expedited"): 5 * 60.0,
    ("GLACIER", "Standard"): 5 * 3600.0,
    ("GLACIER", "Bulk"): 12 * 3600.0,
    ("DEEP_ARCHIVE", "Standard"): 12 * 3600.0,
    ("DEEP_ARCHIVE", "Bulk"): 48 * 3600.0,
}
MAX_DAYS = 30_000


@dataclass(frozen=True)
class RestoreState:
    ongoing: bool
    ready_at: float
    expiry: float


def state(storage_class: str, restore: dict[str, Any], now: float) -> RestoreState | None:
    """Where a restore stands at ``now``: None when there is none (or its copy expired)."""
    if storage_class not in ARCHIVE_CLASSES or not restore:
        return None
    ready, expiry = float(restore["ready"]), float(restore["expiry"])
    if now >= expiry:
        return None
    return RestoreState(now < ready, ready, expiry)


def readable(storage_class: str, restore: dict[str, Any], now: float) -> bool:
    """Whether GET may return the bytes (always, outside the archive classes)."""
    if storage_class not in ARCHIVE_CLASSES:
        return True
    s = state(storage_class, restore, now)
    return s is not None and not s.ongoing


def check_readable(storage_class: str, restore: dict[str, Any], now: float) -> None:
    """403 InvalidObjectState when GET may not return the bytes (see ``readable``)."""
    if not readable(storage_class, restore, now):
        raise AwsError(
            "InvalidObjectState",
            "The operation is not valid for the object's storage class",
            403,
            StorageClass=storage_class,
        )


def check_copy_source(storage_class: str, restore: dict[str, Any], now: float) -> None:
    """403 ObjectNotInActiveTierError when a copy's source is archived and not restored."""
    if not readable(storage_class, restore, now):
        raise AwsError(
            "ObjectNotInActiveTierError",
            "The source object of the COPY action is not in the active tier and is only "
            f"stored in {storage_class}: restore it first (RestoreObject)",
            403,
        )


def request(
    storage_class: str, restore: dict[str, Any], days: int | None, tier: str, now: float
) -> tuple[int, dict[str, Any]]:
    """A RestoreObject request: (HTTP status, the object's new restore record)."""
    if storage_class not in ARCHIVE_CLASSES:
        raise AwsError(
            "InvalidObjectState",
            "Restore is not allowed for the object's current storage class",
            403,
            StorageClass=storage_class,
        )
    if tier not in TIERS:
        raise AwsError(
            "MalformedXML",
            f"Tier must be one of {', '.join(TIERS)} (got {tier!r})",
            400,
        )
    if days is None or not 1 <= days <= MAX_DAYS:
        raise AwsError(
            "InvalidArgument",
            f"Days must be an integer from 1 to {MAX_DAYS} when restoring a {storage_class} object",
            400,
            ArgumentName="Days",
        )
    seconds = RETRIEVAL_SECONDS.get((storage_class, tier))
    if seconds is None:
        raise AwsError(
            "InvalidArgument",
            f"{tier} retrieval is not available for the {storage_class} storage class "
            "(use Standard or Bulk)",
            400,
            ArgumentName="Tier",
        )
    current = state(storage_class, restore, now)
    if current is not None and current.ongoing:
        raise AwsError("RestoreAlreadyInProgress", "Object restore is already in progress", 409)
    if current is not None:  # restored: a new expiry, counted from now
        return 200, {**restore, "days": days, "expiry": next_midnight(now + days * DAY)}
    ready = now + seconds
    record = {
        "tier": tier,
        "days": days,
        "ready": ready,
        "expiry": next_midnight(ready + days * DAY),
    }
    return 202, record


def header(storage_class: str, restore: dict[str, Any], now: float) -> str | None:
    """The ``x-amz-restore`` header value, or None."""
    s = state(storage_class, restore, now)
    if s is None:
        return None
    if s.ongoing:
        return 'ongoing-request="true"'
    return f'ongoing-request="false", expiry-date="{formatdate(s.expiry, usegmt=True)}"'
