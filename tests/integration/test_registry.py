"""The local Schema Registry, driven only through confluent-kafka's real registry client.

Confluent's Schema Registry cannot run on this machine (not on Maven Central; no Docker), so
``ridestream.registry`` stands in for it: these tests hold it to Confluent's protocol by using
nothing but ``SchemaRegistryClient``, ``AvroSerializer`` and ``AvroDeserializer``, as a producer
or consumer would against Confluent's registry. Its store is a topic on the session's embedded
broker. One registry serves the module; the tests that restart or break a registry start their
own, on their own topic.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from ridestream.kafka.avro import from_avro_record, schema_id_of, to_avro_record
from ridestream.local import free_port
from ridestream.registry import EmbeddedRegistry, RegistryError
from ridestream.schemas import load_avro

pytestmark = pytest.mark.integration

# A small record and its evolutions, written out here (the expected side of the tests).
V1 = {"type": "record", "name": "Fare", "fields": [{"name": "amount", "type": "double"}]}
WITH_DEFAULT = {
    "type": "record",
    "name": "Fare",
    "fields": [
        {"name": "amount", "type": "double"},
        {"name": "tip", "type": "double", "default": 0.0},
    ],
}
WITHOUT_DEFAULT = {
    "type": "record",
    "name": "Fare",
    "fields": [{"name": "amount", "type": "double"}, {"name": "tip", "type": "double"}],
}
AMOUNT_AS_STRING = {
    "type": "record",
    "name": "Fare",
    "fields": [{"name": "amount", "type": "string"}],
}
ONLY_TIP = {
    "type": "record",
    "name": "Fare",
    "fields": [{"name": "tip", "type": "double", "default": 0.0}],
}
OTHER = {"type": "record", "name": "Zone", "fields": [{"name": "id", "type": "int"}]}

RIDE = {
    "VendorID": 2,
    "tpep_pickup_datetime": datetime(2024, 5, 1, 8, 0, 0),
    "tpep_dropoff_datetime": datetime(2024, 5, 1, 8, 17, 30, 250000),
    "passenger_count": 1,
    "trip_distance": 2.5,
    "RatecodeID": 1,
    "store_and_fwd_flag": "N",
    "PULocationID": 237,
    "DOLocationID": 161,
    "payment_type": 1,
    "fare_amount": 14.2,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 3.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 1.0,
    "total_amount": 22.2,
    "congestion_surcharge": None,
}


def avro(schema: dict, indent: int | None = None) -> Schema:
    return Schema(json.dumps(schema, indent=indent), "AVRO")


@pytest.fixture(scope="module")
def registry(kafka_broker, tmp_path_factory):
    registry = EmbeddedRegistry(
        tmp_path_factory.mktemp("registry"),
        port=free_port(),
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="_schemas_module",
    )
    registry.start()
    yield registry
    registry.stop()


@pytest.fixture
def client(registry):
    """A new client per test: its caches never answer in the registry's place."""
    client = SchemaRegistryClient({"url": registry.url})
    yield client
    client.close()


@pytest.fixture
def subject(request) -> str:
    """A subject of this test's own (the module's tests share one registry)."""
    return f"{request.node.name}-value"


def registry_error(call) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as caught:
        call()
    return caught.value


def test_reregistering_a_schema_returns_its_id_and_adds_no_version(registry, subject):
    first = SchemaRegistryClient({"url": registry.url})
    schema_id = first.register_schema(subject, avro(V1))
    # Another client (no cache) and another rendering of the same schema.
    second = SchemaRegistryClient({"url": registry.url})
    assert second.register_schema(subject, avro(V1, indent=2)) == schema_id
    assert second.get_versions(subject) == [1]
    assert second.register_schema(subject, avro(WITH_DEFAULT)) != schema_id


def test_the_same_schema_under_two_subjects_has_one_id(client, subject):
    schema_id = client.register_schema(f"{subject}-a", avro(OTHER))
    assert client.register_schema(f"{subject}-b", avro(OTHER)) == schema_id
    assert client.get_subjects_by_schema_id(schema_id) == [f"{subject}-a", f"{subject}-b"]
    pairs = [(v.subject, v.version) for v in client.get_schema_versions(schema_id)]
    assert pairs == [(f"{subject}-a", 1), (f"{subject}-b", 1)]


