import json
from datetime import datetime

from chispa import assert_df_equality

from ridestream.parsing import parse_rides, rejected_records, valid_rides
from ridestream.schemas import ride_schema
from ridestream.windows import with_event_time
from tests.builders import KAFKA_SCHEMA, kafka_rows, ride, ride_json
from tests.corpus import (
    as_rows,
    assert_every_record_accounted_for,
    malformed_records,
    mix_in,
    varied_rides,
    without,
)


def parse(spark, values, **options):
    records = spark.createDataFrame(kafka_rows(values), KAFKA_SCHEMA)
    return records.transform(parse_rides, ride_schema(), **options)


def reasons(spark, values, **options):
    """The reason of each record in input order, None for a valid ride."""
    parsed = parse(spark, values, **options)
    return [row.reject_reason for row in parsed.orderBy("offset").collect()]


def test_a_valid_ride_becomes_typed_columns_of_the_declared_schema(spark):
    good = ride("2024-03-01 08:15:00", PULocationID=161, total_amount=31.25, tip_amount=None)
    rides = valid_rides(parse(spark, [ride_json(good)]), ride_schema())
    assert_df_equality(rides, as_rows(spark, [good]), ignore_nullable=True)


def test_iso_timestamps_with_a_t_and_zone_parse_too(spark):
    value = json.dumps(
        {
            **json.loads(ride_json(ride("2024-03-01 08:15:00"))),
            "tpep_pickup_datetime": "2024-03-01T08:15:00Z",
        }
    ).encode()
    rides = valid_rides(parse(spark, [value]), ride_schema()).transform(with_event_time)
    assert rides.first().event_time == datetime(2024, 3, 1, 8, 15)


def test_a_tlc_ride_with_zero_passengers_is_valid(spark):
    # The TLC files carry passenger_count 0 (the driver did not key it in): still a ride.
    no_passengers = ride(passenger_count=0)
    rides = valid_rides(parse(spark, [ride_json(no_passengers)]), ride_schema())
    assert_df_equality(rides, as_rows(spark, [no_passengers]), ignore_nullable=True)


def test_a_record_without_a_value_is_rejected_as_null_value(spark):
    assert reasons(spark, [None]) == ["null_value"]


def test_a_value_over_the_size_limit_is_rejected_as_oversized(spark):
    good = ride_json(ride())
    assert reasons(spark, [good], max_value_bytes=len(good)) == [None]
    assert reasons(spark, [good], max_value_bytes=len(good) - 1) == ["oversized"]
    padded = ride_json(ride(store_and_fwd_flag="N" * 64 * 1024))  # the default limit: 64 KiB
    assert reasons(spark, [padded]) == ["oversized"]


def test_bytes_that_are_not_utf8_are_rejected_as_not_utf8(spark):
    good = ride_json(ride())
    assert reasons(spark, [b"\xff\xfe" + good[2:]]) == ["not_utf8"]


def test_values_that_are_not_a_json_object_are_rejected_as_not_json(spark):
    values = [b"not json at all", b"", b'{"PULocationID": 132', b"[1, 2, 3]", b"null", b"42"]
    assert reasons(spark, values) == ["not_json"] * len(values)


def test_an_absent_or_null_required_field_is_rejected_as_missing_field(spark):
    values = [without("total_amount"), ride_json(ride(PULocationID=None))]
    assert reasons(spark, values) == ["missing_field:total_amount", "missing_field:PULocationID"]


def test_a_value_the_declared_type_cannot_hold_is_rejected_as_wrong_type(spark):
    values = [
        ride_json(ride(PULocationID="abc")),
        ride_json(ride(PULocationID="161")),  # a string, even of digits, is not an int
        ride_json(ride(PULocationID=2**31)),  # overflows an int
        ride_json(ride(total_amount="twenty dollars")),
    ]
    assert reasons(spark, values) == [
        "wrong_type:PULocationID",
        "wrong_type:PULocationID",
        "wrong_type:PULocationID",
        "wrong_type:total_amount",
    ]


def test_a_timestamp_that_does_not_parse_is_rejected_as_bad_timestamp(spark):
    values = [
        ride_json(ride(tpep_pickup_datetime="yesterday")),
        ride_json(ride(tpep_dropoff_datetime="2024-02-30 08:00:00")),
    ]
    assert reasons(spark, values) == [
        "bad_timestamp:tpep_pickup_datetime",
        "bad_timestamp:tpep_dropoff_datetime",
    ]


def test_a_timestamp_outside_2001_to_2100_is_rejected_as_out_of_range(spark):
    values = [
        ride_json(ride("2000-12-31 23:59:59")),
        ride_json(ride("2001-01-01 00:00:00")),
        ride_json(ride("2099-12-31 23:47:59")),  # dropoff 12 minutes later: 23:59:59
        ride_json(ride("2099-12-31 23:48:00")),  # dropoff at 2100-01-01 00:00:00
    ]
    assert reasons(spark, values) == [
        "timestamp_out_of_range:tpep_pickup_datetime",
        None,
        None,
        "timestamp_out_of_range:tpep_dropoff_datetime",
    ]


def test_a_dropoff_before_the_pickup_is_rejected_but_a_zero_length_trip_is_kept(spark):
    pickup = datetime(2024, 1, 1, 10, 0, 0)
    values = [
        ride_json(ride(tpep_pickup_datetime=pickup, tpep_dropoff_datetime=datetime(2024, 1, 1, 9))),
        ride_json(ride(tpep_pickup_datetime=pickup, tpep_dropoff_datetime=pickup)),
    ]
    assert reasons(spark, values) == ["dropoff_before_pickup", None]


