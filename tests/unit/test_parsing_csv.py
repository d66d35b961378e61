"""parse_rides on CSV values: the same typed rides and reason codes as JSON, one line per value."""

from datetime import datetime

import pytest
from chispa import assert_df_equality

from ridestream.parsing import parse_rides, rejected_records, valid_rides
from ridestream.schemas import ride_schema
from ridestream.windows import with_event_time
from tests.builders import KAFKA_SCHEMA, kafka_rows, ride, ride_csv, ride_json
from tests.corpus import (
    MALFORMED,
    MALFORMED_CSV,
    as_rows,
    assert_every_record_accounted_for,
    mix_in,
    varied_rides,
)


def parse(spark, values, value_format="csv", **options):
    records = spark.createDataFrame(kafka_rows(values), KAFKA_SCHEMA)
    return records.transform(parse_rides, ride_schema(), value_format=value_format, **options)


def reasons(spark, values, **options):
    """The reason of each record in input order, None for a valid ride."""
    parsed = parse(spark, values, **options)
    return [row.reject_reason for row in parsed.orderBy("offset").collect()]


def test_a_valid_csv_ride_becomes_typed_columns_of_the_declared_schema(spark):
    good = ride("2024-03-01 08:15:00", PULocationID=161, total_amount=31.25, tip_amount=None)
    assert ride_csv(good) == (
        b"2,2024-03-01 08:15:00,2024-03-01 08:27:00,1,2.5,1,N,161,236,1,15.0,1.0,0.5,,0.0,1.0,31.25,2.5"
    )
    rides = valid_rides(parse(spark, [ride_csv(good)]), ride_schema())
    assert_df_equality(rides, as_rows(spark, [good]), ignore_nullable=True)
    assert rides.transform(with_event_time).first().event_time == datetime(2024, 3, 1, 8, 15)


def test_quoted_fields_follow_rfc_4180(spark):
    # Spark's CSV default escape is a backslash; the producers double a quote instead.
    quoted = [
        ride(store_and_fwd_flag="a,b"),
        ride(store_and_fwd_flag='say "hi", ok'),
        ride(store_and_fwd_flag="two\nlines"),
        ride(store_and_fwd_flag='"'),
    ]
    values = [ride_csv(fields) for fields in quoted]
    assert b',"say ""hi"", ok",' in values[1]
    rides = valid_rides(parse(spark, values), ride_schema())
    assert_df_equality(rides, as_rows(spark, quoted), ignore_row_order=True, ignore_nullable=True)


def test_an_empty_field_is_null_and_an_empty_required_field_is_missing(spark):
    no_options = ride(**{field.name: None for field in ride_schema().fields if field.nullable})
    assert (
        ride_csv(no_options) == b",2024-01-01 00:00:00,2024-01-01 00:12:00,,,,,132,236,,,,,,,,23.0,"
    )
    assert reasons(spark, [ride_csv(no_options), ride_csv(ride(DOLocationID=None))]) == [
        None,
        "missing_field:DOLocationID",
    ]
    rides = valid_rides(parse(spark, [ride_csv(no_options)]), ride_schema())
    assert_df_equality(rides, as_rows(spark, [no_options]), ignore_nullable=True)


def test_a_line_without_exactly_one_field_per_schema_field_is_rejected_as_wrong_field_count(
    spark,
):
    good = ride_csv(ride())
    assert good.count(b",") == 17  # 18 fields: the ride schema's
    values = [b"", good.rsplit(b",", 1)[0], good + b",", good + b"\n" + good, b"a;b;c"]
    assert reasons(spark, values) == ["wrong_field_count"] * len(values)


def test_a_value_the_declared_type_cannot_hold_is_rejected_as_wrong_type(spark):
    values = [
        ride_csv(ride(PULocationID="abc")),
        ride_csv(ride(PULocationID=161.5)),
        ride_csv(ride(DOLocationID=2**31)),  # overflows an int
        ride_csv(ride(total_amount="twenty dollars")),
        ride_csv(ride(PULocationID="161")),  # digits are an int in CSV, unlike a JSON string
    ]
    assert reasons(spark, values) == [
        "wrong_type:PULocationID",
        "wrong_type:PULocationID",
        "wrong_type:DOLocationID",
        "wrong_type:total_amount",
        None,
    ]


