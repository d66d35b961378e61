"""Producing records with delivery accounting: every failure is counted, never silently lost.

Records arrive as Arrow batches (from a trip file or the generator), are encoded column at a time
(:mod:`ridestream.kafka.encoding`), paced (as fast as possible, a fixed rate, or a replay in event
time), and handed to librdkafka. Only failed deliveries call back into Python
(``delivery.report.only.error``): success is what remains after ``flush``, so the hot loop is one
``produce`` call per record.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, KafkaException, Producer

from ridestream.kafka.encoding import encode_keys, value_array
from ridestream.kafka.settings import KafkaSettings


@dataclass
class DeliveryReport:
    """What happened to the records handed to the producer."""

    produced: int = 0
    failed: int = 0
    undelivered: int = 0
    bytes: int = 0
    failed_bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def sent(self) -> int:
        """Records the broker acknowledged."""
        return self.produced - self.failed - self.undelivered

    @property
    def elapsed_s(self) -> float:
        """Seconds from the first record to the final flush (or to now)."""
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Acknowledged records per second."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def on_delivery(self, error: KafkaError | None, message: Any) -> None:
        """Count a failed delivery (librdkafka only reports failures, see the module doc)."""
        if error is None:
            return
        self.failed += 1
        self.failed_bytes += len(message.value() or b"")
        reason = error.str()
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def summary(self, topic: str) -> str:
        """Return the one-line summary printed at the end of a run."""
        line = (
            f"sent {self.sent:,}, failed {self.failed + self.undelivered:,}, "
            f"{(self.bytes - self.failed_bytes) / 1e6:,.1f} MB to {topic!r} in "
            f"{self.elapsed_s:,.1f} s ({self.rate:,.0f} records/s)"
        )
        return line


def producer_config(kafka: KafkaSettings, producer_options: dict[str, Any]) -> dict[str, Any]:
    """Return the librdkafka configuration: cluster settings, then the producer options."""
    return {**kafka.client_config(), **producer_options, "log_level": 0}


def make_producer(
    kafka: KafkaSettings, producer_options: dict[str, Any], report: DeliveryReport
) -> Producer:
    """Return a producer whose failed deliveries are counted in ``report``."""
    config = producer_config(kafka, producer_options)
    config["delivery.report.only.error"] = True
    config["on_delivery"] = report.on_delivery
    return Producer(config)


class Pacer:
    """Decide how many of the next records may go now, and wait when none may.

    ``rate``: records per second (None: as fast as possible). ``speedup``: replay in event time,
    ``speedup`` event seconds per wall second, from the first record's event time.
    """

    def __init__(self, rate: float | None = None, speedup: float | None = None) -> None:
        if rate is not None and speedup is not None:
            raise ValueError("choose a fixed rate or an event-time replay, not both")
        self.rate = rate
        self.speedup = speedup
        self.started: float | None = None  # the clock starts at the first record
        self.allowed = 0
        self.first_event_us: int | None = None

    def due_offsets(self, event_us: pa.Array) -> list[float] | None:
        """Return each record's due time in wall seconds from the start (replay only)."""
        if self.speedup is None:
            return None
        if self.first_event_us is None:
            first = pc.min(event_us).as_py()
            self.first_event_us = first if first is not None else 0
        offsets = pc.divide(
            pc.subtract(pc.fill_null(event_us, self.first_event_us), self.first_event_us),
            1e6 * self.speedup,
        )
        # A record is due no earlier than any before it in the file: the replay keeps the
        # file's order and never sends a record ahead of an earlier one.
        return list(_running_max(offsets.to_pylist()))

    def take(self, remaining: int, due: list[float] | None, position: int) -> int:
        """Return how many of the ``remaining`` records may be sent now (waits until >= 1)."""
        if self.started is None:
            self.started = time.monotonic()
            if self.rate is not None:
                self.allowed = 1
                return 1
        while True:
            elapsed = time.monotonic() - self.started
            if self.rate is not None:
                ready = int(elapsed * self.rate) - self.allowed
                if ready > 0:
                    count = min(ready, remaining)
                    self.allowed += count
                    return count
                time.sleep(min(0.05, (self.allowed + 1) / self.rate - elapsed))
            elif due is not None:
                end = _bisect_right(due, elapsed, position, position + remaining)
                if end > position:
                    return end - position
                time.sleep(min(0.1, due[position] - elapsed))
            else:
                return remaining


def _running_max(values: Iterable[float]) -> Iterator[float]:
    highest = 0.0
    for value in values:
        highest = max(highest, value)
        yield highest


def _bisect_right(values: list[float], target: float, low: int, high: int) -> int:
    while low < high:
        middle = (low + high) // 2
        if values[middle] <= target:
            low = middle + 1
        else:
            high = middle
    return low


