"""Column-at-a-time encoding gives what json.dumps and a CSV reader agree on."""

import csv
import io
import json
from datetime import datetime

import pyarrow as pa

from ridestream.kafka.encoding import csv_values, encode_keys, json_values

TABLE = pa.table(
    {
        "id": pa.array([1, None, 3], pa.int32()),
        "amount": [2.5, 15.0, float("nan")],
        "at": pa.array(
            [datetime(2024, 1, 1, 10, 0, 5, 999_999), None, datetime(2019, 12, 31, 23, 59, 59)],
            pa.timestamp("us"),
        ),
        "note": ["N", None, 'say "hi",\tthen\\go\n'],
    }
)


def test_json_values_parse_back_to_the_rows_with_timestamps_to_the_second():
    decoded = [json.loads(value) for value in json_values(TABLE).to_pylist()]
    assert decoded == [
        {"id": 1, "amount": 2.5, "at": "2024-01-01 10:00:05", "note": "N"},
        {"id": None, "amount": 15.0, "at": None, "note": None},
        # NaN is not JSON: it becomes null.
        {"id": 3, "amount": None, "at": "2019-12-31 23:59:59", "note": 'say "hi",\tthen\\go\n'},
    ]


def test_csv_values_are_read_back_by_a_csv_reader():
    lines = csv_values(TABLE).to_pylist()
    rows = [next(csv.reader(io.StringIO(line))) for line in lines]
    assert rows[0] == ["1", "2.5", "2024-01-01 10:00:05", "N"]
    assert rows[1] == ["", "15", "", ""]
    assert rows[2] == ["3", "", "2019-12-31 23:59:59", 'say "hi",\tthen\\go\n']


def test_keys_are_the_column_as_text_or_none():
    assert encode_keys(TABLE, "id") == ["1", None, "3"]
    assert encode_keys(TABLE, None) == [None, None, None]
