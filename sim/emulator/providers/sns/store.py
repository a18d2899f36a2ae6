"""Durability of SNS deliveries beyond SQS: the queue of deliveries not yet done, the log of
every attempt (SQLite, WAL, in ``<state>/sns/deliveries.db``) and the mailbox of .eml files
(``<state>/sns/mailbox/NNNNNN.eml``). Safe to call from any thread (one lock)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Pending:
    """One message to one subscription, still to be delivered (or retried)."""

    id: int
    kind: str
    message_id: str
    topic: str
    subscription: str
    protocol: str
    endpoint: str
    payload: dict[str, Any]  # http: {"body", "headers"}; email: {"eml"}
    attempts: int  # attempts made so far
    next_at: float  # emulator-clock epoch s
    delays: list[float]  # seconds before each retry


class DeliveryStore:
    """The delivery queue, the attempt log and the mailbox of one emulator."""

    def __init__(self, folder: Path, fsync: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.mailbox = folder / "mailbox"
        self.mailbox.mkdir(exist_ok=True)
        self.fsync = fsync
        self._lock = threading.Lock()
        self.db = sqlite3.connect(
            folder / "deliveries.db", isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS pending(id INTEGER PRIMARY KEY, kind TEXT, message_id TEXT,"
            " topic TEXT, subscription TEXT, protocol TEXT, endpoint TEXT, payload TEXT,"
            " attempts INTEGER, next_at REAL, delays TEXT)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS attempts(id INTEGER PRIMARY KEY, delivery INTEGER,"
            " kind TEXT, message_id TEXT, topic TEXT, subscription TEXT, protocol TEXT,"
            " endpoint TEXT, attempt INTEGER, at REAL, status INTEGER, error TEXT, outcome TEXT)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS pending_due ON pending(next_at)")
        numbers = [int(p.stem) for p in self.mailbox.glob("*.eml") if p.stem.isdigit()]
        self._next_mail = max(numbers, default=0) + 1

    # ------------------------------------------------------------------ queue
    def enqueue(
        self,
        *,
        kind: str,
        message_id: str,
        topic: str,
        subscription: str,
        protocol: str,
        endpoint: str,
        payload: dict[str, Any],
        at: float,
        delays: list[float],
    ) -> int:
        with self._lock:
            cur = self.db.execute(
                "INSERT INTO pending(kind, message_id, topic, subscription, protocol, endpoint,"
                " payload, attempts, next_at, delays) VALUES(?,?,?,?,?,?,?,0,?,?)",
                (
                    kind,
                    message_id,
                    topic,
                    subscription,
                    protocol,
                    endpoint,
                    json.dumps(payload),
                    at,
                    json.dumps(delays),
                ),
            )
            return int(cur.lastrowid or 0)

    def due(self, now: float, limit: int = 64) -> list[Pending]:
        with self._lock:
            rows = self.db.execute(
                "SELECT * FROM pending WHERE next_at <= ? ORDER BY next_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [
            Pending(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                json.loads(r[7]),
                r[8],
                r[9],
                [float(d) for d in json.loads(r[10])],
            )
            for r in rows
        ]

    def next_due(self) -> float | None:
        with self._lock:
            row = self.db.execute("SELECT min(next_at) FROM pending").fetchone()
        return None if row[0] is None else float(row[0])

    def record(
        self,
        p: Pending,
        *,
        at: float,
        status: int | None,
        error: str | None,
        outcome: str,
        next_at: float | None,
    ) -> None:
        """Log attempt ``p.attempts + 1`` and reschedule (``next_at``) or retire the delivery."""
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO attempts(delivery, kind, message_id, topic, subscription, protocol,"
                " endpoint, attempt, at, status, error, outcome) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    p.id,
                    p.kind,
                    p.message_id,
                    p.topic,
                    p.subscription,
                    p.protocol,
                    p.endpoint,
                    p.attempts + 1,
                    at,
                    status,
                    error,
                    outcome,
                ),
            )
            if next_at is None:
                self.db.execute("DELETE FROM pending WHERE id = ?", (p.id,))
            else:
                self.db.execute(
                    "UPDATE pending SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                    (next_at, p.id),
                )

    def attempts(
        self,
        topic: str | None = None,
        subscription: str | None = None,
        since_id: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Attempts in the order made: ``{"id", "delivery", "kind", "messageId", "topicArn",
        "subscriptionArn", "protocol", "endpoint", "attempt", "at" (emulator epoch s),
        "statusCode" (int | None), "error" (str | None), "outcome"}``."""
        sql = "SELECT * FROM attempts WHERE id > ?"
        args: list[Any] = [since_id]
        if topic:
            sql += " AND topic = ?"
            args.append(topic)
        if subscription:
            sql += " AND subscription = ?"
            args.append(subscription)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        keys = (
            "id",
            "delivery",
            "kind",
            "messageId",
            "topicArn",
            "subscriptionArn",
            "protocol",
            "endpoint",
            "attempt",
            "at",
            "statusCode",
            "error",
            "outcome",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def pending_count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM pending").fetchone()[0])

    # ------------------------------------------------------------------ mailbox
    def write_mail(self, eml: str) -> Path:
        """Store one message as the next ``NNNNNN.eml`` (atomic: written aside, then renamed)."""
        with self._lock:
            n = self._next_mail
            self._next_mail += 1
        path = self.mailbox / f"{n:06d}.eml"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(eml)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        tmp.replace(path)
        return path

    def mails(self) -> list[dict[str, Any]]:
        """The mailbox, oldest first: ``{"n", "file", "date", "from", "to", "subject",
        "topicArn", "messageType", "bytes"}``."""
        return [self._summary(p) for p in sorted(self.mailbox.glob("*.eml")) if p.stem.isdigit()]

    @staticmethod
    def _summary(path: Path) -> dict[str, Any]:
        with open(path, "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=email.policy.default)

        def header(name: str) -> str:
            # a long value (a topic ARN has no space to fold at) is written on the next line
            # after "Name:"; unfolded it keeps that line's leading blank
            return str(msg.get(name, "")).strip()

        return {
            "n": int(path.stem),
            "file": str(path),
            "date": header("Date"),
            "from": header("From"),
            "to": header("To"),
            "subject": header("Subject"),
            "topicArn": header("X-Amz-Sns-Topic-Arn"),
            "messageType": header("X-Amz-Sns-Message-Type"),
            "bytes": path.stat().st_size,
        }

    def mail(self, n: int) -> dict[str, Any] | None:
        """One message: the listing's fields plus ``"body"`` (text) and ``"raw"`` (the file)."""
        path = self.mailbox / f"{n:06d}.eml"
        if not path.exists():
            return None
        raw = path.read_text(encoding="utf-8")
        msg = email.message_from_string(raw, policy=email.policy.default)
        part = msg.get_body(("plain",)) if msg.is_multipart() else msg
        body = part.get_content() if part is not None else ""  # type: ignore[union-attr]
        return {**self._summary(path), "body": body, "raw": raw}

    def close(self) -> None:
        with self._lock:
            self.db.close()
