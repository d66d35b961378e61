"""Encode Arrow record batches as Kafka values (JSON or CSV) and keys, column at a time.

Encoding a million rides through ``json.dumps`` row by row costs more than producing them; Arrow's
compute kernels build the same text for a whole batch at once. The output is exactly what the
jobs parse: JSON objects with the declared field names, timestamps as ``YYYY-MM-DD HH:MM:SS``
(the TLC files' own wall-clock form), ``null`` for a missing value; or the course's comma-separated
values in the declared field order, empty for a missing value.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from ridestream.config import VALUE_FORMATS

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _text(column: pa.Array) -> pa.Array:
    """Return ``column`` as strings (null stays null), timestamps to the second."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        # Arrow's cast of a zone-less timestamp to text is 'YYYY-MM-DD HH:MM:SS' at second
        # precision, and vectorized (strftime would format row by row in Python).
        return column.cast(pa.timestamp("s"), safe=False).cast(pa.string())
    if pa.types.is_floating(kind):
        column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    return column.cast(pa.string())


def _json_escaped(text: pa.Array) -> pa.Array:
    """Escape what JSON strings cannot hold raw (rare in trip data: the check is all it costs)."""
    if not pc.any(pc.match_substring_regex(text, r'[\\"\x00-\x1f]')).as_py():
        return text
    return pa.array(
        [None if value is None else json.dumps(value)[1:-1] for value in text.to_pylist()],
        pa.string(),
    )


def json_values(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """Return one JSON object per row, with every column of ``batch`` as a field.

    The whole object is one ``binary_join_element_wise`` over literal pieces and column text:
    a null column value makes its piece null, which the join replaces with ``null``.
    """
    pieces: list[pa.Array | str] = []
    opening = "{"
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        text = _text(column)
        if pa.types.is_timestamp(column.type):
            value = pc.binary_join_element_wise('"', text, '"', "")  # digits, no escaping
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            value = pc.binary_join_element_wise('"', _json_escaped(text), '"', "")
        else:
            value = text
        pieces += [f'{opening}"{name}":', pc.fill_null(value, "null")]
        opening = ","
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "")


def csv_values(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """Return one comma-separated line per row (no header, declared column order)."""
    members = []
    for column in batch.columns:
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        text = _text(column)
        if pa.types.is_string(column.type):
            needs_quotes = pc.match_substring_regex(text, r'[",\n\r]')
            quoted = pc.binary_join_element_wise(
                '"', pc.replace_substring(text, '"', '""'), '"', ""
            )
            text = pc.if_else(pc.fill_null(needs_quotes, False), quoted, text)
        members.append(pc.fill_null(text, ""))
    return pc.binary_join_element_wise(*members, ",")


def value_array(batch: pa.RecordBatch | pa.Table, value_format: str) -> pa.Array:
    """Return the Kafka values of ``batch`` in ``value_format`` ('json' or 'csv') as strings."""
    if value_format == "json":
        return json_values(batch)
    if value_format == "csv":
        return csv_values(batch)
    raise ValueError(f"value format {value_format!r}: choose one of {', '.join(VALUE_FORMATS)}")


def encode_values(batch: pa.RecordBatch | pa.Table, value_format: str) -> list[str]:
    """Return the Kafka values of ``batch`` in ``value_format`` as Python strings."""
    return value_array(batch, value_format).to_pylist()


def encode_keys(batch: pa.RecordBatch | pa.Table, key: str | None) -> list[str | None]:
    """Return the Kafka keys of ``batch``: column ``key`` as text, or all None (no key)."""
    if key is None:
        return [None] * batch.num_rows
    column = batch.column(key)
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return _text(column).to_pylist()
