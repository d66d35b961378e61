"""ride_windows from Kafka measured against its baselines: batch, CSV split, Quix Streams, latency.

    ./bench/run windows                               # 4,000,000 rides, 2 rounds, measurements 1-7
    ./bench/run windows --records 500000 --only 1,2 --rounds 3
    ./bench/run windows --avro                        # and the job on Avro values (1, 2, 3, 7)
    ./bench/run windows --only 3 --avro 3
    ./bench/run windows --help

One process, one embedded Kafka broker on free ports in a temporary directory, one Spark session
from the project's session builder with the ``local`` profile's Spark settings. The same N
synthetic rides (keyed by pickup zone) go to a JSON topic, a CSV topic and (``--avro``, for
any of measurements 1, 2, 3 and 7) an Avro topic: Confluent's wire format, written by the project's
producer through confluent-kafka's ``AvroSerializer``, the schema registered in the local schema
registry (``ridestream.registry``) that the bench starts on a free port beside its broker. The job
asks the registry for the writer schemas once, as ``jobs/ride_windows.py`` does when it builds its
query; the registry is stopped before anything is timed. The JVM is warmed once
on a small copy of the topics, then every round runs each selected case; rounds alternate the
order of the cases so drift on a shared machine hits all of them. The table gives the best and
the median round; ratios use the best rounds, and with several rounds the median rounds too.

Measurements (``--only``):

1. The job's transform (``parse_rides`` -> ``valid_rides`` -> ``ride_windows``, 5-minute tumbling
   windows by PULocationID) as a streaming query (trigger availableNow, one micro-batch of the
   whole topic) versus the same transform on a batch read of the topic. Both write to Spark's
   ``noop`` sink, which computes every row and writes nothing: only the computation is measured.
   With Avro, the same pair on the Avro topic (``parse_avro_rides``: ``from_avro`` per writer
   schema id and the re-encode check, instead of ``parse_rides``).
2. Where the time goes, on batch reads: the raw read (a count: the ceiling), read + parse with the
   valid rides written to ``noop`` (every field of every ride materialized, as the windows need
   them; a count would let Spark prune the parse), and the full job. With Avro, the raw read of
   the Avro topic (its values are smaller than JSON's) against the streaming job on it.
3. CSV values: the course's ``split(value, ',')`` + cast by position into the same windows, versus
   the job on CSV values (``parse_rides(value_format="csv")``: ``from_csv`` and the reject checks)
   and the job on JSON. Also the split with the job's type checks (``try_cast`` of every field,
   a ride that fails one dropped): what validation costs with split, the job's work without its
   quoting, range checks and reasons. With Avro, the job on Avro values against the job on CSV.
   All streaming.
4. Quix Streams (its own virtualenv, a subprocess timing itself from first message to last) counting
   the same 5-minute windows per zone on the JSON topic, versus the streaming job.
5. Hopping windows of 60 minutes sliding 5 versus tumbling 5 minutes (the job's ``ride_windows``,
   streaming, append), twice: combined from 5-minute panes (``ride_windows(..., "append")``) and
   the plain aggregation (no output mode, as ``jobs/ride_windows.py`` calls it today); plus a
   check that the pane windows' counts (in batch) equal a plain ``F.window`` groupBy.
6. End-to-end latency: rides produced at a fixed rate, restamped to now, while the streaming job
   (update mode, processing-time trigger) writes window records to Kafka; each ride's latency runs
   from its Kafka timestamp to that of the first window record whose ride_count includes it.
7. The job as run: ``jobs/ride_windows.py``'s own outputs (``build_outputs``: the windows and the
   rejected records), each a streaming query of its own as the job starts them, both reading the
   topic and parsing every record, versus the windows query alone (measurement 1's stream);
   with Avro, the same on the Avro topic against the Avro windows query alone. And
   the job in two stages (``--stages two``): its parse query writes every record, parsed, to a
   Delta table (the job's own writer), then the windows and rejects queries read that table, one
   after the other as the job runs them with trigger available-now. Timed from the first query's
   start (the table is created before: a job does that once) to the last query's end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from bench.support.latency import STATE_STORES, Variant, parse_variants
from bench.support.machine import machine, package_version
from bench.support.quix import QUIXSTREAMS_VERSION, run_quix
from bench.support.rides import (
    GENERATION_RATE,
    prepare_topic,
    produce_rides,
    ride_batches,
    rides_file,
)
from bench.support.transforms import (
    job_as_run,
    job_options,
    job_parse_stage,
    job_read_stage,
    job_windows,
    plain_hopping_counts,
    ride_latencies,
    split_csv_checked_rides,
    split_csv_rides,
)
from ridestream import jars
from ridestream.avro_parsing import subject_of, writer_schemas
from ridestream.config import (
    DeadLetterSettings,
    SchemaRegistrySettings,
    SinkSettings,
    SourceSettings,
    WindowSettings,
    build_settings,
    load_profile,
)
from ridestream.jobs.ride_windows import PARSE_QUERY, build_writers
from ridestream.kafka.settings import KafkaSettings
from ridestream.kafka.topics import create_topic
from ridestream.local import EmbeddedKafka, free_port
from ridestream.parsing import PICKUP_TIME, parse_rides, valid_rides
from ridestream.paths import ridestream_home
from ridestream.registry import EmbeddedRegistry
from ridestream.runner import stop_between_batches
from ridestream.schemas import ride_schema, ride_window_schema
from ridestream.session import build_session
from ridestream.sources import read_kafka_batch, read_kafka_stream
from ridestream.windows import ride_windows

# The windows of the issue: 5-minute tumbling per zone, and 60-minute hopping sliding 5. The
# generated rides are in order, so the watermark delay changes nothing but when windows close.
TUMBLING = WindowSettings(kind="tumbling", size="5 minutes", watermark="10 minutes")
HOPPING = WindowSettings(
    kind="hopping", size="60 minutes", slide="5 minutes", watermark="10 minutes"
)
HOPPING_PANES = dataclasses.replace(HOPPING, panes=True)
MEASUREMENTS = {
    1: "streaming vs batch",
    2: "cost split",
    3: "CSV values",
    4: "Quix Streams",
    5: "hopping windows",
    6: "end-to-end latency",
    7: "the job as run",
}
# The topics are rides_<format> (json, csv, avro) and warmup_<format> for the warm-up runs.
JSON_TOPIC = "rides_json"
WARMUP_RECORDS = 100_000


# The Avro cases each measurement adds to its own (``cases``), and the ratio it prints for them:
# (what is compared, numerator, denominator, target).
AVRO_CASES = {
    1: ["stream_avro", "batch_avro"],
    2: ["raw_count_avro", "stream_avro"],
    3: ["stream_avro"],
    7: ["job_as_run_avro", "stream_avro"],
}
AVRO_RATIOS = {
    1: ("streaming / batch", "stream_avro", "batch_avro", "target >= 1.0x"),
    2: (
        "job (streaming) / raw read of the Avro topic",
        "stream_avro",
        "raw_count_avro",
        "target >= 0.5x",
    ),
    3: ("job on Avro / job on CSV", "stream_avro", "job_csv", "target > 1.0x: faster than CSV"),
    7: ("jobs/ride_windows.py as run / windows query alone", "job_as_run_avro", "stream_avro", ""),
}


@dataclass(frozen=True)
class Case:
    """One timed run: a transform of raw Kafka records, run as a stream, a batch, or by Quix."""

    key: str
    measurement: int
    label: str
    # "stream" (availableNow, noop sink), "batch" (noop sink), "count", "quix", or "two_stages"
    # (the job's parse query to a Delta table, then ``build`` of that table's stream to noop)
    mode: str
    value_format: str = "json"  # the topic read: rides_json, rides_csv or rides_avro
    # A stream may have several outputs: each is a query of its own, started together.
    build: Callable[[DataFrame], DataFrame | tuple[DataFrame, ...]] | None = None


def cases(
    only: set[int],
    writers: Mapping[int, str] | None = None,
    avro: Iterable[int] = tuple(AVRO_CASES),
) -> list[Case]:
    """Return the cases the selected measurements need, each once (measurements share some).

    With ``writers`` (the Avro topic's writer schemas by id, from its registry) the job's Avro
    cases are added to the measurements in ``avro`` (of those that have them: 1, 2, 3, 7).
    """
    schema = ride_schema()
    chosen = {
        "stream_json": Case(
            "stream_json", 1, "job, JSON, streaming", "stream",
            build=lambda records: job_windows(records, TUMBLING),
        ),
        "batch_json": Case(
            "batch_json", 1, "job, JSON, batch", "batch",
            build=lambda records: job_windows(records, TUMBLING),
        ),
        "raw_count": Case("raw_count", 2, "raw Kafka read, count (batch)", "count"),
        "parse_valid": Case(
            "parse_valid", 2, "read + parse, valid rides (batch)", "batch",
            build=lambda records: records.transform(parse_rides, schema).transform(valid_rides, schema),
        ),
        "split_csv": Case(
            "split_csv", 3, "course: CSV split + cast, streaming", "stream", "csv",
            build=lambda records: ride_windows(split_csv_rides(records, schema), TUMBLING),
        ),
        "split_csv_checked": Case(
            "split_csv_checked", 3, "course split + try_cast, type-checked rides only, streaming",
            "stream", "csv",
            build=lambda records: ride_windows(
                split_csv_checked_rides(records, schema), TUMBLING
            ),
        ),
        "job_csv": Case(
            "job_csv", 3, "job, CSV, streaming", "stream", "csv",
            build=lambda records: job_windows(records, TUMBLING, value_format="csv"),
        ),
        # jobs/ride_windows.py's own build_outputs: the windows query and the dead-letter query,
        # each reading and parsing the topic (Spark writes one sink per query).
        "job_as_run": Case(
            "job_as_run", 7, "jobs/ride_windows.py as run: windows + dead-letter queries", "stream",
            build=lambda records: job_as_run(records, TUMBLING),
        ),
        "job_two_stages": Case(
            "job_two_stages", 7,
            "jobs/ride_windows.py --stages two: parse to Delta, then windows + dead-letter queries",
            "two_stages",
        ),
        "quix": Case("quix", 4, f"Quix Streams {QUIXSTREAMS_VERSION}, JSON", "quix"),
        "stream_hopping": Case(
            "stream_hopping", 5, "job, JSON, hopping 60 min / 5 from panes, streaming", "stream",
            build=lambda records: job_windows(records, HOPPING_PANES),
        ),
        # The job's default (window.panes off): the plain aggregation.
        "stream_hopping_plain": Case(
            "stream_hopping_plain", 5, "job, JSON, hopping 60 min / 5 plain, streaming", "stream",
            build=lambda records: job_windows(records, HOPPING),
        ),
    }  # fmt: skip
    needed = {
        1: ["stream_json", "batch_json"],
        2: ["raw_count", "parse_valid", "batch_json"],
        3: ["split_csv", "split_csv_checked", "job_csv", "stream_json"],
        4: ["quix", "stream_json"],
        5: ["stream_hopping", "stream_hopping_plain", "stream_json"],
        7: ["job_as_run", "job_two_stages", "stream_json"],
    }
    if writers is not None:
        chosen.update(avro_cases(writers))
        for measurement in avro:
            needed[measurement] = needed[measurement] + AVRO_CASES[measurement]
    keys = [key for measurement in sorted(only) for key in needed.get(measurement, [])]
    return [chosen[key] for key in dict.fromkeys(keys)]


def avro_cases(writers: Mapping[int, str]) -> dict[str, Case]:
    """Return the job's cases on the Avro topic, parsed with ``writers`` (schema id -> schema)."""
    return {
        "stream_avro": Case(
            "stream_avro", 1, "job, Avro, streaming", "stream", "avro",
            build=lambda records: job_windows(records, TUMBLING, "avro", writers),
        ),
        "batch_avro": Case(
            "batch_avro", 1, "job, Avro, batch", "batch", "avro",
            build=lambda records: job_windows(records, TUMBLING, "avro", writers),
        ),
        "raw_count_avro": Case(
            "raw_count_avro", 2, "raw Kafka read of the Avro topic, count (batch)", "count", "avro"
        ),
        "job_as_run_avro": Case(
            "job_as_run_avro", 7,
            "jobs/ride_windows.py as run on Avro: windows + dead-letter queries", "stream", "avro",
            build=lambda records: job_as_run(records, TUMBLING, "avro", writers),
        ),
    }  # fmt: skip


@dataclass
class Timings:
    """Seconds of each round of each case."""

    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> None:
        """Record one round of ``key``."""
        self.seconds.setdefault(key, []).append(seconds)

    def best(self, key: str) -> float | None:
        """Return the fastest round of ``key`` (None if it never ran)."""
        return min(self.seconds[key]) if self.seconds.get(key) else None

    def median(self, key: str) -> float | None:
        """Return the median round of ``key``."""
        return statistics.median(self.seconds[key]) if self.seconds.get(key) else None


class Runner:
    """Runs cases against one broker and one Spark session."""

    def __init__(
        self,
        spark: SparkSession,
        kafka: KafkaSettings,
        workdir: Path,
        max_offsets: int,
        min_partitions: int | None = None,
    ) -> None:
        self.spark = spark
        self.kafka = kafka
        self.workdir = workdir
        self.max_offsets = max_offsets
        self.min_partitions = min_partitions
        self.runs = 0

    def run(self, case: Case, topic: str, records: int) -> float:
        """Run ``case`` on ``topic`` (``records`` rides); return its wall time in seconds."""
        self.runs += 1
        if case.mode == "quix":
            return run_quix(self.kafka.bootstrap_servers, topic, records, timeout_s=3600).seconds
        if case.mode == "stream":
            return self._stream(case, topic, records)
        if case.mode == "two_stages":
            return self._two_stages(case, topic, records)
        raw = read_kafka_batch(self.spark, self.kafka, topic, self.min_partitions)
        output = case.build(raw) if case.build else raw
        started = time.monotonic()
        if case.mode == "count":
            counted = output.count()
            if counted != records:
                raise RuntimeError(f"{case.key}: counted {counted:,} of {records:,} rides")
        else:
            output.write.format("noop").mode("overwrite").save()
        return time.monotonic() - started

    def _raw(self, topic: str) -> DataFrame:
        source = SourceSettings(
            topic=topic,
            max_offsets_per_trigger=self.max_offsets,
            min_partitions=self.min_partitions,
        )
        return read_kafka_stream(self.spark, self.kafka, source)

    def _checkpoint(self, case: Case, index: int) -> str:
        return str(self.workdir / "checkpoints" / f"{case.key}-{self.runs}-{index}")

    def _stream(self, case: Case, topic: str, records: int) -> float:
        outputs = case.build(self._raw(topic))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        started = time.monotonic()
        self._await_all(
            case, records, [self._to_noop(case, index, o) for index, o in enumerate(outputs)]
        )
        return time.monotonic() - started

    def _two_stages(self, case: Case, topic: str, records: int) -> float:
        parsed_path = str(self.workdir / "parsed" / f"{case.key}-{self.runs}")
        checkpoints = self.workdir / "checkpoints" / f"{case.key}-{self.runs}"
        writer = job_parse_stage(self.spark, self._raw(topic), parsed_path)
        started = time.monotonic()
        self._await_all(
            case,
            records,
            [
                writer.trigger(availableNow=True)
                .option("checkpointLocation", str(checkpoints / PARSE_QUERY))
                .queryName(f"bench_{case.key}_{PARSE_QUERY}")
                .start()
            ],
        )
        windows, rejects = job_read_stage(self.spark, parsed_path, TUMBLING)
        # The rejects query reads only the parsed table's rejects: Parquet skips row groups whose
        # reject_reason is all null, and they are not counted as read.
        dead_letter = self._to_noop(case, 1, rejects)
        self._await_all(case, records, [self._to_noop(case, 0, windows)])
        dead_letter.awaitTermination()
        return time.monotonic() - started

    def _to_noop(self, case: Case, index: int, output: DataFrame) -> StreamingQuery:
        return (
            output.writeStream.format("noop")
            .outputMode("append")
            .trigger(availableNow=True)
            .option("checkpointLocation", self._checkpoint(case, index))
            .queryName(f"bench_{case.key}_{index}")
            .start()
        )

    @staticmethod
    def _await_all(case: Case, records: int, queries: list[StreamingQuery]) -> None:
        """Wait for the queries to end; check that each read every ride."""
        for query in queries:
            query.awaitTermination()
        for query in queries:
            read = sum(progress["numInputRows"] for progress in query.recentProgress)
            if read != records:
                raise RuntimeError(f"{case.key}: {query.name} read {read:,} of {records:,} rides")


def hopping_check(spark: SparkSession, kafka: KafkaSettings) -> str:
    """Compare the job's hopping windows with a plain ``F.window`` groupBy, in batch."""
    schema = ride_schema()
    rides = read_kafka_batch(spark, kafka, JSON_TOPIC).transform(parse_rides, schema)
    rides = rides.transform(valid_rides, schema)
    keys = ["window_start", "window_end", *HOPPING.group_by, "ride_count"]
    # Append mode: the job's hopping windows as a streaming query computes them (from panes).
    job = ride_windows(rides, HOPPING_PANES, "append").select(*keys).cache()
    plain = plain_hopping_counts(rides, HOPPING.size, HOPPING.slide, HOPPING.group_by).cache()
    try:
        job_rows, plain_rows = job.count(), plain.count()
        differ = job.exceptAll(plain).count() + plain.exceptAll(job).count()
        total = job.agg(F.sum("ride_count")).first()[0]
    finally:
        job.unpersist()
        plain.unpersist()
    verdict = "equal" if differ == 0 and job_rows == plain_rows else "DIFFERENT"
    return (
        f"hopping check (batch): job {job_rows:,} window rows, plain F.window groupBy "
        f"{plain_rows:,}; {differ:,} rows differ in (window, zone, ride_count): {verdict} "
        f"(sum of ride_count {total:,})"
    )


@dataclass(frozen=True)
class Latency:
    """End-to-end latency of the streaming job, in seconds."""

    rides: int
    counted: int
    p50: float
    p99: float
    max: float
    batches: int
    mean_batch_s: float
    trigger: str
    phases_s: dict[str, float]  # mean seconds per batch in each of Spark's trigger phases


def measure_latency(
    spark: SparkSession,
    kafka: KafkaSettings,
    producer_options: dict,
    rides_path: Path,
    args: argparse.Namespace,
    workdir: Path,
    name: str = "latency",
    seconds: float | None = None,
    variant: Variant | None = None,
) -> Latency:
    """Run the job (update mode, Kafka sink) while producing at a fixed rate; measure latency.

    ``name`` names the topics and the checkpoint (a warm-up run uses its own); ``seconds``
    overrides ``--latency-seconds``. ``variant`` sets the trigger and, for this query only (a new
    checkpoint takes them when it starts), the shuffle partitions and the state store.
    """
    variant = variant or parse_variants(args.latency_trigger)[0]
    conf = {
        key: value
        for key, value in (
            ("spark.sql.shuffle.partitions", variant.shuffle_partitions),
            ("spark.sql.streaming.stateStore.providerClass",
             STATE_STORES.get(variant.state_store or "")),
        )
        if value is not None
    }  # fmt: skip
    before = {key: spark.conf.get(key) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, str(value))
    schema = ride_schema()
    rides_topic, windows_topic = f"{name}_rides", f"{name}_windows"
    create_topic(kafka, rides_topic, partitions=args.partitions)
    create_topic(kafka, windows_topic, partitions=1)
    total = int(args.latency_rate * (seconds or args.latency_seconds))
    records = read_kafka_stream(spark, kafka, SourceSettings(topic=rides_topic))
    options = job_options(
        TUMBLING,
        sink=SinkSettings(kind="kafka", output_mode="update", topic=windows_topic),
        dead_letter=DeadLetterSettings(kind="none"),
    )
    (writer,) = build_writers(records, options, kafka).values()
    try:
        query = (
            writer.trigger(processingTime=variant.trigger)
            .option("checkpointLocation", str(workdir / "checkpoints" / name))
            .queryName(f"bench_{name}")
            .start()
        )
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)
    try:
        # Start producing once the query has run a batch: its start-up is not latency.
        while query.lastProgress is None:
            if query.exception() is not None:
                raise query.exception()
            time.sleep(0.1)
        print(
            f"  producing {total:,} rides at {args.latency_rate:,.0f}/s, restamped to now "
            f"({variant.describe()}, load {os.getloadavg()[0]:.1f})...",
            file=sys.stderr,
            flush=True,
        )
        produce_rides(
            kafka,
            producer_options,
            rides_topic,
            ride_batches(rides_path, total),
            "json",
            total,
            speedup=args.latency_rate / GENERATION_RATE,
            restamp=True,
        )
        deadline = time.monotonic() + 120
        while _offsets_read(query) < total and time.monotonic() < deadline:
            if query.exception() is not None:
                raise query.exception()
            time.sleep(0.2)
        batches = [p for p in query.recentProgress if p["numInputRows"] > 0]
    finally:
        stop_between_batches(query)
    parsed = read_kafka_batch(spark, kafka, rides_topic).transform(parse_rides, schema)
    rides = parsed.where(F.col("reject_reason").isNull()).select(
        F.col("ride")[PICKUP_TIME].alias(PICKUP_TIME),
        *(F.col("ride")[key].alias(key) for key in TUMBLING.group_by),
        "timestamp",
        "partition",
        "offset",
    )
    window_records = ride_window_schema(TUMBLING.group_by)
    results = read_kafka_batch(spark, kafka, windows_topic).select(
        F.from_json(F.col("value").cast("string"), window_records).alias("window"), "timestamp"
    )
    results = results.select("window.*", "timestamp")
    latencies = ride_latencies(rides, results, TUMBLING.size, TUMBLING.group_by)
    summary = latencies.agg(
        F.count(F.lit(1)).alias("rides"),
        F.count("latency_s").alias("counted"),
        F.percentile("latency_s", 0.5).alias("p50"),
        F.percentile("latency_s", 0.99).alias("p99"),
        F.max("latency_s").alias("max"),
    ).first()
    durations = [p["durationMs"]["triggerExecution"] / 1000 for p in batches]
    phases = (
        {
            phase: statistics.mean(p["durationMs"].get(phase, 0) for p in batches) / 1000
            for phase in ("latestOffset", "queryPlanning", "addBatch", "walCommit", "commitOffsets")
        }
        if batches
        else {}
    )
    return Latency(
        rides=summary["rides"],
        counted=summary["counted"],
        p50=summary["p50"] or float("nan"),
        p99=summary["p99"] or float("nan"),
        max=summary["max"] or float("nan"),
        batches=len(batches),
        mean_batch_s=statistics.mean(durations) if durations else float("nan"),
        trigger=variant.describe(),
        phases_s=phases,
    )


