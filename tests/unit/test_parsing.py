import json
from datetime import datetime

from chispa import assert_df_equality

from ridestream.parsing import parse_rides, rejected_records, valid_rides, with_event_time
from ridestream.schemas import ride_schema
from tests.builders import KAFKA_SCHEMA, kafka_rows, ride, ride_json


def parse(spark, values):
    records = spark.createDataFrame(kafka_rows(values), KAFKA_SCHEMA)
    return records.transform(parse_rides, ride_schema())


def reasons(spark, values):
    parsed = parse(spark, values)
    return [row.reason for row in rejected_records(parsed).orderBy("offset").collect()]


def test_a_valid_ride_becomes_typed_columns_of_the_declared_schema(spark):
    good = ride("2024-03-01 08:15:00", PULocationID=161, total_amount=31.25, tip_amount=None)
    rides = valid_rides(parse(spark, [ride_json(good)]), ride_schema())
    expected = spark.createDataFrame(
        [tuple(good[name] for name in ride_schema().fieldNames())], ride_schema()
    )
    assert_df_equality(rides, expected, ignore_nullable=True)


def test_iso_timestamps_with_a_t_and_zone_parse_too(spark):
    value = json.dumps(
        {**json.loads(ride_json(ride())), "tpep_pickup_datetime": "2024-03-01T08:15:00Z"}
    ).encode()
    rides = valid_rides(parse(spark, [value]), ride_schema()).transform(with_event_time)
    assert rides.first().event_time == datetime(2024, 3, 1, 8, 15)


def test_each_kind_of_bad_record_is_rejected_with_its_reason(spark):
    without_total = {k: v for k, v in ride().items() if k != "total_amount"}
    values = [
        None,
        b"\xff\xfe not utf-8",
        b"not json at all",
        b"[1, 2, 3]",
        ride_json(ride(PULocationID="midtown")),
        ride_json(ride(tpep_pickup_datetime="yesterday")),
        ride_json(without_total),
        ride_json(ride(PULocationID=None)),
    ]
    assert reasons(spark, values) == [
        "null_value",
        "not_utf8",
        "malformed_json",
        "malformed_json",
        "malformed_json",
        "malformed_json",
        "missing_field:total_amount",
        "missing_field:PULocationID",
    ]


def test_every_record_is_either_valid_or_rejected(spark):
    values = [ride_json(ride()), b"{", ride_json(ride(PULocationID=7)), None]
    parsed = parse(spark, values)
    assert valid_rides(parsed, ride_schema()).count() + rejected_records(parsed).count() == 4


def test_a_reject_keeps_the_raw_record_and_where_it_came_from(spark):
    parsed = parse(spark, [ride_json(ride()), b"oops"])
    reject = rejected_records(parsed).collect()
    assert len(reject) == 1
    assert reject[0].asDict() == {
        "reason": "malformed_json",
        "key": bytearray(b"k"),
        "value": bytearray(b"oops"),
        "topic": "rides",
        "partition": 0,
        "offset": 1,
        "timestamp": datetime(2024, 1, 1),
    }
