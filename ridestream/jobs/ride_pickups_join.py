"""ride_pickups_join: rides x pickup locations, a stream-stream join (the course's JsonKStreamJoins).

A ride that drops off in a zone meets a pickup waiting in that zone when their times are at most
``join.within`` apart (10 minutes by default, either side): the job emits the course's VendorInfo
(``schemas/vendor_info.avsc``), "a taxi of this vendor just dropped off where a new pickup is
waiting", to the console, Kafka (``vendor_info``, JSON, keyed) or Delta (exactly once).

Semantics (Spark's stream-stream join; the course's Kafka Streams join differs as noted):

- Join key: ``rides.DOLocationID = pickups.PULocationID``; time condition:
  ``dropoff - within <= pickup_time <= dropoff + within``. Kafka Streams' JoinWindows of 20
  minutes with a 10-minute filter is the same condition, evaluated once per pair here. Every
  pair matches: two pickups in a ride's range are two rows (as in Kafka Streams).
- Watermarks on both sides, each on its stream's own event time: a ride's *pickup* time (rides
  arrive in that order; their dropoffs are out of order by as much as trips differ in length), a
  pickup's time. Spark keeps one watermark per query, the *minimum* of the two. An input row older
  than the watermark of the previous batch is dropped (Spark counts it in
  ``numRowsDroppedByWatermark``): a late ride or a late pickup never joins.
- Bounded state. Spark forgets a side's rows by that side's watermarked column, with a bound it
  solves from the condition; a bound on the dropoff does not count for the rides, whose
  watermark is on their pickup time. So the condition has two more terms, both true of every pair
  the dropoff bound admits when trips last at most ``join.max_trip`` (3 hours by default):
  ``pickup_time <= ride_pickup + max_trip + within`` (a ride leaves state once the watermark is
  past its pickup + max_trip + within) and ``pickup_time >= ride_pickup - within`` (true of every
  valid ride, whose dropoff is not before its pickup; a pickup leaves state once the watermark is
  past its time + within). The one rule they add: a ride longer than ``max_trip`` meets no pickup
  later than ``max_trip + within`` after its start.
- ``--how left_outer``: a ride that met no pickup is emitted once, with ``pickup_datetime`` null,
  when it leaves state: after the watermark has passed its pickup + max_trip + within (not its
  dropoff + within: Spark can only judge a ride by its watermarked column). Matches are emitted
  in the batch that sees both sides.

    ./spark-submit.sh jobs/ride_pickups_join.py                         # console, until Ctrl-C
    ./spark-submit.sh jobs/ride_pickups_join.py --how left_outer --trigger available-now
    ./spark-submit.sh jobs/ride_pickups_join.py --sink kafka            # to vendor_info
    ./spark-submit.sh jobs/ride_pickups_join.py --help
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
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
    parse_duration,
    refuse_avro,
    source_flags,
)
from ridestream.errors import ConfigError
from ridestream.jobs.outputs import SinkJob, dead_letter_target, sink_target
from ridestream.kafka.settings import KafkaSettings
from ridestream.parsing import (
    ACCOUNTING,
    DROPOFF_TIME,
    PICKUP_TIME,
    parse_rides,
    record_counts,
    rejected_records,
    valid_rides,
)
from ridestream.runner import Stage
from ridestream.schemas import ride_schema, struct_type
from ridestream.sinks import dead_letter_writers, kafka_writer
from ridestream.sources import read_kafka_stream
from ridestream.stack import Feed

NAME = "ride_pickups_join"
DEAD_LETTER_QUERY = f"{NAME}_dead_letter"
JOIN_KINDS = ("inner", "left_outer")
# The observed record counts of each input (ridestream.progress adds them up, and lists them).
RIDES_COUNTS = f"{ACCOUNTING}.rides"
PICKUPS_COUNTS = f"{ACCOUNTING}.pickups"


def pickup_schema():  # noqa: ANN201 - a StructType
    """Return the declared pickup-location schema (``schemas/pickup_location.avsc``)."""
    return struct_type("pickup_location")


def vendor_info_schema():  # noqa: ANN201 - a StructType
    """Return the declared output schema (``schemas/vendor_info.avsc``)."""
    return struct_type("vendor_info")


@dataclass(frozen=True)
class JoinSettings:
    """The join: kind, time bound, and each side's watermark delay.

    ``within``: a ride and a pickup match when the pickup is at most this long before or after
    the ride's dropoff. ``rides_watermark`` / ``pickups_watermark``: how late (in event time) a
    ride or a pickup may arrive and still join. ``max_trip``: the longest trip the join waits
    for; with ``within`` and the watermarks it bounds the state (the module docstring).
    """

    how: str = "inner"
    within: str = "10 minutes"
    rides_watermark: str = "10 minutes"
    pickups_watermark: str = "10 minutes"
    max_trip: str = "3 hours"

    def __post_init__(self) -> None:
        if self.how not in JOIN_KINDS:
            raise ConfigError(f"join.how {self.how!r}: choose one of {', '.join(JOIN_KINDS)}")
        for name in ("within", "rides_watermark", "pickups_watermark", "max_trip"):
            value = getattr(self, name)
            try:
                parse_duration(value)
            except ConfigError:
                raise ConfigError(
                    f"join.{name} {value!r} is not a duration: write it like '10 minutes'"
                ) from None

    def describe(self) -> str:
        """Return e.g. 'inner join within 10 minutes of the dropoff'."""
        return f"{self.how.replace('_', ' ')} join within {self.within} of the dropoff"


@dataclass(frozen=True)
class RidePickupsJoinOptions:
    """ride_pickups_join's settings: ``[jobs.ride_pickups_join]`` and its sections.

    ``source`` is the rides topic (over the shared ``[source]``), ``pickups`` the pickup
    locations topic. The sink writes in append mode only: a joined row is final when emitted.
    """

    source: SourceSettings = SourceSettings()
    pickups: SourceSettings = SourceSettings(topic="pickup_locations")
    join: JoinSettings = JoinSettings()
    sink: SinkSettings = SinkSettings(topic="vendor_info", path=Path("delta/vendor_info"))
    dead_letter: DeadLetterSettings = DeadLetterSettings()

    def __post_init__(self) -> None:
        refuse_avro("source.format", self.source.format, NAME)
        refuse_avro("pickups.format", self.pickups.format, NAME)
        if self.sink.output_mode != "append":
            raise ConfigError(
                f"sink.output_mode {self.sink.output_mode!r}: a stream-stream join writes in "
                "append mode only (each joined row is final); remove the setting"
            )


FLAGS: tuple[Override, ...] = (
    *source_flags(),
    *source_flags("pickups", "pickups-", "pickup locations"),
    Override(
        "--how",
        "job.join.how",
        "inner (matched pairs) | left_outer (also rides no pickup met, once the watermark "
        "has passed their pickup + --max-trip + --within)",
        choices=JOIN_KINDS,
        group="join",
    ),
    Override(
        "--within",
        "job.join.within",
        "a pickup matches a ride when at most this long before or after its dropoff",
        metavar="DURATION",
        group="join",
    ),
    Override(
        "--max-trip",
        "job.join.max_trip",
        "the longest trip the join waits for: a ride leaves the join's state once the "
        "watermark passes its pickup + this + --within",
        metavar="DURATION",
        group="join",
    ),
    Override(
        "--rides-watermark",
        "job.join.rides_watermark",
        "how late a ride may arrive (by its pickup time) and still join",
        metavar="DURATION",
        group="join",
    ),
    Override(
        "--pickups-watermark",
        "job.join.pickups_watermark",
        "how late a pickup may arrive and still join",
        metavar="DURATION",
        group="join",
    ),
    # Append only: --output-mode is not a flag of this job.
    *(flag for flag in SINK_FLAGS if flag.flag != "--output-mode"),
    *DEAD_LETTER_FLAGS,
)


def _interval(duration: str) -> F.Column:
    """Return ``duration`` as an interval literal, a form Spark's join-state analysis reads."""
    seconds = parse_duration(duration).total_seconds()
    return F.expr(f"INTERVAL {seconds:.6f} SECONDS")


