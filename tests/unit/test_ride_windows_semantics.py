"""What ride_windows emits, batch by batch: the job's own transform under the StreamDriver.

Every expected row is written out by hand from the rides pushed (builders.ride defaults: zone
132 -> 236, total 23.0, tip 3.0, distance 2.5). Windows are 10 minutes with a 5-minute watermark
unless a test says otherwise, so "watermark = latest pickup - 5 minutes".
"""

from __future__ import annotations

from datetime import datetime

import pytest

from ridestream.config import WindowSettings
from ridestream.testing import StreamDriver
from ridestream.windows import ride_windows
from tests.builders import ride

TUMBLING = WindowSettings(size="10 minutes", watermark="5 minutes")


def at(clock: str) -> datetime:
    """Return 2024-01-01 at ``clock`` (HH:MM or HH:MM:SS)."""
    return datetime.fromisoformat(f"2024-01-01 {clock}")


def window(start: str, end: str, rides: int, zone: int = 132, **extra: object) -> dict:
    """Return an expected window row of default rides (23.0 total, 3.0 tip, 2.5 miles each)."""
    return {
        "window_start": at(start),
        "window_end": at(end),
        "PULocationID": zone,
        "ride_count": rides,
        "total_amount": 23.0 * rides,
        "tip_amount": 3.0 * rides,
        "avg_trip_distance": 2.5,
        **extra,
    }


def driver(spark, spec: WindowSettings = TUMBLING, output_mode: str = "append") -> StreamDriver:
    return StreamDriver(spark, lambda rides: ride_windows(rides, spec), output_mode=output_mode)


def test_tumbling_windows_count_each_zone_separately(spark):
    with driver(spark) as d:
        first = d.push(
            [
                ride(at("10:01")),
                ride(at("10:04"), PULocationID=7),
                ride(at("10:09:59")),
                ride(at("10:10")),  # the next window: start is inclusive, end exclusive
            ]
        )
        first.assert_emitted([])
        closing = d.push([ride(at("10:25"))])  # watermark 10:20 closes [10:00, 10:10) and 10:10's
        closing.assert_emitted(
            [
                window("10:00", "10:10", 2),
                window("10:00", "10:10", 1, zone=7),
                window("10:10", "10:20", 1),
            ]
        )


def test_append_emits_a_window_only_once_the_watermark_reaches_its_end(spark):
    with driver(spark) as d:
        assert d.push([ride(at("10:01"))]).emitted == []
        almost = d.push([ride(at("10:14:59"))])
        assert almost.watermark == at("10:09:59")
        assert almost.emitted == []
        closes = d.push([ride(at("10:15"))])
        assert closes.watermark == at("10:10")
        closes.assert_emitted([window("10:00", "10:10", 1)])
        # Emitted once: later batches do not repeat it.
        assert d.push([ride(at("10:16"))]).emitted == []


def test_update_mode_emits_every_window_a_batch_changed_and_only_those(spark):
    with driver(spark, output_mode="update") as d:
        d.push([ride(at("10:01")), ride(at("10:02"))]).assert_emitted([window("10:00", "10:10", 2)])
        d.push([ride(at("10:03"))]).assert_emitted([window("10:00", "10:10", 3)])
        d.push([ride(at("10:12"))]).assert_emitted([window("10:10", "10:20", 1)])


def test_out_of_order_rides_within_the_watermark_are_counted(spark):
    with driver(spark) as d:
        d.push([ride(at("10:08"))])  # watermark 10:03
        within = d.push([ride(at("10:05")), ride(at("10:04"))])
        assert within.late_rows == []
        # Behind the watermark (10:02 < 10:03) but its window [10:00, 10:10) is still open:
        # Spark keeps it. Late is not the same as dropped.
        behind = d.push([ride(at("10:02"))])
        assert [r.tpep_pickup_datetime for r in behind.late_rows] == [at("10:02")]
        assert behind.dropped_by_watermark == 0
        d.push([ride(at("10:30"))]).assert_emitted([window("10:00", "10:10", 4)])


def test_rides_whose_window_has_closed_are_dropped_and_reported(spark):
    with driver(spark) as d:
        d.push([ride(at("10:01"))])
        d.push([ride(at("10:16"))]).assert_emitted([window("10:00", "10:10", 1)])  # wm 10:11
        late = d.push([ride(at("10:02")), ride(at("10:03")), ride(at("10:12"), PULocationID=7)])
        assert sorted(r.tpep_pickup_datetime for r in late.late_rows) == [at("10:02"), at("10:03")]
        # Spark counts what its state operator dropped after partial aggregation: the two late
        # rides of one zone and window arrive there as one row.
        assert late.dropped_by_watermark == 1
        assert late.emitted == []
        # The closed window is never emitted again, and the late rides are in no other window.
        d.push([ride(at("10:40"))]).assert_emitted(
            [window("10:10", "10:20", 1), window("10:10", "10:20", 1, zone=7)]
        )


