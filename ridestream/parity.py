"""Stream/batch parity: a ride_windows run's Delta output against the same windows done in batch.

The batch answer reads the very records the stream read (the Kafka offsets from where the
checkpoint's source started to its last committed batch's end) and runs them through the job's
own builders (:func:`ridestream.jobs.ride_windows.parse_records` and
:func:`~ridestream.jobs.ride_windows.build_outputs`): nothing of the pipeline is written again.

The two answers differ where the stream dropped rides behind its watermark. Spark's rule, checked
in its source (``WatermarkSupport`` in ``statefulOperators.scala``: a window's key is late when
``window.end <= watermark``) and in ``tests/integration/test_accounting.py``: a ride read in batch
``b`` is dropped from a window when the window's end is at or before the watermark of batch
``b - 1`` (since Spark 3.4 late input is judged by the previous batch's watermark; the offset
log's ``batchWatermarkMs`` has each batch's). So the stream's answer for a window is the batch
answer over the rides read in batches whose previous watermark was before the window's end: a
window that differs is *explained by late rides* when that recomputation equals what the stream
wrote, and *unexplained* otherwise. In append mode a window whose end is after the last
watermark has not been written yet: *still open*, not a difference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ridestream.config import ConfigError, Settings
from ridestream.offset_log import (
    CheckpointError,
    CommittedBatch,
    committed_batches,
    initial_offsets,
)
from ridestream.paths import display_path
from ridestream.sources import read_kafka_batch
from ridestream.windows import uses_panes

# Why a window differs.
LATE = "late rides"  # the stream dropped rides behind the watermark that the batch counts
OPEN = "still open"  # append mode: the watermark has not passed its end yet
UNEXPLAINED = "unexplained"
NOT_CLASSIFIED = "not classified"  # session windows, panes: no per-window late rule here
EXPLAINED = (LATE, OPEN)

KEYS = ("window_start", "window_end")
_LATE_BEFORE = "_late_before_ms"  # a record is dropped from windows ending at or before this
_END_MS = "_end_ms"
# Sums of the same doubles in another order differ in the last bits.
_RELATIVE = 1e-9


@dataclass(frozen=True)
class Difference:
    """A window the stream and the batch disagree on, and why."""

    key: tuple  # window_start, window_end, group keys (as collected)
    stream: dict[str, Any] | None  # the Delta output's values, None when it lacks the window
    batch: dict[str, Any] | None  # the batch recomputation's, None when it lacks the window
    why: str
    late_rides: int = 0  # rides the stream dropped from this window (LATE)
    copies: int = 1  # rows of the window in the stream's table (more than 1: written twice)


@dataclass
class Parity:
    """The comparison of one run: what was read, how many windows each side has, the differences."""

    table: str
    read: str  # what the batch query read, e.g. "168 records in 5 batches (offsets t[0:0] to ...)"
    stream_windows: int
    batch_windows: int
    key_columns: list[str]
    differences: list[Difference] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Difference]:
        """Return the differences neither late rides nor open windows explain."""
        return [d for d in self.differences if d.why not in EXPLAINED]

    @property
    def equal(self) -> bool:
        """Return True when every window is the same on both sides."""
        return not self.differences


def kafka_ranges(
    start: dict, batches: Sequence[CommittedBatch]
) -> list[tuple[str, int, int, int, int, int]]:
    """Return (topic, partition, from, to, batch id, late-before ms) for each batch's records.

    ``start``: where the source started ({topic: {partition: offset}}); ``batches`` the
    committed batches, oldest first, each with its end offsets. A record of batch ``b`` is
    dropped from windows ending at or before the watermark of batch ``b - 1`` (0 for the first).
    """
    ranges = []
    previous = {(t, int(p)): o for t, parts in start.items() for p, o in parts.items()}
    judged = judged_by(batches)
    for batch in batches:
        late_before = judged[batch.batch_id]
        end = json.loads(batch.end_offsets[0]) if batch.end_offsets[0] else {}
        for topic, parts in end.items():
            for partition, offset in parts.items():
                first = previous.get((topic, int(partition)), 0)
                if offset > first:
                    ranges.append(
                        (topic, int(partition), first, offset, batch.batch_id, late_before)
                    )
                previous[(topic, int(partition))] = offset
    return ranges


def judged_by(batches: Sequence[CommittedBatch]) -> dict[int, int]:
    """Return, per batch id, the watermark (ms) its input was judged late by: the previous one's.

    The first batch the checkpoint still holds is judged by nothing (0).
    """
    judged, previous = {}, 0
    for batch in batches:
        judged[batch.batch_id] = previous
        previous = batch.watermark_ms
    return judged


def describe_offsets(offsets: dict) -> str:
    """Return Kafka offsets as 'topic[partition:offset,...]'."""
    return " ".join(
        f"{topic}[{','.join(f'{p}:{o}' for p, o in sorted(parts.items(), key=lambda i: int(i[0])))}]"
        for topic, parts in offsets.items()
    )


def _end_offsets(batches: Sequence[CommittedBatch]) -> dict:
    return json.loads(batches[-1].end_offsets[0])


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=_RELATIVE, abs_tol=1e-9)
    return left == right


def same_values(left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    """Return True when two windows' values agree (doubles to the last bits of their sums)."""
    if left is None or right is None:
        return left is right
    return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)


