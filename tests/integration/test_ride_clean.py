"""ride_clean on a real broker: real-time mode writes what a micro-batch run writes, record for record.

One input (valid rides over many zones, and malformed records of the parsing corpus) is cleaned
twice: with ``--trigger available-now`` (micro-batches) and with ``--trigger real-time`` (stopped
once every record came out). Both runs must write the same clean records and the same rejects,
and those must be what a plain-Python reading of the input and of the zone lookup expects.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter
from contextlib import redirect_stderr
from datetime import datetime

import pytest
from confluent_kafka import Consumer

from ridestream import runner
from ridestream.errors import EXIT_OK, EXIT_STOPPED
from ridestream.jobs.ride_clean import JOB
from ridestream.kafka.datagen import encode_json, rides_between
from ridestream.kafka.producer import DeliveryReport, make_producer, send
from ridestream.kafka.settings import KafkaSettings
from ridestream.paths import PROJECT_ROOT
from tests.corpus import MALFORMED
from tests.integration.helpers import create_topic
from tests.integration.jobs import write_profile

TOPIC = "rides_clean_in"
# A corpus record of each shape but the 64 KiB ones (they would only slow the test down).
REJECTS = [record for record in MALFORMED if record.reason != "oversized"]


def produce_keyed(bootstrap: str, topic: str, keys: list[str], values: list[bytes | None]):
    report = DeliveryReport()
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), {"acks": "all"}, report)
    send(producer, topic, keys, values, report)
    report.undelivered = producer.flush(30)
    assert report.failed == 0 and report.sent == len(values), report.errors


def read_topic(bootstrap: str, topic: str) -> list:
    """Return every record of ``topic`` now (from the beginning to its end)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        consumer.close()
        return []
    consumer.subscribe([topic])
    records, at_end, deadline = [], set(), time.monotonic() + 20
    try:
        while len(at_end) < len(metadata.partitions) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                at_end.add(message.partition())
                continue
            records.append(message)
    finally:
        consumer.close()
    return records


def as_written(message) -> tuple:
    """Return a record as written: key, value, and its headers."""
    return message.key(), message.value(), tuple(message.headers() or ())


def header(message, name: str) -> str:
    return dict(message.headers() or ())[name].decode()


def iso(value):
    """Return a ride field as Spark's to_json writes it (timestamps: ISO 8601, UTC, ms)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return value


@pytest.fixture(scope="module")
def cleaned(spark, kafka_broker, tmp_path_factory):
    """Run ride_clean over one input in micro-batches and in real-time mode; return both outputs."""
    bootstrap = kafka_broker.bootstrap_servers
    rides = list(rides_between(datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 9), 120, seed=19))
    keys = [str(ride["PULocationID"]) for ride in rides] + ["bad"] * len(REJECTS)
    values = [encode_json(ride) for ride in rides] + [record.value for record in REJECTS]
    create_topic(bootstrap, TOPIC, partitions=2)
    produce_keyed(bootstrap, TOPIC, keys, values)
    tmp = tmp_path_factory.mktemp("ride_clean")
    profile = str(write_profile(tmp, bootstrap))
    outputs = {}
    for trigger in ("available-now", "real-time"):
        name = trigger.replace("-", "_")
        clean, dead = f"clean_{name}", f"dead_{name}"
        settings = runner.settings_for(JOB, [
            "--profile", profile, "--topic", TOPIC, "--trigger", trigger,
            "--output-topic", clean, "--dead-letter-topic", dead,
            "--checkpoint-dir", str(tmp / name), "--shuffle-partitions", "2",
            # As the local profile bounds batches: real-time mode must do without the bound.
            "--max-offsets-per-trigger", "100",
        ])  # fmt: skip
        stop, seen, outcome = threading.Event(), io.StringIO(), {}

        def run(settings=settings, stop=stop, seen=seen, outcome=outcome) -> None:
            with redirect_stderr(seen):
                outcome["code"] = runner.execute(spark, JOB, settings, stop)

        job = threading.Thread(target=run, daemon=True)
        job.start()
        if trigger == "real-time":
            # It runs until stopped: stop it once every record is out (or after a minute).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and job.is_alive():
                out = len(read_topic(bootstrap, clean)) + len(read_topic(bootstrap, dead))
                if out >= len(values):
                    break
                time.sleep(1)
            stop.set()
        job.join(120)
        outputs[trigger] = {
            "code": outcome.get("code"),
            "console": seen.getvalue(),
            "clean": read_topic(bootstrap, clean),
            "dead": read_topic(bootstrap, dead),
        }
    return rides, outputs


def test_real_time_mode_writes_the_records_micro_batches_write(cleaned):
    _, outputs = cleaned
    batch, real_time = outputs["available-now"], outputs["real-time"]
    assert batch["code"] == EXIT_OK, batch["console"][-3000:]
    assert real_time["code"] == EXIT_STOPPED, real_time["console"][-3000:]
    assert "real-time mode, checkpoint every 5 seconds" in real_time["console"]
    for output in ("clean", "dead"):
        assert Counter(map(as_written, real_time[output])) == Counter(
            map(as_written, batch[output])
        ), output


@pytest.mark.parametrize("trigger", ["available-now", "real-time"])
def test_valid_rides_reach_the_clean_topic_with_their_zones(cleaned, trigger):
    rides, outputs = cleaned
    with (PROJECT_ROOT / "data" / "taxi_zone_lookup.csv").open(newline="") as handle:
        zones = {int(row["locationid"]): row for row in csv.DictReader(handle)}
    expected = Counter(
        (
            str(ride["PULocationID"]).encode(),
            json.dumps(
                {
                    **{name: iso(value) for name, value in ride.items() if value is not None},
                    "borough": zones[ride["PULocationID"]]["borough"],
                    "zone": zones[ride["PULocationID"]]["zone"],
                    "service_zone": zones[ride["PULocationID"]]["service_zone"],
                },
                sort_keys=True,
            ),
        )
        for ride in rides
    )
    clean = outputs[trigger]["clean"]
    actual = Counter(
        (message.key(), json.dumps(json.loads(message.value()), sort_keys=True))
        for message in clean
    )
    assert actual == expected
    # Each names the record it came from: one clean record per input offset.
    origins = {(header(m, "ridestream.source.partition"), header(m, "ridestream.source.offset"))
               for m in clean}  # fmt: skip
    assert len(origins) == len(rides)
    assert {header(m, "ridestream.source.topic") for m in clean} == {TOPIC}


@pytest.mark.parametrize("trigger", ["available-now", "real-time"])
def test_rejects_reach_the_dead_letter_topic_with_their_reasons(cleaned, trigger):
    _, outputs = cleaned
    expected = Counter((record.value, record.reason) for record in REJECTS)
    dead = outputs[trigger]["dead"]
    actual = Counter((m.value(), header(m, "ridestream.reason")) for m in dead)
    assert actual == expected
    assert {m.key() for m in dead} == {b"bad"}
