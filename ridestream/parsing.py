"""Raw Kafka records -> typed rides, and reason-coded rejects.

Parsing uses ``from_json`` (values in JSON, the default) or ``from_csv`` (``value_format="csv"``:
the fields of the declared schema in its order, no header) with the declared schema, never string
splitting or a Python UDF. A record that does not parse, or parses into a ride that cannot be
true, is never dropped: it keeps its raw key and value and its Kafka coordinates, and gets one
stable reason code, so the dead-letter sink can hold it, an operator can count rejects by cause,
and the record can be replayed.

Reject reasons. Every record is either a typed ride or a reject with exactly one reason: the first
check that fails, in this order (within one check, fields go in schema order):

==================================  ===============================================================
``null_value``                      the record has no value (a tombstone)
``oversized``                       the value is longer than ``max_value_bytes`` (64 KiB unless
                                    :func:`parse_rides` is told otherwise); it is not parsed at all
``not_utf8``                        the value is not valid UTF-8
``not_json``                        JSON values: not JSON at all (truncated, empty), or JSON
                                    that is not an object (an array, a string, a number, ``null``)
``wrong_field_count``               CSV values: not as many fields as the schema declares (an
                                    empty value, a truncated line, a JSON object, two lines)
``missing_field:<name>``            a required field (no ``null`` in its Avro type) is absent or null
                                    (CSV: its field is empty, as the producers write a null)
``wrong_type:<name>``               present, but Spark's parser cannot convert it to the
                                    declared type: ``"abc"`` or ``"161"`` (a string) or ``1.5`` for
                                    an int, an int that overflows 32 bits, an object for a double
                                    (CSV: ``abc``, ``1.5`` or `` 161`` for an int)
``bad_timestamp:<name>``            a timestamp field whose value does not parse as a timestamp
                                    (``"yesterday"``, ``"2024-13-01 00:00:00"``, ``""``; CSV:
                                    ``1700000000`` too)
``timestamp_out_of_range:<name>``   parses, but is outside [2001-01-01, 2100-01-01) (UTC, the
                                    session's zone): a zeroed or garbled clock, not a taxi ride
``dropoff_before_pickup``           ``tpep_dropoff_datetime`` is earlier than
                                    ``tpep_pickup_datetime`` (equal is a zero-length trip, kept)
``negative:<name>``                 ``trip_distance``, ``fare_amount``, ``tip_amount`` or
                                    ``total_amount`` is below 0
``out_of_range:<name>``             ``passenger_count`` outside 0..9 (TLC files carry 0, kept), or
                                    ``PULocationID`` / ``DOLocationID`` outside the TLC zones 1..265
==================================  ===============================================================

The range checks apply to the fields of those names that the schema declares, and a null optional
field passes them. What converts is Spark's parser's rule, not ours. JSON: a number for a
timestamp is read as seconds since the epoch, any JSON value for a string field is kept as its
text, and ``NaN`` / ``Infinity`` are doubles. CSV: RFC 4180 quoting (a field with a comma, quote
or line break is quoted, a quote inside is doubled, as ``rides produce --format csv`` writes it),
an empty field is null, a double is read by Java's ``Double.parseDouble`` (``NaN``, ``Infinity``,
``1.5d`` and surrounding whitespace pass), and a value is one record: a line break outside quotes
is data of the field it is in (so a trailing newline after an empty last field is a wrong type).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ridestream.config import VALUE_FORMATS
from ridestream.schemas import required_fields, struct_type

CORRUPT_RECORD = "_corrupt_record"
PICKUP_TIME = "tpep_pickup_datetime"
DROPOFF_TIME = "tpep_dropoff_datetime"

# A ride is well under 1 KiB; a value 64 times that is a producer bug or an attack, and parsing
# it would only slow the batch down.
MAX_VALUE_BYTES = 64 * 1024
# Half-open [earliest, latest), read in the session's time zone like the rides' own timestamps.
# TLC files do carry stray 2002 or 2008 dates (kept: they parse and are plausible clocks); the
# range catches epoch zero, year 1 and year 9999.
EARLIEST_TIME = "2001-01-01 00:00:00"
LATEST_TIME = "2100-01-01 00:00:00"
NON_NEGATIVE = ("trip_distance", "fare_amount", "tip_amount", "total_amount")
# Inclusive bounds. 264 and 265 are the TLC's "unknown" and "outside NYC" zones: real values.
VALUE_RANGES = {"passenger_count": (0, 9), "PULocationID": (1, 265), "DOLocationID": (1, 265)}

# The reason of a value that is not even the shape of a record, per format.
_MALFORMED = {"json": "not_json", "csv": "wrong_field_count"}

_TIMESTAMP_TYPES = (T.TimestampType, T.TimestampNTZType)
_PERMISSIVE = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
# Spark's CSV escape character is a backslash by default, which misreads the RFC 4180 quoting the
# producers write ('"say ""hi"", ok"' would be a corrupt record): a quote escapes a quote.
_CSV_OPTIONS = {**_PERMISSIVE, "sep": ",", "quote": '"', "escape": '"'}
# Internal: the second, all-string parse of the records the typed parse could not read.
_RIDE_TEXT = "_ride_text"


def _with_corrupt_record(fields: list[T.StructField]) -> T.StructType:
    return T.StructType([*fields, T.StructField(CORRUPT_RECORD, T.StringType())])


def _text_schema(schema: T.StructType) -> T.StructType:
    """Return ``schema`` with every field a string: Spark's parsers give any value as text."""
    return _with_corrupt_record([T.StructField(f.name, T.StringType()) for f in schema.fields])