def restamp(
    batch: pa.RecordBatch,
    event_time: str,
    dropoff_time: str | None,
    shift_us: int,
    speedup: float | None,
    first_event_us: int,
) -> pa.RecordBatch:
    """Move event times to the present: ``now + (t - first) / speedup`` keeping trip durations.

    Without a speed-up the whole file shifts by one constant, so the first ride happens now and
    the gaps between rides are kept.
    """
    event = batch.column(event_time).cast(pa.int64())
    offset = pc.subtract(event, first_event_us)
    if speedup:
        offset = pc.cast(pc.divide(offset, speedup), pa.int64(), safe=False)
    new_event = pc.add(offset, first_event_us + shift_us)
    columns = {event_time: new_event.cast(pa.timestamp("us"))}
    if dropoff_time is not None:
        duration = pc.subtract(batch.column(dropoff_time).cast(pa.int64()), event)
        columns[dropoff_time] = pc.add(new_event, duration).cast(pa.timestamp("us"))
    arrays = [columns.get(name, batch.column(name)) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


class Progress:
    """A progress line on stderr: in place on a terminal, a line every 10 s otherwise."""

    def __init__(self, label: str, total: int | None, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = 0.5 if self.tty else 10.0
        self.started = time.monotonic()
        self.last = self.started

    def update(self, done: int, nbytes: int, force: bool = False) -> None:
        """Show ``done`` records and ``nbytes`` bytes so far (rate-limited unless ``force``)."""
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        share = f" {100 * done / self.total:5.1f}%" if self.total else ""
        line = (
            f"{self.label}:{share} {done:,} records, {done / elapsed:,.0f}/s, "
            f"{nbytes / 1e6:,.1f} MB, {elapsed:,.0f} s"
        )
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def send(
    producer: Producer,
    topic: str,
    keys: list[str | None],
    values: list[str | bytes],
    report: DeliveryReport,
) -> None:
    """Produce ``keys``/``values`` pairs, serving callbacks whenever the local queue is full."""
    produce = producer.produce
    for key, value in zip(keys, values, strict=True):
        try:
            produce(topic, value, key)
        except BufferError:
            while True:  # local queue full: let deliveries drain, then retry
                producer.poll(0.05)
                try:
                    produce(topic, value, key)
                    break
                except BufferError:
                    continue
        except KafkaException as error:
            report.on_delivery(error.args[0], _Unsent(value))
    report.produced += len(values)
    producer.poll(0)


class _Unsent:
    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode() if isinstance(value, str) else value

    def value(self) -> bytes:
        return self._value


@dataclass
class ProduceJob:
    """A stream of Arrow batches to produce, with its key, value format, pacing and restamping."""

    topic: str
    key: str | None
    value_format: str
    event_time: str
    dropoff_time: str | None = None
    rate: float | None = None
    speedup: float | None = None
    restamp: bool = False
    limit: int | None = None
    # value_format 'avro': the registry-aware encoder (ridestream.kafka.avro_values.AvroValues)
    avro: Any = None


def produce_batches(
    producer: Producer,
    job: ProduceJob,
    batches: Iterable[pa.RecordBatch],
    report: DeliveryReport,
    progress: Progress | None = None,
    flush_timeout_s: float = 60.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
) -> DeliveryReport:
    """Encode, pace and produce ``batches``; flush; return the completed ``report``.

    Ctrl-C stops producing, delivers what was already handed over, and reports it.
    """
    pacer = Pacer(job.rate, job.speedup)
    shift_us: int | None = None
    first_event_us = 0
    try:
        for batch in batches:
            if job.limit is not None:
                left = job.limit - report.produced
                if left <= 0:
                    break
                batch = batch.slice(0, left)
            # Due times come from the file's own event times, before any restamping.
            due = (
                pacer.due_offsets(batch.column(job.event_time).cast(pa.int64()))
                if job.speedup
                else None
            )
            if job.restamp:
                if shift_us is None:
                    first_event_us = pc.min(batch.column(job.event_time).cast(pa.int64())).as_py()
                    first_event_us = first_event_us or 0
                    shift_us = _epoch_us(now()) - first_event_us
                batch = restamp(
                    batch, job.event_time, job.dropoff_time, shift_us, job.speedup, first_event_us
                )
            if job.avro is not None:
                values = job.avro.encode(batch)
                report.bytes += sum(len(value) for value in values)
            else:
                encoded = value_array(batch, job.value_format)
                report.bytes += pc.sum(pc.binary_length(encoded)).as_py() or 0
                values = encoded.to_pylist()
            keys = encode_keys(batch, job.key)
            position = 0
            while position < len(values):
                count = pacer.take(len(values) - position, due, position)
                send(
                    producer,
                    job.topic,
                    keys[position : position + count],
                    values[position : position + count],
                    report,
                )
                position += count
                if progress:
                    progress.update(report.produced, report.bytes)
    except KeyboardInterrupt:
        print(f"\nstopping: delivering the {len(producer):,} records in flight", file=sys.stderr)
    finally:
        report.undelivered = producer.flush(flush_timeout_s)
        report.finished = time.monotonic()
        if progress:
            progress.update(report.produced, report.bytes, force=True)
            progress.close()
    return report


def _epoch_us(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)) / timedelta(microseconds=1))