def join_rides_with_pickups(rides: DataFrame, pickups: DataFrame, spec: JoinSettings) -> DataFrame:
    """Join typed rides with typed pickup locations; the result has VendorInfo's columns.

    Parameters
    ----------
    rides
        Typed rides (``schemas/ride.avsc``'s columns).
    pickups
        Typed pickup locations (``schemas/pickup_location.avsc``'s columns).
    spec
        Kind, time bound and watermarks (the module docstring has the semantics).
    """
    within = _interval(spec.within)
    longest = _interval(spec.max_trip)
    ride_side = (
        rides.select(
            F.col("VendorID"),
            F.col("DOLocationID").alias("_dropoff_zone"),
            F.col(PICKUP_TIME).alias("_ride_time"),
            F.col(DROPOFF_TIME).alias("_dropoff_time"),
        )
        # Rides arrive in pickup-time order, so that is the time their lateness is judged by.
        .withWatermark("_ride_time", spec.rides_watermark)
    )
    pickup_side = pickups.select(
        F.col("PULocationID").alias("_pickup_zone"),
        F.col(PICKUP_TIME).alias("_pickup_time"),
    ).withWatermark("_pickup_time", spec.pickups_watermark)
    condition = (
        (F.col("_pickup_zone") == F.col("_dropoff_zone"))
        & (F.col("_pickup_time") >= F.col("_dropoff_time") - within)
        & (F.col("_pickup_time") <= F.col("_dropoff_time") + within)
        # Bounds on the rides' watermarked column, implied by the two above for trips up to
        # max_trip: what lets Spark drop rides and pickups from state (the module docstring).
        & (F.col("_pickup_time") <= F.col("_ride_time") + longest + within)
        & (F.col("_pickup_time") >= F.col("_ride_time") - within)
    )
    joined = ride_side.join(pickup_side, on=condition, how=spec.how)
    contract = vendor_info_schema()
    return joined.select(
        F.col("VendorID"),
        F.col("_dropoff_zone").alias("PULocationID"),
        F.col("_pickup_time").alias("pickup_datetime"),
        F.col("_dropoff_time").alias("last_dropoff_datetime"),
    ).select(*(F.col(field.name).cast(field.dataType) for field in contract.fields))