def _is_timestamp(field: T.StructField) -> bool:
    return isinstance(field.dataType, _TIMESTAMP_TYPES)


def _parse(text: Column, schema: T.StructType, value_format: str) -> Column:
    """Parse ``text`` against ``schema`` (which has the corrupt-record column) in PERMISSIVE mode."""
    if value_format == "csv":
        # from_csv takes its schema as DDL; derived here, so the schema is still declared once.
        return F.from_csv(text, schema.toDDL(), _CSV_OPTIONS)
    return F.from_json(text, schema, _PERMISSIVE)


def _unreadable_reason(
    ride: Column, ride_text: Column, schema: T.StructType, malformed: str
) -> Column:
    """Reason for a record the typed parse flagged as corrupt, from its all-string parse.

    In PERMISSIVE mode Spark keeps every field it could convert (partial results: the default
    for JSON since 3.4, which the session builder pins, and always for CSV), so a field that is
    null in the typed parse but present as text is the one the typed parser refused. That is
    exactly the parser's own rule, where ``try_cast`` of the text would disagree with it both
    ways ("161" casts to an int but is refused by from_json; 1700000000 is no timestamp string
    but from_json reads it as seconds). The all-string parse itself is corrupt only when the value
    is not the shape of a record (``malformed``): not a JSON object, or the wrong number of CSV
    fields.
    """
    reason = F.when(ride_text.isNull() | ride_text[CORRUPT_RECORD].isNotNull(), F.lit(malformed))
    for name in required_fields(schema):
        reason = reason.when(ride_text[name].isNull(), F.lit(f"missing_field:{name}"))
    refused = {f.name: ride[f.name].isNull() & ride_text[f.name].isNotNull() for f in schema.fields}
    for field in schema.fields:
        if not _is_timestamp(field):
            reason = reason.when(refused[field.name], F.lit(f"wrong_type:{field.name}"))
    for field in schema.fields:
        if _is_timestamp(field):
            reason = reason.when(refused[field.name], F.lit(f"bad_timestamp:{field.name}"))
    # Unreachable while Spark keeps partial results; a reject needs a reason all the same.
    return reason.otherwise(F.lit(malformed))


def _implausible_reason(reason: Column, ride: Column, schema: T.StructType) -> Column:
    """Append the range checks of a ride that parsed to the CASE ``reason`` (plain comparisons)."""
    fields = schema.fields
    for field in fields:
        if _is_timestamp(field):
            value = ride[field.name]
            earliest = F.lit(EARLIEST_TIME).cast(field.dataType)
            latest = F.lit(LATEST_TIME).cast(field.dataType)
            reason = reason.when(
                (value < earliest) | (value >= latest),
                F.lit(f"timestamp_out_of_range:{field.name}"),
            )
    if {PICKUP_TIME, DROPOFF_TIME} <= set(schema.fieldNames()):
        reason = reason.when(ride[DROPOFF_TIME] < ride[PICKUP_TIME], F.lit("dropoff_before_pickup"))
    for field in fields:
        if field.name in NON_NEGATIVE:
            reason = reason.when(ride[field.name] < 0, F.lit(f"negative:{field.name}"))
    for field in fields:
        if field.name in VALUE_RANGES:
            value, (low, high) = ride[field.name], VALUE_RANGES[field.name]
            reason = reason.when(
                (value < low) | (value > high), F.lit(f"out_of_range:{field.name}")
            )
    return reason


