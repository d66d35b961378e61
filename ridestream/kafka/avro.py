"""Avro values in Confluent's wire format: what a registry-aware producer writes to Kafka.

A value is a 5-byte header, then the record in Avro binary (no container, no schema):

====  =======================================================================
byte  content
====  =======================================================================
0     magic byte, always 0
1-4   the schema id in the registry, big-endian (unsigned here: ids are >= 1)
5-    the record, Avro binary encoding (written by fastavro)
====  =======================================================================

A consumer reads the id, fetches that (writer) schema from the registry, and decodes, possibly
into a newer reader schema (a v2 reader reads v1 records, filling added fields from defaults).

Timestamps: ridestream's rides carry naive ``datetime`` values that are UTC wall-clock times (as
Spark reads them back). fastavro would read a naive datetime in the machine's local time zone,
so a producer in New York would shift every ride by four or five hours; here naive means UTC,
on every machine (:func:`to_avro_record`), and decoding gives naive UTC back
(:func:`from_avro_record`). Both also fit confluent-kafka's ``AvroSerializer(to_dict=...)`` and
``AvroDeserializer(from_dict=...)``.

>>> schema = parse_schema(load_avro("ride"))                      # doctest: +SKIP
>>> value = encode_record(ride, schema_id=3, schema=schema)        # doctest: +SKIP
>>> schema_id_of(value), decode_record(value, schema) == ride      # doctest: +SKIP
(3, True)
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import fastavro

MAGIC_BYTE = 0
HEADER = struct.Struct(">BI")  # magic byte, schema id
HEADER_SIZE = HEADER.size
MAX_SCHEMA_ID = 2**31 - 1  # ids are Java ints in Confluent's registry


class WireFormatError(ValueError):
    """A value that is not in Confluent's wire format (too short, or another magic byte)."""


def parse_schema(schema: Mapping[str, Any]) -> Any:
    """Return fastavro's parsed form of an Avro schema (e.g. from ``ridestream.schemas.load_avro``).

    Parse once and reuse: encoding with the parsed form skips the parsing per record.
    """
    # fastavro annotates what it parses: give it a copy, not the cached declaration.
    return fastavro.parse_schema(_copy(schema))


def wire_header(schema_id: int) -> bytes:
    """Return the 5-byte header of a value written with schema ``schema_id``."""
    if not 0 <= schema_id <= MAX_SCHEMA_ID:
        raise ValueError(f"schema id {schema_id} is outside 0..{MAX_SCHEMA_ID}")
    return HEADER.pack(MAGIC_BYTE, schema_id)


def schema_id_of(value: bytes) -> int:
    """Return the schema id in the header of ``value``; raise :class:`WireFormatError` if none."""
    if value is None or len(value) < HEADER_SIZE:
        size = 0 if value is None else len(value)
        raise WireFormatError(
            f"a Confluent wire-format value has at least {HEADER_SIZE} bytes, this one {size}"
        )
    magic, schema_id = HEADER.unpack_from(value)
    if magic != MAGIC_BYTE:
        raise WireFormatError(
            f"magic byte {magic}, expected {MAGIC_BYTE}: not written by a registry-aware serializer"
        )
    return schema_id


def encode_record(record: Mapping[str, Any], schema_id: int, schema: Any) -> bytes:
    """Return ``record`` in Confluent's wire format: header with ``schema_id``, then Avro binary.

    ``schema`` is the parsed schema (:func:`parse_schema`) registered under ``schema_id``; naive
    datetimes are UTC (see the module doc).
    """
    buffer = io.BytesIO()
    buffer.write(wire_header(schema_id))
    fastavro.schemaless_writer(buffer, schema, to_avro_record(record))
    return buffer.getvalue()


def decode_record(value: bytes, writer_schema: Any, reader_schema: Any = None) -> dict[str, Any]:
    """Return the record in ``value``, written with ``writer_schema``, as ``reader_schema`` sees it.

    ``writer_schema`` must be the schema of the id in the header (look it up in the registry by
    :func:`schema_id_of`); ``reader_schema`` (default: the writer's) may be a compatible newer
    one. Timestamps come back as naive UTC datetimes.
    """
    schema_id_of(value)
    payload = io.BytesIO(value)
    payload.seek(HEADER_SIZE)
    record = fastavro.schemaless_reader(payload, writer_schema, reader_schema)
    return from_avro_record(record)


def to_avro_record(record: Mapping[str, Any], ctx: object = None) -> dict[str, Any]:
    """Return ``record`` with naive datetimes marked UTC, so fastavro does not shift them.

    Fits ``AvroSerializer(..., to_dict=to_avro_record)``; ``ctx`` (its serialization context) is
    not used.
    """
    return {name: _utc(value) for name, value in record.items()}


def from_avro_record(record: Mapping[str, Any], ctx: object = None) -> dict[str, Any]:
    """Return a decoded ``record`` with its UTC datetimes made naive, as ridestream's rides are.

    Fits ``AvroDeserializer(..., from_dict=from_avro_record)``; ``ctx`` is not used.
    """
    return {name: _naive(value) for name, value in record.items()}


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, Mapping):
        return to_avro_record(value)
    if isinstance(value, list):
        return [_utc(item) for item in value]
    return value


def _naive(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Mapping):
        return from_avro_record(value)
    if isinstance(value, list):
        return [_naive(item) for item in value]
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
