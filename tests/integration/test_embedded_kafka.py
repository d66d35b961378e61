import pytest
from confluent_kafka import Consumer

from ridestream.local import BrokerError, EmbeddedKafka
from tests.integration.helpers import create_topic, produce_values

pytestmark = pytest.mark.integration


def test_records_produced_to_the_embedded_broker_can_be_consumed(kafka_broker):
    create_topic(kafka_broker.bootstrap_servers, "roundtrip", partitions=2)
    produce_values(kafka_broker.bootstrap_servers, "roundtrip", [b"a", b"b", b"c"])
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": "roundtrip",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["roundtrip"])
    received = []
    for _ in range(60):
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            received.append(message.value())
        if len(received) == 3:
            break
    consumer.close()
    assert sorted(received) == [b"a", b"b", b"c"]


def test_starting_on_a_taken_port_says_which_port_and_what_to_do(kafka_broker, tmp_path):
    other = EmbeddedKafka(data_dir=tmp_path / "other", port=kafka_broker.port)
    with pytest.raises(BrokerError, match=f"port {kafka_broker.port} on 127.0.0.1 is taken"):
        other.start()


def test_a_missing_output_topic_is_refused_only_where_topics_are_not_auto_created(
    kafka_broker, tmp_path
):
    """Also: stop ends the broker process (one broker start for both)."""
    from ridestream.kafka.admin import KafkaUnavailable, check_topics
    from ridestream.kafka.settings import KafkaSettings
    from ridestream.local import free_port

    # The session broker creates topics on first write: a missing output topic is fine.
    create_topic(kafka_broker.bootstrap_servers, "preflight_in")
    check_topics(
        KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers),
        ["preflight_in"],
        outputs=["not_there_yet"],
    )

    # Like Confluent Cloud, this one does not: the job is stopped before Spark starts.
    broker = EmbeddedKafka(
        data_dir=tmp_path / "k",
        port=free_port(),
        controller_port=free_port(),
        auto_create_topics=False,
    )
    broker.start()
    pid = broker.pid()
    assert pid is not None
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
    create_topic(broker.bootstrap_servers, "preflight_in")
    check_topics(kafka, ["preflight_in"], outputs=["preflight_in"])
    with pytest.raises(
        KafkaUnavailable, match="output topic rides_dead_letter does not exist"
    ) as e:
        check_topics(kafka, ["preflight_in"], outputs=["rides_dead_letter"])
    assert "./rides topics create rides_dead_letter" in str(e.value)
    broker.stop()
    assert not broker.is_running()
    assert not broker.pid_file.exists()
