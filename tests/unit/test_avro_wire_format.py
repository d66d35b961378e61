"""Avro values in Confluent's wire format (ridestream.kafka.avro), byte by byte."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from ridestream.kafka.avro import (
    WireFormatError,
    decode_record,
    encode_record,
    parse_schema,
    schema_id_of,
)
from ridestream.schemas import load_avro

TICK = parse_schema(
    {
        "type": "record",
        "name": "Tick",
        "fields": [
            {"name": "n", "type": "int"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        ],
    }
)
# One second after the epoch, n=1, written with schema id 7, worked out by hand:
#   00           magic byte
#   00 00 00 07  schema id 7, big-endian
#   02           n=1: zigzag 2, one varint byte
#   80 89 7a     at=1_000_000 us: zigzag 2_000_000 = 0x1e8480, 7 bits a byte, low first:
#                0x00|0x80, 0x09|0x80, 0x7a
ONE_SECOND = bytes.fromhex("00 00000007 02 80897a")

RIDE = {
    "VendorID": 1,
    "tpep_pickup_datetime": datetime(2024, 5, 1, 8, 0, 0),
    "tpep_dropoff_datetime": datetime(2024, 5, 1, 8, 21, 7, 123456),
    "passenger_count": None,
    "trip_distance": 3.1,
    "RatecodeID": 1,
    "store_and_fwd_flag": "N",
    "PULocationID": 161,
    "DOLocationID": 237,
    "payment_type": 2,
    "fare_amount": 17.7,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 0.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 1.0,
    "total_amount": 22.7,
    "congestion_surcharge": 2.5,
}


@pytest.fixture
def new_york_time(monkeypatch):
    """The machine's local time zone is New York's (UTC-5 at the epoch) for this test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_value_is_magic_byte_schema_id_then_avro_binary():
    assert encode_record({"n": 1, "at": datetime(1970, 1, 1, 0, 0, 1)}, 7, TICK) == ONE_SECOND


def test_naive_timestamps_are_utc_whatever_the_machine_time_zone(new_york_time):
    assert encode_record({"n": 1, "at": datetime(1970, 1, 1, 0, 0, 1)}, 7, TICK) == ONE_SECOND
    assert decode_record(ONE_SECOND, TICK) == {"n": 1, "at": datetime(1970, 1, 1, 0, 0, 1)}


def test_the_header_gives_the_schema_id():
    assert schema_id_of(bytes.fromhex("00 0001002a") + b"payload") == 65578


def test_a_value_with_another_magic_byte_is_refused():
    with pytest.raises(WireFormatError, match="magic byte 123, expected 0"):
        schema_id_of(b'{"n": 1}')


def test_a_value_shorter_than_the_header_is_refused():
    with pytest.raises(WireFormatError, match="at least 5 bytes, this one 3"):
        decode_record(b"\x00\x00\x00", TICK)


def test_a_ride_with_datetimes_round_trips():
    schema = parse_schema(load_avro("ride"))
    value = encode_record(RIDE, 42, schema)
    assert schema_id_of(value) == 42
    assert decode_record(value, schema) == RIDE


def test_a_v1_ride_read_with_a_v2_schema_gets_the_new_fields_default():
    v1 = load_avro("ride")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "source", "type": "string", "default": "meter"}]}
    value = encode_record(RIDE, 1, parse_schema(v1))
    assert decode_record(value, parse_schema(v1), parse_schema(v2)) == {**RIDE, "source": "meter"}


def test_parsing_leaves_the_declared_schema_as_it_was():
    declared = load_avro("ride")
    before = repr(declared)
    parse_schema(declared)
    assert repr(load_avro("ride")) == before
