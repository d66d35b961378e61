"""Hopping windows combined from panes emit what the plain hopping aggregation emits.

Except for a ride behind the watermark whose pane has closed: the one documented difference
(``count_rides_by_pane``), pinned down by its own test.

Each test runs the job's transform twice under the StreamDriver, plain (no output mode given) and
by panes (``window.panes``, append), pushes the same batches into both, and compares each push's
output with the windows computed here in plain Python from the rides pushed: a ride is in every
window whose [start, end) holds its pickup, windows start at multiples of the slide (from the
epoch), a ride is dropped from a window whose end is at or before the watermark its micro-batch
ran with, and a window is emitted once the watermark reaches its end.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from chispa import assert_approx_df_equality
from pyspark.errors import AnalysisException

from ridestream.config import WindowSettings
from ridestream.schemas import ride_schema
from ridestream.testing import StreamDriver
from ridestream.windows import (
    count_rides,
    count_rides_by_pane,
    ride_windows,
    uses_panes,
    with_event_time,
)
from tests.builders import ride
from tests.corpus import varied_rides

EPOCH = datetime(1970, 1, 1)
HOUR_BY_5 = WindowSettings(
    kind="hopping", size="60 minutes", slide="5 minutes", watermark="10 minutes", panes=True
)
# A float sum over panes adds the same numbers in another order than over rides.
PRECISION = 1e-9


def at(clock: str) -> datetime:
    """Return 2024-01-01 at ``clock`` (HH:MM or HH:MM:SS)."""
    return datetime.fromisoformat(f"2024-01-01 {clock}")


def window_starts(pickup: datetime, size: timedelta, slide: timedelta) -> list[datetime]:
    """Return the starts of the hopping windows that hold ``pickup``."""
    last = EPOCH + slide * ((pickup - EPOCH) // slide)
    return [last - slide * k for k in range(size // slide)]


def window_row(start: datetime, size: timedelta, zone: int, rides: list[dict]) -> dict:
    """Return the expected output row of one window and zone holding ``rides``."""
    tips = [r["tip_amount"] for r in rides if r["tip_amount"] is not None]
    distances = [r["trip_distance"] for r in rides if r["trip_distance"] is not None]
    return {
        "window_start": start,
        "window_end": start + size,
        "PULocationID": zone,
        "ride_count": len(rides),
        "total_amount": sum(r["total_amount"] for r in rides),
        "tip_amount": sum(tips) if tips else None,
        "avg_trip_distance": sum(distances) / len(distances) if distances else None,
    }


class ExpectedWindows:
    """The plain-Python model of append-mode hopping windows, fed push by push."""

    def __init__(self, size: timedelta, slide: timedelta, delay: timedelta) -> None:
        self.size, self.slide, self.delay = size, slide, delay
        self.rides: dict[tuple, list[dict]] = defaultdict(list)
        self.latest: datetime | None = None
        self.watermark: datetime | None = None
        self.emitted: set[tuple] = set()

    def push(self, rides: list[dict]) -> list[dict]:
        """Take one micro-batch of rides; return the windows it emits."""
        for fields in rides:
            pickup = fields["tpep_pickup_datetime"]
            for start in window_starts(pickup, self.size, self.slide):
                closed = self.watermark is not None and start + self.size <= self.watermark
                if not closed:
                    self.rides[(start, fields["PULocationID"])].append(fields)
            self.latest = max(self.latest or pickup, pickup)
        if self.latest is not None:
            self.watermark = max(self.watermark or EPOCH, self.latest - self.delay)
        due = [
            key
            for key in self.rides
            if key not in self.emitted and key[0] + self.size <= self.watermark
        ]
        self.emitted.update(due)
        return [
            window_row(start, self.size, zone, self.rides[(start, zone)]) for start, zone in due
        ]


def minutes(duration: str) -> timedelta:
    return timedelta(minutes=int(duration.split()[0]))


def expected_for(spec: WindowSettings) -> ExpectedWindows:
    return ExpectedWindows(minutes(spec.size), minutes(spec.slide), minutes(spec.watermark))


def drivers(spark, spec: WindowSettings) -> tuple[StreamDriver, StreamDriver]:
    by_panes = dataclasses.replace(spec, panes=True)
    plain = StreamDriver(spark, lambda rides: ride_windows(rides, spec))
    panes = StreamDriver(spark, lambda rides: ride_windows(rides, by_panes, "append"))
    return plain, panes


def push_and_compare(plain, panes, model, rides):
    """Push ``rides`` into both; assert both emitted the model's windows; return both steps."""
    expected = model.push(rides)
    plain_step, pane_step = plain.push(rides), panes.push(rides)
    plain_step.assert_emitted(expected, precision=PRECISION)
    pane_step.assert_emitted(expected, precision=PRECISION)
    assert pane_step.watermark == plain_step.watermark == model.watermark
    return plain_step, pane_step


