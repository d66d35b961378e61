"""Producing known rides into the test broker, and the independent window computation."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from ridestream.kafka.datagen import encode_json
from ridestream.kafka.producer import DeliveryReport, make_producer, send
from ridestream.kafka.settings import KafkaSettings


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result()


def produce_values(bootstrap: str, topic: str, values: list[bytes]) -> None:
    report = DeliveryReport()
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), {"acks": "all"}, report)
    send(producer, topic, [None] * len(values), values, report)
    report.undelivered = producer.flush(30)
    assert report.failed == 0 and report.sent == len(values), report.errors


def consume_all(bootstrap: str, topic: str, expected_at_least: int = 1, timeout_s: float = 30):
    """Read a topic from the beginning until it stays quiet for 2 s (after ``expected_at_least``)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages, quiet_since = [], None
    deadline = datetime.now() + timedelta(seconds=timeout_s)
    try:
        while datetime.now() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if len(messages) >= expected_at_least:
                    quiet_since = quiet_since or datetime.now()
                    if datetime.now() - quiet_since > timedelta(seconds=2):
                        break
                continue
            if message.error():
                continue
            quiet_since = None
            messages.append(message)
    finally:
        consumer.close()
    return messages


def expected_tumbling_windows(
    rides: list[dict], size: timedelta, watermark_delay: timedelta, closed_only: bool = True
):
    """Compute append-mode output in plain Python: the windows closed by the final watermark.

    With ``closed_only=False``, every window (what update mode ends with when no ride is late).

    Assumes no ride is late (the test produces rides out of order by less than the delay).
    Returns {(window_start, zone): (count, total_amount, tip_amount, avg_trip_distance)}.
    """
    epoch = datetime(1970, 1, 1)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for ride in rides:
        pickup = ride["tpep_pickup_datetime"]
        start = epoch + size * ((pickup - epoch) // size)
        groups[(start, ride["PULocationID"])].append(ride)
    watermark = max(r["tpep_pickup_datetime"] for r in rides) - watermark_delay
    return {
        key: (
            len(members),
            sum(r["total_amount"] for r in members),
            sum(r["tip_amount"] for r in members),
            sum(r["trip_distance"] for r in members) / len(members),
        )
        for key, members in groups.items()
        if key[0] + size <= watermark or not closed_only
    }


def encode_all(rides: list[dict]) -> list[bytes]:
    return [encode_json(ride) for ride in rides]


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)
