"""Readers: they return DataFrames and start nothing."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from ridestream.config import SourceSettings
from ridestream.kafka.settings import KafkaSettings


def read_kafka_stream(
    spark: SparkSession, kafka: KafkaSettings, source: SourceSettings
) -> DataFrame:
    """Return the raw Kafka records of ``source.topic`` as a streaming DataFrame."""
    reader = (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", source.topic)
        .option("startingOffsets", source.starting_offsets)
        # Keep true: a gap in the offsets (retention, a deleted topic) must stop the job loudly
        # rather than skip rides silently.
        .option("failOnDataLoss", str(source.fail_on_data_loss).lower())
    )
    if source.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", source.max_offsets_per_trigger)
    if source.min_partitions:
        reader = reader.option("minPartitions", source.min_partitions)
    return reader.load()


def read_delta_stream(spark: SparkSession, path: str) -> DataFrame:
    """Return the rows appended to the Delta table at ``path``, from its first version on."""
    return spark.readStream.format("delta").load(path)


def read_kafka_batch(
    spark: SparkSession,
    kafka: KafkaSettings,
    topic: str,
    min_partitions: int | None = None,
    starting_offsets: str = "earliest",
    ending_offsets: str = "latest",
) -> DataFrame:
    """Return the records of ``topic`` as a batch DataFrame (notebooks, checks).

    Every record there is by default; ``starting_offsets`` / ``ending_offsets`` take Spark's
    JSON (``{"topic": {"0": 42}}``, end exclusive) for a range, such as a checkpoint's.
    """
    reader = (
        spark.read.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .option("endingOffsets", ending_offsets)
    )
    if min_partitions:
        reader = reader.option("minPartitions", min_partitions)
    return reader.load()
