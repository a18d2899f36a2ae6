"""`bdlab inbox`: the emulator's local mailbox, where SNS email and email-json subscriptions
deliver (``<state>/sns/mailbox/*.eml``), read through ``GET /_bdlab/inbox``; `bdlab chat`: the
chat-style webhook's channels (``GET /_bdlab/chat``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from sim import admin
from sim.cli import common
from sim.cli.common import app, console, guard

inbox_app = typer.Typer(
    invoke_without_command=True,
    help="Email that SNS delivered to the emulator's local mailbox.",
)
app.add_typer(inbox_app, name="inbox")


def _admin() -> admin.Admin:
    return admin.Admin.of(common.prof(), "admin")


@inbox_app.callback()
@guard
def inbox(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="the listing as JSON"),
) -> None:
    """List the mailbox, oldest first (`bdlab inbox show N` prints message N)."""
    if ctx.invoked_subcommand is not None:
        return
    data = _admin().inbox()
    if as_json:
        print(json.dumps(data))
        return
    messages = data.get("messages", [])
    if not messages:
        console.print(f"no mail yet in {data.get('mailbox')}", highlight=False)
        return
    table = Table("N", "date", "to", "subject", "type")
    for m in messages:
        table.add_row(str(m["n"]), m["date"], m["to"], m["subject"], m["messageType"])
    console.print(table)


@inbox_app.command("show")
@guard
def show(
    n: int = typer.Argument(..., help="the message number of `bdlab inbox`"),
    as_json: bool = typer.Option(False, "--json", help="fields, body and the raw .eml as JSON"),
    raw: bool = typer.Option(False, "--raw", help="the .eml file as stored"),
) -> None:
    """Print message N: its headers and body."""
    m = _admin().inbox(n)
    if as_json:
        print(json.dumps(m))
        return
    if raw:
        print(m["raw"], end="")
        return
    for name in ("date", "from", "to", "subject"):
        print(f"{name.capitalize()}: {m[name]}")
    print(f"File: {m['file']}\n")
    print(m["body"])


@app.command("chat")
@guard
def chat(
    channel: str | None = typer.Argument(None, help="one channel (default: every channel)"),
    as_json: bool = typer.Option(False, "--json", help="the lines as JSON"),
) -> None:
    """The chat-style webhook's channels (AWS Chatbot's stand-in): subscribe a topic with
    protocol http to <emulator>/_bdlab/chat/<channel>."""
    lines = _admin().chat(channel)
    if as_json:
        print(json.dumps(lines))
        return
    if not lines:
        where = f"channel {channel}" if channel else "any channel"
        console.print(
            f"no chat lines yet in {where}; subscribe a topic (protocol http) to "
            f"{_admin().chat_url(channel or '<channel>')}",
            highlight=False,
        )
        return
    table = Table("N", "channel", "time (UTC)", "", "text")
    for line in lines:
        when = datetime.fromtimestamp(line["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(line["n"]), line["channel"], when, line["title"], line["text"])
    console.print(table)