def build_outputs(
    ride_records: DataFrame, pickup_records: DataFrame, options: RidePickupsJoinOptions
) -> tuple[DataFrame, DataFrame]:
    """Return the job's two outputs from raw Kafka records: the joined rows, and the rejects.

    Each input is parsed against its declared schema; each batch counts its records per input
    (``input = valid + rejected``, observed as ``records.rides`` and ``records.pickups``).
    """
    rides = parse_rides(ride_records, ride_schema(), value_format=options.source.format)
    pickups = parse_rides(pickup_records, pickup_schema(), value_format=options.pickups.format)
    joined = join_rides_with_pickups(
        rides.observe(RIDES_COUNTS, *record_counts()).transform(valid_rides, ride_schema()),
        pickups.observe(PICKUPS_COUNTS, *record_counts()).transform(valid_rides, pickup_schema()),
        options.join,
    )
    return joined, rejected_records(rides).unionByName(rejected_records(pickups))


def to_vendor_records(joined: DataFrame) -> DataFrame:
    """Shape joined rows as Kafka records: JSON value, key = the zone and the two times.

    The Kafka sink is at-least-once: a key naming the pair (zone, dropoff, pickup) lets a
    consumer drop a replayed row (the course keys vendor_info by zone alone).
    """
    key = F.to_json(F.struct("PULocationID", "last_dropoff_datetime", "pickup_datetime"))
    return joined.select(key.alias("key"), F.to_json(F.struct(*joined.columns)).alias("value"))


