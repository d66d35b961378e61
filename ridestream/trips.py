"""Read NYC TLC trip record files (yellow, green, FHV; CSV, CSV.gz, Parquet) in Arrow batches.

Files are streamed: Parquet row group by row group, CSV block by block, never whole. Each batch
is conformed to the declared schema of its kind (``schemas/ride.avsc``, ``green_ride.avsc``,
``fhv_ride.avsc``): columns are matched by name ignoring case (the TLC spelled ``PUlocationID``
and ``PULocationID`` in different years), cast to the declared types (integers the TLC stored as
doubles included), and columns the schema does not declare (``Airport_fee``, ...) are left out and
reported. A declared column the file lacks is all null.

Timestamps stay the NYC wall-clock times of the files: no zone is attached or converted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ridestream.errors import UserError
from ridestream.schemas import arrow_schema

KINDS = {"yellow": "ride", "green": "green_ride", "fhv": "fhv_ride"}
EVENT_TIME = {
    "yellow": "tpep_pickup_datetime",
    "green": "lpep_pickup_datetime",
    "fhv": "pickup_datetime",
}
DROPOFF_TIME = {
    "yellow": "tpep_dropoff_datetime",
    "green": "lpep_dropoff_datetime",
    "fhv": "dropOff_datetime",
}
BATCH_ROWS = 65_536


class TripFileError(UserError, ValueError):
    """A trip file cannot be read as the kind asked for; the message says why."""


def detect_kind(path: Path) -> str:
    """Return 'yellow', 'green' or 'fhv' from a TLC file name (``yellow_tripdata_2024-01...``)."""
    match = re.match(r"(yellow|green|fhv)_", path.name.lower())
    if not match:
        raise TripFileError(
            f"{path.name}: cannot tell yellow, green or FHV from the name; pass --kind"
        )
    return match.group(1)


def detect_format(path: Path) -> str:
    """Return 'parquet' or 'csv' (plain or gzip) from the file name."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise TripFileError(f"{path.name}: expected a .parquet, .csv or .csv.gz file")


@dataclass
class TripFile:
    """A trip file opened for streaming, with what was learned about its columns."""

    path: Path
    kind: str
    schema: pa.Schema
    total_rows: int | None
    ignored_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)

    @property
    def event_time(self) -> str:
        """Return the name of the pickup-time column."""
        return EVENT_TIME[self.kind]

    @property
    def dropoff_time(self) -> str:
        """Return the name of the dropoff-time column."""
        return DROPOFF_TIME[self.kind]


def _match_columns(file_names: list[str], schema: pa.Schema) -> tuple[dict[str, str], list[str]]:
    """Map declared field -> file column (case-insensitive); return it and the ignored columns."""
    by_lower = {name.lower(): name for name in file_names}
    mapping = {
        declared: by_lower[declared.lower()]
        for declared in schema.names
        if declared.lower() in by_lower
    }
    used = set(mapping.values())
    return mapping, [name for name in file_names if name not in used]


def conform(batch: pa.RecordBatch, schema: pa.Schema, mapping: dict[str, str]) -> pa.RecordBatch:
    """Return ``batch`` with the declared columns, names and types (missing columns null)."""
    columns = []
    for declared in schema:
        if declared.name not in mapping:
            columns.append(pa.nulls(batch.num_rows, declared.type))
            continue
        column = batch.column(mapping[declared.name])
        if pa.types.is_floating(column.type) and pa.types.is_integer(declared.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        if column.type != declared.type:
            # The TLC stored some integer fields as doubles (passenger_count 1.0): truncating
            # casts keep them; timestamps with a unit or zone other than ours are re-expressed.
            column = pc.cast(column, declared.type, safe=False)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def open_trips(
    path: Path, kind: str | None = None, batch_rows: int = BATCH_ROWS
) -> tuple[TripFile, Iterator[pa.RecordBatch]]:
    """Open a trip file; return its description and an iterator over conformed batches."""
    path = Path(path)
    if not path.exists():
        raise TripFileError(f"{path}: no such file")
    kind = kind or detect_kind(path)
    schema = arrow_schema(KINDS[kind])
    if detect_format(path) == "parquet":
        try:
            parquet = pq.ParquetFile(path)
        except pa.ArrowInvalid as error:
            raise TripFileError(f"{path.name}: not a Parquet file ({error})") from None
        names = parquet.schema_arrow.names
        mapping, ignored = _match_columns(names, schema)
        trip_file = TripFile(path, kind, schema, parquet.metadata.num_rows, ignored)
        batches: Iterator[pa.RecordBatch] = parquet.iter_batches(
            batch_size=batch_rows, columns=list(mapping.values())
        )
    else:
        header = _csv_header(path)
        mapping, ignored = _match_columns(header, schema)
        types = {mapping[f.name]: f.type for f in schema if f.name in mapping}
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=8 << 20),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                include_columns=list(mapping.values()),
                timestamp_parsers=["%Y-%m-%d %H:%M:%S", pa_csv.ISO8601],
                strings_can_be_null=True,
            ),
        )
        trip_file = TripFile(path, kind, schema, None, ignored)
        batches = iter(reader)
    trip_file.missing_columns = [name for name in schema.names if name not in mapping]
    required = [f.name for f in schema if not f.nullable and f.name in trip_file.missing_columns]
    if required:
        raise TripFileError(
            f"{path.name} has no column {', '.join(required)}: is it a {kind} file? "
            f"(columns: {', '.join(names if detect_format(path) == 'parquet' else header)})"
        )
    return trip_file, (conform(batch, schema, mapping) for batch in batches if batch.num_rows)


def _csv_header(path: Path) -> list[str]:
    with pa.input_stream(str(path), compression="detect") as stream:
        first = stream.read(1 << 16).split(b"\n", 1)[0].decode("utf-8-sig").strip()
    if not first:
        raise TripFileError(f"{path.name} is empty")
    return [name.strip().strip('"') for name in first.split(",")]