def test_a_negative_distance_or_amount_is_rejected_as_negative(spark):
    fields = ["trip_distance", "fare_amount", "tip_amount", "total_amount"]
    values = [ride_json(ride(**{name: -0.01})) for name in fields]
    values.append(ride_json(ride(trip_distance=0.0, fare_amount=0.0, tip_amount=0.0)))
    assert reasons(spark, values) == [f"negative:{name}" for name in fields] + [None]


def test_passengers_and_zones_outside_their_ranges_are_rejected_as_out_of_range(spark):
    values = [
        ride_json(ride(passenger_count=10)),
        ride_json(ride(PULocationID=0)),
        ride_json(ride(DOLocationID=266)),
        ride_json(ride(passenger_count=9, PULocationID=1, DOLocationID=265)),
        ride_json(ride(passenger_count=None)),  # optional: null passes
    ]
    assert reasons(spark, values) == [
        "out_of_range:passenger_count",
        "out_of_range:PULocationID",
        "out_of_range:DOLocationID",
        None,
        None,
    ]


def test_the_first_failing_check_wins(spark):
    values = [
        b"\xff" * (64 * 1024 + 1),  # oversized before not_utf8
        b"\xff{",  # not_utf8 before not_json
        without("total_amount", PULocationID="abc"),  # missing_field before wrong_type
        ride_json(ride(tpep_pickup_datetime="yesterday", DOLocationID="x")),  # wrong_type first
        b'{"DOLocationID": "x", "VendorID": "y"}',  # missing_field before wrong_type
        # Fields go in schema order, not in the order the record writes them.
        without("VendorID", PULocationID="b")[:-1] + b', "VendorID": "a"}',  # VendorID last
        ride_json(ride(tpep_pickup_datetime="yesterday", tpep_dropoff_datetime="1999-01-01")),
        ride_json(ride("2100-01-02 00:00:00", tpep_dropoff_datetime=datetime(2100, 1, 1))),
        ride_json(ride(tpep_dropoff_datetime=datetime(2023, 12, 31), fare_amount=-1.0)),
        ride_json(ride(tip_amount=-1.0, trip_distance=-1.0, passenger_count=10)),
        ride_json(ride(DOLocationID=0, passenger_count=10)),
    ]
    assert reasons(spark, values) == [
        "oversized",
        "not_utf8",
        "missing_field:total_amount",
        "wrong_type:DOLocationID",
        "missing_field:tpep_pickup_datetime",
        "wrong_type:VendorID",
        "bad_timestamp:tpep_pickup_datetime",
        "timestamp_out_of_range:tpep_pickup_datetime",
        "dropoff_before_pickup",
        "negative:trip_distance",
        "out_of_range:passenger_count",
    ]


def test_malformed_records_mixed_into_valid_rides_are_all_rejected_and_no_ride_is_lost(spark):
    rides = varied_rides(500)
    malformed = malformed_records()
    assert {record.reason.split(":")[0] for record in malformed} == {
        "null_value",
        "oversized",
        "not_utf8",
        "not_json",
        "missing_field",
        "wrong_type",
        "bad_timestamp",
        "timestamp_out_of_range",
        "dropoff_before_pickup",
        "negative",
        "out_of_range",
    }
    records = mix_in(rides, malformed)
    parsed = parse(spark, [record.value for record in records])
    assert_every_record_accounted_for(spark, parsed, records, rides)


def test_every_record_is_either_valid_or_rejected(spark):
    good, other = ride(), ride(PULocationID=7)
    parsed = parse(spark, [ride_json(good), b"{", ride_json(other), None])
    # Offsets 0 and 2 are the rides, 1 and 3 the rejects: each record on exactly one side.
    assert_df_equality(
        valid_rides(parsed, ride_schema()),
        as_rows(spark, [good, other]),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    rejects = rejected_records(parsed).orderBy("offset").collect()
    assert [(row.offset, row.reason) for row in rejects] == [(1, "not_json"), (3, "null_value")]


def test_a_reject_keeps_the_raw_record_and_where_it_came_from(spark):
    parsed = parse(spark, [ride_json(ride()), b"oops"])
    reject = rejected_records(parsed).collect()
    assert len(reject) == 1
    assert reject[0].asDict() == {
        "reason": "not_json",
        "key": bytearray(b"k"),
        "value": bytearray(b"oops"),
        "topic": "rides",
        "partition": 0,
        "offset": 1,
        "timestamp": datetime(2024, 1, 1),
    }


def test_each_query_plans_one_typed_parse_and_one_text_parse_for_bad_records(spark, capsys):
    # A filter on reject_reason pushed below the parse copies from_json into every check (the
    # plans of the first parse_rides held 8 typed parses); this one keeps one of each kind.
    # The windows' not-null filter on the event time must not be pushed below it either.
    from ridestream.config import WindowSettings
    from ridestream.windows import ride_windows

    parsed = parse(spark, [ride_json(ride())])
    windows = valid_rides(parsed, ride_schema()).transform(ride_windows, WindowSettings())
    for query in (valid_rides(parsed, ride_schema()), rejected_records(parsed), windows):
        query.explain()
        assert capsys.readouterr().out.count("from_json(") == 2
