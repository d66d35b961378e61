"""stream_sql's errors on a statement: one line that says where and what to do (no broker).

The views are the job's own (``register_views``-style: ``rides_view`` over Kafka-shaped records),
read from a scripted source that never runs: Spark analyses the statements without any data.
"""

from __future__ import annotations

import tempfile

import pandas as pd
import pytest
from pyspark.sql import types as T

from ridestream import runner
from ridestream.jobs.stream_sql import (
    JOB,
    build_result,
    grouping_columns,
    register_zones,
    rides_view,
)
from ridestream.sql import SqlError, parse_sql
from ridestream.zones import ZONES_FILE

KAFKA_RECORD = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
    ]
)


@pytest.fixture(scope="module")
def views(spark):
    """The rides view, registered as the job registers it; returns {view: columns}."""
    # A streaming DataFrame of Kafka's record shape (never started: only its plans are built).
    records = spark.readStream.schema(KAFKA_RECORD).parquet(tempfile.mkdtemp(prefix="stream-sql-"))
    options = runner.settings_for(JOB, ["--query", "SELECT * FROM rides"]).job
    rides, _ = rides_view(records, options)
    rides.createOrReplaceTempView("rides")
    register_zones(spark)
    return {"rides": rides.columns, "zones": spark.table("zones").columns}


def result_of(spark, views, sql, mode="auto", source="query"):
    (statement,) = parse_sql(sql, source)
    return build_result(spark, statement, "q", views, mode)


def error_of(spark, views, sql, mode="auto", source="query") -> str:
    with pytest.raises(SqlError) as raised:
        result_of(spark, views, sql, mode, source)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_syntax_error_names_its_line_and_column(spark, views):
    message = error_of(
        spark, views, "-- rides per zone\nSELECT PULocationID\nFORM rides;", source="x.sql"
    )
    assert message.startswith("x.sql line 3, column 6: syntax error at or near 'rides'"), message


def test_a_syntax_error_in_a_create_table_is_placed_in_the_file(spark, views):
    message = error_of(
        spark, views, "CREATE TABLE t AS SELECT count(*) FROM rides GROUP BY", source="t.sql"
    )
    assert message.startswith("t.sql line 1, column 52: syntax error"), message


def test_an_unknown_column_names_the_columns_there_are(spark, views):
    message = error_of(spark, views, "SELECT PULocationId, tips FROM rides")
    assert message.startswith("query line 1, column 22: unknown column `tips`; rides has "), message
    assert "tip_amount" in message and "event_time" in message and "VendorID" in message


def test_an_unknown_stream_names_the_streams_there_are(spark, views):
    message = error_of(spark, views, "SELECT * FROM ride_stream")
    assert (
        "no stream or table `ride_stream`: there are rides, zones (CREATE STREAM adds one)"
        in message
    )


def test_order_by_without_aggregation_gives_sparks_reason_and_what_to_change(spark, views):
    message = error_of(spark, views, "SELECT * FROM rides ORDER BY total_amount DESC")
    assert "a stream cannot run this query: sorting is not supported on streaming" in message
    assert "To change: drop ORDER BY" in message


def test_an_aggregate_without_a_window_in_append_mode_says_to_group_by_a_window(spark, views):
    message = error_of(
        spark, views, "SELECT VendorID, count(*) FROM rides GROUP BY VendorID", mode="append"
    )
    assert "a stream cannot run this query: invalid streaming output mode: append" in message
    assert "To change: group by a window on the event time" in message
    assert "or use --output-mode update" in message


def test_sessions_in_update_mode_say_they_are_written_once_closed(spark, views):
    message = error_of(
        spark,
        views,
        "SELECT PULocationID, count(*) FROM rides "
        "GROUP BY PULocationID, session_window(event_time, '5 minutes')",
        mode="update",
    )
    assert "not supported for session window" in message
    assert "To change: sessions are written once, when closed" in message


def test_a_table_is_keyed_by_its_group_by_columns_and_window(spark, views):
    result = result_of(
        spark,
        views,
        "CREATE TABLE t AS SELECT window(event_time, '5 minutes') AS w, PULocationID AS zone, "
        "count(*) AS n FROM rides GROUP BY window(event_time, '5 minutes'), PULocationID",
    )
    assert result.keys == ["window_start", "window_end", "zone"]
    assert result.frame.columns == ["window_start", "window_end", "zone", "n"]
    assert result.output_mode == "update"


def test_a_query_without_aggregation_has_no_keys_and_appends(spark, views):
    result = result_of(spark, views, "SELECT PULocationID, total_amount FROM rides")
    assert grouping_columns(result.frame) is None
    assert (result.keys, result.output_mode) == (None, "append")


def test_a_table_that_leaves_out_a_group_by_column_is_refused(spark, views):
    message = error_of(
        spark, views, "CREATE TABLE t AS SELECT count(*) AS n FROM rides GROUP BY PULocationID"
    )
    assert "CREATE TABLE t is keyed by its GROUP BY columns: select each of them" in message


def test_the_zones_view_is_the_shipped_lookup_and_joins_the_rides_by_borough(spark, views):
    expected = pd.read_csv(ZONES_FILE, keep_default_na=False)  # "N/A" is a service zone
    zones = spark.table("zones").toPandas()
    assert list(zones.columns) == list(expected.columns)
    assert len(zones) == 265
    assert sorted(zones.itertuples(index=False)) == sorted(expected.itertuples(index=False))
    result = result_of(
        spark,
        views,
        "CREATE TABLE by_borough AS SELECT window(event_time, '5 minutes') AS w, z.borough, "
        "count(*) AS n FROM rides r JOIN zones z ON r.PULocationID = z.locationid "
        "GROUP BY window(event_time, '5 minutes'), z.borough",
    )
    assert result.keys == ["window_start", "window_end", "borough"]
    assert result.output_mode == "update"
