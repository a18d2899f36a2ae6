"""Running the embedded emulator in this process with bdlab's Spark step launcher.

``bdlab up --foreground`` calls :func:`run`; ``bdlab up`` starts ``python -m sim.cli.serve``
(see sim/runtime.py), which receives the settings the parent resolved, so both serve the
same configuration. Ctrl-C and SIGTERM stop it cleanly (uvicorn's own handlers).
"""

from __future__ import annotations

import argparse
import sys

from sim import runtime, settings
from sim.emulator import server
from sim.emulator.providers.emr.runner import StepLauncher


def launcher(cfg: settings.Settings) -> StepLauncher:
    from spark.submit import LocalSparkSubmit

    return LocalSparkSubmit(cfg)


def run(cfg: settings.Settings) -> None:
    """Serve until SIGINT/SIGTERM (raises ``EmulatorError`` when the port is taken)."""
    server.serve(runtime.emulator_config(cfg), launcher(cfg))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.cli.serve")
    p.add_argument(server.EMULATOR_MARK, action="store_true", required=True)
    p.add_argument("--state-dir", required=True, help="shown in ps; must match --settings")
    p.add_argument("--settings", required=True, help="the parent's resolved settings (JSON)")
    a = p.parse_args(argv)
    cfg = settings.Settings.from_json(a.settings)
    if str(cfg.state_path) != a.state_dir:
        print(f"error: --state-dir {a.state_dir} != settings {cfg.state_path}", file=sys.stderr)
        return 2
    try:
        run(cfg)
    except KeyboardInterrupt:
        return 0
    except server.EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