def show_joined(rows: int):  # noqa: ANN201 - returns a foreachBatch function
    """Return a foreachBatch function that prints a batch's joined rows, oldest dropoff first."""

    def show(batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()
        try:
            count = batch.count()
            print(f"--- batch {batch_id}: {count:,} row{'s' if count != 1 else ''}", flush=True)
            if count:
                batch.orderBy("last_dropoff_datetime", "PULocationID", "pickup_datetime").show(
                    rows, truncate=False
                )
        finally:
            batch.unpersist()

    return show


def joined_writer(joined: DataFrame, sink: SinkSettings, kafka: KafkaSettings) -> DataStreamWriter:
    """Return the writer of joined rows: console, Kafka (keyed JSON) or Delta (exactly once)."""
    if sink.kind == "kafka":
        writer = kafka_writer(to_vendor_records(joined), kafka, sink.topic)
    elif sink.kind == "delta":
        # Append is exactly-once: the Delta sink records each batch id in the table's log.
        writer = joined.writeStream.format("delta").option("path", str(sink.path))
    else:
        writer = joined.writeStream.foreachBatch(show_joined(sink.console_rows))
    return writer.outputMode("append")


def build_writers(
    ride_records: DataFrame,
    pickup_records: DataFrame,
    options: RidePickupsJoinOptions,
    kafka: KafkaSettings,
) -> dict[str, DataStreamWriter]:
    """Return the job's unstarted writers by query name: the join, and the dead letters."""
    return writers_for(*build_outputs(ride_records, pickup_records, options), options, kafka)


def writers_for(
    joined: DataFrame, rejects: DataFrame, options: RidePickupsJoinOptions, kafka: KafkaSettings
) -> dict[str, DataStreamWriter]:
    """Return the unstarted writers of the job's two outputs (:func:`build_outputs`)."""
    return {
        NAME: joined_writer(joined, options.sink, kafka),
        **dead_letter_writers(rejects, options.dead_letter, kafka, DEAD_LETTER_QUERY),
    }


class RidePickupsJoin(SinkJob):
    """The ride_pickups_join job as the runner sees it."""

    name = NAME
    description = (
        "Join rides (by DOLocationID and dropoff time) with pickup locations (by PULocationID "
        "and time) read from two Kafka topics: a pickup within --within of a ride's dropoff in "
        "its zone gives a VendorInfo row (schemas/vendor_info.avsc). Watermarks on both sides "
        "bound the join's state; --how left_outer also emits rides no pickup met. Output to "
        "the console, Kafka (vendor_info) or Delta; malformed records of either topic go to the "
        "dead-letter sink with a reason."
    )
    options = RidePickupsJoinOptions
    flags = FLAGS
    results_are = "rows"
    kafka_reader = "consume"

    def input_topics(self, settings: Settings) -> list[str]:
        """Return the rides and the pickup-locations topics."""
        return [settings.job.source.topic, settings.job.pickups.topic]

    def query_shapes(self, settings: Settings) -> dict[str, dict[str, Any]]:
        """Return what decides each query's state or output, recorded with its checkpoint."""
        options: RidePickupsJoinOptions = settings.job
        join = options.join
        shapes: dict[str, dict[str, Any]] = {
            NAME: {
                "topics": [options.source.topic, options.pickups.topic],
                "how": join.how,
                "within": join.within,
                "max_trip": join.max_trip,
                "watermarks": [join.rides_watermark, join.pickups_watermark],
                "sink": sink_target(options.sink),
                "shuffle_partitions": settings.spark.shuffle_partitions,
            }
        }
        if options.dead_letter.kinds:
            shapes[DEAD_LETTER_QUERY] = {
                "topics": [options.source.topic, options.pickups.topic],
                "dead_letter": dead_letter_target(options.dead_letter),
            }
        return shapes

    def feeds(self, settings: Settings) -> list[Feed]:
        """Return both topics: generated rides, and the pickup locations paired with them."""
        options: RidePickupsJoinOptions = settings.job
        return [
            Feed(options.source.topic, "rides", options.source.format),
            Feed(options.pickups.topic, "pickup-locations", options.pickups.format),
        ]

    def describe(self, settings: Settings) -> str:
        """Return the start line: what is read, how it is joined, where it goes."""
        options: RidePickupsJoinOptions = settings.job
        join = options.join
        return (
            f"reading {options.source.topic!r} x {options.pickups.topic!r} from "
            f"{settings.kafka.bootstrap_servers}; {join.describe()}, watermarks "
            f"{join.rides_watermark} (rides) / {join.pickups_watermark} (pickups); "
            f"to {options.sink.kind}; rejects to {options.dead_letter.kind}"
        )

    def stages(self, spark: SparkSession, settings: Settings) -> list[Stage]:
        """Return the one stage: the join and the rejects, from both topics."""
        options: RidePickupsJoinOptions = settings.job

        def stage() -> dict[str, DataStreamWriter]:
            ride_records = read_kafka_stream(spark, settings.kafka, options.source)
            pickup_records = read_kafka_stream(spark, settings.kafka, options.pickups)
            joined, rejects = build_outputs(ride_records, pickup_records, options)
            self.claim_tables(spark, settings, joined.schema, rejects.schema)
            return writers_for(joined, rejects, options, settings.kafka)

        return [stage]


JOB = RidePickupsJoin()