def test_pane_windows_equal_plain_hopping_windows_with_out_of_order_rides_and_two_zones(spark):
    model = expected_for(HOUR_BY_5)
    pushes = [
        [
            ride(at("10:07"), total_amount=12.35, tip_amount=1.1, trip_distance=0.7),
            ride(at("10:01"), PULocationID=7, total_amount=30.1, trip_distance=None),
            ride(at("10:12:30"), total_amount=8.2, tip_amount=None, trip_distance=3.3),
        ],
        # Out of order, within the 10-minute watermark (it stands at 10:02:30).
        [
            ride(at("10:04"), total_amount=19.99, tip_amount=None, trip_distance=0.1),
            ride(at("10:26"), PULocationID=7, total_amount=41.0, trip_distance=12.5),
            ride(at("10:59:59"), total_amount=5.5, trip_distance=0.2),
        ],
        [ride(at("11:03"), PULocationID=7, tip_amount=0.0), ride(at("10:55"), total_amount=7.7)],
        [ride(at("11:14"), trip_distance=None)],
        [ride(at("12:30"))],  # the watermark jumps to 12:20 and closes every earlier window
    ]
    plain, panes = drivers(spark, HOUR_BY_5)
    with plain, panes:
        emitted = [push_and_compare(plain, panes, model, rides) for rides in pushes]
    # Counted by hand: windows of each zone whose end the watermark passed (10:02:30, 10:49:59,
    # 10:53, 11:04, 12:20), each with at least one ride.
    assert [len(pane_step.emitted) for _, pane_step in emitted] == [0, 18, 2, 4, 26]


def test_a_ride_behind_the_watermark_counts_in_both_while_its_pane_is_open(spark):
    spec = WindowSettings(
        kind="hopping", size="15 minutes", slide="5 minutes", watermark="5 minutes"
    )
    model = expected_for(spec)
    plain, panes = drivers(spark, spec)
    with plain, panes:
        push_and_compare(plain, panes, model, [ride(at("10:07")), ride(at("10:16"))])  # wm 10:11
        # 10:10:30 is behind the watermark, but its pane [10:10, 10:15) and every window that
        # holds it end after 10:11: both count it everywhere.
        plain_step, pane_step = push_and_compare(plain, panes, model, [ride(at("10:10:30"))])
        assert len(pane_step.late_rows) == 1 and pane_step.dropped_by_watermark == 0
        # A ride whose windows have all closed is dropped by both.
        push_and_compare(plain, panes, model, [ride(at("10:40"))])  # wm 10:35
        plain_step, pane_step = push_and_compare(plain, panes, model, [ride(at("10:19"))])
        # Spark counts dropped rows where it drops them: the plain aggregation drops one copy of
        # the ride per window (3), the pane aggregation the ride itself.
        assert (plain_step.dropped_by_watermark, pane_step.dropped_by_watermark) == (3, 1)
        push_and_compare(plain, panes, model, [ride(at("11:30"))])


def test_a_ride_behind_a_closed_pane_is_dropped_from_windows_the_plain_query_still_counts(spark):
    # The one difference, documented in count_rides_by_pane: a pane emitted once cannot take a
    # late ride, though some of the windows it feeds are still open.
    spec = WindowSettings(
        kind="hopping", size="15 minutes", slide="5 minutes", watermark="5 minutes"
    )
    plain, panes = drivers(spark, spec)
    with plain, panes:
        for driver in (plain, panes):
            driver.push([ride(at("10:07")), ride(at("10:16"))])  # watermark 10:11
        # 10:09 is in [09:55, 10:10) (closed), [10:00, 10:15) and [10:05, 10:20) (open); its
        # pane [10:05, 10:10) was emitted when the watermark passed 10:10.
        late = [ride(at("10:09"))]
        assert plain.push(late).dropped_by_watermark == panes.push(late).dropped_by_watermark == 1
        plain_step, pane_step = plain.push([ride(at("10:40"))]), panes.push([ride(at("10:40"))])

    def counts(step):
        return {
            (row.window_start.strftime("%H:%M"), row.window_end.strftime("%H:%M")): row.ride_count
            for row in step.emitted
        }

    assert counts(plain_step) == {
        ("10:00", "10:15"): 2,
        ("10:05", "10:20"): 3,
        ("10:10", "10:25"): 1,
        ("10:15", "10:30"): 1,
    }
    assert counts(pane_step) == {
        ("10:00", "10:15"): 1,
        ("10:05", "10:20"): 2,
        ("10:10", "10:25"): 1,
        ("10:15", "10:30"): 1,
    }


