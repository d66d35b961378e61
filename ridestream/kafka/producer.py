"""Producing records with delivery accounting: every failure is counted, never silently lost."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from ridestream.config import KafkaSettings
from ridestream.kafka.datagen import encode_json, make_ride, rides_between

# Defaults that do not lose data: wait for all in-sync replicas, and idempotence so a retry
# cannot write a duplicate. Batching (linger, lz4) costs a few ms of latency for much throughput.
PRODUCER_DEFAULTS = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 20,
    "compression.type": "lz4",
}


@dataclass
class DeliveryReport:
    """What happened to the records handed to the producer."""

    sent: int = 0
    failed: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def on_delivery(self, error, message) -> None:  # noqa: ANN001 - librdkafka callback
        """Count one delivery report (called from ``poll``/``flush``)."""
        if error is None:
            self.sent += 1
            self.bytes += len(message.value() or b"")
        else:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(error))


def make_producer(kafka: KafkaSettings) -> Producer:
    """Return a producer with the data-safe defaults, overridden by the profile's options."""
    return Producer({**PRODUCER_DEFAULTS, **kafka.client_config(), "log_level": 0})


def produce(
    producer: Producer,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    report: DeliveryReport,
) -> None:
    """Produce ``(key, value)`` records, serving delivery callbacks as the queue fills."""
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=report.on_delivery)
                break
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain, then retry
        producer.poll(0)


def ride_records(rides: Iterable[dict]) -> Iterable[tuple[bytes, bytes]]:
    """Key each ride by its pickup zone (rides of one zone stay in order) and encode it as JSON."""
    for ride in rides:
        yield str(ride["PULocationID"]).encode(), encode_json(ride)


def run_datagen(
    kafka: KafkaSettings,
    topic: str,
    *,
    rate: float,
    backfill: timedelta,
    duration: timedelta | None,
    seed: int = 42,
    disorder_s: float = 5.0,
) -> DeliveryReport:
    """Backfill ``backfill`` of past rides at ``rate``, then produce live rides at ``rate``/s.

    Live rides carry pickup times near now (up to ``disorder_s`` in the past), so event-time
    windows close while a demo runs. Runs until ``duration`` has passed, or forever when None;
    Ctrl-C (KeyboardInterrupt) ends it normally, after delivering what was produced.
    """
    producer = make_producer(kafka)
    report = DeliveryReport()
    now = datetime.now(UTC).replace(tzinfo=None)
    backlog = int(backfill.total_seconds() * rate)
    produce(
        producer,
        topic,
        ride_records(rides_between(now - backfill, now, backlog, seed, disorder_s)),
        report,
    )
    producer.flush(30)
    print(
        f"datagen: backfilled {report.sent} rides covering the last {backfill} into {topic!r}",
        file=sys.stderr,
        flush=True,
    )

    rng = random.Random(seed + 1)
    started = time.monotonic()
    produced = 0
    try:
        while duration is None or time.monotonic() - started < duration.total_seconds():
            due = int((time.monotonic() - started) * rate) - produced
            if due > 0:
                pickup_now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
                rides = (
                    make_ride(rng, pickup_now - timedelta(seconds=int(rng.uniform(0, disorder_s))))
                    for _ in range(due)
                )
                produce(producer, topic, ride_records(rides), report)
                produced += due
            producer.poll(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush(30)
    return report
