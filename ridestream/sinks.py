"""Writers for windows and rejects: console, Kafka and Delta.

Each returns an *unstarted* DataStreamWriter. Only ``main`` sets the trigger and the checkpoint,
starts, and awaits; a test can attach ``foreachBatch`` to the very same writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import DataStreamWriter

from ridestream.config import DeadLetterSettings, SinkSettings
from ridestream.errors import ConfigError, UserError
from ridestream.kafka.settings import KafkaSettings


def to_window_records(windows: DataFrame, group_by: tuple[str, ...]) -> DataFrame:
    """Shape windows as Kafka records: JSON value, key = window start + group keys.

    The Kafka sink is at-least-once; a key that names the window and group lets consumers dedupe
    a replayed result and lets a compacted topic keep only the latest value of each window.
    Amounts are rounded as the console shows them (:func:`rounded`).
    """
    shown = rounded(windows)
    key = F.to_json(F.struct("window_start", *group_by))
    value = F.to_json(F.struct(*shown.columns))
    return shown.select(key.alias("key"), value.alias("value"))


def _header(name: str, value: F.Column) -> F.Column:
    return F.struct(F.lit(name).alias("key"), value.cast("string").cast("binary").alias("value"))


def source_headers() -> list[F.Column]:
    """Return the headers naming a record's origin: its topic, partition, offset and timestamp.

    Read from the Kafka columns ``topic``, ``partition``, ``offset`` and ``timestamp`` of the
    record read. Topic, partition and offset identify it, so a consumer can drop the copies an
    at-least-once sink writes again after a restart.
    """
    return [
        _header("ridestream.source.topic", F.col("topic")),
        _header("ridestream.source.partition", F.col("partition")),
        _header("ridestream.source.offset", F.col("offset")),
        _header(
            "ridestream.source.timestamp",
            F.date_format("timestamp", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
        ),
    ]


def dead_letter_headers(reason: F.Column) -> F.Column:
    """Return the headers of a dead-letter record: its reason, then its origin."""
    return F.array(_header("ridestream.reason", reason), *source_headers())


def to_dead_letter_records(rejects: DataFrame) -> DataFrame:
    """Shape rejects as Kafka records: key and value unchanged, the reason and origin as headers.

    This follows Kafka Connect's dead-letter convention, so the raw record can be replayed as-is.
    """
    return rejects.select("key", "value", dead_letter_headers(F.col("reason")).alias("headers"))


def kafka_writer(
    records: DataFrame, kafka: KafkaSettings, topic: str | None = None
) -> DataStreamWriter:
    """Return a writer of ``key``/``value`` records to a Kafka topic.

    Without ``topic``, each record goes to the topic its ``topic`` column names.
    """
    writer = records.writeStream.format("kafka").options(**kafka.spark_options())
    return writer if topic is None else writer.option("topic", topic)


def window_writer(
    windows: DataFrame,
    sink: SinkSettings,
    kafka: KafkaSettings,
    group_by: tuple[str, ...],
    query_name: str,
) -> DataStreamWriter:
    """Return the writer for windows to the configured sink (console, Kafka or Delta).

    ``query_name`` names the writer in Delta's idempotent-write ids (with the table's path).
    """
    if sink.kind == "kafka":
        writer = kafka_writer(to_window_records(windows, group_by), kafka, sink.topic)
    elif sink.kind == "delta" and sink.output_mode == "update":
        # Early results: every batch's changed windows are merged in, exactly once.
        writer = windows.writeStream.foreachBatch(
            merge_windows(str(sink.path), group_by, app_id=f"{query_name}:{sink.path}")
        )
    elif sink.kind == "delta":
        # Append is exactly-once: the Delta sink records each batch id in the table's log.
        writer = windows.writeStream.format("delta").option("path", str(sink.path))
    else:
        writer = windows.writeStream.foreachBatch(show_windows(sink.console_rows))
    return writer.outputMode(sink.output_mode)


# Table properties naming the one query that may write to a table: its checkpoint and that
# checkpoint's id (ridestream.preflight.checkpoint_id; a checkpoint made anew gets a new id).
WRITER_CHECKPOINT = "ridestream.writer.checkpoint"
WRITER_ID = "ridestream.writer.id"


def parsed_table_writer(parsed: DataFrame, path: str) -> DataStreamWriter:
    """Return the writer of parsed records to their Delta table (exactly once: Delta's sink)."""
    return parsed.writeStream.format("delta").option("path", path).outputMode("append")


def claim_table(
    spark: SparkSession,
    path: str,
    schema: T.StructType,
    checkpoint: str,
    checkpoint_id: str | None,
    history: bool,
    what: str = "Delta table",
    flag: str = "--delta-path",
) -> None:
    """Create a query's output table, or check that it is its own, before the query starts.

    A table written by two queries holds their rows twice: two checkpoints over one topic (two
    examples sharing a default table), or one query started over from a new checkpoint while
    the table kept the old run's rows. The table records its writer (``checkpoint``, and its
    ``checkpoint_id``) and refuses another. ``history``: the checkpoint has committed batches; a
    table that holds rows but names no writer (made before tables recorded one) is taken over
    only by a checkpoint with history. Without a ``checkpoint_id`` (a remote checkpoint, or a
    query started without the runner's preflight) nothing is checked.
    """
    from delta.tables import DeltaTable

    if checkpoint_id is None:
        return
    if not DeltaTable.isDeltaTable(spark, path):
        (
            DeltaTable.createIfNotExists(spark)
            .location(path)
            .addColumns(schema)
            .property(WRITER_CHECKPOINT, checkpoint)
            .property(WRITER_ID, checkpoint_id)
            .execute()
        )
        return
    properties = DeltaTable.forPath(spark, path).detail().first().properties
    writer = properties.get(WRITER_ID)
    if writer == checkpoint_id:
        return
    if writer is not None:
        raise ConfigError(
            f"the {what} {path} is written by the query of checkpoint "
            f"{properties.get(WRITER_CHECKPOINT)} (id {writer}): choose another {flag}, or run "
            "with that --checkpoint-dir (a checkpoint deleted to start over needs its table "
            "deleted too)"
        )
    if not history and spark.read.format("delta").load(path).limit(1).count():
        raise ConfigError(
            f"the {what} {path} already holds rows written by another query: choose another "
            f"{flag}, or delete the table to start over"
        )
    spark.sql(
        f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
        f"('{WRITER_CHECKPOINT}' = '{checkpoint}', '{WRITER_ID}' = '{checkpoint_id}')"
    )


class OutputTableRemoved(UserError):
    """A job's Delta output table disappeared after the job had written to it."""

    def __init__(self, path: str, batch_id: int) -> None:
        super().__init__(
            f"the Delta table {path} was removed while the job wrote to it (batch {batch_id} "
            "found no table; the results of the earlier batches went with it): restore the "
            "table and run again, or start over with a new --checkpoint-dir"
        )


TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


@contextmanager
def idempotent_writes(spark: SparkSession, app_id: str, batch_id: int) -> Iterator[None]:
    """Make the Delta writes inside the block skip themselves if ``app_id`` already wrote ``batch_id``."""
    spark.conf.set(TXN_APP_ID, app_id)
    spark.conf.set(TXN_VERSION, str(batch_id))
    try:
        yield
    finally:
        spark.conf.unset(TXN_APP_ID)
        spark.conf.unset(TXN_VERSION)


def merge_windows(path: str, group_by: tuple[str, ...], app_id: str):  # noqa: ANN201
    """Return a foreachBatch function that upserts a batch's windows into a Delta table.

    A window is keyed by its bounds and group (:func:`merge_results`).
    """
    return merge_results(path, ("window_start", "window_end", *group_by), app_id)


def merge_results(path: str, keys: tuple[str, ...], app_id: str):  # noqa: ANN201
    """Return a foreachBatch function that upserts a batch's results into a Delta table.

    A result is keyed by ``keys`` (a window's bounds and group); an update replaces its aggregates
    (they are running totals, not increments), so a row always holds its latest value. Each batch
    commits with Delta's idempotent-write identifiers (``txnAppId`` = this sink, ``txnVersion`` =
    the batch id): when a restarted query re-runs a batch that had already committed, Delta skips
    it. The settings go on the query's own session (each streaming query runs in a clone), so no
    other writer sees them.
    """
    from delta.tables import DeltaTable

    # No keys: one row (an aggregate over everything), replaced by each batch's.
    condition = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys) or "true"

    def merge(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        # Compute the whole batch first: its state stores commit only when every partition is
        # processed, and Spark 4.2 fails the query otherwise. A replayed batch that Delta skips
        # (already committed) would process nothing.
        batch = batch.persist()
        try:
            batch.count()
            if not DeltaTable.isDeltaTable(spark, path):
                if batch_id > 0:
                    # Created again, the table would hold only the batches from here on.
                    raise OutputTableRemoved(path, batch_id)
                # The first batch creates the table (empty, with the contract's schema).
                batch.limit(0).write.format("delta").mode("ignore").save(path)
            with idempotent_writes(spark, app_id, batch_id):
                (
                    DeltaTable.forPath(spark, path)
                    .alias("t")
                    .merge(batch.alias("s"), condition)
                    .whenMatchedUpdateAll()
                    .whenNotMatchedInsertAll()
                    .execute()
                )
        finally:
            batch.unpersist()

    return merge


def rounded(windows: DataFrame) -> DataFrame:
    """Return windows with money to the cent and the mean distance to 1/100 mile.

    Sums of doubles carry binary noise (``1913.3400000000001``); what a reader (the console,
    a Kafka consumer) is shown is rounded. Delta tables keep full precision.
    """
    return windows.select(
        *(
            F.round(name, 2).alias(name)
            if name in ("total_amount", "tip_amount", "avg_trip_distance")
            else F.col(name)
            for name in windows.columns
        )
    )


def show_windows(rows: int):  # noqa: ANN201 - returns a foreachBatch function
    """Return a foreachBatch function that prints a batch's windows, oldest window first.

    Spark's console sink prints rows in no order; a reader wants the windows in time order and,
    within one, the busiest zones first, and to know what was left out. Money is shown to the
    cent (:func:`rounded`).
    """
    hinted = []

    def show(batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()
        try:
            count = batch.count()
            if count:
                print(
                    f"--- batch {batch_id}: {count:,} window row{'s' if count != 1 else ''}",
                    flush=True,
                )
            elif not hinted:
                hinted.append(batch_id)
                print(
                    f"--- batch {batch_id}: no window to show yet (in append mode a window is "
                    "shown once, when the watermark passes its end)",
                    flush=True,
                )
            if count:
                rounded(batch).orderBy(F.asc("window_start"), F.desc("ride_count")).show(
                    rows, truncate=False
                )
            if count > rows:
                print(
                    f"({count - rows:,} more rows not shown: --sink delta keeps them all, "
                    "`./rides show` prints a table)",
                    flush=True,
                )
        finally:
            batch.unpersist()

    return show


def dead_letter_writers(
    rejects: DataFrame, dead_letter: DeadLetterSettings, kafka: KafkaSettings, query_name: str
) -> dict[str, DataStreamWriter]:
    """Return the rejected records' writer by query name, or ``{}`` when the profile turns it off.

    ``query_name`` names the query, and the writer in Delta's idempotent-write ids (with the
    table's path).
    """
    kinds = dead_letter.kinds
    if not kinds:
        return {}
    if len(kinds) > 1:
        # One query, so each reject is parsed once and lands in every sink of the same batch.
        writer = rejects.writeStream.foreachBatch(
            fan_out_rejects(dead_letter, kafka, app_id=f"{query_name}:{dead_letter.path}")
        )
    elif kinds == ("kafka",):
        writer = kafka_writer(to_dead_letter_records(rejects), kafka, dead_letter.topic)
    elif kinds == ("delta",):
        writer = rejects.writeStream.format("delta").option("path", str(dead_letter.path))
    else:
        writer = (
            rejects.select("reason", "topic", "partition", "offset", F.col("value").cast("string"))
            .writeStream.format("console")
            .option("truncate", "false")
        )
    return {query_name: writer.outputMode("append")}


def fan_out_rejects(dead_letter: DeadLetterSettings, kafka: KafkaSettings, app_id: str):  # noqa: ANN201
    """Return a foreachBatch function writing a batch of rejects to the Delta table and the topic.

    The Delta append is exactly-once (``txnAppId``/``txnVersion``: a replayed batch is skipped),
    like the Delta streaming sink; the Kafka write is at-least-once, like the Kafka sink. The
    table is written first: a batch that reached the topic is always in the table as well.
    """

    def write(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        batch = batch.persist()
        try:
            with idempotent_writes(spark, app_id, batch_id):
                batch.write.format("delta").mode("append").save(str(dead_letter.path))
            (
                to_dead_letter_records(batch)
                .write.format("kafka")
                .options(**kafka.spark_options())
                .option("topic", dead_letter.topic)
                .save()
            )
        finally:
            batch.unpersist()

    return write
