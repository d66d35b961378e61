"""Schema compatibility as Confluent's registry defines its levels, judged by Apache Avro itself.

Whether a reader schema can read what a writer schema wrote is decided by Apache Avro's own
``ReaderWriterCompatibilityChecker`` (the Python port of the Java checker Confluent's registry
calls); this module only chooses which pairs to check:

- BACKWARD: the new schema reads data of the latest version (consumers upgrade first).
- FORWARD: the latest version reads data of the new schema (producers upgrade first).
- FULL: both.
- ``*_TRANSITIVE``: the same against every live version, not only the latest.
- NONE: no check.

Messages name the incompatibility as Confluent's do (``{errorType:'...', description:'...',
additionalInfo:'...'}``, then the old version and its schema), so a refused registration says
which field is at fault.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

import avro.errors
import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)

LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
# Confluent's default: a consumer on the new schema can read everything already written.
DEFAULT_LEVEL = "BACKWARD"


class InvalidSchema(ValueError):
    """A schema text that is not a valid Avro schema."""


@lru_cache(maxsize=1024)
def canonical_schema(text: str) -> tuple[str, avro.schema.Schema]:
    """Return Avro's own rendering of ``text`` (compact JSON) and the parsed schema.

    Two texts of one schema (other whitespace, key order or quoting) render the same, which is
    what makes registration idempotent and gives one schema one id. Docs, defaults, logical types
    and custom properties are kept: they are part of the schema a consumer gets back.
    """
    try:
        parsed = avro.schema.parse(text)
    except (avro.errors.AvroException, TypeError, ValueError, KeyError, AttributeError) as error:
        reason = str(error)
        raise InvalidSchema(reason if len(reason) <= 300 else reason[:297] + "...") from None
    return json.dumps(parsed.to_json(), separators=(",", ":")), parsed


def incompatibilities(
    new: avro.schema.Schema,
    previous: Sequence[tuple[int, str]],
    level: str,
) -> list[str]:
    """Return why ``new`` may not follow ``previous`` under ``level`` (empty: it may).

    ``previous`` holds the (version, canonical schema) pairs to judge against, oldest first: the
    subject's live versions on registration, a single version in a compatibility test. As
    Confluent's registry does, the newest failing version is reported, with its number, its
    schema and the level.
    """
    if level == "NONE" or not previous:
        return []
    candidates = previous if level.endswith("_TRANSITIVE") else previous[-1:]
    backward = level.startswith(("BACKWARD", "FULL"))
    forward = level.startswith(("FORWARD", "FULL"))
    for version, old_text in reversed(candidates):
        old = canonical_schema(old_text)[1]
        problems: list[str] = []
        if forward:
            problems += _check(reader=old, writer=new, reader_label="old", writer_label="new")
        if backward:
            problems += _check(reader=new, writer=old, reader_label="new", writer_label="old")
        if problems:
            return [
                *problems,
                f"{{oldSchemaVersion: {version}}}",
                f"{{oldSchema: '{old_text}'}}",
                f"{{compatibility: '{level}'}}",
            ]
    return []


def _check(
    reader: avro.schema.Schema, writer: avro.schema.Schema, reader_label: str, writer_label: str
) -> list[str]:
    """Return Avro's verdict on ``reader`` reading ``writer`` as Confluent-style messages."""
    try:
        result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    # Reported, as Confluent does, rather than failing the request.
    except Exception as error:  # noqa: BLE001
        return [f"Unexpected exception during compatibility check: {error}"]
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    # Avro's Python result keeps the kinds in a list but the details in sets: one kind pairs with
    # its details exactly; several kinds share the sorted details.
    info = ", ".join(sorted(result.messages))
    path = ", ".join(sorted(result.locations))
    kinds = list(dict.fromkeys(result.incompatibilities))
    return [
        f"{{errorType:'{kind.name.upper()}', "
        f"description:'{_describe(kind, path, info, reader_label, writer_label)}', "
        f"additionalInfo:'{info}'}}"
        for kind in kinds
    ]


def _describe(
    kind: SchemaIncompatibilityType, path: str, info: str, reader: str, writer: str
) -> str:
    if kind is SchemaIncompatibilityType.reader_field_missing_default_value:
        return (
            f"The field '{info}' at path '{path}' in the {reader} schema has no default value "
            f"and is missing in the {writer} schema"
        )
    if kind is SchemaIncompatibilityType.type_mismatch:
        return (
            f"The type (path '{path}') of a field in the {reader} schema does not match with "
            f"the {writer} schema"
        )
    if kind is SchemaIncompatibilityType.name_mismatch:
        return f"The name of the schema has changed (path '{path}')"
    if kind is SchemaIncompatibilityType.missing_enum_symbols:
        return (
            f"The {reader} schema is missing enum symbols '{info}' at path '{path}' in the "
            f"{writer} schema"
        )
    if kind is SchemaIncompatibilityType.missing_union_branch:
        return (
            f"The {reader} schema is missing a type inside a union field at path '{path}' in "
            f"the {writer} schema"
        )
    if kind is SchemaIncompatibilityType.fixed_size_mismatch:
        return (
            f"The size of FIXED type field at path '{path}' in the {reader} schema does not "
            f"match with the {writer} schema"
        )
    return ""
