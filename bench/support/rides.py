"""Synthetic rides for the benchmarks: generated once into a cached Parquet file, produced fast.

The rides come from :class:`ridestream.kafka.datagen.RideGenerator` (the project's generator) and
go to Kafka through the project's own producer path (:func:`ridestream.kafka.producer.
produce_batches`: Arrow batches encoded column at a time as JSON or CSV values, or Avro values in
Confluent's wire format through :class:`ridestream.kafka.avro_values.AvroValues`, as ``rides
produce --format avro`` writes them), so the JSON, CSV and Avro topics hold the same rides, record
for record, keyed by pickup zone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ridestream.config import SchemaRegistrySettings
from ridestream.kafka.avro_values import AvroValues
from ridestream.kafka.datagen import RideGenerator
from ridestream.kafka.producer import (
    DeliveryReport,
    ProduceJob,
    Progress,
    make_producer,
    produce_batches,
)
from ridestream.kafka.settings import KafkaSettings
from ridestream.kafka.topics import create_topic
from ridestream.parsing import DROPOFF_TIME, PICKUP_TIME
from ridestream.schemas import arrow_schema

# Rides per second of event time: a 5-minute window holds 30,000 rides over ~265 zones, about
# what Manhattan sees at a busy hour, and 4 M rides span 11 hours (133 windows).
GENERATION_RATE = 100
GENERATION_START = datetime(2024, 1, 1)
GENERATION_SEED = 1
KEY = "PULocationID"  # the job's group key: one zone's rides stay in one partition, in order
_CHUNK = 100_000


def rides_file(directory: Path, count: int) -> Path:
    """Return a Parquet file of ``count`` generated rides, generating it on first use.

    The file depends only on ``count`` (fixed start, rate and seed), so it is kept in
    ``directory`` and reused by later runs: generating rides in Python costs ~15 us each.
    """
    path = directory / f"rides-{count}-rate{GENERATION_RATE}-seed{GENERATION_SEED}.parquet"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    schema = arrow_schema("ride")
    generator = RideGenerator(
        GENERATION_START, rate=GENERATION_RATE, seed=GENERATION_SEED, key=None
    )
    progress = Progress(f"generate {count:,} rides", count)
    written = 0
    with pq.ParquetWriter(partial, schema) as writer:
        while written < count:
            size = min(_CHUNK, count - written)
            rows = [generator.ride() for _ in range(size)]
            writer.write_table(
                pa.Table.from_pylist(
                    [{name: row.get(name) for name in schema.names} for row in rows], schema=schema
                )
            )
            written += size
            progress.update(written, 0)
    progress.update(written, 0, force=True)
    progress.close()
    partial.rename(path)
    return path


def ride_batches(path: Path, limit: int | None = None) -> Iterator[pa.RecordBatch]:
    """Yield the rides of a Parquet file as Arrow batches, at most ``limit`` rides."""
    left = limit
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_CHUNK):
        if left is not None:
            if left <= 0:
                return
            batch = batch.slice(0, left)
            left -= batch.num_rows
        yield batch


def produce_rides(
    kafka: KafkaSettings,
    producer_options: dict,
    topic: str,
    batches: Iterator[pa.RecordBatch],
    value_format: str,
    total: int,
    rate: float | None = None,
    speedup: float | None = None,
    restamp: bool = False,
    registry: SchemaRegistrySettings | None = None,
) -> DeliveryReport:
    """Produce rides to ``topic`` (created beforehand) with progress; fail unless all arrived.

    ``speedup`` with ``restamp`` replays the rides' own event-time gaps compressed ``speedup``
    times, starting now: a fixed wall-clock rate of rides whose pickup times are the present.
    Avro values (``value_format`` 'avro') register ``schemas/ride.avsc`` in ``registry`` under
    the subject ``<topic>-value``, as the project's producers do.
    """
    report = DeliveryReport()
    producer = make_producer(kafka, producer_options, report)
    job = ProduceJob(
        topic=topic,
        key=KEY,
        value_format=value_format,
        event_time=PICKUP_TIME,
        dropoff_time=DROPOFF_TIME,
        rate=rate,
        speedup=speedup,
        restamp=restamp,
        limit=total,
        avro=AvroValues(registry, topic, "ride") if value_format == "avro" else None,
    )
    produce_batches(producer, job, batches, report, Progress(f"  produce {topic}", total))
    if report.sent != total:
        raise RuntimeError(
            f"{topic}: {report.sent:,} of {total:,} rides acknowledged ({report.errors}); "
            "is the broker out of disk space?"
        )
    return report


def prepare_topic(
    kafka: KafkaSettings,
    producer_options: dict,
    topic: str,
    path: Path,
    value_format: str,
    count: int,
    partitions: int,
    registry: SchemaRegistrySettings | None = None,
) -> None:
    """Create ``topic`` with ``partitions`` and fill it with the first ``count`` rides of ``path``.

    ``registry``: where Avro values' schema is registered (see :func:`produce_rides`).
    """
    create_topic(kafka, topic, partitions=partitions)
    started = time.monotonic()
    report = produce_rides(
        kafka,
        producer_options,
        topic,
        ride_batches(path, count),
        value_format,
        count,
        registry=registry,
    )
    print(
        f"  {topic}: {count:,} {value_format.upper()} rides, {report.bytes / 1e6:,.0f} MB, "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