def test_a_timestamp_that_does_not_parse_is_rejected_as_bad_timestamp(spark):
    values = [
        ride_csv(ride(tpep_pickup_datetime="yesterday")),
        ride_csv(ride(tpep_dropoff_datetime="2024-02-30 08:00:00")),
        ride_csv(ride(tpep_pickup_datetime="2024-01-01T00:00:00Z")),  # ISO with a zone: fine
    ]
    assert reasons(spark, values) == [
        "bad_timestamp:tpep_pickup_datetime",
        "bad_timestamp:tpep_dropoff_datetime",
        None,
    ]


def test_the_first_failing_check_wins(spark):
    values = [
        b"\xff" * (64 * 1024 + 1),  # oversized before not_utf8
        b"\xff,",  # not_utf8 before wrong_field_count
        ride_csv(ride(PULocationID="abc")) + b",",  # wrong_field_count before wrong_type
        ride_csv(ride(total_amount=None, PULocationID="abc")),  # missing_field before wrong_type
        ride_csv(ride(tpep_pickup_datetime="yesterday", DOLocationID="x")),  # wrong_type first
        ride_csv(ride(VendorID="a", PULocationID="b")),  # fields in schema order
        ride_csv(ride(tpep_pickup_datetime="yesterday", tpep_dropoff_datetime="1999-01-01")),
        ride_csv(ride(tpep_dropoff_datetime=datetime(2023, 12, 31), fare_amount=-1.0)),
        ride_csv(ride(DOLocationID=0, passenger_count=10)),
    ]
    assert reasons(spark, values) == [
        "oversized",
        "not_utf8",
        "wrong_field_count",
        "missing_field:total_amount",
        "wrong_type:DOLocationID",
        "wrong_type:VendorID",
        "bad_timestamp:tpep_pickup_datetime",
        "dropoff_before_pickup",
        "out_of_range:passenger_count",
    ]


def test_malformed_lines_mixed_into_valid_rides_are_all_rejected_and_no_ride_is_lost(spark):
    rides = varied_rides(500)
    malformed = MALFORMED_CSV
    json_only = {"not_json"}
    assert {record.reason.split(":")[0] for record in malformed} == (
        {record.reason.split(":")[0] for record in MALFORMED} - json_only | {"wrong_field_count"}
    )
    records = mix_in(rides, malformed, encode=ride_csv)
    parsed = parse(spark, [record.value for record in records])
    assert_every_record_accounted_for(spark, parsed, records, rides)


def test_csv_and_json_values_of_the_same_rides_parse_to_equal_rides(spark):
    rides = varied_rides(300, seed=5)
    from_csv = valid_rides(parse(spark, [ride_csv(r) for r in rides]), ride_schema())
    from_json = valid_rides(parse(spark, [ride_json(r) for r in rides], "json"), ride_schema())
    assert from_csv.count() == len(rides)
    assert_df_equality(from_csv, from_json, ignore_row_order=True)


def test_an_unknown_value_format_is_refused_naming_the_choices(spark):
    with pytest.raises(ValueError, match="value format 'xml': choose one of json, csv"):
        parse(spark, [ride_csv(ride())], "xml")
    # Avro has a parser of its own, which this one names.
    with pytest.raises(
        ValueError, match="Avro values: use ridestream.avro_parsing.parse_avro_rides"
    ):
        parse(spark, [ride_csv(ride())], "avro")


def test_each_query_plans_one_typed_parse_and_one_text_parse_for_bad_records(spark, capsys):
    # As for JSON: a filter on reject_reason pushed below the parse would copy from_csv into
    # every check (24 copies without the explode in parse_rides).
    parsed = parse(spark, [ride_csv(ride())])
    for query in (valid_rides(parsed, ride_schema()), rejected_records(parsed)):
        query.explain()
        plan = capsys.readouterr().out
        assert plan.count("from_csv(") == 2
        assert "from_json(" not in plan
