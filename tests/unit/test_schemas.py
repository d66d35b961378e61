import json

import pytest
from pyspark.sql import types as T

from ridestream.paths import SCHEMAS_DIR
from ridestream.schemas import (
    SchemaError,
    required_fields,
    ride_schema,
    ride_window_schema,
    struct_type,
    to_struct_type,
)

# The Spark type of each Avro type the declarations use, written out here rather than taken
# from ridestream.schemas. A schema with another type fails below: add the type to this table.
SPARK_TYPE_OF_AVRO = {
    "int": "int",
    "long": "bigint",
    "double": "double",
    "string": "string",
    "bytes": "binary",
    "timestamp-micros": "timestamp",
}


def expected_field(field: dict) -> tuple[str, str, bool]:
    """Return (name, Spark type as a simple string, nullable) read from an Avro field."""
    avro = field["type"]
    nullable = isinstance(avro, list) and "null" in avro
    if isinstance(avro, list):
        (avro,) = [branch for branch in avro if branch != "null"]
    if isinstance(avro, dict):
        avro = avro.get("logicalType", avro["type"])
    if avro not in SPARK_TYPE_OF_AVRO:
        pytest.fail(f"{field['name']}: Avro type {avro!r} has no entry in SPARK_TYPE_OF_AVRO")
    return field["name"], SPARK_TYPE_OF_AVRO[avro], nullable


def test_every_declared_schema_maps_to_a_struct_type_field_by_field():
    paths = sorted(SCHEMAS_DIR.glob("*.avsc"))
    assert {path.stem for path in paths} >= {
        "ride", "green_ride", "fhv_ride", "pickup_location", "rejected_record", "ride_window",
        "taxi_zone",
    }  # fmt: skip
    for path in paths:
        declared = json.loads(path.read_text())
        derived = [
            (field.name, field.dataType.simpleString(), field.nullable)
            for field in struct_type(path.stem).fields
        ]
        assert derived == [expected_field(field) for field in declared["fields"]], path.name


def test_ride_schema_types_follow_the_avro_declaration():
    schema = ride_schema()
    assert schema["tpep_pickup_datetime"] == T.StructField(
        "tpep_pickup_datetime", T.TimestampType(), False
    )
    assert schema["PULocationID"] == T.StructField("PULocationID", T.IntegerType(), False)
    assert schema["tip_amount"] == T.StructField("tip_amount", T.DoubleType(), True)
    assert schema["store_and_fwd_flag"].dataType == T.StringType()


def test_required_fields_are_the_ones_without_null_in_their_union():
    assert required_fields(ride_schema()) == [
        "tpep_pickup_datetime",
        "tpep_dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "total_amount",
    ]


def test_ride_window_schema_puts_group_keys_between_bounds_and_aggregates():
    schema = ride_window_schema(("PULocationID", "VendorID"))
    assert schema.fieldNames() == [
        "window_start",
        "window_end",
        "PULocationID",
        "VendorID",
        "ride_count",
        "total_amount",
        "tip_amount",
        "avg_trip_distance",
    ]
    assert schema["VendorID"].dataType == T.IntegerType()


def test_grouping_by_an_unknown_field_names_the_known_ones():
    with pytest.raises(SchemaError, match="cannot group by zone: not a ride field"):
        ride_window_schema(("zone",))


def test_unions_of_two_real_types_are_refused():
    with pytest.raises(SchemaError, match="only \\[null, X\\] unions"):
        to_struct_type({"fields": [{"name": "x", "type": ["int", "string"]}]})
