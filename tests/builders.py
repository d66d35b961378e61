"""Test-data builders: each test states only the fields that matter to it.

Rows are built from the declared schema (schemas/ride.avsc), so a field added there shows up here.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

from ridestream.kafka.datagen import TIMESTAMP_FORMAT
from ridestream.schemas import ride_schema

DEFAULT_PICKUP = datetime(2024, 1, 1, 0, 0, 0)
_DEFAULTS = {
    "VendorID": 2,
    "tpep_pickup_datetime": DEFAULT_PICKUP,
    "tpep_dropoff_datetime": DEFAULT_PICKUP + timedelta(minutes=12),
    "passenger_count": 1,
    "trip_distance": 2.5,
    "RatecodeID": 1,
    "store_and_fwd_flag": "N",
    "PULocationID": 132,
    "DOLocationID": 236,
    "payment_type": 1,
    "fare_amount": 15.0,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 3.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 1.0,
    "total_amount": 23.0,
    "congestion_surcharge": 2.5,
}
assert set(_DEFAULTS) == set(ride_schema().fieldNames()), "builder out of step with ride.avsc"


def ride(pickup: datetime | str | None = None, **fields: object) -> dict:
    """Return a ride dict with sensible defaults; ``pickup`` also moves the dropoff."""
    built = dict(_DEFAULTS)
    if pickup is not None:
        pickup = datetime.fromisoformat(pickup) if isinstance(pickup, str) else pickup
        built["tpep_pickup_datetime"] = pickup
        built["tpep_dropoff_datetime"] = pickup + timedelta(minutes=12)
    built.update(fields)
    return built


def ride_json(ride_fields: dict) -> bytes:
    """Encode a ride dict as the producers do (timestamps as 'YYYY-MM-DD HH:MM:SS')."""
    return json.dumps(
        {
            key: value.strftime(TIMESTAMP_FORMAT) if isinstance(value, datetime) else value
            for key, value in ride_fields.items()
        }
    ).encode()


def ride_csv(ride_fields: dict) -> bytes:
    """Encode a ride dict as one CSV line in schema order, no header (``rides produce --format csv``).

    Written with Python's csv module (RFC 4180 quoting, a quote doubled), not the producers'
    encoder: a missing or None field is an empty one, timestamps as 'YYYY-MM-DD HH:MM:SS'.
    """
    line = io.StringIO()
    # The csv module quotes a field holding a character of the line terminator: with '\r\n' a
    # line break inside a field is quoted; the terminator itself is not part of the value.
    csv.writer(line, lineterminator="\r\n").writerow(
        value.strftime(TIMESTAMP_FORMAT) if isinstance(value, datetime) else value
        for value in (ride_fields.get(name) for name in ride_schema().fieldNames())
    )
    return line.getvalue().removesuffix("\r\n").encode()


def kafka_rows(values: list[bytes | None], topic: str = "rides") -> list[tuple]:
    """Return rows shaped like Spark's Kafka source (key, value, topic, partition, offset, ts)."""
    return [(b"k", value, topic, 0, offset, DEFAULT_PICKUP) for offset, value in enumerate(values)]


KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
)
