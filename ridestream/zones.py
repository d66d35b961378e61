"""The TLC taxi zone lookup: LocationID -> borough, zone name, service zone.

The lookup is ``data/taxi_zone_lookup.csv`` (the TLC's public file, 265 zones), declared in
``schemas/taxi_zone.avsc``. It is read here, in Python, against that declaration: every row must
have the declared columns (the header names them), an integer id and no empty field, and no id may
appear twice; a file that breaks a rule is refused in one line that names the row. The rows then
become a small local DataFrame, which a stream-static join broadcasts to every task (no file is
read again per micro-batch).

Unknown zones. A ride whose zone id is not in the lookup (a lookup older or smaller than the
rides; the shipped one covers every id the parser lets through, 1..265) is kept, never dropped:
its borough and zone are ``Unknown`` and its service zone ``N/A``, the TLC's own words for zones
264 and 265. Windows by borough then count it under ``Unknown`` with the TLC's unknown zones.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ridestream.errors import UserError
from ridestream.paths import PROJECT_ROOT
from ridestream.schemas import struct_type

ZONES_FILE = PROJECT_ROOT / "data" / "taxi_zone_lookup.csv"
UNKNOWN = "Unknown"
UNKNOWN_SERVICE_ZONE = "N/A"
# The columns a ride gains from the lookup (the lookup's own, but its id).
ZONE_COLUMNS = ("borough", "zone", "service_zone")


class ZoneLookupError(UserError):
    """The zone lookup file is missing or does not follow ``schemas/taxi_zone.avsc``."""


def zone_schema() -> T.StructType:
    """Return the declared schema of a lookup row (``schemas/taxi_zone.avsc``)."""
    return struct_type("taxi_zone")


@dataclass(frozen=True)
class Zone:
    """One row of the lookup."""

    locationid: int
    borough: str
    zone: str
    service_zone: str


def load_zones(path: Path | str = ZONES_FILE) -> list[Zone]:
    """Read the lookup CSV at ``path`` against the declared schema; refuse a file that breaks it.

    Raises
    ------
    ZoneLookupError
        The file is missing, its header is not the schema's fields, a row has an empty field or
        a non-integer id, or an id appears twice. The message names the file and row.
    """
    schema = zone_schema()
    names = schema.fieldNames()
    try:
        handle = Path(path).open(newline="", encoding="utf-8")
    except OSError as error:
        raise ZoneLookupError(
            f"cannot read the zone lookup {path}: {error.strerror}; point --zones at a copy of "
            "the TLC's taxi_zone_lookup.csv"
        ) from None
    zones: dict[int, Zone] = {}
    with handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        if header != names:
            raise ZoneLookupError(
                f"{path}: header {','.join(header) or '(empty file)'!r} is not "
                f"{','.join(names)!r} (schemas/taxi_zone.avsc)"
            )
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names) or any(not value.strip() for value in row):
                raise ZoneLookupError(
                    f"{path}, line {line}: expected {len(names)} non-empty fields "
                    f"({','.join(names)}), got {row!r}"
                )
            try:
                locationid = int(row[0])
            except ValueError:
                raise ZoneLookupError(
                    f"{path}, line {line}: locationid {row[0]!r} is not an integer"
                ) from None
            if locationid in zones:
                raise ZoneLookupError(f"{path}, line {line}: locationid {locationid} twice")
            zones[locationid] = Zone(locationid, row[1], row[2], row[3])
    if not zones:
        raise ZoneLookupError(f"{path}: no zones")
    return list(zones.values())


def zones_frame(spark: SparkSession, path: Path | str = ZONES_FILE) -> DataFrame:
    """Return the lookup at ``path`` as a DataFrame of the declared schema (a local relation)."""
    rows = [(z.locationid, z.borough, z.zone, z.service_zone) for z in load_zones(path)]
    return spark.createDataFrame(rows, zone_schema())


def with_zones(rides: DataFrame, zones: DataFrame, location: str = "PULocationID") -> DataFrame:
    """Add ``borough``, ``zone`` and ``service_zone`` of each ride's ``location`` column.

    A stream-static left join with the lookup broadcast: every ride comes out once, and a ride
    whose id the lookup lacks gets ``Unknown`` / ``Unknown`` / ``N/A`` (see the module docstring).
    """
    lookup = zones.select(
        F.col("locationid").alias("_zone_id"), *(F.col(name) for name in ZONE_COLUMNS)
    )
    unknown = {"borough": UNKNOWN, "zone": UNKNOWN, "service_zone": UNKNOWN_SERVICE_ZONE}
    joined = rides.join(
        # The lookup is a few hundred rows: sent to every task once, the rides never shuffle.
        F.broadcast(lookup),
        on=F.col(location) == F.col("_zone_id"),
        how="left",
    )
    return joined.select(
        *(F.col(name) for name in rides.columns),
        *(F.coalesce(F.col(name), F.lit(unknown[name])).alias(name) for name in ZONE_COLUMNS),
    )
