"""ride_windows: rides from Kafka -> event-time windows per pickup zone -> console, Kafka or Delta.

Every record of the topic ends in one place: a window aggregate, the dead-letter sink (with its
reason), or Spark's count of rows dropped behind the watermark.

Run it through the wrapper (``jobs/ride_windows.py`` hands :data:`JOB` to the runner)::

    ./spark-submit.sh jobs/ride_windows.py                       # console, runs until Ctrl-C
    ./spark-submit.sh jobs/ride_windows.py --sink delta --trigger available-now
    ./spark-submit.sh jobs/ride_windows.py --stages two        # parse each record once, via Delta
    ./spark-submit.sh jobs/ride_windows.py --help

In a notebook or a test, the builders are the job: :func:`build_outputs` turns raw Kafka records
into the windows and the rejects (DataFrames), :func:`build_writers` into unstarted writers, and
``runner.execute(spark, JOB, settings)`` runs the whole job in your session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter

from ridestream.avro_parsing import parse_avro_rides, subject_of, writer_schemas
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
    source_flags,
    storage_path,
)
from ridestream.errors import ConfigError
from ridestream.jobs.outputs import SinkJob, claim, dead_letter_target, sink_target
from ridestream.kafka.settings import KafkaSettings
from ridestream.parsing import (
    ACCOUNTING,
    for_parsed_table,
    parse_rides,
    record_counts,
    rejected_records,
    valid_rides,
)
from ridestream.runner import Output, Stage
from ridestream.schemas import load_avro, ride_schema
from ridestream.sinks import (
    dead_letter_writers,
    parsed_table_writer,
    window_writer,
)
from ridestream.sources import read_delta_stream, read_kafka_stream
from ridestream.windows import ride_windows

NAME = "ride_windows"
PARSE_QUERY = f"{NAME}_parse"
DEAD_LETTER_QUERY = f"{NAME}_dead_letter"
# "one": the windows and dead-letter queries each read and parse the topic. "two": one query
# parses every record once into a Delta table of parsed records, and both read that table.
STAGES = ("one", "two")


@dataclass(frozen=True)
class RideWindowsOptions:
    """ride_windows' settings: ``[jobs.ride_windows]`` and its sections, over the shared ones.

    ``stages`` 'two' adds a query that parses every record once into the Delta table at
    ``parsed_path`` (rides and rejects, one row per Kafka record); the windows and the dead-letter
    queries read that table instead of the topic. It costs a table and a trigger of latency, and
    saves the second parse (bench/README.md measures both).
    """

    source: SourceSettings = SourceSettings()
    window: WindowSettings = WindowSettings()
    sink: SinkSettings = SinkSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    stages: str = "one"
    parsed_path: Path | str = field(default=Path("delta/rides_parsed"), metadata={"path": True})

    def __post_init__(self) -> None:
        if self.stages not in STAGES:
            raise ConfigError(f"stages {self.stages!r}: choose one of {', '.join(STAGES)}")
        fields = ride_schema().fieldNames()
        unknown = [name for name in self.window.group_by if name not in fields]
        if unknown or not self.window.group_by:
            raise ConfigError(
                f"window.group_by {','.join(self.window.group_by)!r}: "
                + (f"{', '.join(unknown)} is not a ride field; " if unknown else "")
                + f"choose from {', '.join(fields)} (schemas/ride.avsc)"
            )


FLAGS: tuple[Override, ...] = (
    *source_flags(),
    *WINDOW_FLAGS,
    *SINK_FLAGS,
    *DEAD_LETTER_FLAGS,
    Override(
        "--stages",
        "job.stages",
        "one (the windows and dead-letter queries each parse the topic) | two (one query parses "
        "every record once into a Delta table, --parsed-path, which both read)",
        choices=STAGES,
        group="stages",
    ),
    Override(
        "--parsed-path",
        "job.parsed_path",
        "--stages two: Delta table of parsed records",
        storage_path,
        "PATH",
        group="stages",
    ),
)


def parse_records(
    records: DataFrame, options: RideWindowsOptions, writers: Mapping[int, str] | None = None
) -> DataFrame:
    """Return raw Kafka records parsed against the declared schema (rides and reasoned rejects).

    Avro values (``source.format`` 'avro') need ``writers``: the registry's writer schemas by id
    (:func:`ridestream.avro_parsing.writer_schemas`, which :meth:`RideWindows.stages` calls).
    """
    if options.source.format == "avro":
        if writers is None:
            raise ValueError("Avro values need the writer schemas by id (writer_schemas)")
        return parse_avro_rides(records, ride_schema(), load_avro("ride"), writers)
    return records.transform(parse_rides, ride_schema(), value_format=options.source.format)


def windows_shapes(options: Any, settings: Settings, name: str) -> dict[str, dict[str, Any]]:
    """Return what decides a windows job's queries (``name``, its dead letter), per query.

    Recorded with each query's checkpoint; ``options`` has a ``source``, ``window``, ``sink``
    and ``dead_letter`` (ride_windows', ride_zones').
    """
    window = options.window
    windows: dict[str, Any] = {
        "topic": options.source.topic,
        "window": f"{window.kind} {window.gap or window.size}"
        + (f" sliding {window.slide}" if window.kind == "hopping" else ""),
        "group_by": list(window.group_by),
        "watermark": window.watermark,
        "output_mode": options.sink.output_mode,
        "sink": sink_target(options.sink),
        "shuffle_partitions": settings.spark.shuffle_partitions,
    }
    if window.panes:
        windows["panes"] = True
    shapes = {name: windows}
    if options.dead_letter.kinds:
        shapes[f"{name}_dead_letter"] = {
            "topic": options.source.topic,
            "dead_letter": dead_letter_target(options.dead_letter),
        }
    return shapes


def build_outputs(
    records: DataFrame,
    options: RideWindowsOptions,
    parsed: bool = False,
    writers: Mapping[int, str] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Return the job's two outputs: the windows, and the rejected records.

    ``records`` are raw Kafka records, or with ``parsed`` the rows of the parsed table (two
    stages), which are already what :func:`parse_records` returns. ``writers``: see there.
    """
    if not parsed:
        records = parse_records(records, options, writers)
    # Every batch counts its records (input = valid + rejected) as it reads them; the counts
    # ride along in the query's progress (observedMetrics) to the progress line and metrics file.
    counted = records.observe(ACCOUNTING, *record_counts())
    windows = counted.transform(valid_rides, ride_schema()).transform(
        ride_windows, options.window, options.sink.output_mode
    )
    return windows, rejected_records(records)


