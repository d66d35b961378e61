"""ride_windows on Avro values: a real broker, a schema registry, and the job on the runner.

The registry here is ridestream's local one (``ridestream.registry``), standing in for
Confluent's Schema Registry, which cannot run on this machine; the schemas are registered through
confluent-kafka's real ``SchemaRegistryClient``, and the job asks the registry over the same REST
API it would ask Confluent's. The topic mixes rides written with two versions of the ride schema
(v1 lacks ``congestion_surcharge``, added later with a default) and corrupt Avro records.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from ridestream.config import SchemaRegistrySettings
from ridestream.kafka.avro import encode_record, parse_schema, wire_header
from ridestream.kafka.avro_values import AvroReader, AvroValues, IncompatibleSchema
from ridestream.kafka.datagen import RideGenerator, rides_between
from ridestream.local import free_port
from ridestream.registry import EmbeddedRegistry
from ridestream.schemas import load_avro
from tests.integration.helpers import create_topic, expected_tumbling_windows, produce_values
from tests.integration.jobs import (
    WATERMARK,
    WINDOW,
    assert_windows_equal,
    delta_windows,
    job_flags,
    run_job,
)

pytestmark = pytest.mark.integration

DECLARED = load_avro("ride")
ADDED = "congestion_surcharge"
V1 = {**DECLARED, "fields": [f for f in DECLARED["fields"] if f["name"] != ADDED]}
TOPIC = "rides_avro_e2e"


@pytest.fixture(scope="module")
def registry(kafka_broker, tmp_path_factory):
    """The local registry (in Confluent's place), its schemas in a topic of the shared broker."""
    registry = EmbeddedRegistry(
        tmp_path_factory.mktemp("registry"),
        port=free_port(),
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="_schemas_avro_jobs",
    )
    registry.start()
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def avro_topic(kafka_broker, registry):
    """Rides in v1 and v2 of the ride schema, and bad records: (good rides, {offset: (raw, reason)})."""
    client = SchemaRegistryClient({"url": registry.url})
    subject = f"{TOPIC}-value"
    v1_id = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    # BACKWARD (the default): the added field has a default, so the registry accepts v2.
    v2_id = client.register_schema(subject, Schema(json.dumps(DECLARED), "AVRO"))
    client.close()
    v1_schema, v2_schema = parse_schema(V1), parse_schema(DECLARED)

    rides = list(
        rides_between(
            datetime(2024, 5, 1, 8, 0),
            datetime(2024, 5, 1, 8, 30),
            240,
            seed=11,
            disorder_s=60,
        )
    )
    values = []
    for index, ride in enumerate(rides):
        if index % 2:
            values.append(encode_record(ride, v2_id, v2_schema))
        else:
            old = {k: v for k, v in ride.items() if k != ADDED}
            values.append(encode_record(old, v1_id, v1_schema))
    good = values[1]
    bad = {
        10: (b'{"PULocationID": 1}', "not_avro"),
        40: (good[:4], "not_avro"),
        70: (wire_header(v2_id + 1000) + good[5:], "unknown_schema_id"),
        100: (good[:-2], "undecodable"),
        130: (good + b"\x00\x00", "undecodable"),
        160: (wire_header(v1_id) + good[5:], "undecodable"),
    }
    for offset, (raw, _) in sorted(bad.items()):
        values.insert(offset, raw)
    create_topic(kafka_broker.bootstrap_servers, TOPIC, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, TOPIC, values)
    return rides, bad


def test_the_job_windows_v1_and_v2_rides_and_dead_letters_corrupt_avro(
    spark, kafka_broker, registry, avro_topic, tmp_path
):
    rides, bad = avro_topic
    profile = tmp_path / "avro.toml"
    profile.write_text(
        f'[kafka]\nbootstrap_servers = "{kafka_broker.bootstrap_servers}"\n'
        f'[embedded]\nkafka = false\n[schema_registry]\nurl = "{registry.url}"\n'
    )
    flags = [
        "--profile",
        str(profile),
        *job_flags(TOPIC, tmp_path),
        "--format",
        "avro",
        # Two batches: the second's watermark closes the windows.
        "--max-offsets-per-trigger",
        "150",
        "--sink",
        "delta",
        "--delta-path",
        str(tmp_path / "windows"),
        "--dead-letter",
        "delta",
        "--dead-letter-path",
        str(tmp_path / "rejects"),
    ]
    assert run_job(spark, flags) == 0

    actual, written = delta_windows(spark, tmp_path / "windows")
    assert written == len(actual), "a window was written twice"
    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    assert len(expected) > 20
    assert_windows_equal(actual, expected)

    rejects = spark.read.format("delta").load(str(tmp_path / "rejects")).orderBy("offset").collect()
    assert [(row.offset, bytes(row.value), row.reason) for row in rejects] == [
        (offset, raw, reason) for offset, (raw, reason) in sorted(bad.items())
    ]


def test_datagen_writes_avro_that_the_registry_aware_consumer_reads_back(registry):
    settings = SchemaRegistrySettings(url=registry.url)
    start = datetime(2024, 5, 1, 9, 0)
    avro = RideGenerator(
        start, 10, seed=5, value_format="avro", avro=AvroValues(settings, "datagen_avro", "ride")
    )
    twin = RideGenerator(start, 10, seed=5)  # the same rides, as dicts
    values = avro.take(30).values
    reader = AvroReader(settings)
    assert [reader.decode(value, "datagen_avro") for value in values] == [
        twin.ride() for _ in range(30)
    ]
    client = SchemaRegistryClient({"url": registry.url})
    latest = client.get_latest_version("datagen_avro-value")
    client.close()
    assert json.loads(latest.schema.schema_str) == DECLARED


def test_produce_stops_in_one_line_when_the_registry_refuses_the_schema(registry):
    """The course's incompatible change: a required field without a default is added."""
    settings = SchemaRegistrySettings(url=registry.url)
    older = {**DECLARED, "fields": [f for f in DECLARED["fields"] if f["name"] != "total_amount"]}
    client = SchemaRegistryClient({"url": registry.url})
    client.register_schema("refused-value", Schema(json.dumps(older), "AVRO"))
    client.close()
    with pytest.raises(IncompatibleSchema) as refused:
        AvroValues(settings, "refused", "ride")
    line = str(refused.value)
    assert "\n" not in line
    assert "'refused-value'" in line
    assert "compatibility BACKWARD" in line
    assert "field total_amount" in line
