"""Outputs a user can trust and see: tables that refuse a second writer, `rides show`, the console."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from ridestream.cli import build_parser
from ridestream.errors import ConfigError
from ridestream.sinks import (
    WRITER_CHECKPOINT,
    WRITER_ID,
    claim_table,
    show_windows,
    to_window_records,
)
from tests.integration.helpers import create_topic

pytestmark = pytest.mark.integration

WINDOWS = (
    "window_start timestamp, window_end timestamp, PULocationID int, ride_count long, "
    "total_amount double, tip_amount double, avg_trip_distance double"
)


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2024-01-01 {hhmm}:00")


def windows_frame(spark, rows):
    return spark.createDataFrame(rows, WINDOWS)


def properties(spark, path) -> dict:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, str(path)).detail().first().properties


def test_a_table_belongs_to_the_checkpoint_that_created_it(spark, tmp_path):
    path, schema = str(tmp_path / "windows"), windows_frame(spark, []).schema
    claim_table(spark, path, schema, "ckpt/a", "id-a", history=False)
    assert properties(spark, path)[WRITER_ID] == "id-a"
    assert properties(spark, path)[WRITER_CHECKPOINT] == "ckpt/a"
    claim_table(spark, path, schema, "ckpt/a", "id-a", history=True)  # its own: fine
    # Another query, or the same checkpoint deleted and made anew (a new id): refused.
    with pytest.raises(ConfigError) as refused:
        claim_table(spark, path, schema, "ckpt/a", "id-b", history=False, flag="--delta-path")
    message = str(refused.value)
    assert (
        f"the Delta table {path} is written by the query of checkpoint ckpt/a (id id-a)" in message
    )
    assert "choose another --delta-path, or run with that --checkpoint-dir" in message


def test_a_table_with_rows_and_no_writer_is_taken_only_by_a_checkpoint_with_history(
    spark, tmp_path
):
    path = str(tmp_path / "old")
    windows_frame(spark, [(at("10:00"), at("10:05"), 1, 2, 30.0, 3.0, 1.5)]).write.format(
        "delta"
    ).save(path)
    schema = windows_frame(spark, []).schema
    with pytest.raises(ConfigError, match="already holds rows written by another query"):
        claim_table(spark, path, schema, "ckpt/new", "id-new", history=False)
    assert WRITER_ID not in properties(spark, path)
    # A checkpoint that has run (an upgrade from before tables named their writer): claimed.
    claim_table(spark, path, schema, "ckpt/old", "id-old", history=True)
    assert properties(spark, path)[WRITER_ID] == "id-old"


def test_the_console_shows_the_oldest_window_first_busiest_first_and_says_what_it_left_out(
    spark, capsys
):
    batch = windows_frame(
        spark,
        [
            (at("10:05"), at("10:10"), 7, 9, 100.004, 10.0, 2.0),
            (at("10:00"), at("10:05"), 3, 2, 20.0, 2.0, 1.0),
            (at("10:00"), at("10:05"), 4, 5, 1913.3400000000001, 2.0, 2.345678),
        ],
    )
    show_windows(rows=2)(batch, 7)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("|2024")]
    assert [line.split("|")[3].strip() for line in lines] == ["4", "3"]  # 10:00, busiest first
    assert "1913.34" in lines[0] and "2.35" in lines[0] and "1913.3400000000001" not in out
    assert "--- batch 7: 3 window rows" in out
    assert "(1 more rows not shown" in out and "./rides show" in out


def test_kafka_window_records_are_rounded_like_the_console(spark):
    batch = windows_frame(
        spark, [(at("10:00"), at("10:05"), 4, 5, 1913.3400000000001, 2.0, 2.3456)]
    )
    record = to_window_records(batch, ("PULocationID",)).first()
    value = json.loads(record.value)
    assert (value["total_amount"], value["avg_trip_distance"]) == (1913.34, 2.35)
    assert json.loads(record.key) == {"window_start": "2024-01-01T10:00:00.000Z", "PULocationID": 4}


def rides_show(capsys, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["show", *argv])
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_rides_show_prints_a_delta_table_newest_window_first_with_its_row_count(
    spark, tmp_path, capsys
):
    path = str(tmp_path / "windows")
    windows_frame(
        spark,
        [
            (at("10:00"), at("10:05"), 1, 2, 30.0, 3.0, 1.5),
            (at("10:05"), at("10:10"), 2, 1, 10.0, 1.0, 1.0),
            (at("10:05"), at("10:10"), 3, 7, 70.123, 7.0, 2.0),
        ],
    ).write.format("delta").save(path)
    code, out = rides_show(capsys, path, "--limit", "2")
    assert code == 0
    assert out.splitlines()[0] == f"{path}: 3 rows (Delta table)"
    body = out.splitlines()[2:4]
    assert [line.split()[4] for line in body] == ["3", "2"]  # 10:05 first, busiest first
    assert "70.12" in body[0] and "(1 more; --limit N shows more)" in out


def test_rides_show_prints_the_latest_record_of_each_key_of_a_topic(kafka_broker, capsys):
    topic = "show_windows_topic"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for key, count in (("a", 1), ("b", 5), ("a", 3)):
        value = {
            "window_start": "2024-01-01T10:00:00.000Z",
            "PULocationID": key,
            "ride_count": count,
        }
        producer.produce(topic, key=key, value=json.dumps(value))
    producer.flush(10)
    code, out = rides_show(capsys, topic, "--bootstrap-servers", kafka_broker.bootstrap_servers)
    assert code == 0
    assert out.splitlines()[0].startswith(f"{topic}: 3 records, 2 keys (Kafka topic at ")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [(row[-2], row[-1]) for row in rows] == [("b", "5"), ("a", "3")]  # a's latest: 3


def test_rides_show_of_a_directory_that_is_no_table_names_the_fix(tmp_path, capsys):
    with pytest.raises(ConfigError, match="is not a Delta table .*give a table's directory"):
        rides_show(capsys, str(tmp_path))