def _offsets_read(query) -> int:  # noqa: ANN001 - a StreamingQuery
    progress = query.lastProgress
    if not progress:
        return 0
    end = progress["sources"][0].get("endOffset") or {}
    if isinstance(end, str):  # Spark gives the source's offsets as its JSON text
        end = json.loads(end)
    return sum(int(offset) for partitions in end.values() for offset in partitions.values())


def rows_per_s(records: int, seconds: float | None) -> str:
    """Return ``records / seconds`` for the table."""
    return f"{records / seconds:,.0f}" if seconds else "-"


def ratio(numerator: float | None, denominator: float | None) -> str:
    """Return ``numerator / denominator`` as ``1.23x``, or 'n/a' when either is missing."""
    if not numerator or not denominator:
        return "n/a"
    return f"{numerator / denominator:.2f}x"


def print_report(
    args: argparse.Namespace,
    selected: list[Case],
    timings: Timings,
    versions: str,
    notes: list[str],
) -> None:
    """Print the table (markdown) and one ratio line per target on stdout."""
    n = args.records
    read = {case.value_format for case in selected}
    formats = ["json", *(fmt for fmt in ("csv", "avro") if fmt in read)]
    avro = (
        " (Avro: Confluent's wire format, schemas/ride.avsc registered in the bench's local schema "
        "registry)"
        if "avro" in formats
        else ""
    )
    print(f"\nmachine: {machine()} (shared with other work while this ran)")
    print(f"versions: {versions}")
    print(
        f"input: {n:,} synthetic rides (RideGenerator, {GENERATION_RATE}/s of event time, keyed by "
        f"PULocationID) in topics {', '.join(f'rides_{fmt}' for fmt in formats)}{avro}, "
        f"{args.partitions} partitions"
        f"{f' read in {args.min_partitions} tasks (minPartitions)' if args.min_partitions else ''}; "
        f"{args.rounds} round(s) after a warm-up on {min(n, args.warmup_records):,} rides"
    )
    print(
        "streaming = trigger availableNow, maxOffsetsPerTrigger "
        f"{args.max_offsets_per_trigger:,}, append; streaming and batch runs write to the noop "
        "sink (every row computed, nothing written)\n"
    )
    print("| # | case | best s | median s | rows/s (best) | rounds (s) |")
    print("|---|---|---:|---:|---:|---|")
    for case in selected:
        rounds = ", ".join(f"{s:.1f}" for s in timings.seconds.get(case.key, []))
        print(
            f"| {case.measurement} | {case.label} | {timings.best(case.key):.1f} | "
            f"{timings.median(case.key):.1f} | {rows_per_s(n, timings.best(case.key))} | {rounds} |"
        )
    only = set(args.only)
    print()

    def speed(key: str) -> float | None:
        best = timings.best(key)
        return n / best if best else None

    def both(numerator: str, denominator: str) -> str:
        """Return the ratio of best rounds, and of median rounds when there are several."""
        best = ratio(speed(numerator), speed(denominator))
        if args.rounds < 2:
            return best
        medians = ratio(timings.median(denominator), timings.median(numerator))
        return f"{best} (medians {medians})"

    def avro_line(measurement: int) -> None:
        """Print the Avro cases' ratio of ``measurement`` when they ran."""
        what, numerator, denominator, target = AVRO_RATIOS[measurement]
        if measurement in only and {numerator, denominator} <= timings.seconds.keys():
            target = f" ({target})" if target else ""
            print(f"{measurement}. Avro: {what} (rows/s): {both(numerator, denominator)}{target}")

    if 1 in only:
        print(
            f"1. streaming / batch (rows/s): {both('stream_json', 'batch_json')} (target >= 1.0x)"
        )
    avro_line(1)
    if 2 in only:
        raw, parsed, job = (timings.best(k) for k in ("raw_count", "parse_valid", "batch_json"))
        # Read + parse materializes all 18 fields, the job only what the windows use: when the
        # job is the faster of the two, the windowing is within the noise and not a share.
        windowing = (
            f"windowing {job - parsed:.1f} s ({(job - parsed) / job:.0%})"
            if job >= parsed
            else f"windowing within the noise (the job ran {parsed - job:.1f} s faster than read + parse)"
        )
        print(
            f"2. batch job {job:.1f} s = Kafka read {raw:.1f} s ({raw / job:.0%}) + parse "
            f"{parsed - raw:.1f} s ({(parsed - raw) / job:.0%}) + {windowing}; job / raw read "
            f"(rows/s): {both('batch_json', 'raw_count')}; CSV: job (streaming) / raw read "
            f"{both('job_csv', 'raw_count') if 'job_csv' in timings.seconds else 'not run (add 3)'} "
            "(target >= 0.5x for the fastest format)"
        )
    avro_line(2)
    if 3 in only:
        print(
            f"3. job on CSV / course split (rows/s): {both('job_csv', 'split_csv')} "
            "(target >= 0.9x); job on JSON / "
            f"course split: {both('stream_json', 'split_csv')}; job on CSV / "
            f"split with the same type checks: "
            f"{both('job_csv', 'split_csv_checked')}"
        )
    avro_line(3)
    if 4 in only:
        print(
            f"4. ridestream streaming / Quix Streams (rows/s): "
            f"{both('stream_json', 'quix')} (target >= 3x)"
        )
    if 5 in only:
        print(
            f"5. hopping 60/5 / tumbling 5 (rows/s): from panes "
            f"{both('stream_hopping', 'stream_json')}, plain "
            f"{both('stream_hopping_plain', 'stream_json')}; panes / plain: "
            f"{both('stream_hopping', 'stream_hopping_plain')}"
        )
    for note in notes:
        print(note)
    if 7 in only:
        print(
            f"7. jobs/ride_windows.py as run / windows query alone (rows/s): one stage (windows + "
            f"dead-letter queries) {both('job_as_run', 'stream_json')}, two stages "
            f"(--stages two) {both('job_two_stages', 'stream_json')}; two stages / "
            f"one: {both('job_two_stages', 'job_as_run')}"
        )
    avro_line(7)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the benchmark's flags."""
    parser = argparse.ArgumentParser(
        prog="bench/run windows",
        description=__doc__.split("\n")[0],
        epilog="measurements: " + "; ".join(f"{k} {v}" for k, v in MEASUREMENTS.items()),
    )
    parser.add_argument(
        "--records", type=int, default=4_000_000, help="rides per topic (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds per case (default: %(default)s)"
    )
    parser.add_argument(
        "--partitions", type=int, default=2, help="topic partitions (default: %(default)s)"
    )
    parser.add_argument(
        "--min-partitions",
        type=int,
        default=None,
        metavar="N",
        help="Spark tasks per read of a topic, Kafka's minPartitions (default: one per partition)",
    )
    parser.add_argument(
        "--warmup-records",
        type=int,
        default=WARMUP_RECORDS,
        metavar="N",
        help="rides of the untimed warm-up run of each case, 0 for none: then the first "
        "cases pay for the JVM's warm-up (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        type=measurement_list,
        default=sorted(MEASUREMENTS),
        metavar="1,2,...",
        help="measurements to run (default: all)",
    )
    parser.add_argument(
        "--avro",
        type=measurement_list,
        nargs="?",
        const=sorted(AVRO_CASES),
        default=[],
        metavar="1,2,3,7",
        help="add the job on Avro values to these of the selected measurements (--avro alone: "
        "all four that have Avro cases): the same rides in a topic rides_avro in Confluent's "
        "wire format, the schema registered in a local schema registry that the bench starts "
        "on a free port and stops (default: no Avro)",
    )
    parser.add_argument(
        "--max-offsets-per-trigger",
        type=int,
        default=100_000_000,
        metavar="N",
        help="streaming cases: records per micro-batch (default: %(default)s, one batch)",
    )
    parser.add_argument(
        "--latency-rate", type=float, default=10_000, help="rides/s (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=30,
        help="seconds of producing (default: %(default)s)",
    )
    parser.add_argument(
        "--latency-trigger",
        default="1 second",
        help="processing-time trigger of the latency run (default: %(default)s); several "
        "variants, measured one after the other in the run, as TRIGGER[/SHUFFLE_PARTITIONS"
        "[/rocksdb|hdfs]] separated by commas: '1 second,0 seconds/2,0 seconds/2/hdfs'",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"--only: no measurement {sorted(unknown)}; choose from 1-7")
    unknown = set(args.avro) - set(AVRO_CASES)
    if unknown:
        parser.error(
            f"--avro: measurement {sorted(unknown)} has no Avro cases; "
            f"choose from {','.join(map(str, AVRO_CASES))}"
        )
    return args