def build_writers(
    records: DataFrame, options: RideWindowsOptions, kafka: KafkaSettings, parsed: bool = False
) -> dict[str, DataStreamWriter]:
    """Return the job's unstarted writers by query name: windows, and the dead-letter records."""
    return writers_for(*build_outputs(records, options, parsed), options, kafka)


def writers_for(
    windows: DataFrame,
    rejects: DataFrame,
    options: RideWindowsOptions,
    kafka: KafkaSettings,
    name: str = NAME,
) -> dict[str, DataStreamWriter]:
    """Return the unstarted writers of the job's two outputs (:func:`build_outputs`).

    ``name`` names the windows query, and ``<name>_dead_letter`` the rejects' (another job that
    windows rides the same way, ride_zones, passes its own).
    """
    writers = {name: window_writer(windows, options.sink, kafka, options.window.group_by, name)}
    # Rejects are a query of their own: a bad record must never stop the windows, and the
    # windows' output mode (update, say) must not decide how rejects are written. The price, in
    # one stage: each query reads and parses every record (bench/README.md measures it).
    return writers | dead_letter_writers(rejects, options.dead_letter, kafka, f"{name}_dead_letter")


def build_parse_stage(
    records: DataFrame, options: RideWindowsOptions, writers: Mapping[int, str] | None = None
) -> DataFrame:
    """Return the first of two stages' output: every record, parsed, as the parsed table holds it.

    Its writer is :func:`ridestream.sinks.parsed_table_writer`.
    """
    return parse_records(records, options, writers).transform(for_parsed_table)


