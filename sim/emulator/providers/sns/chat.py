"""A chat-style webhook in the emulator: the local stand-in for AWS Chatbot posting SNS
notifications into a team channel (AWS has no chat protocol in SNS itself: Chatbot subscribes
to the topic over HTTPS and renders each message for Slack or Teams).

Subscribe a topic with protocol ``http`` and endpoint ``<emulator>/_bdlab/chat/<channel>``:
the room confirms the subscription itself (as Chatbot does), then every Notification becomes a
chat line. A CloudWatch alarm notification is rendered as Chatbot renders it (its state, the
alarm's name, the reason, the region); anything else as its Subject and Message. Lines are kept
in ``<state>/sns/chat.jsonl`` (one JSON document a line) and read with ``GET /_bdlab/chat``
or ``bdlab chat``.
https://docs.aws.amazon.com/chatbot/latest/adminguide/related-services.html
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

CHANNEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def render(envelope: dict[str, Any]) -> dict[str, str]:
    """One SNS Notification envelope as a chat line: ``{"kind": "alarm" | "message",
    "state" (alarms: ALARM / OK / INSUFFICIENT_DATA), "title", "text"}``."""
    message = str(envelope.get("Message", ""))
    try:
        doc = json.loads(message)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "AlarmName" in doc and "NewStateValue" in doc:
        state = str(doc["NewStateValue"])
        return {
            "kind": "alarm",
            "state": state,
            "title": f"{state} | {doc['AlarmName']} | {doc.get('Region', '')}".rstrip(" |"),
            "text": str(doc.get("NewStateReason", "")),
        }
    return {
        "kind": "message",
        "state": "",
        "title": str(envelope.get("Subject") or "SNS message"),
        "text": message,
    }


class ChatRoom:
    """The chat lines of every channel, oldest first, in ``path`` (JSON lines, appended and
    flushed before the webhook answers; fsync'd when ``fsync``)."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def post(self, channel: str, at: float, topic_arn: str, line: dict[str, str]) -> dict[str, Any]:
        """Append one line to ``channel``; returns it with its number ``n`` (1-based)."""
        with self._lock:
            n = len(self._read()) + 1
            row = {"n": n, "channel": channel, "at": at, "topicArn": topic_arn, **line}
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            return row

    def lines(self, channel: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Lines after number ``since``, of ``channel`` or of every channel."""
        with self._lock:
            rows = self._read()
        return [r for r in rows if r["n"] > since and (channel is None or r["channel"] == channel)]

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:  # a torn last line after a crash: the rest stands
                continue
        return out