def _differs(stream: str, batch: str, values: Sequence[str]) -> Column:
    """Return the condition 'the two sides' values disagree' (nulls equal, doubles close)."""
    condition = F.lit(False)
    for name in values:
        s, b = F.col(f"{stream}.{name}"), F.col(f"{batch}.{name}")
        tolerance = F.lit(_RELATIVE) * F.greatest(F.lit(1.0), F.abs(s), F.abs(b))
        close = s.eqNullSafe(b) | (F.abs(s - b) <= tolerance)
        condition = condition | ~F.coalesce(close, F.lit(False))
    return condition


def _key_match(left: str, right: str, keys: Sequence[str]) -> Column:
    condition = F.lit(True)
    for name in keys:
        condition = condition & F.col(f"{left}.{name}").eqNullSafe(F.col(f"{right}.{name}"))
    return condition


def diff_windows(
    stream: DataFrame, batch: DataFrame, keys: Sequence[str], values: Sequence[str]
) -> DataFrame:
    """Return the windows on one side only, with other values or written twice.

    Columns: the keys, the stream's values (``s_*``), the batch's (``b_*``), ``_in_stream``,
    ``_in_batch``, ``_copies`` (rows of the window in the stream's table) and the window's end
    in epoch milliseconds.
    """
    copies = F.count(F.lit(1)).over(Window.partitionBy(*keys))
    joined = (
        stream.withColumn("_copies", copies)
        .alias("s")
        .join(batch.alias("b"), on=_key_match("s", "b", keys), how="full_outer")
    )
    in_stream = F.col("s.window_start").isNotNull()
    in_batch = F.col("b.window_start").isNotNull()
    written_twice = F.coalesce(F.col("s._copies"), F.lit(0)) > 1
    return joined.where(~in_stream | ~in_batch | written_twice | _differs("s", "b", values)).select(
        *(F.coalesce(F.col(f"s.{k}"), F.col(f"b.{k}")).alias(k) for k in keys),
        *(F.col(f"s.{v}").alias(f"s_{v}") for v in values),
        *(F.col(f"b.{v}").alias(f"b_{v}") for v in values),
        in_stream.alias("_in_stream"),
        in_batch.alias("_in_batch"),
        F.col("s._copies").alias("_copies"),
        F.unix_millis(F.coalesce(F.col("s.window_end"), F.col("b.window_end"))).alias(_END_MS),
    )


def batch_records(
    spark: SparkSession, settings: Settings, batches: Sequence[CommittedBatch], checkpoint: str
) -> tuple[DataFrame, str]:
    """Return the Kafka records the stream read, each with the watermark it was judged by.

    And what they are, for the report ("168 records in 5 batches (offsets ...)").
    """
    options: Any = settings.job
    start = initial_offsets(checkpoint)
    if start is None:
        raise CheckpointError(
            f"{checkpoint}: no record of where the Kafka source started (sources/0/0)"
        )
    end = _end_offsets(batches)
    topic = options.source.topic
    if set(end) != {topic}:
        raise ConfigError(
            f"the checkpoint {checkpoint} read {', '.join(end)}, not {topic!r}: give the job's "
            "--topic (and its other flags) as it ran"
        )
    for partition in end[topic]:
        start.setdefault(topic, {}).setdefault(partition, -2)  # a partition added later
    ranges = kafka_ranges(start, batches)
    records = read_kafka_batch(
        spark,
        settings.kafka,
        topic,
        starting_offsets=json.dumps(start),
        ending_offsets=json.dumps(end),
    )
    frame = spark.createDataFrame(
        ranges,
        f"_topic string, _partition int, _from long, _to long, _batch long, {_LATE_BEFORE} long",
    )
    read = records.join(
        F.broadcast(frame),
        (F.col("topic") == F.col("_topic"))
        & (F.col("partition") == F.col("_partition"))
        & (F.col("offset") >= F.col("_from"))
        & (F.col("offset") < F.col("_to")),
        how="left",
    ).drop("_topic", "_partition", "_from", "_to")
    count = sum(to - first for _, _, first, to, _, _ in ranges)
    return read, (
        f"{count:,} records in {len(batches)} batches (offsets {describe_offsets(start)} to "
        f"{describe_offsets(end)})"
    )


