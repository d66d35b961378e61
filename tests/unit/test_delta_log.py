"""The Delta log reader against tables Delta itself wrote: the same rows as Spark reads.

Each table is written by delta-spark in the test session (appends, a MERGE, a checkpoint every
two commits), then read both ways: Spark's ``format("delta")`` is the expected answer.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from delta.tables import DeltaTable

from ridestream.accounting import window_rides
from ridestream.delta_log import UnsupportedTable, commits, live_files, read_table

SCHEMA = "window_start timestamp, window_end timestamp, PULocationID int, ride_count long"
T0, T1, T2 = datetime(2024, 1, 1, 10, 0), datetime(2024, 1, 1, 10, 5), datetime(2024, 1, 1, 10, 10)


def rows_of(frame) -> list[tuple]:  # noqa: ANN001 - a pandas DataFrame
    return sorted(tuple(row) for row in frame.itertuples(index=False))


def spark_rows(spark, path) -> list[tuple]:
    return sorted(tuple(row) for row in spark.read.format("delta").load(str(path)).collect())


def merge(spark, path, rows, batch: int) -> None:
    """MERGE rows by (window_start, zone), as the job's update mode does, with its txn."""
    spark.conf.set("spark.databricks.delta.write.txnAppId", "test")
    spark.conf.set("spark.databricks.delta.write.txnVersion", str(batch))
    try:
        (
            DeltaTable.forPath(spark, str(path))
            .alias("t")
            .merge(
                spark.createDataFrame(rows, SCHEMA).alias("s"),
                "t.window_start = s.window_start AND t.PULocationID = s.PULocationID",
            )
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
    finally:
        spark.conf.unset("spark.databricks.delta.write.txnAppId")
        spark.conf.unset("spark.databricks.delta.write.txnVersion")


def test_appends_merges_and_a_checkpoint_read_as_spark_reads_them(spark, tmp_path):
    path = tmp_path / "windows"
    first = spark.createDataFrame([(T0, T1, 1, 3), (T0, T1, 2, 1)], SCHEMA)
    first.write.format("delta").option("delta.checkpointInterval", "2").save(str(path))
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.checkpointInterval = 2)")
    merge(spark, path, [(T0, T1, 1, 5), (T1, T2, 3, 2)], batch=0)  # zone 1 replaced, zone 3 new
    merge(spark, path, [(T1, T2, 3, 4)], batch=1)
    assert (path / "_delta_log" / "_last_checkpoint").exists()  # the reader starts from it

    assert rows_of(read_table(path).to_pandas()) == spark_rows(spark, path)
    assert len(live_files(path)) >= 1
    # What each batch's MERGE added: batch 0 2 rides more on zone 1 and 2 on zone 3 (+4),
    # batch 1 2 more on zone 3 (+2).
    rides = window_rides(lambda: pytest.fail("Spark was asked for a plain local table"), str(path))
    assert (rides.windows, rides.ride_windows, rides.all_windows) == (3, 10, True)
    assert rides.added_per_batch == {0: 4, 1: 2}
    assert [commit.operation for commit in commits(path)][-2:] == ["MERGE", "MERGE"]


def test_a_table_with_deletion_vectors_is_left_to_spark(spark, tmp_path):
    path = tmp_path / "dv"
    rows = spark.createDataFrame([(T0, T1, zone, 1) for zone in range(1, 21)], SCHEMA)
    rows.coalesce(1).write.format("delta").option("delta.enableDeletionVectors", "true").save(
        str(path)
    )
    spark.sql(f"DELETE FROM delta.`{path}` WHERE PULocationID <= 5")
    with pytest.raises(UnsupportedTable, match="reader protocol|deletion vectors"):
        read_table(path)
    # The balance reads it with the session it is given instead.
    rides = window_rides(lambda: spark, str(path))
    assert (rides.windows, rides.ride_windows) == (15, 15)


def test_a_directory_without_a_log_is_not_a_table(tmp_path):
    with pytest.raises(FileNotFoundError, match="_delta_log"):
        live_files(tmp_path)
