"""The EMR step launcher: how the emulator's EMR provider starts a local ``spark-submit``.

The emulator stands alone (it imports nothing of Spark or of bdlab's settings); whoever starts
it hands in a :class:`LocalSparkSubmit`, built from the resolved settings, which gives the
program, bdlab's Spark conf (jars, s3a on the emulator's endpoint, the magic committer) and
the environment for each step.
"""

from __future__ import annotations

from pathlib import Path

from sim import profiles
from sim.emulator.providers.emr.runner import SubmitCommand
from sim.settings import Settings
from spark import jars
from spark import session as spark_session


class LocalSparkSubmit:
    """Implements the emulator's ``StepLauncher`` protocol with the venv's PySpark."""

    def __init__(self, cfg: Settings) -> None:
        self.cfg = cfg

    def submit_command(self, endpoint_url: str) -> SubmitCommand:
        """Raises ``SparkSetupError`` (Java) or ``JarsMissingError`` (jars) with the fix."""
        spark_session.require_java()
        jar_paths = jars.ensure_jars(self.cfg.jars_path, offline=True)
        prof = profiles.for_endpoint(self.cfg, endpoint_url)
        conf = spark_session.build_conf(prof, self.cfg, jar_paths)
        return SubmitCommand(program=[str(spark_submit_path())], conf=conf)


def spark_submit_path() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"
