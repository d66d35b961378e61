"""ride_zones: rides from Kafka, enriched with the TLC zone lookup, windowed by borough or zone name.

A stream-static join: each parsed ride gets the ``borough``, ``zone`` and ``service_zone`` of its
pickup zone from ``data/taxi_zone_lookup.csv`` (broadcast; :mod:`ridestream.zones`), then the
windows of ride_windows are counted per borough (default), zone name, or any mix of those and ride
fields. Parsing, rejects, windows and sinks are ride_windows' own builders, imported, not copied;
the job adds one join. A ride whose zone the lookup lacks is counted under borough ``Unknown``
(never dropped; :mod:`ridestream.zones` says why and how).

Why a job and not a ``--enrich zones`` option of ride_windows: the group keys are the lookup's
columns, which ride_windows validates against the ride schema, and a run by borough must not
resume a run by zone id; a job of its own keeps both out of ride_windows' options and checkpoints
(docs/joins.md).

    ./spark-submit.sh jobs/ride_zones.py                          # per borough, console
    ./spark-submit.sh jobs/ride_zones.py --group-by zone --window '10 minutes'
    ./spark-submit.sh jobs/ride_zones.py --zones /data/taxi_zone_lookup_2025.csv
    ./spark-submit.sh jobs/ride_zones.py --help
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter

from ridestream.config import (
    DEAD_LETTER_FLAGS,
    SINK_FLAGS,
    WINDOW_FLAGS,
    DeadLetterSettings,
    Override,
    Settings,
    SinkSettings,
    SourceSettings,
    WindowSettings,
    refuse_avro,
    source_flags,
    storage_path,
)
from ridestream.errors import ConfigError
from ridestream.jobs.outputs import SinkJob
from ridestream.jobs.ride_windows import parse_records, windows_shapes, writers_for
from ridestream.kafka.settings import KafkaSettings
from ridestream.parsing import ACCOUNTING, record_counts, rejected_records, valid_rides
from ridestream.paths import display_path
from ridestream.runner import Stage
from ridestream.schemas import ride_schema
from ridestream.sources import read_kafka_stream
from ridestream.windows import ride_windows
from ridestream.zones import ZONE_COLUMNS, ZONES_FILE, load_zones, with_zones, zones_frame

NAME = "ride_zones"
DEAD_LETTER_QUERY = f"{NAME}_dead_letter"


@dataclass(frozen=True)
class RideZonesOptions:
    """ride_zones' settings: ``[jobs.ride_zones]`` and its sections, over the shared ones.

    ``zones`` is the lookup CSV (header ``locationid,borough,zone,service_zone``); the shipped
    TLC file unless a newer one is named. ``window.group_by`` may name the lookup's columns
    (``borough``, ``zone``, ``service_zone``) and ride fields.
    """

    source: SourceSettings = SourceSettings()
    window: WindowSettings = WindowSettings(group_by=("borough",))
    sink: SinkSettings = SinkSettings(topic="ride_zones", path=Path("delta/ride_zones"))
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    zones: Path | str = field(default=ZONES_FILE, metadata={"path": True})

    def __post_init__(self) -> None:
        refuse_avro("source.format", self.source.format, NAME)
        fields = [*ride_schema().fieldNames(), *ZONE_COLUMNS]
        unknown = [name for name in self.window.group_by if name not in fields]
        if unknown or not self.window.group_by:
            raise ConfigError(
                f"window.group_by {','.join(self.window.group_by)!r}: "
                + (
                    f"{', '.join(unknown)} is neither a zone column nor a ride field; "
                    if unknown
                    else ""
                )
                + f"choose from {', '.join(ZONE_COLUMNS)} or a ride field (schemas/ride.avsc)"
            )


FLAGS: tuple[Override, ...] = (
    *source_flags(),
    *WINDOW_FLAGS,
    *SINK_FLAGS,
    *DEAD_LETTER_FLAGS,
    Override(
        "--zones",
        "job.zones",
        "the taxi zone lookup CSV (locationid,borough,zone,service_zone), e.g. a newer TLC copy",
        storage_path,
        "PATH",
        group="zones",
    ),
)


def build_outputs(
    records: DataFrame, zones: DataFrame, options: RideZonesOptions
) -> tuple[DataFrame, DataFrame]:
    """Return the job's two outputs from raw Kafka records: zone windows, and rejected records.

    ``zones`` is the lookup (:func:`ridestream.zones.zones_frame`), a parameter so a test or a
    notebook can pass its own.
    """
    parsed = parse_records(records, options)
    counted = parsed.observe(ACCOUNTING, *record_counts())
    windows = (
        counted.transform(valid_rides, ride_schema())
        .transform(with_zones, zones)
        .transform(ride_windows, options.window, options.sink.output_mode)
    )
    return windows, rejected_records(parsed)


def build_writers(
    records: DataFrame, zones: DataFrame, options: RideZonesOptions, kafka: KafkaSettings
) -> dict[str, DataStreamWriter]:
    """Return the job's unstarted writers by query name: zone windows, and dead letters."""
    return writers_for(*build_outputs(records, zones, options), options, kafka, NAME)


class RideZones(SinkJob):
    """The ride_zones job as the runner sees it."""

    name = NAME
    description = (
        "Read rides from Kafka, parse them against schemas/ride.avsc, add each pickup zone's "
        "borough, zone name and service zone from the TLC lookup (broadcast; unknown ids count "
        "as borough Unknown), and aggregate event-time windows per borough or zone name to the "
        "console, Kafka or Delta. Malformed records go to the dead-letter sink with a reason."
    )
    options = RideZonesOptions
    flags = FLAGS

    def query_shapes(self, settings: Settings) -> dict[str, dict[str, Any]]:
        """Return what decides each query's state or output, recorded with its checkpoint."""
        return windows_shapes(settings.job, settings, NAME)

    def describe(self, settings: Settings) -> str:
        """Return the start line: what is read, the lookup, how it is windowed, where it goes."""
        options: RideZonesOptions = settings.job
        window = options.window
        zones = len(load_zones(options.zones))
        return (
            f"reading {options.source.topic!r} from {settings.kafka.bootstrap_servers}; "
            f"{zones} zones from {display_path(options.zones)} (broadcast); "
            f"{window.describe()} by {', '.join(window.group_by)}, watermark {window.watermark}; "
            f"{options.sink.output_mode} to {options.sink.kind}; "
            f"rejects to {options.dead_letter.kind}"
        )

    def stages(self, spark: SparkSession, settings: Settings) -> list[Stage]:
        """Return the one stage: zone windows and rejects from the topic."""
        options: RideZonesOptions = settings.job

        def stage() -> dict[str, DataStreamWriter]:
            records = read_kafka_stream(spark, settings.kafka, options.source)
            windows, rejects = build_outputs(records, zones_frame(spark, options.zones), options)
            self.claim_tables(spark, settings, windows.schema, rejects.schema)
            return writers_for(windows, rejects, options, settings.kafka, NAME)

        return [stage]


JOB = RideZones()
