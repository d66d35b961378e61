"""Event-time window aggregations: pure DataFrame -> DataFrame functions.

The watermark is applied here, on the same column the window uses and before the ``groupBy``:
Spark only drops late rows and finalizes windows when both refer to one event-time column.

Hopping windows can be combined from panes (:func:`count_rides_by_pane`, ``window.panes``) in
append mode when the window size is a whole number of slides: a 60-minute window sliding every 5
minutes puts each ride into 12 windows, so the plain aggregation expands every ride 12 times
before grouping; panes aggregate each ride once, into its 5-minute pane, and then add up 12 small
pane rows per window. It holds less state but adds a second stateful operator (a shuffle, a state
store and a commit per batch), and it drops a late ride from every window once its pane closed, so
it is an option, off by default (bench/README.md measures both).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ridestream.config import WindowSettings, parse_duration
from ridestream.parsing import PICKUP_TIME
from ridestream.schemas import ride_window_schema

# The column windows are computed over, and the watermark is set on.
EVENT_TIME = "event_time"
# Internal columns of a pane: the mean distance of a window must be the mean of its rides, not a
# mean of pane means, so a pane keeps the sum and the count it would be computed from.
_PANE = "pane"
_DISTANCE_SUM = "_trip_distance_sum"
_DISTANCE_COUNT = "_trip_distance_count"


def with_event_time(rides: DataFrame) -> DataFrame:
    """Add ``event_time``: a ride happens when the meter is engaged (pickup)."""
    return rides.withColumn(EVENT_TIME, F.col(PICKUP_TIME))


def window_column(spec: WindowSettings, event_time: str = EVENT_TIME) -> Column:
    """Return the window grouping column for a tumbling, hopping or session window spec."""
    if spec.kind == "session":
        return F.session_window(event_time, spec.gap)
    if spec.kind == "hopping":
        return F.window(event_time, spec.size, spec.slide)
    return F.window(event_time, spec.size)


def uses_panes(spec: WindowSettings, output_mode: str | None) -> bool:
    """Return True when :func:`count_rides` combines ``spec``'s windows from panes.

    Only when ``spec.panes`` asks for it, only for hopping windows whose size is a whole number
    of slides (every window is then exactly a run of panes), and only in append mode. In update
    mode the first aggregation would emit a pane again at every change, behind the watermark of
    the second one and without taking back what it emitted before; Spark refuses that chain when
    the query starts ("possible 'correctness' issue due to global watermark"). So update mode,
    and an unknown mode, keep the plain aggregation, which every mode supports.
    """
    if not spec.panes or spec.kind != "hopping" or output_mode != "append" or not spec.slide:
        return False
    size, slide = parse_duration(spec.size), parse_duration(spec.slide)
    return size > slide and size % slide == parse_duration("0")


def _to_contract(windows: DataFrame, spec: WindowSettings) -> DataFrame:
    """Select the ride_window contract (``schemas/ride_window.avsc``) from a ``window`` struct.

    Group keys keep the types they have in ``windows`` (ride fields, or columns a job added).
    """
    contract = ride_window_schema(spec.group_by, windows.schema)
    return (
        windows.withColumn("window_start", F.col("window.start"))
        .withColumn("window_end", F.col("window.end"))
        .select(*(F.col(field.name).cast(field.dataType) for field in contract.fields))
    )


def count_rides_by_pane(rides: DataFrame, spec: WindowSettings) -> DataFrame:
    """Count rides per hopping window and group by way of panes; for append mode only.

    Rides are first aggregated per pane (a tumbling window of ``spec.slide``) and group, then
    the panes of each hopping window are added up: counts and sums as sums, the mean distance as
    the sum of distances over the count of rides that have one. The result has the columns and
    the values of the plain hopping aggregation (sums may differ in the last bits: floating-point
    addition in another order), except for rides behind a closed pane (below). ``spec.size``
    must be a whole number of ``spec.slide`` (:func:`uses_panes`).

    Watermark and emission in append mode (Spark's rules for chained time-window aggregations,
    measured with :class:`ridestream.testing.StreamDriver` in ``tests/unit/test_pane_windows.py``):

    - No later than the plain aggregation: Spark hands the watermark on unchanged to the second
      aggregation, whose rows carry the event time ``window_time(pane)`` (the pane's end less one
      microsecond). The last pane of a window ends where the window ends, so the micro-batch in
      which the watermark passes a window's end emits the pane and then the window, the same
      micro-batch in which the plain aggregation emits it.
    - A ride behind the watermark whose pane is still open counts in all its windows, as in the
      plain aggregation; one whose windows have all closed is dropped by both.
    - The difference: a ride behind the watermark whose pane has closed (already emitted) is
      dropped from all its windows, while the plain aggregation still counts it in the later
      windows that hold it and are open (up to ``size - slide`` after the pane). A window is then
      short of rides the plain query would have counted. The watermark delay bounds it: only
      rides later than the delay are affected.
    - Spark's count of rows dropped by the watermark (``numRowsDroppedByWatermark``) counts a
      row per pane and group here, a row per window and group in the plain aggregation: one
      late ride is 1 here and up to ``size / slide`` there.
    - State: open panes, and open windows of pane sums (a ride is held once, not once per
      window).
    """
    panes = (
        rides.withWatermark(EVENT_TIME, spec.watermark)
        .groupBy(F.window(EVENT_TIME, spec.slide).alias(_PANE), *spec.group_by)
        .agg(
            F.count(F.lit(1)).alias("ride_count"),
            F.sum("total_amount").alias("total_amount"),
            F.sum("tip_amount").alias("tip_amount"),
            F.sum("trip_distance").alias(_DISTANCE_SUM),
            F.count("trip_distance").alias(_DISTANCE_COUNT),
        )
    )
    distance_count = F.sum(_DISTANCE_COUNT)
    windows = (
        panes
        # A pane's event time is window_time(pane): that is what carries the watermark on to the
        # second aggregation, and it falls in exactly the hopping windows that hold the pane.
        .groupBy(
            F.window(F.window_time(_PANE), spec.size, spec.slide).alias("window"),
            *spec.group_by,
        ).agg(
            F.sum("ride_count").alias("ride_count"),
            F.sum("total_amount").alias("total_amount"),
            F.sum("tip_amount").alias("tip_amount"),
            # avg() is null for a window without any distance; so is this (no division by 0).
            F.when(distance_count > 0, F.sum(_DISTANCE_SUM) / distance_count).alias(
                "avg_trip_distance"
            ),
        )
    )
    return _to_contract(windows, spec)


def count_rides(
    rides: DataFrame, spec: WindowSettings, output_mode: str | None = None
) -> DataFrame:
    """Count rides and sum fares per event-time window and group.

    Parameters
    ----------
    rides
        Typed rides with an ``event_time`` column (see
        :func:`ridestream.parsing.with_event_time`).
    spec
        The windows: kind, size, slide or gap, watermark, group keys.
    output_mode
        The output mode of the query the windows go to. With ``"append"`` and ``spec.panes``,
        hopping windows whose size is a whole number of slides are combined from panes
        (:func:`count_rides_by_pane`); otherwise, and when the mode is not given, the plain
        aggregation, which every mode supports.

    Returns
    -------
    DataFrame
        The columns of ``schemas/ride_window.avsc`` with the group keys after the window bounds.
    """
    if uses_panes(spec, output_mode):
        return count_rides_by_pane(rides, spec)
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
    )
    return _to_contract(windows, spec)


def ride_windows(
    rides: DataFrame, spec: WindowSettings, output_mode: str | None = None
) -> DataFrame:
    """Return the ride_windows job's transformation: typed rides -> windows per group.

    This is the exact code path of ``jobs/ride_windows.py`` after parsing; test it with
    :class:`ridestream.testing.StreamDriver`. ``output_mode`` as for :func:`count_rides`.
    """
    return rides.transform(with_event_time).transform(count_rides, spec, output_mode)