def _visible_version(batch: CommittedBatch, checkpoint: str) -> int | None:
    """Return the parsed table's version a batch had read all of (None: none of it yet).

    Delta's source offset: ``reservoirVersion`` and ``index`` -1 (written for its base index)
    mean every version before it was read, or, while ``isStartingVersion`` (the table's
    snapshot at the start), nothing yet. Another index is a batch that ended inside a version.
    """
    offset = json.loads(batch.end_offsets[0])
    if offset.get("index") != -1:
        raise CheckpointError(
            f"{checkpoint}: batch {batch.batch_id} ended inside version "
            f"{offset.get('reservoirVersion')} of the parsed table; parity needs whole versions"
        )
    return None if offset.get("isStartingVersion") else offset["reservoirVersion"] - 1


def parsed_table_records(
    spark: SparkSession, path: str, batches: Sequence[CommittedBatch], checkpoint: str
) -> tuple[DataFrame, str]:
    """Return the parsed table's rows the stream read (two stages), each with its judge.

    A row belongs to the first batch whose version of the table holds it (time travel to each
    batch's version; a Kafka record is one row, named by topic, partition and offset).
    """
    record = ["topic", "partition", "offset"]
    judged = judged_by(batches)
    seen = [
        spark.read.format("delta")
        .option("versionAsOf", version)
        .load(path)
        .select(*record, F.lit(batch.batch_id).alias("_batch"))
        for batch in batches
        if (version := _visible_version(batch, checkpoint)) is not None
    ]
    last = _visible_version(batches[-1], checkpoint)
    if not seen or last is None:
        raise CheckpointError(f"{checkpoint}: its batches have not read the parsed table yet")
    first_batch = seen[0]
    for more in seen[1:]:
        first_batch = first_batch.unionByName(more)
    first_batch = first_batch.groupBy(*record).agg(F.min("_batch").alias("_batch"))
    judges = spark.createDataFrame(list(judged.items()), f"_batch long, {_LATE_BEFORE} long")
    rows = spark.read.format("delta").option("versionAsOf", last).load(path)
    read = rows.join(first_batch, on=record, how="left").join(
        F.broadcast(judges), on="_batch", how="left"
    )
    count = rows.count()
    return read, f"{count:,} rows of {path} (version {last}) in {len(batches)} batches"


def _values(row: Any, prefix: str, values: Sequence[str]) -> dict[str, Any]:
    return {name: row[f"{prefix}{name}"] for name in values}