class RideWindows(SinkJob):
    """The ride_windows job as the runner sees it."""

    name = NAME
    description = (
        "Read rides from Kafka, parse them against schemas/ride.avsc, aggregate them over "
        "event-time windows with a watermark (count, sum of total_amount and tip_amount, "
        "mean trip_distance), and write the windows to the console, Kafka or Delta. "
        "Malformed records go to the dead-letter sink with a reason."
    )
    options = RideWindowsOptions
    flags = FLAGS

    def outputs(self, settings: Settings) -> list[Output]:
        """Return the Delta tables the job writes to (and the parsed table of two stages)."""
        outputs = super().outputs(settings)
        if settings.job.stages == "two":
            outputs.append(Output(settings.job.parsed_path, "parsed table", "--parsed-path"))
        return outputs

    def query_shapes(self, settings: Settings) -> dict[str, dict[str, Any]]:
        """Return what decides each query's state or output, recorded with its checkpoint."""
        options: RideWindowsOptions = settings.job
        shapes = windows_shapes(options, settings, NAME)
        if options.stages == "two":
            # The windows and rejects read the parsed table, not the topic (a key only then, so
            # the checkpoints of one-stage runs keep their recorded shape).
            parsed = str(options.parsed_path)
            for shape in shapes.values():
                shape["parsed_table"] = parsed
            shapes[PARSE_QUERY] = {
                "topic": options.source.topic,
                "format": options.source.format,
                "parsed_table": parsed,
            }
        return shapes

    def describe(self, settings: Settings) -> str:
        """Return the start line: what is read, how it is windowed, where it goes."""
        options: RideWindowsOptions = settings.job
        two = f" into {options.parsed_path} (two stages)" if options.stages == "two" else ""
        window = options.window
        return (
            f"reading {options.source.topic!r} from {settings.kafka.bootstrap_servers}{two}; "
            f"{window.describe()} by {', '.join(window.group_by)}, watermark {window.watermark}; "
            f"{options.sink.output_mode} to {options.sink.kind}; "
            f"rejects to {options.dead_letter.kind}"
        )

    def reported_queries(self, settings: Settings) -> list[str]:
        """Return the parse query (two stages) and the windows query."""
        return [PARSE_QUERY, NAME] if settings.job.stages == "two" else [NAME]

    def stages(self, spark: SparkSession, settings: Settings) -> list[Stage]:
        """Return one stage (windows and rejects from the topic) or two (parse, then read)."""
        options: RideWindowsOptions = settings.job
        records = read_kafka_stream(spark, settings.kafka, options.source)
        outputs = {output.flag: output for output in self.outputs(settings)}
        # Avro: the writer schemas are asked of the registry once, as the query is built.
        writers = None
        if options.source.format == "avro":
            writers = writer_schemas(settings.schema_registry, subject_of(options.source.topic))

        def read_stage(records: DataFrame, parsed: bool) -> dict[str, DataStreamWriter]:
            windows, rejects = build_outputs(records, options, parsed, writers)
            self.claim_tables(spark, settings, windows.schema, rejects.schema)
            return writers_for(windows, rejects, options, settings.kafka)

        if options.stages == "one":
            return [lambda: read_stage(records, parsed=False)]

        path = str(options.parsed_path)

        def parse_stage() -> dict[str, DataStreamWriter]:
            stored = build_parse_stage(records, options, writers)
            # Claimed (created) now: the readers of the second stage need the table to exist.
            claim(spark, settings, PARSE_QUERY, outputs["--parsed-path"], stored.schema)
            return {PARSE_QUERY: parsed_table_writer(stored, path)}

        return [
            parse_stage,
            lambda: read_stage(read_delta_stream(spark, path), parsed=True),
        ]


JOB = RideWindows()