def measurement_list(text: str) -> list[int]:
    """Return the measurement numbers of a flag's value, e.g. '1,2,7'."""
    return sorted({int(part) for part in text.split(",") if part.strip()})


def topic_formats(only: set[int], avro: set[int]) -> list[str]:
    """Return the formats whose topics the selected measurements read (none for 6 alone).

    ``avro``: the measurements that add the job's Avro cases (``--avro``).
    """
    if not only - {6}:
        return []
    return [
        "json",
        *(["csv"] if 3 in only else []),
        *(["avro"] if only & avro else []),
    ]


def prepare_topics(
    kafka: KafkaSettings,
    producer_options: dict,
    rides_path: Path,
    formats: list[str],
    args: argparse.Namespace,
    registry: SchemaRegistrySettings | None,
) -> None:
    """Fill ``rides_<format>`` with ``--records`` rides and ``warmup_<format>`` with the warm-up's."""
    if formats:
        print("preparing topics:", file=sys.stderr, flush=True)
    for fmt in formats:
        for prefix, count in (
            ("rides", args.records),
            ("warmup", min(args.records, args.warmup_records)),
        ):
            if count:
                prepare_topic(
                    kafka,
                    producer_options,
                    f"{prefix}_{fmt}",
                    rides_path,
                    fmt,
                    count,
                    args.partitions,
                    registry,
                )