def parse_rides(
    records: DataFrame,
    schema: T.StructType,
    max_value_bytes: int = MAX_VALUE_BYTES,
    value_format: str = "json",
) -> DataFrame:
    """Parse the ``value`` of Kafka records, JSON or CSV, against ``schema``.

    Parameters
    ----------
    records
        Kafka-shaped rows: ``key``, ``value`` (binary), ``topic``, ``partition``, ``offset``,
        ``timestamp``.
    schema
        The declared schema of the values (``ride_schema()``).
    max_value_bytes
        Longer values are rejected as ``oversized`` without being parsed.
    value_format
        ``"json"`` (an object per value) or ``"csv"`` (one line per value: the schema's fields in
        its order, no header, as ``rides produce --format csv`` writes them).

    Returns
    -------
    DataFrame
        The Kafka columns plus ``ride`` (the parsed struct) and ``reject_reason`` (null for a good
        ride, else one code of the module docstring). Split it with :func:`valid_rides` and
        :func:`rejected_records`.

    Raises
    ------
    ValueError
        ``value_format`` is neither ``"json"`` nor ``"csv"``.
    """
    if value_format == "avro":
        raise ValueError("Avro values: use ridestream.avro_parsing.parse_avro_rides")
    if value_format not in VALUE_FORMATS:
        raise ValueError(f"value format {value_format!r}: choose one of {', '.join(VALUE_FORMATS)}")
    malformed = _MALFORMED[value_format]
    value = F.col("value")
    ride = F.col("ride")
    text = value.cast("string")
    fits = value.isNotNull() & (F.length(value) <= max_value_bytes)
    # A value of the wrong shape or type still parses in PERMISSIVE mode; the corrupt-record
    # column is how we notice instead of counting a half-null ride.
    typed = F.when(fits, _parse(text, _with_corrupt_record(schema.fields), value_format))
    # Good rides pay for one parse. Only a record the typed parse could not read is parsed a
    # second time, all fields as text, to name its fault: CASE evaluates a branch only when its
    # condition holds. It is a column of its own so that Spark computes it once per row, not once
    # per field check (a projection is not collapsed into one that uses a costly column twice).
    unreadable = fits & (ride.isNull() | ride[CORRUPT_RECORD].isNotNull())
    ride_text = F.when(unreadable, _parse(text, _text_schema(schema), value_format))

    reason = (
        F.when(value.isNull(), F.lit("null_value"))
        .when(F.length(value) > max_value_bytes, F.lit("oversized"))
        .when(~F.is_valid_utf8(text), F.lit("not_utf8"))
        # from_csv reads an empty value as a record of empty fields, corrupt or not: it is one
        # field, not the schema's number (for JSON this is not_json either way).
        .when(F.length(value) == 0, F.lit(malformed))
        .when(unreadable, _unreadable_reason(ride, F.col(_RIDE_TEXT), schema, malformed))
    )
    for name in required_fields(schema):
        reason = reason.when(ride[name].isNull(), F.lit(f"missing_field:{name}"))
    reason = _implausible_reason(reason, ride, schema)
    # valid_rides and rejected_records filter on reject_reason. Spark's optimizer would push that
    # filter below these projections, substituting each reference to ``ride`` with its from_json
    # (in 4.2 it does so for JSON functions despite avoidDoubleFilterEval, and for from_csv):
    # one parse per check.
    # A filter does not cross a generator that makes the column it tests, so the ride and its
    # reason come out of a one-element inline, and each parse runs once per record. (Both: a
    # filter on a ride field, like the windows' not-null event time, would otherwise be pushed
    # below it too, and a batch query would parse every record twice.)
    generated = F.inline(F.array(F.struct(ride.alias("ride"), reason.alias("reject_reason"))))
    return (
        records.withColumn("ride", typed)
        .withColumn(_RIDE_TEXT, ride_text)
        .select(*(F.col(name) for name in records.columns), generated)
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


def for_parsed_table(parsed: DataFrame) -> DataFrame:
    """Return parsed records as the two-stage job stores them: one row per Kafka record.

    The columns stay those of :func:`parse_rides`, so :func:`valid_rides` and
    :func:`rejected_records` read the stored table as they read the parse itself. A ride keeps its
    typed fields and drops what only a reject needs: its raw value (a reject keeps it, to be
    replayed) and the parser's corrupt-record text.
    """
    return parsed.withColumn(
        "value", F.when(F.col("reject_reason").isNotNull(), F.col("value"))
    ).withColumn("ride", F.col("ride").dropFields(CORRUPT_RECORD))


# The name of the per-batch record counts a job observes on its parsed records.
ACCOUNTING = "records"


def record_counts() -> list[Column]:
    """Return the per-batch record counts of parsed records: input, valid and rejected.

    ``input`` = ``valid`` + ``rejected`` holds by construction of each row's ``reject_reason``;
    observed in the query (``DataFrame.observe(ACCOUNTING, *record_counts())``) they count
    exactly the rows of each micro-batch, for the progress line and ``rides balance``.
    """
    rejected = F.col("reject_reason").isNotNull()
    return [
        F.count(F.lit(1)).alias("input"),
        F.count_if(~rejected).alias("valid"),
        F.count_if(rejected).alias("rejected"),
    ]
