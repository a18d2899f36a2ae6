"""`python -m sim.emulator`: run the emulator in the foreground (what `bdlab up` starts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.emulator.server import EmulatorError, serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--state-dir", default=".bdlab")
    p.add_argument("--clock-speed", type=float, default=1.0)
    p.add_argument("--fsync", action="store_true")
    p.add_argument("--log-level", default="warning")
    a = p.parse_args(argv)
    try:
        serve(a.host, a.port, Path(a.state_dir).resolve(), a.clock_speed, a.fsync, a.log_level)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