def test_a_batch_with_no_rows_changes_nothing(spark):
    with driver(spark) as d:
        d.push([ride(at("10:01")), ride(at("10:12"), PULocationID=7)])
        before = d.push([ride(at("10:13"))])
        empty = d.push([])
        assert len(empty.batch_ids) == 1  # a micro-batch ran ...
        assert empty.emitted == []  # ... and emitted nothing,
        assert empty.watermark == before.watermark == at("10:08")  # moved no watermark,
        assert empty.state_rows == before.state_rows == 3  # and kept every window's state.
        d.push([ride(at("10:30"))]).assert_emitted(
            [
                window("10:00", "10:10", 1),
                window("10:10", "10:20", 1),
                window("10:10", "10:20", 1, zone=7),
            ]
        )


def test_hopping_windows_count_a_ride_in_every_window_it_falls_in(spark):
    spec = WindowSettings(
        kind="hopping", size="10 minutes", slide="5 minutes", watermark="5 minutes"
    )
    with driver(spark, spec, output_mode="update") as d:
        d.push([ride(at("10:07"))]).assert_emitted(
            [window("10:00", "10:10", 1), window("10:05", "10:15", 1)]
        )
        d.push([ride(at("10:11"))]).assert_emitted(
            [window("10:05", "10:15", 2), window("10:10", "10:20", 1)]
        )


def test_hopping_windows_in_append_mode_close_one_slide_at_a_time(spark):
    spec = WindowSettings(
        kind="hopping", size="10 minutes", slide="5 minutes", watermark="5 minutes"
    )
    with driver(spark, spec) as d:
        d.push([ride(at("10:07")), ride(at("10:11"))])
        d.push([ride(at("10:15"))]).assert_emitted([window("10:00", "10:10", 1)])  # wm 10:10
        d.push([ride(at("10:20"))]).assert_emitted([window("10:05", "10:15", 2)])  # wm 10:15


def test_several_group_keys_make_separate_windows(spark):
    spec = WindowSettings(
        size="10 minutes", watermark="5 minutes", group_by=("PULocationID", "DOLocationID")
    )
    with driver(spark, spec) as d:
        d.push(
            [
                ride(at("10:01"), PULocationID=1, DOLocationID=2),
                ride(at("10:02"), PULocationID=1, DOLocationID=2),
                ride(at("10:03"), PULocationID=1, DOLocationID=3),
                ride(at("10:04"), PULocationID=2, DOLocationID=2),
            ]
        )
        d.push([ride(at("10:30"), PULocationID=9, DOLocationID=9)]).assert_emitted(
            [
                window("10:00", "10:10", 2, zone=1, DOLocationID=2),
                window("10:00", "10:10", 1, zone=1, DOLocationID=3),
                window("10:00", "10:10", 1, zone=2, DOLocationID=2),
            ]
        )


def test_session_windows_are_per_zone_and_close_after_the_gap(spark):
    spec = WindowSettings(kind="session", gap="5 minutes", watermark="5 minutes")
    with driver(spark, spec) as d:
        d.push(
            [
                ride(at("10:00"), PULocationID=1),
                ride(at("10:03"), PULocationID=1),  # within 5 min of 10:00: same session
                ride(at("10:01"), PULocationID=2),
                ride(at("10:09"), PULocationID=2),  # 8 min after 10:01: a new session
            ]
        )
        # Watermark 10:15: sessions ending (last ride + gap) by then are complete.
        d.push([ride(at("10:20"), PULocationID=3)]).assert_emitted(
            [
                window("10:00", "10:08", 2, zone=1),
                window("10:01", "10:06", 1, zone=2),
                window("10:09", "10:14", 1, zone=2),
            ]
        )


@pytest.mark.parametrize("output_mode", ["append", "update"])
def test_watermark_is_the_latest_event_time_minus_the_delay_and_never_moves_back(
    spark, output_mode
):
    with driver(spark, output_mode=output_mode) as d:
        assert d.push([ride(at("10:20"))]).watermark == at("10:15")
        assert d.push([ride(at("10:05"))]).watermark == at("10:15")
        assert d.push([ride(at("10:21"))]).watermark == at("10:16")
