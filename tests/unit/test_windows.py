"""Window transforms on literal rows. Expected rows are written out by hand."""

from datetime import datetime

from chispa import assert_df_equality

from ridestream.config import WindowSettings
from ridestream.schemas import ride_schema, ride_window_schema
from ridestream.windows import count_rides, with_event_time
from tests.builders import ride


def rides_df(spark, rides):
    names = ride_schema().fieldNames()
    return spark.createDataFrame([tuple(r[n] for n in names) for r in rides], ride_schema())


def windows_of(spark, rides, spec):
    return rides_df(spark, rides).transform(with_event_time).transform(count_rides, spec)


def expected_df(spark, rows, group_by=("PULocationID",)):
    return spark.createDataFrame(rows, ride_window_schema(group_by))


def t(text):
    return datetime.fromisoformat(f"2024-01-01 {text}")


def test_tumbling_windows_count_and_sum_per_zone(spark):
    rides = [
        ride(
            "2024-01-01 00:01:00",
            PULocationID=1,
            total_amount=10.0,
            tip_amount=1.0,
            trip_distance=1.0,
        ),
        ride(
            "2024-01-01 00:04:59",
            PULocationID=1,
            total_amount=20.0,
            tip_amount=2.0,
            trip_distance=3.0,
        ),
        ride(
            "2024-01-01 00:05:00",
            PULocationID=1,
            total_amount=5.0,
            tip_amount=0.5,
            trip_distance=2.0,
        ),
        ride(
            "2024-01-01 00:02:00",
            PULocationID=2,
            total_amount=7.0,
            tip_amount=None,
            trip_distance=4.0,
        ),
    ]
    actual = windows_of(spark, rides, WindowSettings(size="5 minutes", watermark="1 minute"))
    expected = expected_df(
        spark,
        [
            (t("00:00:00"), t("00:05:00"), 1, 2, 30.0, 3.0, 2.0),
            (t("00:05:00"), t("00:10:00"), 1, 1, 5.0, 0.5, 2.0),
            (t("00:00:00"), t("00:05:00"), 2, 1, 7.0, None, 4.0),
        ],
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_hopping_windows_count_a_ride_in_every_window_that_covers_it(spark):
    rides = [
        ride(
            "2024-01-01 00:07:00",
            PULocationID=1,
            total_amount=10.0,
            tip_amount=1.0,
            trip_distance=2.0,
        )
    ]
    spec = WindowSettings(
        kind="hopping", size="10 minutes", slide="5 minutes", watermark="1 minute"
    )
    expected = expected_df(
        spark,
        [
            (t("00:00:00"), t("00:10:00"), 1, 1, 10.0, 1.0, 2.0),
            (t("00:05:00"), t("00:15:00"), 1, 1, 10.0, 1.0, 2.0),
        ],
    )
    assert_df_equality(
        windows_of(spark, rides, spec), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_group_by_two_fields(spark):
    rides = [
        ride("2024-01-01 00:01:00", PULocationID=1, VendorID=1, total_amount=1.0, tip_amount=0.0),
        ride("2024-01-01 00:02:00", PULocationID=1, VendorID=2, total_amount=2.0, tip_amount=0.0),
        ride("2024-01-01 00:03:00", PULocationID=1, VendorID=2, total_amount=3.0, tip_amount=0.0),
    ]
    spec = WindowSettings(size="5 minutes", group_by=("PULocationID", "VendorID"))
    expected = expected_df(
        spark,
        [
            (t("00:00:00"), t("00:05:00"), 1, 1, 1, 1.0, 0.0, 2.5),
            (t("00:00:00"), t("00:05:00"), 1, 2, 2, 5.0, 0.0, 2.5),
        ],
        group_by=("PULocationID", "VendorID"),
    )
    assert_df_equality(
        windows_of(spark, rides, spec), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_session_windows_close_after_a_gap_per_zone(spark):
    rides = [
        ride("2024-01-01 00:00:00", PULocationID=1, total_amount=1.0, tip_amount=0.0),
        ride("2024-01-01 00:03:00", PULocationID=1, total_amount=2.0, tip_amount=0.0),
        ride("2024-01-01 00:20:00", PULocationID=1, total_amount=4.0, tip_amount=0.0),
        ride("2024-01-01 00:01:00", PULocationID=2, total_amount=8.0, tip_amount=0.0),
    ]
    spec = WindowSettings(kind="session", gap="5 minutes")
    expected = expected_df(
        spark,
        [
            (t("00:00:00"), t("00:08:00"), 1, 2, 3.0, 0.0, 2.5),
            (t("00:20:00"), t("00:25:00"), 1, 1, 4.0, 0.0, 2.5),
            (t("00:01:00"), t("00:06:00"), 2, 1, 8.0, 0.0, 2.5),
        ],
    )
    assert_df_equality(
        windows_of(spark, rides, spec), expected, ignore_row_order=True, ignore_nullable=True
    )