def stream_batch_parity(
    spark: SparkSession | Callable[[], SparkSession], settings: Settings
) -> Parity:
    """Compare a finished ride_windows run's Delta output with its batch recomputation.

    ``spark``: a session, or a function returning one, called once the settings and the
    checkpoint are known to be good (a command starts no JVM to report a wrong flag).
    """
    from ridestream.avro_parsing import subject_of, writer_schemas
    from ridestream.jobs.ride_windows import NAME, build_outputs, parse_records

    options: Any = settings.job
    if options.sink.kind != "delta":
        raise ConfigError(
            f"parity compares a Delta output: give the run's --sink delta --delta-path (the job "
            f"wrote to {options.sink.kind})"
        )
    checkpoint = settings.query.checkpoint(NAME)
    batches = committed_batches(checkpoint)
    if not batches:
        raise CheckpointError(f"{checkpoint}: no committed batch yet, nothing to compare")
    if callable(spark) and not isinstance(spark, SparkSession):
        spark = spark()
    writers = None
    if options.source.format == "avro":
        writers = writer_schemas(settings.schema_registry, subject_of(options.source.topic))
    if options.stages == "two":
        # The windows query read the parsed table: the same rows, parsed once by the job.
        parsed, read = parsed_table_records(spark, str(options.parsed_path), batches, checkpoint)
    else:
        records, read = batch_records(spark, settings, batches, checkpoint)
        parsed = parse_records(records, options, writers)
    parsed = parsed.cache()
    path = str(options.sink.path)
    try:
        stream = spark.read.format("delta").load(path)
    except Exception as error:  # noqa: BLE001 - Spark's AnalysisException, in one line
        raise ConfigError(f"{path}: not a Delta table the run wrote ({error})") from None

    def windows_of(rides: DataFrame) -> DataFrame:
        return build_outputs(rides, options, parsed=True)[0]

    batch = windows_of(parsed).cache()
    keys = [*KEYS, *options.window.group_by]
    values = [name for name in batch.columns if name not in keys]
    # Materialized without its lineage: joined below with windows of other rides, whose plans
    # observe the job's record counts under the same name (Spark refuses two such in a plan).
    diff = diff_windows(stream, batch, keys, values).localCheckpoint()
    rows = diff.collect()
    parity = Parity(
        table=display_path(path),
        read=read,
        stream_windows=stream.count(),
        batch_windows=batch.count(),
        key_columns=keys,
    )
    window = options.window
    classified = window.kind != "session" and not uses_panes(window, options.sink.output_mode)
    append = options.sink.output_mode == "append"
    last_watermark = batches[-1].watermark_ms
    levels = sorted(set(judged_by(batches).values()))

    def level_of(end_ms: int) -> int | None:
        """Return the latest watermark before a window's end: rides judged by it still count."""
        below = [level for level in levels if level < end_ms]
        return below[-1] if below else None

    # What the stream should hold for each differing window: the batch answer over the rides
    # it did not drop, computed once per watermark level (the rides judged by a watermark
    # before the window's end).
    expected: dict[tuple, dict[str, Any] | None] = {}
    if classified:
        for level in sorted({level_of(row[_END_MS]) for row in rows} - {None}):
            higher = [other for other in levels if other > level]
            wanted = diff.where(F.col(_END_MS) > level)
            if higher:
                wanted = wanted.where(F.col(_END_MS) <= higher[0])
            kept = parsed.where(F.col(_LATE_BEFORE).isNull() | (F.col(_LATE_BEFORE) <= level))
            found = (
                windows_of(kept)
                .alias("e")
                .join(wanted.alias("w"), on=_key_match("e", "w", keys), how="inner")
                .select(
                    *(F.col(f"w.{k}").alias(k) for k in keys), *(F.col(f"e.{v}") for v in values)
                )
                .collect()
            )
            for row in wanted.select(*keys).collect():
                expected[tuple(row)] = None  # every ride of it was dropped, unless found below
            for row in found:
                expected[tuple(row[k] for k in keys)] = _values(row, "", values)

    seen = set()
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key in seen:
            continue  # a window written twice: one difference
        seen.add(key)
        stream_values = _values(row, "s_", values) if row["_in_stream"] else None
        batch_values = _values(row, "b_", values) if row["_in_batch"] else None
        if (row["_copies"] or 0) > 1:  # an exactly-once sink writes each window once
            parity.differences.append(
                Difference(key, stream_values, batch_values, UNEXPLAINED, copies=row["_copies"])
            )
            continue
        elif stream_values is not None and batch_values is None:
            why = UNEXPLAINED  # the stream cannot have a window the records do not make
        elif append and stream_values is None and row[_END_MS] > last_watermark:
            why = OPEN
        elif not classified:
            why = NOT_CLASSIFIED
        else:
            should = expected.get(key, batch_values)
            why = LATE if same_values(stream_values, should) else UNEXPLAINED
            if why == LATE:
                kept_rides = should["ride_count"] if should else 0
                parity.differences.append(
                    Difference(
                        key,
                        stream_values,
                        batch_values,
                        why,
                        batch_values["ride_count"] - kept_rides,
                    )
                )
                continue
        parity.differences.append(Difference(key, stream_values, batch_values, why))
    parity.differences.sort(key=lambda d: (d.why in EXPLAINED, tuple(map(str, d.key))))
    for frame in (batch, parsed):
        frame.unpersist()
    return parity


def format_time(ms: int) -> str:
    """Return an epoch-milliseconds watermark as 'YYYY-MM-DD HH:MM:SS' (UTC)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