def run_rounds(runner: Runner, selected: list[Case], args: argparse.Namespace) -> Timings:
    """Warm every Spark case up on the warm-up topics, then time ``--rounds`` rounds of all cases.

    Rounds alternate the order of the cases, so that drift on a shared machine hits them all.
    """
    spark_cases = [case for case in selected if case.mode != "quix"]
    warmup_records = min(args.records, args.warmup_records)
    if spark_cases and warmup_records:
        print("warm-up (not timed):", file=sys.stderr, flush=True)
        for case in spark_cases:
            seconds = runner.run(case, f"warmup_{case.value_format}", warmup_records)
            print(f"  {case.key}: {seconds:.1f} s", file=sys.stderr, flush=True)
    timings = Timings()
    for round_no in range(args.rounds if selected else 0):
        order = selected if round_no % 2 == 0 else list(reversed(selected))
        print(f"round {round_no + 1}/{args.rounds}:", file=sys.stderr, flush=True)
        for case in order:
            seconds = runner.run(case, f"rides_{case.value_format}", args.records)
            timings.add(case.key, seconds)
            print(
                f"  {case.key}: {seconds:.1f} s ({rows_per_s(args.records, seconds)} rows/s)",
                file=sys.stderr,
                flush=True,
            )
    return timings


def versions_of(spark: SparkSession, only: set[int]) -> str:
    """Return the versions of everything measured, for the report."""
    return (
        f"Python {sys.version.split()[0]}, Java "
        f"{spark._jvm.java.lang.System.getProperty('java.version')}, pyspark "
        f"{package_version('pyspark')}, delta-spark {package_version('delta-spark')} "
        f"(jars {jars.DELTA_JAR_VERSION}), confluent-kafka {package_version('confluent-kafka')}, "
        f"Kafka {jars.KAFKA_BROKER_VERSION}"
        + (f", quixstreams {QUIXSTREAMS_VERSION}" if 4 in only else "")
    )