def test_panes_are_used_only_when_asked_for_hopping_windows_of_whole_slides_in_append_mode():
    assert uses_panes(HOUR_BY_5, "append")
    assert not uses_panes(dataclasses.replace(HOUR_BY_5, panes=False), "append")
    assert not uses_panes(HOUR_BY_5, "update")
    assert not uses_panes(HOUR_BY_5, None)
    uneven = WindowSettings(kind="hopping", size="10 minutes", slide="3 minutes", panes=True)
    assert not uses_panes(uneven, "append")
    assert not uses_panes(WindowSettings(kind="tumbling", size="10 minutes", panes=True), "append")


def stateful_operators(driver: StreamDriver) -> int:
    return len(driver.query.lastProgress["stateOperators"])


def test_update_mode_keeps_the_plain_aggregation_which_spark_allows_there(spark):
    spec = HOUR_BY_5
    with StreamDriver(
        spark, lambda rides: ride_windows(rides, spec, "update"), output_mode="update"
    ) as update:
        update.push([ride(at("10:07"))]).assert_emitted(
            [
                {
                    "window_start": at("09:10") + timedelta(minutes=5 * k),
                    "window_end": at("10:10") + timedelta(minutes=5 * k),
                    "PULocationID": 132,
                    "ride_count": 1,
                    "total_amount": 23.0,
                    "tip_amount": 3.0,
                    "avg_trip_distance": 2.5,
                }
                for k in range(12)
            ]
        )
        assert stateful_operators(update) == 1
    with StreamDriver(spark, lambda rides: ride_windows(rides, spec, "append")) as append:
        append.push([ride(at("10:07"))])
        assert stateful_operators(append) == 2  # panes, then windows


def test_spark_refuses_pane_windows_in_update_mode(spark):
    # Why update mode keeps the plain aggregation: panes updated batch after batch would reach
    # the second aggregation behind its watermark, and Spark refuses such a chain outright.
    with pytest.raises(
        AnalysisException, match="possible 'correctness' issue due to global watermark"
    ):
        StreamDriver(
            spark,
            lambda rides: rides.transform(with_event_time).transform(
                count_rides_by_pane, HOUR_BY_5
            ),
            output_mode="update",
        )


def test_in_a_batch_pane_windows_equal_plain_windows_of_many_rides(spark):
    rides = varied_rides(400, seed=21)
    for fields in rides:  # folded into one day, so that windows hold several rides
        since_epoch = fields["tpep_pickup_datetime"] - EPOCH
        fields["tpep_pickup_datetime"] = at("00:00") + since_epoch % timedelta(days=1)
    names = ride_schema().fieldNames()
    frame = spark.createDataFrame(
        [tuple(r[n] for n in names) for r in rides], ride_schema()
    ).transform(with_event_time)
    size, slide = minutes(HOUR_BY_5.size), minutes(HOUR_BY_5.slide)
    members: dict[tuple, list[dict]] = defaultdict(list)
    for fields in rides:
        for start in window_starts(fields["tpep_pickup_datetime"], size, slide):
            members[(start, fields["PULocationID"])].append(fields)
    plain = count_rides(frame, HOUR_BY_5)
    expected = spark.createDataFrame(
        [
            tuple(window_row(start, size, zone, group).values())
            for (start, zone), group in members.items()
        ],
        plain.schema,
    )
    assert expected.count() > 4000
    for result in (plain, count_rides(frame, HOUR_BY_5, "append")):
        assert_approx_df_equality(
            result, expected, PRECISION, ignore_row_order=True, ignore_nullable=True
        )
