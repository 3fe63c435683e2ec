"""Apache Spark as the engine of the bucketed jobs: one Spark task per account bucket.

Each task reads its own bucket of the partition (a path or URI every executor reaches), runs the per-bucket code and
writes its result beside the partition (``_results/<run>/bucket=K.pickle``); the driver then reads the results back
in bucket order, so its memory holds one bucket's rows at a time and the output is the same on every run. What every
bucket needs (the resolved feature configuration, the champion models with their reason writers) is broadcast once:
each executor's Python worker unpickles it once, not per bucket or row.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import sys
import uuid
from collections.abc import Callable, Iterator

from b2bscore.data.buckets import PartitionedData, filesystem
from b2bscore.errors import ConfigError, DataError
from b2bscore.home import Progress

_ERROR = re.compile(r"b2bscore\.errors\.\w+: (.+)")


def run_on_spark(source: PartitionedData, task: Callable, shared, *, master: str | None,
                 progress: Progress) -> Iterator[tuple[int, object]]:
    """``(bucket, task(source, bucket, shared))`` for every bucket, computed by Spark tasks, in bucket order."""
    spark, created = _session(master)
    if spark.sparkContext.master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        spark.sparkContext.pythonExec = sys.executable  # local workers import b2bscore from this environment
    errors = _spark_errors()
    fs, root = filesystem(source.uri)
    stage = f"_results/{uuid.uuid4().hex}"
    try:
        context = spark.sparkContext
        progress(f"spark: {source.buckets} buckets on {context.master}", 0.3)
        broadcast = context.broadcast(shared)
        try:
            context.parallelize(range(source.buckets), source.buckets).foreach(
                functools.partial(_run_task, source, task, broadcast, stage))
        except errors as exc:
            raise DataError(f"a Spark task failed: {_reason(exc)}") from None
        finally:
            broadcast.destroy()
        for bucket in range(source.buckets):
            progress(f"collect bucket {bucket + 1} of {source.buckets}", 0.6 + 0.3 * bucket / source.buckets)
            with fs.open_input_stream(f"{root}/{stage}/bucket={bucket:05d}.pickle") as stream:
                yield bucket, pickle.loads(stream.read())
    finally:
        try:
            fs.delete_dir(f"{root}/{stage}")
        except (FileNotFoundError, OSError):
            pass  # nothing was staged
        if created:
            spark.stop()


def _run_task(source: PartitionedData, task: Callable, broadcast, stage: str, bucket: int) -> None:
    """One Spark task: one bucket's result, written where the driver reads it."""
    result = task(source, bucket, broadcast.value)
    fs, root = filesystem(source.uri)
    fs.create_dir(f"{root}/{stage}", recursive=True)
    with fs.open_output_stream(f"{root}/{stage}/bucket={bucket:05d}.pickle") as stream:
        stream.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


def _session(master: str | None):
    """The active Spark session (under ``spark-submit``), or a new one on ``master`` (default ``local[*]``); whether
    this call created it (and so stops it)."""
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("--engine spark needs PySpark: pip install 'b2bscore[spark]' (Spark also needs Java 17)") from None
    active = SparkSession.getActiveSession()
    if active is not None and master in (None, active.sparkContext.master):
        return active, False
    conf = SparkConf().setAppName("b2bscore")
    if master is not None:
        conf.setMaster(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit, which gives the master itself
        conf.setMaster("local[*]")
    try:
        spark = SparkSession.builder.config(conf=conf).getOrCreate()
    except _spark_errors() as exc:
        raise ConfigError(f"Spark could not start: {_reason(exc)} (Spark 4 needs Java 17 or later: `java -version`)") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark, True


def _spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (Py4JError, PySparkException)


def _reason(exc: BaseException) -> str:
    """The b2bscore error a task raised, else the first line of Spark's message."""
    text = str(exc)
    found = _ERROR.findall(text)
    if found:
        return found[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("at ")]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    return (errors or lines or [type(exc).__name__])[-1 if errors else 0]

