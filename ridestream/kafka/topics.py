"""Topic management: create, describe, list and delete, with confluent-kafka's AdminClient.

These are the course's ``kafka-topics`` steps (partitions, replication, retention, cleanup).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType

from ridestream.errors import ConfigError, UserError
from ridestream.kafka.admin import admin_client, check_topics
from ridestream.kafka.settings import KafkaSettings

CLEANUP_POLICIES = ("delete", "compact", "compact,delete")


class TopicError(UserError, RuntimeError):
    """A topic operation failed; the message says why and what to do."""


def create_topic(
    kafka: KafkaSettings,
    topic: str,
    partitions: int = 1,
    replication_factor: int = -1,
    retention: timedelta | None = None,
    cleanup_policy: str = "delete",
    config: dict[str, str] | None = None,
) -> None:
    """Create ``topic``; raise :class:`TopicError` if it exists or the broker refuses."""
    if cleanup_policy not in CLEANUP_POLICIES:
        raise ConfigError(
            f"cleanup policy {cleanup_policy!r}: choose {', '.join(CLEANUP_POLICIES)}"
        )
    check_topics(kafka, [])
    topic_config = {"cleanup.policy": cleanup_policy, **(config or {})}
    if retention is not None:
        topic_config["retention.ms"] = str(int(retention.total_seconds() * 1000))
    new = NewTopic(topic, partitions, replication_factor, config=topic_config)
    admin = admin_client(kafka)  # keep a reference: the future dies with its client
    try:
        admin.create_topics([new], request_timeout=15)[topic].result()
    except KafkaException as error:
        raise TopicError(f"cannot create topic {topic!r}: {error.args[0].str()}") from None


def delete_topic(kafka: KafkaSettings, topic: str) -> None:
    """Delete ``topic``; raise :class:`TopicError` if it does not exist."""
    check_topics(kafka, [topic])
    admin = admin_client(kafka)
    try:
        admin.delete_topics([topic], request_timeout=15)[topic].result()
    except KafkaException as error:
        raise TopicError(f"cannot delete topic {topic!r}: {error.args[0].str()}") from None


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: leader, replicas, in-sync replicas, and its offset range."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isrs: tuple[int, ...]
    low: int
    high: int

    @property
    def messages(self) -> int:
        """Records currently retained (high - low watermark)."""
        return self.high - self.low


@dataclass(frozen=True)
class TopicInfo:
    """A topic's partitions and its configuration values that differ from the defaults."""

    name: str
    partitions: tuple[PartitionInfo, ...]
    config: dict[str, str]

    @property
    def messages(self) -> int:
        """Records retained over all partitions."""
        return sum(p.messages for p in self.partitions)


def _watermarks(
    kafka: KafkaSettings, topic: str, partitions: list[int]
) -> dict[int, tuple[int, int]]:
    from confluent_kafka import Consumer

    consumer = Consumer({**kafka.client_config(), "group.id": "ridestream-topics", "log_level": 0})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in partitions
        }
    finally:
        consumer.close()


def describe_topics(
    kafka: KafkaSettings, topics: list[str] | None = None, with_config: bool = True
) -> list[TopicInfo]:
    """Describe ``topics`` (default: every topic but Kafka's internal ones), sorted by name."""
    check_topics(kafka, topics or [])
    admin = admin_client(kafka)
    metadata = admin.list_topics(timeout=10)
    names = sorted(topics or [t for t in metadata.topics if not t.startswith("__")])
    configs: dict[str, dict[str, str]] = {}
    if with_config and names:
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
        for resource, future in admin.describe_configs(resources, request_timeout=15).items():
            entries = future.result()
            configs[resource.name] = {
                key: entry.value
                for key, entry in sorted(entries.items())
                if not entry.is_default and entry.value is not None
            }
    described = []
    for name in names:
        topic = metadata.topics[name]
        marks = _watermarks(kafka, name, sorted(topic.partitions))
        partitions = tuple(
            PartitionInfo(
                partition=p.id,
                leader=p.leader,
                replicas=tuple(p.replicas),
                isrs=tuple(p.isrs),
                low=marks[p.id][0],
                high=marks[p.id][1],
            )
            for p in sorted(topic.partitions.values(), key=lambda item: item.id)
        )
        described.append(TopicInfo(name, partitions, configs.get(name, {})))
    return described
