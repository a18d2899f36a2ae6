"""A failed EMR step's FailureDetails.Reason is the real cause, read from its logs."""

from __future__ import annotations

from sim.emulator.providers.emr.runner import failure_cause

JAVA = """\
26/11/30 04:00:01 WARN FileSystem: Failed to initialize filesystem s3a://missing-bkt/in
Traceback (most recent call last):
  File "/tmp/job.py", line 9, in <module>
    spark.read.parquet(sys.argv[1]).count()
  File "/venv/pyspark/sql/readwriter.py", line 544, in parquet
py4j.protocol.Py4JJavaError: An error occurred while calling o42.parquet.
: java.nio.file.AccessDeniedException: s3a://missing-bkt/in: getFileStatus on s3a://missing-bkt/in
\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException(S3AUtils.java:256)
\tat org.apache.hadoop.fs.s3a.S3AFileSystem.getFileStatus(S3AFileSystem.java:3800)
Caused by: org.apache.hadoop.fs.s3a.UnknownStoreException: `s3a://missing-bkt/in': Bucket does not exist
\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException(S3AUtils.java:240)
Caused by: software.amazon.awssdk.services.s3.model.NoSuchBucketException: The specified bucket does not exist (Service: S3, Status Code: 404)
\tat software.amazon.awssdk.core.internal.handler.BaseClientHandler.handle(BaseClientHandler.java:10)
"""

PYTHON = """\
26/11/30 04:00:01 WARN NativeCodeLoader: Unable to load native-hadoop library
Traceback (most recent call last):
  File "/tmp/job.py", line 5, in <module>
    raise RuntimeError("boom: bad input partition")
RuntimeError: boom: bad input partition
26/11/30 04:00:02 INFO ShutdownHookManager: Shutdown hook called
"""


def test_innermost_java_cause() -> None:
    cause = failure_cause(JAVA)
    assert cause.startswith("software.amazon.awssdk.services.s3.model.NoSuchBucketException")


def test_python_exception_line_not_the_log_noise_after_it() -> None:
    assert failure_cause(PYTHON) == "RuntimeError: boom: bad input partition"


def test_nothing_telling() -> None:
    assert failure_cause("all fine\n") == ""
