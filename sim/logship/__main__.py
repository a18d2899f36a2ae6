"""``python -m sim.logship --config agent.json``: run the log-shipping agent on a bdlab
profile until Ctrl-C (or SIGTERM), then stop gracefully (send what is buffered,
checkpoint). ``--once`` ships what is there now and exits; ``--status`` prints how far
behind the agent is and exits. Every error is one line on stderr and exit status 2.

Endpoints and credentials come from the bdlab profile (``--profile``, BDLAB_PROFILE,
bdlab.toml), not from agent.json; its ``kinesis.endpoint`` and credential keys are ignored
with a note.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from sim import clients, profiles
from sim.logship.agent import Agent
from sim.logship.config import AgentConfig, ConfigError
from sim.logship.sinks import ShipError
from sim.logship.tailer import CheckpointError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m sim.logship",
        description="Tail log files into Kinesis Data Streams or Firehose, Kinesis Agent style.",
    )
    ap.add_argument("--config", required=True, help="agent.json (Kinesis Agent format)")
    ap.add_argument("--profile", default=None, help="bdlab profile (embedded, localstack, aws)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="ship what is there now, then exit")
    mode.add_argument("--status", action="store_true", help="print the lag and exit")
    ap.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    ap.add_argument("--report-every", type=float, default=30.0, help="progress line every N s")
    ap.add_argument("--json", action="store_true", help="print the final status as JSON")
    ap.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (0: any free port)",
    )
    return ap


def main(argv: list[str] | None = None, profile: profiles.Profile | None = None) -> int:
    """The command line; ``profile`` is the one the caller resolved (``bdlab agent``), else
    ``--profile`` / the active one."""
    args = _parser().parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        config = AgentConfig.load(args.config)
        if config.ignored:
            say(f"note: ignored {', '.join(config.ignored)} (the bdlab profile supplies these)")
        if profile is None:
            profile = clients.active_profile(args.profile)
        clients.check_access(profile)

        def client_for(service: str) -> Any:
            return clients.client(service, profile)

        agent = Agent(config, client_for)
        if args.metrics_port is not None:
            from sim.monitoring.promexport import serve_metrics, watch_agent

            try:
                metrics = serve_metrics(args.metrics_port)
            except OSError as exc:
                say(f"logship: error: {exc}")
                agent.stop()
                return 2
            watch_agent(agent, metrics.registry)
            say(f"metrics on {metrics.url}")
        if args.status:
            status = agent.status()
            agent.stop()
        elif args.once:
            agent.run_once()
            agent.flush()
            status = agent.status()
            agent.stop()
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                agent.run(
                    duration_s=args.duration,
                    stop=stop,
                    report=say,
                    report_every_s=args.report_every,
                )
            except KeyboardInterrupt:
                agent.stop()
            status = agent.final_status()  # after the stop's flush, what is really left
    except (
        ConfigError,
        ShipError,
        CheckpointError,
        profiles.ProfileError,
        clients.AccessError,
    ) as exc:
        say(f"logship: error: {exc}")
        return 2
    if status is not None:
        print(json.dumps(status.as_dict(), indent=1) if args.json else status.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
