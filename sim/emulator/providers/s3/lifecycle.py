"""S3 lifecycle rules, executed on the emulator clock (transitions, expiration, aborting
incomplete multipart uploads, and on versioned buckets the noncurrent versions' expiration
and transitions and expired delete markers), as the S3 user guide describes them:

- A rule applies from the object's creation time plus ``Days``, rounded up to the next
  midnight UTC; a ``Date`` applies from that midnight UTC.
- Transitions only go down the storage-class waterfall (never back to a warmer class); the
  waterfall is ``model.WATERFALL``, from the one table of storage classes in ``model.py``.
- Objects smaller than 128 KiB are not transitioned unless the rule's filter explicitly sets a
  smaller ``ObjectSizeGreaterThan`` (AWS's default since September 2024).
- Rules reach this module only after ``configs.check_lifecycle`` accepted them at PUT time
  (an action per rule, positive days, expiration after transition, 30 days before
  STANDARD_IA / ONEZONE_IA, ...), so a rule AWS would refuse never runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sim.emulator.providers.s3.model import WATERFALL, S3Backend

log = logging.getLogger("bdlab.s3.lifecycle")
DAY = 86_400.0
MIN_TRANSITION_SIZE = 128 * 1024


@dataclass
class Rule:
    id: str
    enabled: bool
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    size_gt: int | None = None
    size_lt: int | None = None
    transitions: list[tuple[float | None, float | None, str]] = field(default_factory=list)
    expire_days: float | None = None
    expire_date: float | None = None
    abort_days: float | None = None
    expired_marker: bool = False  # ExpiredObjectDeleteMarker
    noncurrent_days: float | None = None  # NoncurrentVersionExpiration
    newer_noncurrent: int | None = None  # ... NewerNoncurrentVersions kept
    # NoncurrentVersionTransition: (NoncurrentDays, StorageClass, NewerNoncurrentVersions)
    noncurrent_transitions: list[tuple[float, str, int | None]] = field(default_factory=list)


def _date(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _num(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def parse_rules(xml: str) -> list[Rule]:
    root = ET.fromstring(xml)
    for e in root.iter():
        if "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    rules = []
    for r in root.findall("Rule"):
        rule = Rule(id=r.findtext("ID") or "", enabled=(r.findtext("Status") == "Enabled"))
        rule.prefix = r.findtext("Prefix") or ""
        flt = r.find("Filter")
        if flt is not None:
            conj = flt.find("And")
            scope = conj if conj is not None else flt
            rule.prefix = scope.findtext("Prefix") or rule.prefix
            for t in scope.findall("Tag"):
                rule.tags[t.findtext("Key") or ""] = t.findtext("Value") or ""
            gt, lt = scope.findtext("ObjectSizeGreaterThan"), scope.findtext("ObjectSizeLessThan")
            rule.size_gt = int(gt) if gt else None
            rule.size_lt = int(lt) if lt else None
        for t in r.findall("Transition"):
            rule.transitions.append(
                (
                    _num(t.findtext("Days")),
                    _date(t.findtext("Date")),
                    t.findtext("StorageClass") or "STANDARD_IA",
                )
            )
        exp = r.find("Expiration")
        if exp is not None:
            rule.expire_days = _num(exp.findtext("Days"))
            rule.expire_date = _date(exp.findtext("Date"))
            rule.expired_marker = (exp.findtext("ExpiredObjectDeleteMarker") or "") == "true"
        nve = r.find("NoncurrentVersionExpiration")
        if nve is not None:
            rule.noncurrent_days = _num(nve.findtext("NoncurrentDays"))
            newer = nve.findtext("NewerNoncurrentVersions")
            rule.newer_noncurrent = int(newer) if newer else None
        for t in r.findall("NoncurrentVersionTransition"):
            newer = t.findtext("NewerNoncurrentVersions")
            rule.noncurrent_transitions.append(
                (
                    _num(t.findtext("NoncurrentDays")) or 0.0,
                    t.findtext("StorageClass") or "STANDARD_IA",
                    int(newer) if newer else None,
                )
            )
        ab = r.find("AbortIncompleteMultipartUpload")
        if ab is not None:
            rule.abort_days = _num(ab.findtext("DaysAfterInitiation"))
        rules.append(rule)
    return rules


def next_midnight(ts: float) -> float:
    """The first midnight UTC at or after ``ts`` (S3 rounds rule times up to it)."""
    day_start = ts - ts % DAY
    return day_start if day_start == ts else day_start + DAY


def due(created: float, days: float | None, date: float | None) -> float | None:
    if days is not None:
        return next_midnight(created + days * DAY)
    if date is not None:
        return next_midnight(date)
    return None


def run_pass(s3: S3Backend, now: float, buckets: set[str] | None = None) -> dict[str, int]:
    """Apply every enabled lifecycle rule of every bucket (or of ``buckets``) once, as of
    ``now`` (epoch seconds); returns what it did."""
    done = {"transitioned": 0, "expired": 0, "aborted": 0, "noncurrent_expired": 0}
    done["noncurrent_transitioned"] = done["markers_removed"] = 0
    for bucket, *_ in s3.list_buckets():
        if buckets is not None and bucket not in buckets:
            continue
        xml = s3.get_config(bucket, "lifecycle")
        if not xml:
            continue
        try:
            rules = parse_rules(xml)
        except (ET.ParseError, ValueError):
            continue
        for rule in rules:
            if rule.enabled:
                _apply(s3, bucket, rule, now, done)
    return done


def _apply(s3: S3Backend, bucket: str, rule: Rule, now: float, done: dict[str, int]) -> None:
    for obj in list(s3.iter_keys(bucket, rule.prefix)):
        if rule.tags and any(obj.tags.get(k) != v for k, v in rule.tags.items()):
            continue
        if rule.size_gt is not None and not obj.size > rule.size_gt:
            continue
        if rule.size_lt is not None and not obj.size < rule.size_lt:
            continue
        expire_at = due(obj.last_modified, rule.expire_days, rule.expire_date)
        if expire_at is not None and expire_at <= now:
            _, marker = s3.delete_object(bucket, obj.key)
            done["expired"] += 1
            kind = "DeleteMarkerCreated" if marker else "Delete"
            _tell(s3, f"s3:LifecycleExpiration:{kind}", bucket, obj.key)
            continue
        small = obj.size < MIN_TRANSITION_SIZE and (
            rule.size_gt is None or rule.size_gt >= MIN_TRANSITION_SIZE
        )
        if small:
            continue
        target = None
        for days, date, sclass in rule.transitions:
            at = due(obj.last_modified, days, date)
            if (
                at is not None
                and at <= now
                and _colder(sclass, obj.storage_class)
                and (target is None or _colder(sclass, target))
            ):
                target = sclass
        if target is not None:
            s3.set_storage_class(bucket, obj.key, target)
            done["transitioned"] += 1
            _tell(s3, "s3:LifecycleTransition", bucket, obj.key)
    if rule.noncurrent_days is not None or rule.noncurrent_transitions or rule.expired_marker:
        _apply_noncurrent(s3, bucket, rule, now, done)
    if rule.abort_days is not None:
        for up in s3.list_uploads(bucket, rule.prefix):
            at = due(up.initiated, rule.abort_days, None)
            if at is not None and at <= now:
                s3.abort_upload(bucket, up.key, up.upload_id)
                done["aborted"] += 1


def _tell(s3: S3Backend, event: str, bucket: str, key: str) -> None:
    """S3 sends event notifications for what the lifecycle does (principal: S3 itself)."""
    if s3.listener is not None:
        s3.listener(event, bucket, key, principal="s3.amazonaws.com")


def _matches(rule: Rule, obj: Any) -> bool:
    if rule.tags and any(obj.tags.get(k) != v for k, v in rule.tags.items()):
        return False
    if rule.size_gt is not None and not obj.size > rule.size_gt:
        return False
    return rule.size_lt is None or obj.size < rule.size_lt


def _apply_noncurrent(
    s3: S3Backend, bucket: str, rule: Rule, now: float, done: dict[str, int]
) -> None:
    """The versioned bucket's actions (S3 user guide, "Lifecycle configuration elements"):
    a noncurrent version expires or moves NoncurrentDays after it became noncurrent (rounded
    up to midnight UTC), keeping the NewerNoncurrentVersions newest ones; an expired object
    delete marker (the key's only version left) is removed."""
    by_key: dict[str, list[Any]] = {}
    for v in s3.store.noncurrent(bucket, rule.prefix):
        by_key.setdefault(v.key, []).append(v)
    for key, versions in by_key.items():
        current = s3.exists(bucket, key)
        newer = 0  # noncurrent versions newer than this one
        kept = []
        for v in versions:
            if v.delete_marker:
                kept.append(v)
                continue
            if not _matches(rule, v):
                newer += 1
                kept.append(v)
                continue
            at = due(v.noncurrent_since, rule.noncurrent_days, None)
            keep_newer = rule.newer_noncurrent
            if at is not None and at <= now and (keep_newer is None or newer >= keep_newer):
                s3.store.delete_version(bucket, key, v.version_id)
                done["noncurrent_expired"] += 1
                _tell(s3, "s3:LifecycleExpiration:Delete", bucket, key)
                continue
            target = None
            for days, sclass, keep in rule.noncurrent_transitions:
                t_at = due(v.noncurrent_since, days, None)
                if (
                    t_at is not None
                    and t_at <= now
                    and (keep is None or newer >= keep)
                    and _colder(sclass, v.storage_class)
                    and (target is None or _colder(sclass, target))
                ):
                    target = sclass
            small = v.size < MIN_TRANSITION_SIZE and (
                rule.size_gt is None or rule.size_gt >= MIN_TRANSITION_SIZE
            )
            if target is not None and not small:
                s3.store.set_version_class(bucket, key, v.version_id, target)
                done["noncurrent_transitioned"] += 1
            newer += 1
            kept.append(v)
        if rule.expired_marker and not current and len(kept) == 1 and kept[0].delete_marker:
            s3.store.delete_version(bucket, key, kept[0].version_id)
            done["markers_removed"] += 1


def _colder(a: str, b: str) -> bool:
    rank = {c: i for i, c in enumerate(WATERFALL)}
    return rank.get(a, 0) > rank.get(b, 0)


class LifecycleRunner:
    """Runs a lifecycle pass every ``interval`` real seconds on the emulator's loop."""

    def __init__(self, s3: S3Backend, interval: float = 1.0) -> None:
        self.s3 = s3
        self.interval = interval
        self.totals = {"transitioned": 0, "expired": 0, "aborted": 0, "passes": 0}
        self.totals.update(noncurrent_expired=0, noncurrent_transitioned=0, markers_removed=0)
        self._stop = asyncio.Event()

    def run_now(self, bucket: str | None = None, ahead_s: float = 0.0) -> dict[str, Any]:
        """One pass now. ``bucket`` + ``ahead_s``: only that bucket's rules, applied as they
        would be ``ahead_s`` seconds from now, without moving the shared clock (a lab sees
        its 30-day rule at work and no other lab's data ages). Raises ValueError."""
        if ahead_s < 0:
            raise ValueError("ahead_s must be >= 0")
        if ahead_s and not bucket:
            raise ValueError("a look ahead needs a bucket: it must not age every lab's data")
        if bucket is not None and not self.s3.bucket_exists(bucket):
            raise ValueError(f"no bucket {bucket!r}")
        scope = {bucket} if bucket else None
        done = run_pass(self.s3, self.s3.clock.now() + ahead_s, scope)
        for k, v in done.items():
            self.totals[k] += v
        self.totals["passes"] += 1
        return done

    async def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_now()
            except Exception:  # a bad rule must not stop the emulator
                log.exception("lifecycle pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    def stop(self) -> None:
        self._stop.set()
