"""Streaming verbs: ``bdlab weblogs`` (a web server's access log, written at a rate and
rotated) and ``bdlab agent`` (the Kinesis-Agent-style shipper of such logs)."""

from __future__ import annotations

import typer

from sim.cli import common
from sim.cli.common import app, guard

# Everything after the verb, --help included, goes to the tool's own argument parser.
_PASS_THROUGH = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}


@app.command(context_settings=_PASS_THROUGH)
@guard
def weblogs(ctx: typer.Context) -> None:
    """Write web-server access logs at a rate, with rotation (python -m sim.datagen.logwriter):
    bdlab weblogs logs/access.log --rate 100 --duration 60 --rotate-every 20"""
    from sim.datagen.logwriter import main

    raise typer.Exit(main(list(ctx.args)))


@app.command(context_settings=_PASS_THROUGH)
@guard
def agent(ctx: typer.Context) -> None:
    """Ship log files into a Kinesis stream or Firehose, Kinesis Agent style, on the active
    profile (python -m sim.logship): bdlab agent --config agent.json [--once | --status]"""
    from sim.logship.__main__ import main

    raise typer.Exit(main(list(ctx.args), profile=common.prof()))