def test_a_schema_is_found_by_id_and_under_its_subject(client, subject):
    schema_id = client.register_schema(subject, avro(V1))
    assert json.loads(client.get_schema(schema_id).schema_str) == V1
    found = client.lookup_schema(subject, avro(V1, indent=4))
    assert (found.schema_id, found.version, found.subject) == (schema_id, 1, subject)
    error = registry_error(lambda: client.lookup_schema(subject, avro(OTHER)))
    assert (error.http_status_code, error.error_code) == (404, 40403)


def test_versions_count_up_and_latest_is_the_newest(client, subject):
    first = client.register_schema(subject, avro(V1))
    second = client.register_schema(subject, avro(WITH_DEFAULT))
    assert client.get_versions(subject) == [1, 2]
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, second)
    assert json.loads(latest.schema.schema_str) == WITH_DEFAULT
    assert client.get_version(subject, 1).schema_id == first
    assert subject in client.get_subjects()


def test_backward_refuses_an_added_field_without_default_and_names_it(client, subject):
    client.register_schema(subject, avro(V1))
    error = registry_error(lambda: client.register_schema(subject, avro(WITHOUT_DEFAULT)))
    assert (error.http_status_code, error.error_code) == (409, 409)
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in error.error_message
    assert "The field 'tip'" in error.error_message
    assert client.get_versions(subject) == [1]


def test_backward_accepts_an_added_field_with_a_default(client, subject):
    client.register_schema(subject, avro(V1))
    client.register_schema(subject, avro(WITH_DEFAULT))
    assert client.get_versions(subject) == [1, 2]


def test_compatibility_none_on_one_subject_allows_anything_there_only(client, subject):
    client.register_schema(subject, avro(V1))
    client.register_schema(f"{subject}-strict", avro(V1))
    assert client.set_compatibility(subject, "none") == {"compatibility": "NONE"}
    assert client.get_compatibility(subject) == "NONE"
    assert client.get_compatibility() == "BACKWARD"
    client.register_schema(subject, avro(AMOUNT_AS_STRING))
    assert client.get_versions(subject) == [1, 2]
    error = registry_error(
        lambda: client.register_schema(f"{subject}-strict", avro(AMOUNT_AS_STRING))
    )
    assert (error.http_status_code, error.error_code) == (409, 409)
    assert "TYPE_MISMATCH" in error.error_message
    error = registry_error(lambda: client.set_compatibility(subject, "SIDEWAYS"))
    assert (error.http_status_code, error.error_code) == (422, 42203)


def test_forward_judges_whether_the_old_schema_reads_the_new(client, subject):
    client.set_compatibility(subject, "FORWARD")
    client.register_schema(subject, avro(V1))
    # An added field without a default: readers of the old schema skip it.
    assert client.test_compatibility(subject, avro(WITHOUT_DEFAULT)) is True
    # 'amount' dropped: readers of the old schema need it (no default). BACKWARD would allow it.
    error = registry_error(lambda: client.register_schema(subject, avro(ONLY_TIP)))
    assert (error.http_status_code, error.error_code) == (409, 409)
    assert (
        "The field 'amount' at path '/fields/0' in the old schema has no default value and is "
        "missing in the new schema" in error.error_message
    )
    client.set_compatibility(subject, "BACKWARD")
    assert client.test_compatibility(subject, avro(ONLY_TIP)) is True
    client.set_compatibility(subject, "FULL")
    assert client.test_compatibility(subject, avro(WITHOUT_DEFAULT)) is False
    assert client.test_compatibility(subject, avro(ONLY_TIP)) is False


def test_transitive_levels_judge_every_live_version(client, subject):
    client.set_compatibility(subject, "NONE")
    client.register_schema(subject, avro(AMOUNT_AS_STRING))
    client.register_schema(subject, avro(V1))  # amount: string -> double, allowed under NONE
    client.set_compatibility(subject, "BACKWARD")
    # Readable from version 2 (the latest), not from version 1.
    assert client.test_compatibility_all_versions(subject, avro(WITH_DEFAULT)) is True
    client.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    assert client.test_compatibility_all_versions(subject, avro(WITH_DEFAULT)) is False
    error = registry_error(lambda: client.register_schema(subject, avro(WITH_DEFAULT)))
    assert (error.http_status_code, error.error_code) == (409, 409)
    assert "TYPE_MISMATCH" in error.error_message
    assert "{oldSchemaVersion: 1}" in error.error_message


