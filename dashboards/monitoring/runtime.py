"""The monitoring console's process-wide runtime: one :class:`panels.Console` (its AWS
clients) per set of app arguments. :func:`prewarm` builds it when the server process starts
(``dashboards.common.serve``), so botocore's service models and altair are loaded before the
first page asks."""

from __future__ import annotations

import threading

from dashboards.common import clock, launch
from dashboards.monitoring import panels

_lock = threading.Lock()
_consoles: dict[tuple[str, ...], panels.Console] = {}


def get(argv: tuple[str, ...]) -> panels.Console:
    """The console for the app arguments ``argv``, built on first use."""
    with _lock:
        if argv not in _consoles:
            args = launch.AppArgs.from_argv(list(argv))
            _consoles[argv] = panels.Console(args.profile, clock.for_profile(args.profile))
        return _consoles[argv]


SERVICES = ("cloudwatch", "kinesis", "firehose", "emr")  # what panels.py reads


def prewarm(argv: tuple[str, ...]) -> None:
    """Build the console and its clients (no request is sent) and import altair."""
    console = get(argv)
    for service in SERVICES:
        console.client(service)
    import altair  # noqa: F401  (the console's charts)
