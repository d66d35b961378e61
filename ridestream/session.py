"""The one SparkSession builder, used by jobs, notebooks and tests alike.

It puts the connector jars (Kafka, Avro, Delta) on the classpath as local files, enables Delta's
SQL extensions, and chooses the RocksDB state store with changelog checkpointing. Jobs launched by
``spark-submit.sh`` get the same jars through ``--jars``; in a notebook or pytest the builder adds
them itself (only the first session of a process can, before the JVM starts).
"""

from __future__ import annotations

import os
import shlex
import sys

from pyspark.sql import SparkSession

from ridestream import class_data, jars
from ridestream.config import SparkSettings
from ridestream.paths import CONF_DIR, java_options, ridestream_home

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """Return the Spark configuration ridestream runs with (before ``settings.conf`` overrides)."""
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # RocksDB keeps large window state off the JVM heap; changelog checkpointing makes each
        # commit write only the changes. Both are frozen into a checkpoint, so set from day one.
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # Event times are compared as UTC everywhere, whatever the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        # A failure's Python exception carries the JVM's stack trace: the console shows one line
        # (ridestream.errors), the trace file under $RIDESTREAM_HOME/logs gets all of it.
        "spark.sql.pyspark.jvmStacktrace.enabled": "true",
        # A reject names the field Spark's JSON parser refused: the one a PERMISSIVE parse leaves
        # null while keeping the rest (ridestream.parsing). Spark's default since 3.4, pinned.
        "spark.sql.json.enablePartialResults": "true",
        # Delta rebuilds a table's snapshot (its live files and transaction ids) after every
        # commit, which a streaming sink makes every micro-batch. It does so in 50 tasks by
        # default, each generating the code of the same large deserializer: seconds of CPU per
        # micro-batch on a few cores for a table of a few files (bench/README.md, "Delta sinks:
        # 10-19 s per micro-batch"). The job's tables (windows, rejects) are small; a profile can
        # raise it for a table of millions of files ([spark.conf]).
        "spark.databricks.delta.snapshotPartitions": str(settings.shuffle_partitions),
    }
    conf.update(settings.conf)
    return conf


def launched_by_spark_submit() -> bool:
    """Return True when this Python process is a spark-submit driver (the JVM already runs)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(settings: SparkSettings, app_name: str = "ridestream") -> SparkSession:
    """Build (or return the running) SparkSession with ridestream's connectors and settings."""
    builder = SparkSession.builder.appName(app_name)
    if settings.master:
        builder = builder.master(settings.master)
    elif not launched_by_spark_submit():
        builder = builder.master("local[*]")
    if not launched_by_spark_submit():
        # Python workers (UDFs, Python data sources) must run this interpreter, which has
        # pyarrow and ridestream; pyspark would otherwise start whatever 'python3' is on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config(
            "spark.jars", ",".join(str(jar) for jar in jars.resolve("spark"))
        ).config(
            "spark.driver.extraJavaOptions",
            shlex.join(
                [
                    f"-Dlog4j2.configurationFile={CONF_DIR / 'log4j2.properties'}",
                    f"-Dridestream.log.dir={ridestream_home() / 'logs'}",
                    *class_data.driver_options(),
                    *java_options(),
                ]
            ),
        )
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark
