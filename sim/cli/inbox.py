"""`bdlab inbox`: the emulator's local mailbox, where SNS email and email-json subscriptions
deliver (``<state>/sns/mailbox/*.eml``), read through ``GET /_bdlab/inbox``."""

from __future__ import annotations

import json

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
