"""The benchmarks' own DataFrame transforms: baselines to compare the job with, and checks.

Pure ``DataFrame -> DataFrame`` functions, like the job's; the benchmark wires them to Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import DataStreamWriter

from ridestream.config import SourceSettings, WindowSettings
from ridestream.jobs.ride_windows import RideWindowsOptions, build_outputs, build_parse_stage
from ridestream.parsing import PICKUP_TIME
from ridestream.sinks import parsed_table_writer
from ridestream.sources import read_delta_stream
from ridestream.windows import EVENT_TIME, with_event_time


def job_options(
    spec: WindowSettings, value_format: str = "json", **options: object
) -> RideWindowsOptions:
    """Return ride_windows' options with the windows ``spec`` and a topic in ``value_format``."""
    return RideWindowsOptions(window=spec, source=SourceSettings(format=value_format), **options)


def job_windows(
    records: DataFrame,
    spec: WindowSettings,
    value_format: str = "json",
    writers: Mapping[int, str] | None = None,
) -> DataFrame:
    """Return ride_windows' windows of raw Kafka records (its own builder: parse, valid, windows).

    In the job's default append mode; ``spec.panes`` combines hopping windows from panes. Avro
    values need ``writers``, the registry's writer schemas by id (as the job asks them once).
    """
    windows, _ = job_as_run(records, spec, value_format, writers)
    return windows


def job_as_run(
    records: DataFrame,
    spec: WindowSettings,
    value_format: str = "json",
    writers: Mapping[int, str] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Return ride_windows' own outputs (windows, rejects) with the windows ``spec``.

    The job starts a query for each, and each query reads and parses every record.
    """
    return build_outputs(records, job_options(spec, value_format), writers=writers)


def job_parse_stage(spark: SparkSession, records: DataFrame, parsed_path: str) -> DataStreamWriter:
    """Return the job's first stage of two (``--stages two``): its writer of the parsed table.

    The table is created here, empty, as the job creates it once before its first batch (so
    that is not timed).
    """
    from delta.tables import DeltaTable

    options = job_options(WindowSettings(), stages="two", parsed_path=parsed_path)
    stored = build_parse_stage(records, options)
    DeltaTable.createIfNotExists(spark).location(parsed_path).addColumns(stored.schema).execute()
    return parsed_table_writer(stored, parsed_path)


def job_read_stage(
    spark: SparkSession, parsed_path: str, spec: WindowSettings
) -> tuple[DataFrame, DataFrame]:
    """Return the job's second stage of two: its outputs (windows, rejects) of the parsed table."""
    options = job_options(spec, stages="two", parsed_path=parsed_path)
    return build_outputs(read_delta_stream(spark, parsed_path), options, parsed=True)


def split_csv_rides(records: DataFrame, schema: T.StructType) -> DataFrame:
    """Type CSV Kafka values the course's way: ``split(value, ',')``, then a cast by position.

    No validation and no dead letter: a record with a comma inside a quoted field, a missing
    field or a bad number gives a wrong ride, or fails the query under ANSI casts. This is the
    baseline the job's CSV parsing is measured against, not a way to read rides.
    """
    fields = F.split(F.col("value").cast("string"), ",")
    return records.select(
        *(
            fields[index].cast(field.dataType).alias(field.name)
            for index, field in enumerate(schema.fields)
        )
    )


def split_csv_checked_rides(records: DataFrame, schema: T.StructType) -> DataFrame:
    """Type CSV values with ``split()`` and the job's type checks: drop a ride that fails one.

    Every field is cast with ``try_cast`` and the ride is kept only if it has the schema's number
    of fields, no required field is empty, and every non-empty field casts. Still no quoting, no
    range checks and no reason or dead letter: the least a split-based job must do to keep
    ill-typed rides out of the windows, and so the baseline at the job's work for type checks.
    """
    fields = F.split(F.col("value").cast("string"), ",")
    typed = {
        field.name: fields[index].try_cast(field.dataType)
        for index, field in enumerate(schema.fields)
    }
    keep = F.size(fields) == len(schema.fields)
    for index, field in enumerate(schema.fields):
        empty = fields[index] == ""
        if not field.nullable:
            keep = keep & ~empty
        keep = keep & (empty | typed[field.name].isNotNull())
    return records.where(keep).select(*(typed[name].alias(name) for name in schema.fieldNames()))


def plain_hopping_counts(
    rides: DataFrame, size: str, slide: str, group_by: tuple[str, ...]
) -> DataFrame:
    """Count rides per hopping window and group with a plain ``F.window`` groupBy (batch check)."""
    return (
        rides.transform(with_event_time)
        .groupBy(F.window(EVENT_TIME, size, slide).alias("window"), *group_by)
        .agg(F.count(F.lit(1)).alias("ride_count"))
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            *group_by,
            "ride_count",
        )
    )


def ride_latencies(
    rides: DataFrame, results: DataFrame, window_size: str, group_by: tuple[str, ...]
) -> DataFrame:
    """Return each ride's latency: its Kafka timestamp to the first result that counts it.

    Parameters
    ----------
    rides
        The input records that parsed: the ride fields plus the Kafka ``timestamp``,
        ``partition`` and ``offset``.
    results
        The job's window records as read back: ``window_start``, the group keys, ``ride_count``,
        and the Kafka ``timestamp`` of the record (when the job wrote it).
    window_size
        The job's tumbling window size, to place each ride in its window.
    group_by
        The job's group keys.

    Returns
    -------
    DataFrame
        One row per ride: ``latency_s`` (null when no result ever counted it). In update mode a
        window's ``ride_count`` only grows, so the n-th ride to arrive in a window and group (by
        Kafka timestamp, then offset) is in the first result whose ``ride_count`` is >= n.
    """
    keys = ["window_start", *group_by]
    arrival_order = Window.partitionBy(*keys).orderBy("arrived", "partition", "offset")
    numbered = rides.select(
        F.window(PICKUP_TIME, window_size).start.alias("window_start"),
        *group_by,
        F.col("timestamp").alias("arrived"),
        "partition",
        "offset",
    ).withColumn("arrival", F.row_number().over(arrival_order))
    emitted = results.select(*keys, "ride_count", F.col("timestamp").alias("emitted"))
    counted = numbered.join(
        emitted,
        on=[
            *(numbered[key] == emitted[key] for key in keys),
            emitted["ride_count"] >= numbered["arrival"],
        ],
        how="left",
    )
    return (
        counted.groupBy(numbered["partition"], numbered["offset"], numbered["arrived"])
        .agg(F.min("emitted").alias("emitted"))
        .select(
            ((F.unix_micros("emitted") - F.unix_micros("arrived")) / 1e6).alias("latency_s"),
        )
    )
