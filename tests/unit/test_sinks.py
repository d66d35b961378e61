import json
from datetime import datetime

from ridestream.schemas import ride_window_schema, struct_type
from ridestream.sinks import to_dead_letter_records, to_window_records


def test_window_records_are_keyed_by_window_start_and_group(spark):
    windows = spark.createDataFrame(
        [(datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 0, 5), 132, 3, 60.0, 6.0, 2.5)],
        ride_window_schema(("PULocationID",)),
    )
    record = to_window_records(windows, ("PULocationID",)).first()
    assert json.loads(record.key) == {
        "window_start": "2024-01-01T00:00:00.000Z",
        "PULocationID": 132,
    }
    assert json.loads(record.value) == {
        "window_start": "2024-01-01T00:00:00.000Z",
        "window_end": "2024-01-01T00:05:00.000Z",
        "PULocationID": 132,
        "ride_count": 3,
        "total_amount": 60.0,
        "tip_amount": 6.0,
        "avg_trip_distance": 2.5,
    }


def test_dead_letter_records_keep_bytes_and_carry_reason_headers(spark):
    rejects = spark.createDataFrame(
        [("not_utf8", b"k", b"\xff", "rides", 1, 42, datetime(2024, 1, 1, 0, 0))],
        struct_type("rejected_record"),
    )
    record = to_dead_letter_records(rejects).first()
    assert record.key == bytearray(b"k")
    assert record.value == bytearray(b"\xff")
    assert {h.key: bytes(h.value).decode() for h in record.headers} == {
        "ridestream.reason": "not_utf8",
        "ridestream.source.topic": "rides",
        "ridestream.source.partition": "1",
        "ridestream.source.offset": "42",
        "ridestream.source.timestamp": "2024-01-01T00:00:00.000Z",
    }
