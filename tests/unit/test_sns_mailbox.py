"""The mailbox listing reads long headers back whole: a topic ARN has no blank to fold at, so
the writer puts it on the line after "X-Amz-Sns-Topic-Arn:" and a plain read kept a leading
space (lab 3.2.6 had to strip it)."""

from __future__ import annotations

from pathlib import Path

from sim.emulator.providers.sns import model
from sim.emulator.providers.sns.store import DeliveryStore


def test_listing_has_no_folding_blanks(tmp_path: Path) -> None:
    # lab 3.2.6's names: the writer folds right after the colon (a long first word)
    arn = "arn:aws:sns:us-east-1:123456789012:bdlab-123456789012-l326-alerts"
    subject = 'ALARM: "bdlab-123456789012-l326-shard-throttled" in US East (N. Virginia)'
    msg = model.email_message(
        to="oncall@example.com",
        subject=subject,
        body="body",
        sent_at=0.0,
        headers={"X-Amz-Sns-Topic-Arn": arn},
    )
    store = DeliveryStore(tmp_path)
    try:
        (store.mailbox / "000001.eml").write_bytes(bytes(msg))
        (row,) = store.mails()
        assert row["topicArn"] == arn and row["subject"] == subject
    finally:
        store.close()
