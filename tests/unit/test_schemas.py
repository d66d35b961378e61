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


def test_every_declared_schema_maps_to_a_struct_type():
    for path in SCHEMAS_DIR.glob("*.avsc"):
        declared = json.loads(path.read_text())
        assert struct_type(path.stem).fieldNames() == [
            field["name"] for field in declared["fields"]
        ]


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
