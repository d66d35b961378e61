"""Raw Kafka records -> typed rides, and reason-coded rejects.

Parsing uses ``from_json`` with the declared schema (no string splitting, no Python UDF). A record
that does not parse is never dropped: it keeps its raw key and value and its Kafka coordinates, and
gets a stable reason code, so the dead-letter sink can hold it and an operator can replay it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ridestream.schemas import required_fields, struct_type

CORRUPT_RECORD = "_corrupt_record"
EVENT_TIME = "event_time"
PICKUP_TIME = "tpep_pickup_datetime"


def _reject_reason(value: Column, ride: Column, schema: T.StructType) -> Column:
    text = value.cast("string")
    reason = (
        F.when(value.isNull(), F.lit("null_value"))
        .when(~F.is_valid_utf8(text), F.lit("not_utf8"))
        .when(ride.isNull() | ride[CORRUPT_RECORD].isNotNull(), F.lit("malformed_json"))
    )
    for name in required_fields(schema):
        reason = reason.when(ride[name].isNull(), F.lit(f"missing_field:{name}"))
    return reason


def parse_rides(records: DataFrame, schema: T.StructType) -> DataFrame:
    """Parse the JSON ``value`` of Kafka records against ``schema``.

    Returns the Kafka columns plus ``ride`` (the parsed struct) and ``reject_reason`` (null for a
    good ride). Split the result with :func:`valid_rides` and :func:`rejected_records`.
    """
    # A record with a value of the wrong shape or type still parses in PERMISSIVE mode; the
    # corrupt-record column is how we notice instead of counting a half-null ride.
    parse_schema = T.StructType([*schema.fields, T.StructField(CORRUPT_RECORD, T.StringType())])
    ride = F.from_json(
        F.col("value").cast("string"),
        parse_schema,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD},
    )
    return records.withColumn("ride", ride).withColumn(
        "reject_reason", _reject_reason(F.col("value"), F.col("ride"), schema)
    )


def valid_rides(parsed: DataFrame, schema: T.StructType) -> DataFrame:
    """Return the rides that parsed, as the declared schema's columns."""
    return parsed.where(F.col("reject_reason").isNull()).select(
        *(F.col("ride")[name].alias(name) for name in schema.fieldNames())
    )


def rejected_records(parsed: DataFrame) -> DataFrame:
    """Return the records that did not parse, in the dead-letter contract (``rejected_record.avsc``)."""
    contract = struct_type("rejected_record")
    return (
        parsed.where(F.col("reject_reason").isNotNull())
        .withColumnRenamed("reject_reason", "reason")
        .select(*(F.col(field.name).cast(field.dataType) for field in contract.fields))
    )


def with_event_time(rides: DataFrame) -> DataFrame:
    """Add ``event_time``: a ride happens when the meter is engaged (pickup)."""
    return rides.withColumn(EVENT_TIME, F.col(PICKUP_TIME))