def test_test_compatibility_answers_without_registering(client, subject):
    client.register_schema(subject, avro(V1))
    assert client.test_compatibility(subject, avro(WITH_DEFAULT)) is True
    assert client.test_compatibility(subject, avro(WITHOUT_DEFAULT), version=1) is False
    assert client.test_compatibility_all_versions(subject, avro(WITHOUT_DEFAULT)) is False
    assert client.get_versions(subject) == [1]


def test_a_deleted_version_is_soft_first_then_permanent(registry, client, subject):
    # Ids are global: schemas of this test's own, so no other subject holds the deleted one.
    only_here, evolved = {**V1, "name": "Deleted"}, {**WITH_DEFAULT, "name": "Deleted"}
    first = client.register_schema(subject, avro(only_here))
    client.register_schema(subject, avro(evolved))
    error = registry_error(lambda: client.delete_version(subject, 1, permanent=True))
    assert (error.http_status_code, error.error_code) == (404, 40407)
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert client.get_versions(subject, deleted=True) == [1, 2]
    # A soft-deleted schema stays readable by id: records written with it still decode.
    assert json.loads(client.get_schema(first).schema_str) == only_here
    error = registry_error(lambda: client.delete_version(subject, 1))
    assert (error.http_status_code, error.error_code) == (404, 40406)
    assert client.delete_version(subject, 1, permanent=True) == 1
    assert client.get_versions(subject, deleted=True) == [2]
    uncached = SchemaRegistryClient({"url": registry.url})  # ``client`` remembers the schema
    error = registry_error(lambda: uncached.get_schema(first))
    assert (error.http_status_code, error.error_code) == (404, 40403)


def test_a_deleted_subject_is_soft_first_then_permanent(client, subject):
    client.register_schema(subject, avro(V1))
    client.register_schema(subject, avro(WITH_DEFAULT))
    error = registry_error(lambda: client.delete_subject(subject, permanent=True))
    assert (error.http_status_code, error.error_code) == (404, 40405)
    assert client.delete_subject(subject) == [1, 2]
    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    error = registry_error(lambda: client.get_latest_version(subject))
    assert (error.http_status_code, error.error_code) == (404, 40401)
    error = registry_error(lambda: client.delete_subject(subject))
    assert (error.http_status_code, error.error_code) == (404, 40404)
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert subject not in client.get_subjects(deleted=True)
    # Registering again starts the subject over, at version 1.
    client.register_schema(subject, avro(V1))
    assert client.get_versions(subject) == [1]


def test_unknown_subjects_versions_and_ids_get_confluents_errors(client, subject):
    error = registry_error(lambda: client.get_latest_version(subject))
    assert (error.http_status_code, error.error_code) == (404, 40401)
    client.register_schema(subject, avro(V1))
    error = registry_error(lambda: client.get_version(subject, 7))
    assert (error.http_status_code, error.error_code) == (404, 40402)
    error = registry_error(lambda: client.get_version(subject, 0))
    assert (error.http_status_code, error.error_code) == (422, 42202)
    error = registry_error(lambda: client.get_schema(987654))
    assert (error.http_status_code, error.error_code) == (404, 40403)
    invalid = Schema('{"type": "record", "name": "Broken", "fields": [{"name": "x"}]}', "AVRO")
    error = registry_error(lambda: client.register_schema(subject, invalid))
    assert (error.http_status_code, error.error_code) == (422, 42201)