def main(argv: list[str] | None = None) -> int:
    """Prepare the topics, warm up, run the rounds, and print the table and the ratios."""
    args = parse_args(argv)
    only = set(args.only)
    settings = build_settings("local", load_profile("local"))
    producer_options = dict(settings.producer)
    workdir = Path(tempfile.mkdtemp(prefix="ridestream-bench-"))
    broker = EmbeddedKafka(workdir / "kafka", port=free_port(), controller_port=free_port())
    registry = EmbeddedRegistry(
        workdir / "registry", port=free_port(), bootstrap_servers=broker.bootstrap_servers
    )
    spark = None
    try:
        avro = only & set(args.avro)
        formats = topic_formats(only, avro)
        print(
            f"bench windows: {args.records:,} rides, measurements {','.join(map(str, args.only))}, "
            f"{args.rounds} round(s), topics of {', '.join(formats) or 'none'}",
            file=sys.stderr,
            flush=True,
        )
        rides_path = rides_file(
            ridestream_home() / "bench" / "rides",
            max(args.records, int(args.latency_rate * args.latency_seconds) if 6 in only else 0),
        )
        broker.start()
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        avro_registry = None
        if "avro" in formats:
            started = time.monotonic()
            registry.start()
            avro_registry = SchemaRegistrySettings(url=registry.url)
            print(
                f"schema registry at {registry.url}: {time.monotonic() - started:.1f} s to start",
                file=sys.stderr,
                flush=True,
            )
        prepare_topics(kafka, producer_options, rides_path, formats, args, avro_registry)
        # The writer schemas, asked once as the job asks them when its query is built (the
        # warm-up topic's subject holds the same schema, under the same id).
        writers = writer_schemas(avro_registry, subject_of("rides_avro")) if avro_registry else None
        registry.stop()  # not asked again: nothing of it runs while the cases are timed
        selected = cases(only, writers, avro)
        spark = build_session(settings.spark, app_name="bench_windows")
        runner = Runner(spark, kafka, workdir, args.max_offsets_per_trigger, args.min_partitions)
        timings = run_rounds(runner, selected, args)
        notes = []
        if 5 in only:
            print("hopping check...", file=sys.stderr, flush=True)
            notes.append("5. " + hopping_check(spark, kafka))
        if 6 in only and args.warmup_records:
            print("latency, warm-up run (not measured):", file=sys.stderr, flush=True)
            measure_latency(
                spark,
                kafka,
                producer_options,
                rides_path,
                args,
                workdir,
                "warmup_latency",
                min(10, args.latency_seconds),
            )
        for index, variant in enumerate(parse_variants(args.latency_trigger) if 6 in only else []):
            print("latency:", file=sys.stderr, flush=True)
            latency = measure_latency(
                spark, kafka, producer_options, rides_path, args, workdir,
                "latency" if index == 0 else f"latency{index}", variant=variant,
            )  # fmt: skip
            notes.append(
                f"6. end-to-end latency (update mode, Kafka sink, {latency.trigger}, "
                f"{args.latency_rate:,.0f} rides/s for {args.latency_seconds:g} s): p50 "
                f"{latency.p50:.2f} s, p99 {latency.p99:.2f} s, max {latency.max:.2f} s "
                f"(target p99 <= 2 s, goal <= 1 s); "
                f"{latency.counted:,} of {latency.rides:,} rides in a result; "
                f"{latency.batches} batches with input, {latency.mean_batch_s:.2f} s each on average ("
                + ", ".join(f"{phase} {s:.2f} s" for phase, s in latency.phases_s.items())
                + ")"
            )
        print_report(args, selected, timings, versions_of(spark, only), notes)
        return 0
    finally:
        if spark is not None:
            spark.stop()
        registry.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
