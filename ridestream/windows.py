"""Event-time window aggregations: pure DataFrame -> DataFrame functions.

The watermark is applied here, on the same column the window uses and before the ``groupBy``:
Spark only drops late rows and finalizes windows when both refer to one event-time column.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ridestream.config import WindowSettings
from ridestream.parsing import EVENT_TIME, with_event_time
from ridestream.schemas import ride_window_schema


def window_column(spec: WindowSettings, event_time: str = EVENT_TIME) -> Column:
    """Return the window grouping column for a tumbling, hopping or session window spec."""
    if spec.kind == "session":
        return F.session_window(event_time, spec.gap)
    if spec.kind == "hopping":
        return F.window(event_time, spec.size, spec.slide)
    return F.window(event_time, spec.size)


def count_rides(rides: DataFrame, spec: WindowSettings) -> DataFrame:
    """Count rides and sum fares per event-time window and group.

    ``rides`` needs an ``event_time`` column (see :func:`ridestream.parsing.with_event_time`).
    The result has the columns of ``schemas/ride_window.avsc`` with the group keys after the
    window bounds.
    """
    contract = ride_window_schema(spec.group_by)
    windows = (
        rides
        # Rides later than the watermark delay are dropped (and counted as such by Spark);
        # it is also what lets append mode emit a window once, when it can no longer change.
        .withWatermark(EVENT_TIME, spec.watermark)
        .groupBy(window_column(spec).alias("window"), *spec.group_by)
        .agg(
            F.count(F.lit(1)).alias("ride_count"),
            F.sum("total_amount").alias("total_amount"),
            F.sum("tip_amount").alias("tip_amount"),
            F.avg("trip_distance").alias("avg_trip_distance"),
        )
        .withColumn("window_start", F.col("window.start"))
        .withColumn("window_end", F.col("window.end"))
    )
    return windows.select(*(F.col(field.name).cast(field.dataType) for field in contract.fields))


def ride_windows(rides: DataFrame, spec: WindowSettings) -> DataFrame:
    """Return the ride_windows job's transformation: typed rides -> windows per group.

    This is the exact code path of ``jobs/ride_windows.py`` after parsing; test it with
    :class:`ridestream.testing.StreamDriver`.
    """
    return rides.transform(with_event_time).transform(count_rides, spec)
