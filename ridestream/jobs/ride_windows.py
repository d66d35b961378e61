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
    source_flags,
    storage_path,
)
from ridestream.errors import ConfigError
from ridestream.kafka.settings import KafkaSettings
from ridestream.parsing import (
    ACCOUNTING,
    for_parsed_table,
    parse_rides,
    record_counts,
    rejected_records,
    valid_rides,
)
from ridestream.runner import Job, Output, Stage
from ridestream.schemas import ride_schema
from ridestream.sinks import (
    claim_parsed_table,
    dead_letter_writer,
    parsed_table_writer,
    window_writer,
)
from ridestream.sources import read_delta_stream, read_kafka_stream
from ridestream.stack import Feed
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


def parse_records(records: DataFrame, options: RideWindowsOptions) -> DataFrame:
    """Return raw Kafka records parsed against the declared schema (rides and reasoned rejects)."""
    return records.transform(parse_rides, ride_schema(), value_format=options.source.format)


def build_outputs(
    records: DataFrame, options: RideWindowsOptions, parsed: bool = False
) -> tuple[DataFrame, DataFrame]:
    """Return the job's two outputs: the windows, and the rejected records.

    ``records`` are raw Kafka records, or with ``parsed`` the rows of the parsed table (two
    stages), which are already what :func:`parse_records` returns.
    """
    if not parsed:
        records = parse_records(records, options)
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
    windows, rejects = build_outputs(records, options, parsed)
    writers = {NAME: window_writer(windows, options.sink, kafka, options.window.group_by, NAME)}
    # Rejects are a query of their own: a bad record must never stop the windows, and the
    # windows' output mode (update, say) must not decide how rejects are written. The price, in
    # one stage: each query reads and parses every record (bench/README.md measures it).
    dead_letter = dead_letter_writer(rejects, options.dead_letter, kafka, DEAD_LETTER_QUERY)
    if dead_letter is not None:
        writers[DEAD_LETTER_QUERY] = dead_letter
    return writers


def build_parse_stage(
    spark: SparkSession, records: DataFrame, options: RideWindowsOptions, owner: str
) -> dict[str, DataStreamWriter]:
    """Return the first of two stages: the writer of every record, parsed, to the parsed table.

    It creates the table (the readers of the second stage need it to exist) and claims it for
    ``owner``, the parse query's checkpoint: a second writer would put every record in twice.
    """
    path = str(options.parsed_path)
    stored = parse_records(records, options).transform(for_parsed_table)
    claim_parsed_table(spark, path, stored.schema, owner)
    return {PARSE_QUERY: parsed_table_writer(stored, path)}


class RideWindows(Job):
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

    def input_topics(self, settings: Settings) -> list[str]:
        """Return the rides topic."""
        return [settings.job.source.topic]

    def output_topics(self, settings: Settings) -> list[str]:
        """Return the Kafka topics the job writes to."""
        options: RideWindowsOptions = settings.job
        topics = [options.sink.topic] if options.sink.kind == "kafka" else []
        if "kafka" in options.dead_letter.kinds:
            topics.append(options.dead_letter.topic)
        return topics

    def outputs(self, settings: Settings) -> list[Output]:
        """Return the Delta tables the job writes to."""
        options: RideWindowsOptions = settings.job
        outputs = []
        if options.sink.kind == "delta":
            outputs.append(Output(options.sink.path, "Delta table", "--delta-path"))
        if "delta" in options.dead_letter.kinds:
            outputs.append(
                Output(options.dead_letter.path, "dead-letter Delta table", "--dead-letter-path")
            )
        if options.stages == "two":
            outputs.append(Output(options.parsed_path, "parsed table", "--parsed-path"))
        return outputs

    def query_shapes(self, settings: Settings) -> dict[str, dict[str, Any]]:
        """Return what decides each query's state or output, recorded with its checkpoint."""
        options: RideWindowsOptions = settings.job
        window = options.window
        windows = {
            "topic": options.source.topic,
            "window": f"{window.kind} {window.gap or window.size}"
            + (f" sliding {window.slide}" if window.kind == "hopping" else ""),
            "group_by": list(window.group_by),
            "watermark": window.watermark,
            "output_mode": options.sink.output_mode,
            "shuffle_partitions": settings.spark.shuffle_partitions,
        }
        if window.panes:
            windows["panes"] = True
        if options.stages == "one":
            return {NAME: windows}
        # Two stages: the windows read the parsed table, not the topic (a key only then, so the
        # checkpoints of one-stage runs keep their recorded shape).
        parsed = str(options.parsed_path)
        return {
            NAME: {**windows, "parsed_table": parsed},
            PARSE_QUERY: {
                "topic": options.source.topic,
                "format": options.source.format,
                "parsed_table": parsed,
            },
        }

    def feeds(self, settings: Settings) -> list[Feed]:
        """Return the rides topic, generated in the format the job parses."""
        source = settings.job.source
        return [Feed(source.topic, "rides", source.format)]

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
        if options.stages == "one":
            return [lambda: build_writers(records, options, settings.kafka)]
        owner = settings.query.checkpoint(PARSE_QUERY)
        path = str(options.parsed_path)
        return [
            lambda: build_parse_stage(spark, records, options, owner),
            lambda: build_writers(
                read_delta_stream(spark, path), options, settings.kafka, parsed=True
            ),
        ]


JOB = RideWindows()
