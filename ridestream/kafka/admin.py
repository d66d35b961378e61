"""Admin calls: is the cluster reachable, does a topic exist, create topics."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ridestream.config import KafkaSettings


class KafkaUnavailable(RuntimeError):
    """The cluster cannot be reached, or a topic the job needs is missing."""


def admin_client(kafka: KafkaSettings) -> AdminClient:
    """Return an AdminClient for the configured cluster (librdkafka's own logging silenced)."""
    return AdminClient({**kafka.client_config(), "log_level": 0})


def check_topics(kafka: KafkaSettings, topics: list[str], timeout_s: float = 10.0) -> None:
    """Raise :class:`KafkaUnavailable` unless the cluster answers and every topic exists."""
    try:
        metadata = admin_client(kafka).list_topics(timeout=timeout_s)
    except KafkaException as error:
        raise KafkaUnavailable(
            f"cannot reach Kafka at {kafka.bootstrap_servers} ({error.args[0].str()}): start the "
            "embedded broker with `./rides kafka start`, or fix kafka.bootstrap_servers / "
            "--bootstrap-servers"
        ) from None
    missing = [topic for topic in topics if topic not in metadata.topics]
    if missing:
        raise KafkaUnavailable(
            f"topic {', '.join(missing)} does not exist on {kafka.bootstrap_servers}: produce rides "
            "first (`./rides datagen`), or fix source.topic / --topic"
        )


def ensure_topic(kafka: KafkaSettings, topic: str, partitions: int, replication: int = 1) -> bool:
    """Create ``topic`` unless it exists; return True when it was created."""
    admin = admin_client(kafka)
    if topic in admin.list_topics(timeout=10).topics:
        return False
    future = admin.create_topics([NewTopic(topic, partitions, replication)])[topic]
    try:
        future.result()
    except KafkaException as error:
        if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
            raise
        return False
    return True
