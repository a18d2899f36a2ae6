"""The `bdlab` command, the composition root: it resolves settings and the profile once (in
the group callback) and hands them to everything below. One module per verb group:

- ``emulator``  up, down, status, doctor, config, env, clock, faults
- ``labs``      labs, run, check, reset
- ``jobs``      setup, demo, bench, notebook
- ``emr``       emr create | submit | status | logs | terminate
- ``streams``   weblogs, agent (log shipping into Kinesis), produce, consume (Kinesis)
- ``inbox``     inbox [show N]: the local mailbox of SNS email deliveries; chat: the chat webhook
- ``dashboards``  dashboard (the BI app on Streamlit)
- ``monitoring``  prom-bridge (Prometheus -> CloudWatch), prometheus (the host's binary)
- ``serve``     the background emulator process (``python -m sim.cli.serve``)
"""

from __future__ import annotations

from sim.cli import dashboards, emr, emulator, inbox, jobs, labs, monitoring, streams
from sim.cli.common import app

__all__ = ["app"]

# Registration happens on import; the names keep linters from calling the imports unused.
_VERB_GROUPS = (emulator, labs, jobs, emr, streams, inbox, monitoring, dashboards)


def _one_line_summaries() -> None:
    """The command list shows each verb's first docstring paragraph as one flowing line
    (Typer keeps the source's line breaks there, which reads ragged at any width)."""
    for cmd in app.registered_commands:
        doc = (cmd.callback.__doc__ if cmd.callback else None) or ""
        first = doc.strip().split("\n\n", 1)[0]
        if cmd.short_help is None and first:
            cmd.short_help = " ".join(first.split())


_one_line_summaries()
