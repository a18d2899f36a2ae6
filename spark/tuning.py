"""Spark tuning in one place, each piece behind a setting, so the default path stays plain.

- ``spark_cds`` (default on): map the driver's class-data-sharing archive that
  ``bdlab setup`` trained (spark/cds.py, ADR 0005). It saves seconds on every Spark start and
  changes nothing else; without a current archive the option is simply absent.
- ``spark_jit_directives`` (default off, a benchmark option): HotSpot compiler directives
  that keep per-query machinery (Janino, closure cleaning, Catalyst) on C1 and leave C2 to
  per-row code (ADR 0006, ``scripts/bench/etl_bench.py --jit-directives``). They need
  diagnostic VM flags, which are fragile across JDKs, so they never run by default.
"""

from __future__ import annotations

from pathlib import Path

from sim import settings
from spark import cds as spark_cds

JIT_DIRECTIVES = Path(__file__).with_name("jit-directives.json")
# The JVM would print "1 compiler directives added" on stdout: -DisplayVMOutput keeps the VM's
# informational output off the terminal (warnings and crash reports still go to stderr).
JIT_OPTIONS = (
    f"-XX:+UnlockDiagnosticVMOptions -XX:CompilerDirectivesFile={JIT_DIRECTIVES} "
    "-XX:-DisplayVMOutput"
)


def driver_jvm_options(cfg: settings.Settings, cds: bool = True) -> str:
    """Extra driver JVM options the tuning settings switch on ('' when none)."""
    parts = []
    if cfg.spark_jit_directives:
        parts.append(JIT_OPTIONS)
    if cds and cfg.spark_cds:
        parts.append(spark_cds.java_options(cfg))
    return " ".join(p for p in parts if p)
