"""`python -m sim.emulator`: the emulator alone, in the foreground, without a Spark step
launcher (EMR steps then fail with a clear reason). `bdlab up` runs `python -m sim.cli.serve`,
which hands the emulator bdlab's launcher and resolved settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.emulator.server import EMULATOR_MARK, EmulatorConfig, EmulatorError, serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.emulator")
    p.add_argument(EMULATOR_MARK, action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--clock-speed", type=float, default=1.0)
    p.add_argument("--fsync", action="store_true")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--moto-kinesis", action="store_true", help="Kinesis from moto (comparisons)")
    p.add_argument(
        "--no-kinesis-limits", action="store_true", help="benchmarks: no per-shard limits"
    )
    a = p.parse_args(argv)
    config = EmulatorConfig(
        Path(a.state_dir).resolve(), a.host, a.port, a.clock_speed, a.fsync, a.log_level
    )
    try:
        serve(config, own_kinesis=not a.moto_kinesis, kinesis_limits=not a.no_kinesis_limits)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
