"""The latency benchmark's attribution of rides to window results (bench/support/transforms.py)."""

from datetime import datetime, timedelta

from pyspark.sql import types as T

from bench.support.transforms import ride_latencies

RIDES = T.StructType(
    [
        T.StructField("tpep_pickup_datetime", T.TimestampType()),
        T.StructField("PULocationID", T.IntegerType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
    ]
)
RESULTS = T.StructType(
    [
        T.StructField("window_start", T.TimestampType()),
        T.StructField("PULocationID", T.IntegerType()),
        T.StructField("ride_count", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
    ]
)


def at(seconds: float) -> datetime:
    return datetime(2024, 1, 1, 10, 0, 0) + timedelta(seconds=seconds)


def latencies_of(spark, rides, results):
    frame = ride_latencies(
        spark.createDataFrame(rides, RIDES),
        spark.createDataFrame(results, RESULTS),
        "5 minutes",
        ("PULocationID",),
    )
    return sorted((row["latency_s"] for row in frame.collect()), key=lambda s: (s is None, s))


def test_each_ride_is_timed_to_the_first_result_whose_count_includes_it(spark):
    window = at(0)
    rides = [
        # pickup, zone, arrived in Kafka, partition, offset
        (at(10), 161, at(1), 0, 0),
        (at(20), 161, at(2), 0, 1),
        (at(30), 161, at(3), 0, 2),
    ]
    results = [
        (window, 161, 1, at(4)),  # a batch that had read only the first ride
        (window, 161, 3, at(7)),  # the next batch: all three
    ]
    assert latencies_of(spark, rides, results) == [3.0, 4.0, 5.0]


def test_results_of_another_zone_or_window_do_not_count_a_ride(spark):
    rides = [(at(10), 161, at(1), 0, 0), (at(400), 161, at(2), 0, 1)]
    results = [
        (at(0), 237, 5, at(3)),  # another zone
        (at(300), 161, 1, at(6)),  # the second ride's window (10:05), not the first's
    ]
    assert latencies_of(spark, rides, results) == [4.0, None]
