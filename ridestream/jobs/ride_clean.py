"""ride_clean: rides from Kafka, each checked against the declared schema, to a clean topic.

The stateless path a deployment puts in front of everything else: every record is parsed with
ride_windows' parser (:func:`ridestream.jobs.ride_windows.parse_records`), a valid ride gets its
pickup zone's borough, zone name and service zone (ride_zones' broadcast join,
:func:`ridestream.zones.with_zones`) and goes to the clean topic as JSON, and a reject goes to the
dead-letter topic with its reason, in the dead-letter format of the other jobs. Nothing is kept
from one record to the next, so the job runs in Spark's real-time mode (``--trigger real-time``):
each record passes through as it arrives instead of waiting for a micro-batch.

    ./spark-submit.sh jobs/ride_clean.py --trigger real-time     # until Ctrl-C
    ./spark-submit.sh jobs/ride_clean.py --trigger available-now
    ./spark-submit.sh jobs/ride_clean.py --help

A clean record keeps its key; its value is the ride's declared fields (schemas/ride.avsc,
timestamps in ISO 8601 with milliseconds) and the three zone fields; its headers name the record
it came from (``ridestream.source.topic``, ``.partition``, ``.offset``, ``.timestamp``), so a
consumer can drop the copies the at-least-once Kafka sink writes again after a restart.

With both outputs in Kafka the job is one query: each record is written to the topic its row
names, so every record is read and parsed once, and real-time mode needs one task slot per topic
partition (not two). A Delta table or the console as an output takes a query each (micro-batches
only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter

from ridestream.config import (
    DEAD_LETTER_FLAGS,
    SINK_FLAGS,
    DeadLetterSettings,
    Override,
    Settings,
    SinkSettings,
    SourceSettings,
    refuse_avro,
    source_flags,
    storage_path,
)
from ridestream.jobs.outputs import SinkJob, dead_letter_target, sink_target
from ridestream.jobs.ride_windows import parse_records
from ridestream.kafka.settings import KafkaSettings
from ridestream.parsing import ACCOUNTING, record_counts, rejected_records
from ridestream.paths import display_path
from ridestream.runner import Stage
from ridestream.schemas import ride_schema
from ridestream.sinks import dead_letter_headers, dead_letter_writers, kafka_writer, source_headers
from ridestream.sources import read_kafka_stream
from ridestream.zones import ZONE_COLUMNS, ZONES_FILE, load_zones, with_zones, zones_frame

NAME = "ride_clean"
DEAD_LETTER_QUERY = f"{NAME}_dead_letter"


@dataclass(frozen=True)
class RideCleanOptions:
    """ride_clean's settings: ``[jobs.ride_clean]`` and its sections, over the shared ones.

    The sink is the clean topic (``sink.topic``), or a Delta table or the console for
    micro-batch runs. Its output mode is update by default: real-time mode writes in no other,
    and for a job without state both modes write the same rows.
    """

    source: SourceSettings = SourceSettings()
    sink: SinkSettings = SinkSettings(
        kind="kafka", output_mode="update", topic="rides_clean", path=Path("delta/rides_clean")
    )
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    zones: Path | str = field(default=ZONES_FILE, metadata={"path": True})

    def __post_init__(self) -> None:
        refuse_avro("source.format", self.source.format, NAME)

    @property
    def one_query(self) -> bool:
        """Return True when both outputs are Kafka topics (or rejects go nowhere): one query."""
        return self.sink.kind == "kafka" and self.dead_letter.kinds in ((), ("kafka",))


FLAGS: tuple[Override, ...] = (
    *source_flags(),
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


def enrich_records(parsed: DataFrame, zones: DataFrame) -> DataFrame:
    """Return parsed records with the zone columns of each ride's pickup zone.

    A stream-static join with the lookup broadcast (no shuffle, so real-time mode runs it);
    a reject has no ride, and its zone columns are never read.
    """
    return with_zones(parsed, zones, location="ride.PULocationID")


def clean_rides(enriched: DataFrame) -> DataFrame:
    """Return the valid rides of enriched records: the declared fields, then the zone columns."""
    return enriched.where(F.col("reject_reason").isNull()).select(
        *(F.col("ride")[name].alias(name) for name in ride_schema().fieldNames()),
        *(F.col(name) for name in ZONE_COLUMNS),
    )


def _clean_value() -> Column:
    fields = [F.col("ride")[name].alias(name) for name in ride_schema().fieldNames()]
    return F.to_json(F.struct(*fields, *(F.col(name) for name in ZONE_COLUMNS)))


def to_kafka_records(
    enriched: DataFrame, clean_topic: str, dead_letter_topic: str | None
) -> DataFrame:
    """Return enriched records as the Kafka records they become: key, value, headers, topic.

    A valid ride goes to ``clean_topic`` as JSON with its origin in headers; a reject to
    ``dead_letter_topic`` as it came, with its reason and origin in headers (the dead-letter
    format of :func:`ridestream.sinks.to_dead_letter_records`). Without ``dead_letter_topic``
    rejects are left out (they go to another sink, or none).
    """
    valid = F.col("reject_reason").isNull()
    records = enriched if dead_letter_topic is not None else enriched.where(valid)
    return records.select(
        F.col("key"),
        # A reject's value goes on byte for byte (it may not even be UTF-8), to be replayed.
        F.when(valid, _clean_value().cast("binary")).otherwise(F.col("value")).alias("value"),
        F.when(valid, F.array(*source_headers()))
        .otherwise(dead_letter_headers(F.col("reject_reason")))
        .alias("headers"),
        F.when(valid, F.lit(clean_topic)).otherwise(F.lit(dead_letter_topic)).alias("topic"),
    )


def build_outputs(
    records: DataFrame, zones: DataFrame, options: RideCleanOptions
) -> tuple[DataFrame, DataFrame]:
    """Return the enriched records (every record, counted) and the rejected records.

    ``zones`` is the lookup (:func:`ridestream.zones.zones_frame`), a parameter so a test or a
    notebook can pass its own.
    """
    parsed = parse_records(records, options)
    # Each batch counts its records (input = valid + rejected) for the progress line and
    # `rides balance`, as the other jobs do.
    counted = parsed.observe(ACCOUNTING, *record_counts())
    return enrich_records(counted, zones), rejected_records(parsed)


def build_writers(
    records: DataFrame, zones: DataFrame, options: RideCleanOptions, kafka: KafkaSettings
) -> dict[str, DataStreamWriter]:
    """Return the job's unstarted writers by query name.

    Both outputs in Kafka: one query, ``ride_clean``, each record to its topic. Otherwise the
    clean rides (``ride_clean``) and the rejects (``ride_clean_dead_letter``) are a query each.
    """
    enriched, rejects = build_outputs(records, zones, options)
    sink = options.sink
    if options.one_query:
        dead_letter = options.dead_letter.topic if options.dead_letter.kinds else None
        routed = to_kafka_records(enriched, sink.topic, dead_letter)
        return {NAME: kafka_writer(routed, kafka).outputMode(sink.output_mode)}
    if sink.kind == "kafka":
        writer = kafka_writer(to_kafka_records(enriched, sink.topic, None), kafka)
    elif sink.kind == "delta":
        # The Delta sink appends (exactly once); without state, append and update are the same rows.
        writer = (
            clean_rides(enriched).writeStream.format("delta").option("path", str(sink.path))
        ).outputMode("append")
    else:
        writer = clean_rides(enriched).writeStream.format("console").option("truncate", "false")
    writers = {NAME: writer if sink.kind == "delta" else writer.outputMode(sink.output_mode)}
    return writers | dead_letter_writers(rejects, options.dead_letter, kafka, DEAD_LETTER_QUERY)


class RideClean(SinkJob):
    """The ride_clean job as the runner sees it."""

    name = NAME
    description = (
        "Read rides from Kafka, check each against schemas/ride.avsc, add its pickup zone's "
        "borough, zone name and service zone (TLC lookup, broadcast), and forward the valid "
        "rides to a clean topic (or a Delta table, or the console); malformed records go to the "
        "dead-letter sink with a reason. Stateless: runs in real-time mode (--trigger real-time)."
    )
    options = RideCleanOptions
    flags = FLAGS
    results_are = "clean rides"
    kafka_reader = "consume"

    def query_shapes(self, settings: Settings) -> dict[str, dict[str, Any]]:
        """Return what decides each query's output, recorded with its checkpoint."""
        options: RideCleanOptions = settings.job
        dead_letter = dead_letter_target(options.dead_letter)
        shape = {"topic": options.source.topic, "sink": sink_target(options.sink)}
        if options.one_query:
            return {NAME: {**shape, "dead_letter": dead_letter}}
        shapes = {NAME: shape}
        if options.dead_letter.kinds:
            shapes[DEAD_LETTER_QUERY] = {"topic": options.source.topic, "dead_letter": dead_letter}
        return shapes

    def real_time_refusal(self, settings: Settings) -> str | None:
        """Return why these settings cannot run in real-time mode (Spark 4.2), or None."""
        options: RideCleanOptions = settings.job
        if options.sink.kind == "delta":
            return (
                "Spark 4.2's real-time mode cannot write to a Delta table (Kafka, foreach and "
                "console sinks only): use --sink kafka, or an interval for Delta"
            )
        # A real-time query holds a task slot per topic partition for as long as it runs: a
        # second query (clean rides and rejects apart) would wait for slots the first one holds.
        if options.sink.kind != "kafka":
            return (
                f"ride_clean's {options.sink.kind} output is a query apart from its rejects', and "
                "in real-time mode it runs one query (both outputs in Kafka): use --sink kafka"
            )
        if not options.one_query:
            return (
                f"rejects to {options.dead_letter.kind} are a query apart from the clean rides', "
                "and in real-time mode ride_clean runs one query (both outputs in Kafka): use "
                "--dead-letter kafka or none"
            )
        if options.source.min_partitions is not None:
            return (
                "real-time mode reads each topic partition in one long-running task: leave "
                "--min-partitions (source.min_partitions) out"
            )
        if options.sink.output_mode != "update":
            return (
                f"real-time mode writes in update mode only, not {options.sink.output_mode} "
                "(for ride_clean both write the same rows): use --output-mode update"
            )
        return None

    def describe(self, settings: Settings) -> str:
        """Return the start line: what is read, the lookup, the trigger, where rides go."""
        options: RideCleanOptions = settings.job
        zones = len(load_zones(options.zones))
        interval = settings.query.real_time_interval
        mode = (
            f"real-time mode, checkpoint every {interval}"
            if interval
            else f"micro-batches ({settings.query.trigger})"
        )
        return (
            f"reading {options.source.topic!r} from {settings.kafka.bootstrap_servers}; "
            f"{zones} zones from {display_path(options.zones)} (broadcast); {mode}; "
            f"clean rides to {sink_target(options.sink)}; "
            f"rejects to {dead_letter_target(options.dead_letter)}"
        )

    def stages(self, spark: SparkSession, settings: Settings) -> list[Stage]:
        """Return the one stage: clean rides and rejects from the topic."""
        options: RideCleanOptions = settings.job

        source = options.source
        if settings.query.real_time_interval is not None:
            # A real-time batch is bounded by its interval, not by a count of records: Spark's
            # Kafka source refuses maxOffsetsPerTrigger (the local profile's bound on the first
            # batch after a long stop) in real-time mode.
            source = dataclasses.replace(source, max_offsets_per_trigger=None)

        def stage() -> dict[str, DataStreamWriter]:
            records = read_kafka_stream(spark, settings.kafka, source)
            zones = zones_frame(spark, options.zones)
            enriched, rejects = build_outputs(records, zones, options)
            self.claim_tables(spark, settings, clean_rides(enriched).schema, rejects.schema)
            return build_writers(records, zones, options, settings.kafka)

        return [stage]


JOB = RideClean()
