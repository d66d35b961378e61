"""The StreamDriver itself: input handling, failure output, and driving raw Kafka records."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import DataFramesNotEqualError
from pyspark.sql import Row
from pyspark.sql import types as T

from ridestream.config import SinkSettings, WindowSettings
from ridestream.jobs.ride_windows import RideWindowsOptions, build_outputs
from ridestream.schemas import ride_schema
from ridestream.testing import StreamDriver
from ridestream.windows import ride_windows
from tests.builders import KAFKA_SCHEMA, kafka_rows, ride, ride_json

SPEC = WindowSettings(size="10 minutes", watermark="5 minutes")


def windows(rides):
    return ride_windows(rides, SPEC)


def test_rows_may_be_dicts_rows_or_tuples_and_timestamps_iso_strings(spark):
    names = ride_schema().fieldNames()
    as_tuple = tuple(ride("2024-01-01 10:02:00")[name] for name in names)
    as_row = Row(**ride("2024-01-01 10:03:00"))
    as_strings = {**ride(), "tpep_pickup_datetime": "2024-01-01 10:04:00"}
    with StreamDriver(spark, windows, output_mode="update") as driver:
        step = driver.push([ride("2024-01-01 10:01:00"), as_tuple, as_row, as_strings])
        assert [(row.window_start, row.ride_count) for row in step.emitted] == [
            (datetime(2024, 1, 1, 10, 0), 4)
        ]


def test_a_field_outside_the_schema_is_refused_before_spark_sees_it(spark):
    with StreamDriver(spark, windows) as driver:
        with pytest.raises(ValueError, match=r"fields not in the input schema: \['pickup'\]"):
            driver.push([{**ride(), "pickup": "2024-01-01 10:00:00"}])


def test_a_missing_required_field_is_named(spark):
    with StreamDriver(spark, windows) as driver:
        incomplete = {k: v for k, v in ride().items() if k != "PULocationID"}
        with pytest.raises(ValueError, match=r"required fields \['PULocationID'\]"):
            driver.push([incomplete])


def test_a_wrong_expectation_fails_with_a_row_diff(spark):
    with StreamDriver(spark, windows, output_mode="update") as driver:
        step = driver.push([ride("2024-01-01 10:01:00")])
        wrong = {
            "window_start": datetime(2024, 1, 1, 10, 0),
            "window_end": datetime(2024, 1, 1, 10, 10),
            "PULocationID": 132,
            "ride_count": 2,
            "total_amount": 23.0,
            "tip_amount": 3.0,
            "avg_trip_distance": 2.5,
        }
        with pytest.raises(DataFramesNotEqualError) as failure:
            step.assert_emitted([wrong])
        assert "ride_count=1" in str(failure.value) and "ride_count=2" in str(failure.value)


def test_the_jobs_own_builder_windows_good_rides_and_rejects_bad_ones_from_raw_records(spark):
    kafka_schema = T._parse_datatype_string(KAFKA_SCHEMA)
    options = RideWindowsOptions(window=SPEC, sink=SinkSettings(output_mode="update"))
    values = [
        ride_json(ride("2024-01-01 10:01:00")),
        b"{not json",
        ride_json(ride("2024-01-01 10:02:00")),
    ]
    windows = StreamDriver(
        spark, lambda records: build_outputs(records, options)[0], kafka_schema, "update",
        event_time="timestamp",
    )  # fmt: skip
    with windows as driver:
        step = driver.push(kafka_rows(values))
        assert [(row.PULocationID, row.ride_count) for row in step.emitted] == [(132, 2)]
    rejects = StreamDriver(
        spark, lambda records: build_outputs(records, options)[1], kafka_schema,
        event_time="timestamp",
    )  # fmt: skip
    with rejects as driver:
        step = driver.push(kafka_rows(values))
        assert [(row.offset, row.reason, row.value) for row in step.emitted] == [
            (1, "not_json", b"{not json")
        ]
        assert step.state_rows == 0 and step.watermark is None