def consume(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"test-{topic}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    messages = []
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
            if len(messages) == count:
                break
    finally:
        consumer.close()
    return messages


def test_a_ride_goes_through_serializer_broker_and_deserializer(kafka_broker, client):
    topic = "rides_avro_roundtrip"
    context = SerializationContext(topic, MessageField.VALUE)
    serializer = AvroSerializer(client, json.dumps(load_avro("ride")), to_dict=to_avro_record)
    value = serializer(RIDE, context)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce(topic, value=value)
    assert producer.flush(30) == 0

    [message] = consume(kafka_broker.bootstrap_servers, topic, 1)
    registered = client.get_latest_version(f"{topic}-value")
    assert schema_id_of(message.value()) == registered.schema_id
    deserializer = AvroDeserializer(client, from_dict=from_avro_record)
    assert deserializer(message.value(), context) == RIDE


def test_a_v1_ride_is_read_with_the_v2_schema_and_its_default(kafka_broker, client):
    topic = "rides_avro_evolution"
    context = SerializationContext(topic, MessageField.VALUE)
    v1 = load_avro("ride")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "source", "type": "string", "default": "meter"}]}
    value = AvroSerializer(client, json.dumps(v1), to_dict=to_avro_record)(RIDE, context)
    client.register_schema(f"{topic}-value", avro(v2))  # BACKWARD: accepted, a default
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce(topic, value=value)
    assert producer.flush(30) == 0

    [message] = consume(kafka_broker.bootstrap_servers, topic, 1)
    # The consumer reads with the subject's latest schema (v2), as Confluent's clients can.
    deserializer = AvroDeserializer(
        client, conf={"use.latest.version": True}, from_dict=from_avro_record
    )
    assert deserializer(message.value(), context) == {**RIDE, "source": "meter"}


def test_ids_versions_and_levels_survive_a_restart_on_the_same_topic(kafka_broker, tmp_path):
    """Also: the store is a compacted one-partition topic with Confluent's record keys."""
    topic = "_schemas_restart"
    first = EmbeddedRegistry(
        tmp_path / "first", free_port(), kafka_broker.bootstrap_servers, topic=topic
    )
    first.start()
    client = SchemaRegistryClient({"url": first.url})
    assert client.register_schema("fares-value", avro(V1)) == 1
    assert client.register_schema("zones-value", avro(OTHER)) == 2
    assert client.register_schema("fares-value", avro(WITH_DEFAULT)) == 3
    assert client.register_schema("copy-value", avro(V1)) == 1
    client.set_compatibility("zones-value", "NONE")
    client.delete_version("fares-value", 1)
    pid = first.pid()
    first.stop()
    assert pid is not None and not first.is_running() and not first.pid_file.exists()
    assert "ridestream registry stopped" in first.tail_log(3)  # SIGTERM, not SIGKILL

    second = EmbeddedRegistry(
        tmp_path / "second", free_port(), kafka_broker.bootstrap_servers, topic=topic
    )
    second.start()
    try:
        client = SchemaRegistryClient({"url": second.url})
        assert json.loads(client.get_schema(1).schema_str) == V1
        assert json.loads(client.get_schema(2).schema_str) == OTHER
        assert client.get_versions("fares-value") == [2]
        assert client.get_versions("fares-value", deleted=True) == [1, 2]
        assert client.get_latest_version("fares-value").schema_id == 3
        assert client.get_compatibility("zones-value") == "NONE"
        # A known schema keeps its id under a new subject; a new schema gets the next id.
        assert client.register_schema("again-value", avro(V1)) == 1
        assert (
            client.register_schema("new-value", avro(AMOUNT_AS_STRING), normalize_schemas=True) == 4
        )
    finally:
        second.stop()

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 1
    resource = ConfigResource(ResourceType.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"
    first_record = consume(kafka_broker.bootstrap_servers, topic, 1)[0]
    assert json.loads(first_record.key()) == {
        "keytype": "SCHEMA",
        "subject": "fares-value",
        "version": 1,
        "magic": 1,
    }


def test_a_taken_port_is_one_line_that_says_what_to_do(registry):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ridestream.registry",
            "--port",
            str(registry.port),
            "--bootstrap-servers",
            registry.bootstrap_servers,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ridestream-registry: port {registry.port} on 127.0.0.1 is taken by another process: "
        "stop it, or give the registry another --port"
    )


def test_an_unreachable_broker_is_one_line_that_says_what_to_do(tmp_path):
    nothing_there = f"127.0.0.1:{free_port()}"
    registry = EmbeddedRegistry(
        tmp_path, free_port(), bootstrap_servers=nothing_there, kafka_timeout_s=1
    )
    with pytest.raises(RegistryError) as caught:
        registry.start(timeout=30)
    message = str(caught.value)
    assert message.startswith(f"cannot reach Kafka at {nothing_there}")
    assert message.endswith("start the broker (`./rides kafka start`), or fix --bootstrap-servers")
    assert "Traceback" not in registry.log_file.read_text()
    assert not registry.is_running()
