"""Load the declared Avro schemas in ``schemas/`` and derive Spark types from them.

The ``.avsc`` files are the single source of truth: Spark's ``StructType``, the producer's
serialization and (later) the Schema Registry all come from them. Nothing here re-types a field.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pyspark.sql import types as T

from ridestream.errors import UserError
from ridestream.paths import SCHEMAS_DIR

_PRIMITIVES: dict[str, T.DataType] = {
    "boolean": T.BooleanType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "float": T.FloatType(),
    "double": T.DoubleType(),
    "string": T.StringType(),
    "bytes": T.BinaryType(),
}
_LOGICAL: dict[str, T.DataType] = {
    "timestamp-millis": T.TimestampType(),
    "timestamp-micros": T.TimestampType(),
    "local-timestamp-millis": T.TimestampNTZType(),
    "local-timestamp-micros": T.TimestampNTZType(),
    "date": T.DateType(),
}


class SchemaError(UserError, ValueError):
    """Raised when an ``.avsc`` file uses a construct ridestream does not map to Spark."""


@cache
def load_avro(name: str, directory: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """Return the parsed Avro schema ``<directory>/<name>.avsc``."""
    path = directory / f"{name}.avsc"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in directory.glob("*.avsc")))
        raise SchemaError(f"no schema {name!r} in {directory} (known: {known})") from None


def _spark_type(avro_type: Any) -> tuple[T.DataType, bool]:
    """Map an Avro type to (Spark type, nullable)."""
    if isinstance(avro_type, list):
        branches = [branch for branch in avro_type if branch != "null"]
        if len(branches) != 1:
            raise SchemaError(f"only [null, X] unions are supported, got {avro_type}")
        spark_type, _ = _spark_type(branches[0])
        return spark_type, "null" in avro_type
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical in _LOGICAL:
            return _LOGICAL[logical], False
        if avro_type["type"] == "record":
            return to_struct_type(avro_type), False
        if avro_type["type"] == "array":
            element, nullable = _spark_type(avro_type["items"])
            return T.ArrayType(element, nullable), False
        return _spark_type(avro_type["type"])
    if avro_type in _PRIMITIVES:
        return _PRIMITIVES[avro_type], False
    raise SchemaError(f"unsupported Avro type {avro_type!r}")


def to_struct_type(avro_record: dict[str, Any]) -> T.StructType:
    """Derive a Spark ``StructType`` from an Avro record schema (nullability from unions)."""
    fields = []
    for field in avro_record["fields"]:
        spark_type, nullable = _spark_type(field["type"])
        fields.append(T.StructField(field["name"], spark_type, nullable))
    return T.StructType(fields)


def struct_type(name: str) -> T.StructType:
    """Return the Spark schema of ``schemas/<name>.avsc``."""
    return to_struct_type(load_avro(name))


def required_fields(schema: T.StructType) -> list[str]:
    """Return the names of the fields a record must carry (not nullable)."""
    return [field.name for field in schema.fields if not field.nullable]


def ride_schema() -> T.StructType:
    """Return the declared ride schema (``schemas/ride.avsc``)."""
    return struct_type("ride")


def ride_window_schema(group_by: tuple[str, ...], keys: T.StructType | None = None) -> T.StructType:
    """Return the schema of ride_windows' output: window bounds, group keys, then aggregates.

    Group keys are typed as in the ride schema, so any ride field can be a key; ``keys`` gives
    the fields they are taken from instead (rides with more columns: a zone's borough).
    """
    rides = keys or ride_schema()
    windows = struct_type("ride_window")
    unknown = [name for name in group_by if name not in rides.fieldNames()]
    if unknown:
        raise SchemaError(
            f"cannot group by {', '.join(unknown)}: not a ride field "
            f"(fields: {', '.join(rides.fieldNames())})"
        )
    bounds, aggregates = windows.fields[:2], windows.fields[2:]
    return T.StructType([*bounds, *(rides[name] for name in group_by), *aggregates])


def arrow_schema(name: str) -> Any:
    """Return ``schemas/<name>.avsc`` as a ``pyarrow.Schema`` (for the producers' file reading).

    Timestamps are ``timestamp('us')`` without a zone: the TLC files hold NYC wall-clock times,
    which ridestream passes through unchanged (and Spark reads them back in UTC, unshifted).
    """
    import pyarrow as pa

    primitives = {
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "long": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "string": pa.string(),
        "bytes": pa.binary(),
    }

    def arrow_type(avro_type: Any) -> tuple[Any, bool]:
        if isinstance(avro_type, list):
            branches = [branch for branch in avro_type if branch != "null"]
            return arrow_type(branches[0])[0], "null" in avro_type
        if isinstance(avro_type, dict):
            if avro_type.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
                return pa.timestamp("us"), False
            return arrow_type(avro_type["type"])
        if avro_type in primitives:
            return primitives[avro_type], False
        raise SchemaError(f"unsupported Avro type {avro_type!r} for Arrow")

    fields = []
    for field in load_avro(name)["fields"]:
        arrow, nullable = arrow_type(field["type"])
        fields.append(pa.field(field["name"], arrow, nullable))
    return pa.schema(fields)
