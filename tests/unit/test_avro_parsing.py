"""Avro values in Confluent's wire format, decoded by Spark (ridestream.avro_parsing).

The records are encoded here with fastavro (ridestream.kafka.avro, the producers' encoder, which
its own byte-by-byte tests pin down), and decoded by Spark's from_avro: two independent Avro
implementations. No registry: the writer schemas are handed over as the registry would give them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from pyspark.sql import functions as F

from ridestream.avro_parsing import parse_avro_rides
from ridestream.kafka.avro import encode_record, parse_schema, wire_header
from ridestream.parsing import rejected_records, valid_rides
from ridestream.schemas import load_avro, ride_schema
from tests.builders import kafka_rows, ride

DECLARED = load_avro("ride")
ADDED = "congestion_surcharge"
# The declared schema before congestion_surcharge (["null", "double"], default null) was added.
V1 = {**DECLARED, "fields": [f for f in DECLARED["fields"] if f["name"] != ADDED]}
# A newer producer's schema: one more optional field, which the declared reader does not know.
V3 = {
    **DECLARED,
    "fields": [
        *DECLARED["fields"],
        {"name": "airport_fee", "type": ["null", "double"], "default": None},
    ],
}
V1_ID, V2_ID, V3_ID = 11, 12, 13
WRITERS = {V1_ID: json.dumps(V1), V2_ID: json.dumps(DECLARED), V3_ID: json.dumps(V3)}


def v1(fields: dict) -> bytes:
    return encode_record({k: v for k, v in fields.items() if k != ADDED}, V1_ID, parse_schema(V1))


def v2(fields: dict) -> bytes:
    return encode_record(fields, V2_ID, parse_schema(DECLARED))


def v3(fields: dict) -> bytes:
    return encode_record({**fields, "airport_fee": 1.75}, V3_ID, parse_schema(V3))


FIRST = ride("2024-05-01 08:00:00", PULocationID=161, congestion_surcharge=2.5)
SECOND = ride("2024-05-01 08:03:00", PULocationID=237, congestion_surcharge=0.0)
THIRD = ride("2024-05-01 08:04:00", PULocationID=48, congestion_surcharge=None)
GOOD = v2(FIRST)
BAD = {
    b"{not avro": "not_avro",
    b"\x00\x00\x00": "not_avro",  # shorter than the header
    b"\x01" + GOOD[1:]: "not_avro",  # another magic byte
    wire_header(99) + GOOD[5:]: "unknown_schema_id",
    GOOD[:-3]: "undecodable",  # truncated
    GOOD + b"\x02": "undecodable",  # a trailing byte, which from_avro alone ignores
    wire_header(V1_ID) + GOOD[5:]: "undecodable",  # v2 bytes said to be v1: one field left over
    wire_header(V2_ID) + b"\x00" * 5: "undecodable",  # too short for a ride
    v2(ride("2024-05-01 08:05:00", PULocationID=999)): "out_of_range:PULocationID",
    v1(ride("2024-05-01 08:05:00", total_amount=-4.0)): "negative:total_amount",
}


@pytest.fixture(scope="module")
def parsed(spark):
    values = [GOOD, v1(SECOND), v3(THIRD), *BAD, None]
    records = spark.createDataFrame(
        kafka_rows(values),
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp",
    )
    return parse_avro_rides(records, ride_schema(), DECLARED, WRITERS)


def test_rides_of_every_writer_schema_are_read_into_the_declared_schema(parsed):
    schema = ride_schema()
    timestamps = {"tpep_pickup_datetime", "tpep_dropoff_datetime"}
    rows = (
        valid_rides(parsed, schema)
        .select(
            *(
                F.unix_micros(F.col(n)).alias(n) if n in timestamps else F.col(n)
                for n in schema.fieldNames()
            )
        )
        .collect()
    )
    epoch = datetime(1970, 1, 1)

    def expected(fields: dict) -> dict:
        return {
            k: (v - epoch) // timedelta(microseconds=1) if k in timestamps else v
            for k, v in fields.items()
        }

    # The v1 ride has no congestion_surcharge: it reads as the declared default, null.
    assert [row.asDict() for row in rows] == [
        expected(FIRST),
        expected({**SECOND, ADDED: None}),
        expected(THIRD),
    ]


def test_each_bad_record_is_rejected_with_its_reason_and_raw_bytes(parsed):
    rejects = rejected_records(parsed).orderBy("offset").collect()
    assert [(bytes(r.value) if r.value is not None else None, r.reason) for r in rejects] == [
        *BAD.items(),
        (None, "null_value"),
    ]


def test_no_python_runs_in_the_decode(parsed):
    plan = parsed._jdf.queryExecution().executedPlan().toString()
    assert "from_avro" in plan
    assert "EvalPython" not in plan and "PythonUDF" not in plan
