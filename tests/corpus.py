"""A corpus of malformed ride records, each with the reject reason it must get, and valid rides.

Tests that check that nothing is lost mix these into valid rides: the parsing corpus test uses
all of them; accounting and crash tests take ``malformed_records(n)`` for a 1-5% mix. Every
expected reason is written out by hand (see ``ridestream/parsing.py`` for the codes).
``MALFORMED_CSV`` is the same for CSV values (``parse_rides(value_format="csv")``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ridestream.parsing import MAX_VALUE_BYTES
from ridestream.schemas import ride_schema
from tests.builders import DEFAULT_PICKUP, ride, ride_csv, ride_json


@dataclass(frozen=True)
class Record:
    """A Kafka value and the reason it must be rejected with (None: a valid ride)."""

    value: bytes | None
    reason: str | None = None


def without(*names: str, **fields: object) -> bytes:
    """Return the JSON of a default ride lacking ``names`` (and with ``fields`` changed)."""
    return ride_json({k: v for k, v in ride(**fields).items() if k not in names})


def _corpus() -> list[Record]:
    good = ride_json(ride())
    before = DEFAULT_PICKUP - timedelta(seconds=1)
    return [
        Record(None, "null_value"),
        # oversized: a valid ride padded past the limit, and bytes that are not even UTF-8
        Record(ride_json(ride(store_and_fwd_flag="N" * MAX_VALUE_BYTES)), "oversized"),
        Record(b"\xff" * (MAX_VALUE_BYTES + 1), "oversized"),
        Record(b"\xff\xfe" + good[2:], "not_utf8"),
        Record(good.replace(b'"N"', b'"\xc3"'), "not_utf8"),  # a lead byte, no continuation
        Record(good.replace(b'"N"', b'"\xc0\xaf"'), "not_utf8"),  # an overlong '/'
        Record(b"", "not_json"),
        Record(b"   ", "not_json"),
        Record(b"not json at all", "not_json"),
        Record(b"{", "not_json"),
        Record(good[: len(good) // 2], "not_json"),  # truncated
        Record(good[:-1], "not_json"),  # the closing brace lost
        Record(b"{'PULocationID' 1}", "not_json"),
        Record(b"[1, 2, 3]", "not_json"),
        Record(b"[" + good + b"]", "not_json"),  # a ride, but inside an array
        Record(b'"a string"', "not_json"),
        Record(b"42", "not_json"),
        Record(b"null", "not_json"),
        Record(b"true", "not_json"),
        Record(b"{}", "missing_field:tpep_pickup_datetime"),
        Record(without("tpep_pickup_datetime"), "missing_field:tpep_pickup_datetime"),
        Record(without("tpep_dropoff_datetime"), "missing_field:tpep_dropoff_datetime"),
        Record(without("PULocationID"), "missing_field:PULocationID"),
        Record(ride_json(ride(PULocationID=None)), "missing_field:PULocationID"),
        Record(without("DOLocationID"), "missing_field:DOLocationID"),
        Record(without("total_amount"), "missing_field:total_amount"),
        Record(ride_json(ride(total_amount=None)), "missing_field:total_amount"),
        Record(ride_json(ride(PULocationID="abc")), "wrong_type:PULocationID"),
        Record(ride_json(ride(PULocationID="161")), "wrong_type:PULocationID"),
        Record(ride_json(ride(PULocationID=161.5)), "wrong_type:PULocationID"),
        Record(ride_json(ride(DOLocationID=2**31)), "wrong_type:DOLocationID"),  # int overflow
        Record(ride_json(ride(total_amount="twenty dollars")), "wrong_type:total_amount"),
        Record(ride_json(ride(total_amount=True)), "wrong_type:total_amount"),
        Record(ride_json(ride(VendorID="two")), "wrong_type:VendorID"),  # optional, still typed
        Record(ride_json(ride(passenger_count=[1])), "wrong_type:passenger_count"),
        Record(ride_json(ride(fare_amount={"usd": 15})), "wrong_type:fare_amount"),
        Record(
            ride_json(ride(tpep_pickup_datetime="yesterday")), "bad_timestamp:tpep_pickup_datetime"
        ),
        Record(ride_json(ride(tpep_pickup_datetime="")), "bad_timestamp:tpep_pickup_datetime"),
        Record(
            ride_json(ride(tpep_dropoff_datetime="2024-13-01 00:00:00")),
            "bad_timestamp:tpep_dropoff_datetime",
        ),
        Record(
            ride_json(ride(tpep_dropoff_datetime="2024-01-01 25:00:00")),
            "bad_timestamp:tpep_dropoff_datetime",
        ),
        Record(ride_json(ride(tpep_pickup_datetime=True)), "bad_timestamp:tpep_pickup_datetime"),
        Record(
            ride_json(ride("1970-01-01 00:00:00")), "timestamp_out_of_range:tpep_pickup_datetime"
        ),
        Record(
            ride_json(ride("2000-12-31 23:59:59")), "timestamp_out_of_range:tpep_pickup_datetime"
        ),
        Record(
            ride_json(ride(tpep_pickup_datetime="0001-01-01 00:00:00")),
            "timestamp_out_of_range:tpep_pickup_datetime",
        ),
        Record(
            ride_json(ride("2099-12-31 23:55:00")),  # the dropoff, 12 minutes later, is in 2100
            "timestamp_out_of_range:tpep_dropoff_datetime",
        ),
        Record(ride_json(ride(tpep_dropoff_datetime=before)), "dropoff_before_pickup"),
        Record(ride_json(ride(trip_distance=-0.1)), "negative:trip_distance"),
        Record(ride_json(ride(fare_amount=-15.0)), "negative:fare_amount"),
        Record(ride_json(ride(tip_amount=-1.0)), "negative:tip_amount"),
        Record(ride_json(ride(total_amount=-23.0)), "negative:total_amount"),
        Record(ride_json(ride(passenger_count=10)), "out_of_range:passenger_count"),
        Record(ride_json(ride(passenger_count=-1)), "out_of_range:passenger_count"),
        Record(ride_json(ride(PULocationID=0)), "out_of_range:PULocationID"),
        Record(ride_json(ride(PULocationID=266)), "out_of_range:PULocationID"),
        Record(ride_json(ride(DOLocationID=0)), "out_of_range:DOLocationID"),
        Record(ride_json(ride(DOLocationID=1000)), "out_of_range:DOLocationID"),
    ]


MALFORMED = _corpus()
"""Every reject reason at least once, most of them for several fields or shapes."""


def _csv_corpus() -> list[Record]:
    good = ride_csv(ride())
    before = DEFAULT_PICKUP - timedelta(seconds=1)
    return [
        Record(None, "null_value"),
        Record(ride_csv(ride(store_and_fwd_flag="N" * MAX_VALUE_BYTES)), "oversized"),
        Record(b"\xff" * (MAX_VALUE_BYTES + 1), "oversized"),
        Record(b"\xff\xfe" + good[2:], "not_utf8"),
        Record(good.replace(b",N,", b",\xc3,"), "not_utf8"),  # a lead byte, no continuation
        # 18 fields, one per schema field, or it is not a ride
        Record(b"", "wrong_field_count"),
        Record(b" ", "wrong_field_count"),
        Record(b"not a ride", "wrong_field_count"),
        Record(good[: good.index(b",132,")], "wrong_field_count"),  # truncated: 7 fields
        Record(good.rsplit(b",", 1)[0], "wrong_field_count"),  # the last field lost: 17
        Record(good + b",", "wrong_field_count"),  # a trailing comma: 19, the last empty
        Record(good + b",2.5", "wrong_field_count"),
        Record(good.replace(b",", b";"), "wrong_field_count"),  # another separator: 1 field
        Record(good.replace(b",", b"\t"), "wrong_field_count"),
        Record(good + b"\n" + good, "wrong_field_count"),  # two rides in one value: 35 fields
        Record(
            good.replace(b",N,", b',"N,'), "wrong_field_count"
        ),  # an unclosed quote eats the rest
        Record(b"{}", "wrong_field_count"),
        # A JSON ride has 18 comma-separated pieces; the first is no int.
        Record(ride_json(ride()), "wrong_type:VendorID"),
        Record(b"," * 17, "missing_field:tpep_pickup_datetime"),  # 18 empty fields
        Record(ride_csv(ride(tpep_pickup_datetime=None)), "missing_field:tpep_pickup_datetime"),
        Record(ride_csv(ride(tpep_dropoff_datetime=None)), "missing_field:tpep_dropoff_datetime"),
        Record(ride_csv(ride(PULocationID=None)), "missing_field:PULocationID"),
        Record(ride_csv(ride(PULocationID="")), "missing_field:PULocationID"),
        Record(good.replace(b",132,", b',"",'), "missing_field:PULocationID"),  # quoted, empty
        Record(ride_csv(ride(DOLocationID=None)), "missing_field:DOLocationID"),
        Record(ride_csv(ride(total_amount=None)), "missing_field:total_amount"),
        Record(ride_csv(ride(PULocationID="abc")), "wrong_type:PULocationID"),
        Record(ride_csv(ride(PULocationID=161.5)), "wrong_type:PULocationID"),
        Record(ride_csv(ride(PULocationID=" 161")), "wrong_type:PULocationID"),
        Record(ride_csv(ride(PULocationID="161,5")), "wrong_type:PULocationID"),  # quoted comma
        Record(ride_csv(ride(DOLocationID=2**31)), "wrong_type:DOLocationID"),  # int overflow
        Record(ride_csv(ride(total_amount="twenty dollars")), "wrong_type:total_amount"),
        Record(ride_csv(ride(total_amount="$23.00")), "wrong_type:total_amount"),
        Record(ride_csv(ride(VendorID="two")), "wrong_type:VendorID"),  # optional, still typed
        Record(ride_csv(ride(passenger_count=1.0)), "wrong_type:passenger_count"),
        Record(ride_csv(ride(fare_amount="15,00")), "wrong_type:fare_amount"),
        # A line break is data of the field it ends: after an empty last field, it is no double.
        Record(
            ride_csv(ride(congestion_surcharge=None)) + b"\n", "wrong_type:congestion_surcharge"
        ),
        Record(
            ride_csv(ride(tpep_pickup_datetime="yesterday")), "bad_timestamp:tpep_pickup_datetime"
        ),
        Record(
            ride_csv(ride(tpep_pickup_datetime="1704067200")),  # seconds: a JSON number only
            "bad_timestamp:tpep_pickup_datetime",
        ),
        Record(
            ride_csv(ride(tpep_dropoff_datetime="2024-13-01 00:00:00")),
            "bad_timestamp:tpep_dropoff_datetime",
        ),
        Record(
            ride_csv(ride(tpep_dropoff_datetime="2024-01-01 25:00:00")),
            "bad_timestamp:tpep_dropoff_datetime",
        ),
        Record(
            ride_csv(ride("1970-01-01 00:00:00")), "timestamp_out_of_range:tpep_pickup_datetime"
        ),
        Record(
            ride_csv(ride(tpep_pickup_datetime="0001-01-01 00:00:00")),
            "timestamp_out_of_range:tpep_pickup_datetime",
        ),
        Record(
            ride_csv(ride("2099-12-31 23:55:00")),  # the dropoff, 12 minutes later, is in 2100
            "timestamp_out_of_range:tpep_dropoff_datetime",
        ),
        Record(ride_csv(ride(tpep_dropoff_datetime=before)), "dropoff_before_pickup"),
        Record(ride_csv(ride(trip_distance=-0.1)), "negative:trip_distance"),
        Record(ride_csv(ride(fare_amount=-15.0)), "negative:fare_amount"),
        Record(ride_csv(ride(tip_amount=-1.0)), "negative:tip_amount"),
        Record(ride_csv(ride(total_amount=-23.0)), "negative:total_amount"),
        Record(ride_csv(ride(passenger_count=10)), "out_of_range:passenger_count"),
        Record(ride_csv(ride(PULocationID=0)), "out_of_range:PULocationID"),
        Record(ride_csv(ride(DOLocationID=266)), "out_of_range:DOLocationID"),
    ]


MALFORMED_CSV = _csv_corpus()
"""Every reject reason that applies to CSV values at least once (``wrong_field_count`` for
``not_json``)."""


def malformed_records(count: int | None = None) -> list[Record]:
    """Return the corpus, or ``count`` records cycling through it (every reason comes up)."""
    if count is None:
        return list(MALFORMED)
    return [MALFORMED[i % len(MALFORMED)] for i in range(count)]


def varied_rides(count: int, seed: int = 11) -> list[dict]:
    """Return ``count`` valid rides with varied fields, including the edges that are valid.

    Zero passengers, zero distance, zero-length trips, nulls in every optional field, zones 1,
    264 and 265, and timestamps at the edges of the accepted range all occur.
    """
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    edges = [
        ride(passenger_count=0),  # TLC files carry 0: a meter nobody set, still a ride
        ride(passenger_count=9, PULocationID=1, DOLocationID=265),
        ride(PULocationID=264, DOLocationID=264, trip_distance=0.0),
        ride("2001-01-01 00:00:00"),
        ride("2099-12-31 23:47:59"),  # the dropoff, 12 minutes later, is the last second kept
        ride(tpep_dropoff_datetime=DEFAULT_PICKUP),  # a zero-length trip
        ride(fare_amount=0.0, tip_amount=0.0, total_amount=0.0),
        ride(**{field.name: None for field in ride_schema().fields if field.nullable}),
    ]
    rides = edges[:count]
    while len(rides) < count:
        pickup = start + timedelta(seconds=rng.randint(0, 90 * 24 * 3600))
        fare = round(rng.uniform(3.0, 80.0), 2)
        tip = rng.choice([0.0, round(fare * 0.2, 2), None])
        fields = {
            "VendorID": rng.choice([1, 2, None]),
            "tpep_dropoff_datetime": pickup + timedelta(seconds=rng.randint(0, 3600)),
            "passenger_count": rng.choice([0, 1, 1, 1, 2, 3, 4, 5, 6, None]),
            "trip_distance": round(rng.uniform(0.0, 30.0), 2),
            "RatecodeID": rng.choice([1, 2, 5, 99, None]),
            "store_and_fwd_flag": rng.choice(["N", "Y", None]),
            "PULocationID": rng.randint(1, 265),
            "DOLocationID": rng.randint(1, 265),
            "payment_type": rng.choice([1, 2, 3, 4, None]),
            "fare_amount": fare,
            "tip_amount": tip,
            "total_amount": round(fare + (tip or 0.0) + 4.0, 2),
            "congestion_surcharge": rng.choice([0.0, 2.5, None]),
        }
        rides.append(ride(pickup, **fields))
    return rides


def mix_in(
    rides: Sequence[dict],
    malformed: Sequence[Record],
    seed: int = 3,
    encode: Callable[[dict], bytes] = ride_json,
) -> list[Record]:
    """Return the rides as valid records with each malformed one at a seeded random place.

    The rides keep their order; so do the malformed records among themselves. ``encode`` writes a
    ride's value (``ride_csv`` for a CSV topic).
    """
    rng = random.Random(seed)
    records = [Record(encode(fields)) for fields in rides]
    slots = sorted(rng.randint(0, len(records)) for _ in malformed)
    for offset, (slot, bad) in enumerate(zip(slots, malformed, strict=True)):
        records.insert(slot + offset, bad)
    return records


def as_rows(spark, rides: list[dict]):  # noqa: ANN001, ANN201
    """Return ride dicts as a DataFrame of the declared schema (the expected valid rides)."""
    names = ride_schema().fieldNames()
    return spark.createDataFrame([tuple(r[name] for name in names) for r in rides], ride_schema())


def assert_every_record_accounted_for(
    spark, parsed, records: list[Record], rides: list[dict]
) -> None:  # noqa: ANN001
    """Assert valid + rejected = input, each reject with its reason and bytes, the rides intact."""
    from chispa import assert_df_equality

    from ridestream.parsing import rejected_records, valid_rides

    valid, rejected = valid_rides(parsed, ride_schema()), rejected_records(parsed).collect()
    assert valid.count() + len(rejected) == len(records)
    assert {
        row.offset: (row.reason, None if row.value is None else bytes(row.value))
        for row in rejected
    } == {
        offset: (record.reason, record.value)
        for offset, record in enumerate(records)
        if record.reason is not None
    }
    assert_df_equality(valid, as_rows(spark, rides), ignore_row_order=True, ignore_nullable=True)
