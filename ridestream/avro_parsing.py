"""Avro values in Confluent's wire format -> typed rides, and reason-coded rejects.

A value written by a registry-aware producer (``rides produce --format avro``, or any producer
using Confluent's ``AvroSerializer``) is a magic byte 0, the writer schema's id in the registry
(4 bytes, big-endian), then the record in Avro binary (:mod:`ridestream.kafka.avro`). OSS Spark's
``from_avro`` knows no registry, so the job does the registry's part itself:

- when the query is built, :func:`writer_schemas` asks the registry once for every version of
  the subject ``<topic>-value`` (the TopicNameStrategy of Confluent's serializers): schema id ->
  writer schema. Nothing is asked per record or per batch;
- per record, the 4 id bytes pick the writer schema (a CASE over the known ids, compared as
  bytes), and Spark's own ``from_avro`` decodes the rest with it and reads it into the declared
  schema (``schemas/ride.avsc``, the ``avroSchema`` option): a record written with an older
  compatible schema gets the declared defaults for the fields it lacks. No Python UDF.

``from_avro`` cannot be trusted to notice bytes that are not a record of its schema: it ignores
trailing bytes, and garbage often decodes into some record. So a record counts as decoded only if
encoding it again with its writer schema (``to_avro``) gives back exactly the bytes after the
header. Avro's binary encoding has one form per value, so this holds for every record an Avro
writer wrote, and fails for truncated values, trailing bytes, and garbage that happened to parse.

Reject reasons, in order (the first that applies), then the semantic checks of
:mod:`ridestream.parsing` (``missing_field:``, ``timestamp_out_of_range:``,
``dropoff_before_pickup``, ``negative:``, ``out_of_range:``):

=====================  ==========================================================================
``null_value``         the record has no value (a tombstone)
``oversized``          longer than ``max_value_bytes``; not decoded
``not_avro``           shorter than the 5-byte header, or its first byte is not the magic byte 0
``unknown_schema_id``  the id is not a version of the subject the query knew when it started (a
                       schema registered later: restart the job, then replay the dead letter)
``undecodable``        the bytes after the header are not one record of the id's writer schema
=====================  ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.avro.functions import from_avro, to_avro

from ridestream.config import SchemaRegistrySettings
from ridestream.errors import UserError
from ridestream.kafka.avro import HEADER_SIZE, MAGIC_BYTE
from ridestream.parsing import MAX_VALUE_BYTES, _implausible_reason
from ridestream.schemas import required_fields

_PERMISSIVE = {"mode": "PERMISSIVE"}
_PAYLOAD = "_avro_payload"
_SCHEMA_ID = "_avro_schema_id"
_INTACT = "_avro_intact"


def subject_of(topic: str) -> str:
    """Return the registry subject of a topic's values (Confluent's TopicNameStrategy)."""
    return f"{topic}-value"


def writer_schemas(registry: SchemaRegistrySettings, subject: str) -> dict[int, str]:
    """Return every schema registered under ``subject`` as {schema id: schema JSON}.

    Raises
    ------
    UserError
        The registry cannot be reached, or has no schema under ``subject``.
    """
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    config = registry.client_config()
    client = SchemaRegistryClient(config)
    try:
        versions = client.get_versions(subject)
        registered = [client.get_version(subject, version) for version in versions]
    except SchemaRegistryError as error:
        if error.http_status_code == 404:
            raise UserError(
                f"the schema registry at {config['url']} has no subject {subject!r}: produce "
                "Avro rides first (./rides produce --format avro registers schemas/ride.avsc)"
            ) from None
        raise UserError(
            f"schema registry at {config['url']}: {error.error_message} "
            f"(HTTP {error.http_status_code}); check [schema_registry] in the profile"
        ) from None
    except Exception as error:  # requests' connection errors and timeouts
        raise UserError(
            f"cannot reach the schema registry at {config['url']} ({type(error).__name__}): "
            "start it (./rides registry start) or fix [schema_registry] url"
        ) from None
    finally:
        client.close()
    return {entry.schema_id: entry.schema.schema_str for entry in registered}


def _id_bytes(schema_id: int) -> Column:
    return F.lit(bytearray(schema_id.to_bytes(4, "big")))


def _quiet_serializer_warning(records: DataFrame) -> None:
    """Silence to_avro's plan-time warning that a nullable field meets a non-null Avro type.

    The re-encode check passes to_avro the writer's own decode, whose fields PERMISSIVE mode
    makes nullable; it runs only on records whose non-null fields are all present (a null one
    would fail at run time, as the warning says), so the warning, printed once per writer
    schema and query, only hides the job's own output.
    """
    jvm = records.sparkSession._jvm
    if jvm is None:  # Spark Connect: no JVM in this process, and its log is the server's
        return
    level = jvm.org.apache.logging.log4j.Level.ERROR
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.avro.AvroSerializer", level
    )


def _non_null_fields(schema: str) -> list[str]:
    """Return the top-level fields of a record schema whose Avro type has no null branch."""
    fields = json.loads(schema).get("fields", [])
    return [
        field["name"]
        for field in fields
        if not (isinstance(field["type"], list) and "null" in field["type"])
        and field["type"] != "null"
    ]


def _canonical(schema: str | Mapping[str, Any]) -> str:
    parsed = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def parse_avro_rides(
    records: DataFrame,
    schema: T.StructType,
    reader_schema: Mapping[str, Any],
    writers: Mapping[int, str],
    max_value_bytes: int = MAX_VALUE_BYTES,
) -> DataFrame:
    """Decode Confluent wire-format Avro values of Kafka records into ``schema``.

    Parameters
    ----------
    records
        Kafka-shaped rows: ``key``, ``value`` (binary), ``topic``, ``partition``, ``offset``,
        ``timestamp``.
    schema
        The declared Spark schema (``ride_schema()``), derived from ``reader_schema``.
    reader_schema
        The declared Avro schema (``load_avro("ride")``): every record is read into it.
    writers
        {schema id: writer schema JSON}, as :func:`writer_schemas` returns.
    max_value_bytes
        Longer values are rejected as ``oversized`` without being decoded.

    Returns
    -------
    DataFrame
        The Kafka columns plus ``ride`` and ``reject_reason``, as
        :func:`ridestream.parsing.parse_rides` returns them (split them with its
        :func:`~ridestream.parsing.valid_rides` and :func:`~ridestream.parsing.rejected_records`).
    """
    _quiet_serializer_warning(records)
    reader = json.dumps(reader_schema)
    value = F.col("value")
    ride = F.col("ride")
    payload = F.col(_PAYLOAD)
    schema_id = F.col(_SCHEMA_ID)
    fits = value.isNotNull() & (F.length(value) <= max_value_bytes)
    has_header = (F.length(value) >= HEADER_SIZE) & (
        F.substring(value, 1, 1) == F.lit(bytearray([MAGIC_BYTE]))
    )
    framed = records.withColumn(
        _SCHEMA_ID, F.when(fits & has_header, F.substring(value, 2, 4))
    ).withColumn(_PAYLOAD, F.when(fits & has_header, value.substr(F.lit(6), F.length(value) - 5)))

    # One column per writer schema: its decode of the records that carry its id. A column, so
    # that the check and the ride below use one decode (Spark keeps a costly column a column).
    decoded_columns = {}
    decoded = framed
    for index, (number, writer) in enumerate(sorted(writers.items())):
        column = f"_avro_writer_{index}"
        decoded_columns[number] = F.col(column)
        decoded = decoded.withColumn(
            column,
            F.when(schema_id == _id_bytes(number), from_avro(payload, writer, _PERMISSIVE)),
        )

    known = F.lit(False)
    intact = None
    typed = None
    for number, writer in sorted(writers.items()):
        mine = schema_id == _id_bytes(number)
        known = known | mine
        writer_record = decoded_columns[number]
        # Decoded, and re-encoded it is the same bytes: one record of this schema, nothing more.
        # A failed decode (PERMISSIVE) is a record of nulls, which to_avro refuses to write for
        # a field Avro declares non-null: such a field that is null is a failed decode.
        decoded_ok = writer_record.isNotNull()
        for name in _non_null_fields(writer):
            decoded_ok = decoded_ok & writer_record[name].isNotNull()
        exact = F.when(decoded_ok, to_avro(writer_record, writer) == payload).otherwise(False)
        if _canonical(writer) == _canonical(reader):
            as_declared = writer_record
        else:
            as_declared = from_avro(payload, writer, {**_PERMISSIVE, "avroSchema": reader})
        intact = F.when(mine, exact) if intact is None else intact.when(mine, exact)
        typed = F.when(mine, as_declared) if typed is None else typed.when(mine, as_declared)
    if typed is None:  # no writer schema at all: every framed record is unknown
        typed = F.lit(None).cast(schema)
        intact = F.lit(False)

    reason = (
        F.when(value.isNull(), F.lit("null_value"))
        .when(F.length(value) > max_value_bytes, F.lit("oversized"))
        .when(~has_header, F.lit("not_avro"))
        .when(~known, F.lit("unknown_schema_id"))
        .when(~F.coalesce(F.col(_INTACT), F.lit(False)), F.lit("undecodable"))
    )
    for name in required_fields(schema):
        reason = reason.when(ride[name].isNull(), F.lit(f"missing_field:{name}"))
    reason = _implausible_reason(reason, ride, schema)
    # As in parse_rides: the ride and its reason come out of a one-element inline, so a filter on
    # either is not pushed below the decode (which would then run once per check).
    generated = F.inline(F.array(F.struct(ride.alias("ride"), reason.alias("reject_reason"))))
    return (
        decoded.withColumn("ride", F.when(fits & known, typed))
        .withColumn(_INTACT, F.when(fits & known, intact))
        .select(*(F.col(name) for name in records.columns), generated)
    )
