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


def test_stop_ends_the_broker_process(tmp_path):
    from ridestream.local import free_port

    broker = EmbeddedKafka(data_dir=tmp_path / "k", port=free_port(), controller_port=free_port())
    broker.start()
    pid = broker.pid()
    assert pid is not None
    broker.stop()
    assert not broker.is_running()
    assert not broker.pid_file.exists()
