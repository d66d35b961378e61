"""The registry's durable store: a compacted, single-partition Kafka topic (``_schemas``).

As in Confluent's registry, the topic is the database. On start the registry reads it from the
beginning; every change is produced with ``acks=all`` and acknowledged before the HTTP answer
goes out, so an answered change survives a restart of the registry (and, with replication, of a
broker). One partition keeps the records in order; compaction keeps the latest record of each
key, which is all the state needs.

Exactly one registry may write to a topic: ids are handed out from what this process has read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from ridestream.registry.errors import RegistryError
from ridestream.registry.state import Record

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "_schemas"
# A write that Kafka has not acknowledged in this time is reported as failed (HTTP 500, 50001),
# and librdkafka gives up on it by then too, so it cannot land later behind the registry's back.
WRITE_TIMEOUT_S = 15.0


class StoreError(Exception):
    """Kafka did not acknowledge every record of a change.

    ``delivered`` records (from the first) were written, in order, and must be applied.
    """

    def __init__(self, delivered: int, reason: str) -> None:
        super().__init__(reason)
        self.delivered = delivered
        self.reason = reason


class SchemaLog:
    """Read and append the registry's records in one Kafka topic.

    Parameters
    ----------
    bootstrap_servers
        The Kafka cluster, ``host:port[,host:port...]``.
    topic
        The compacted topic that holds the records; created on first use.
    timeout_s
        How long to wait for Kafka to answer at start.
    """

    def __init__(self, bootstrap_servers: str, topic: str = DEFAULT_TOPIC, timeout_s: float = 10.0):
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Producer | None = None

    def open(self) -> list[Record]:
        """Create the topic if it is missing, check its shape, and return all its records."""
        # A topic created just now is empty (and may not have a leader yet to ask for offsets).
        records = [] if self._ensure_topic() else self._read_all()
        self._producer = Producer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "acks": "all",
                # No duplicates and no reordering on retries: the topic is replayed in order.
                "enable.idempotence": True,
                "linger.ms": 0,
                "message.timeout.ms": int(WRITE_TIMEOUT_S * 1000),
                "log_level": 0,
            }
        )
        return records

    def append(self, records: Sequence[Record]) -> None:
        """Write ``records`` in order and wait until Kafka acknowledged each (``acks=all``).

        Raises :class:`StoreError` (with how many were written) when any was not acknowledged.
        """
        if self._producer is None:
            raise StoreError(0, "the store is not open")
        errors: list[KafkaError | None] = [None] * len(records)
        acknowledged = [False] * len(records)

        def report(index: int):  # noqa: ANN202 - a librdkafka delivery callback
            def on_delivery(error: KafkaError | None, _message: object) -> None:
                errors[index] = error
                acknowledged[index] = error is None

            return on_delivery

        try:
            for index, record in enumerate(records):
                self._producer.produce(
                    self.topic,
                    key=record.key_bytes(),
                    value=record.value_bytes(),
                    partition=0,
                    on_delivery=report(index),
                )
        except (BufferError, KafkaException) as error:
            self._producer.flush(WRITE_TIMEOUT_S + 5)
            raise StoreError(_delivered(acknowledged), str(error)) from None
        # librdkafka reports every record by WRITE_TIMEOUT_S; the margin is for the report itself.
        self._producer.flush(WRITE_TIMEOUT_S + 5)
        delivered = _delivered(acknowledged)
        if delivered < len(records):
            error = next((e for e in errors if e is not None), None)
            reason = error.str() if error is not None else "no acknowledgement from Kafka"
            raise StoreError(
                delivered, f"{reason} (topic {self.topic} on {self.bootstrap_servers})"
            )

    def close(self) -> None:
        """Deliver what is in flight and release the producer."""
        if self._producer is not None:
            self._producer.flush(WRITE_TIMEOUT_S)
            self._producer = None

    def _ensure_topic(self) -> bool:
        """Check the topic, creating it when it is missing; return True when it was created."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=self.timeout_s)
        except KafkaException as error:
            raise RegistryError(
                f"cannot reach Kafka at {self.bootstrap_servers} ({error.args[0].str()}): start "
                "the broker (`./rides kafka start`), or fix --bootstrap-servers"
            ) from None
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            return self._create_topic(admin, replication=min(3, len(metadata.brokers)))
        if len(topic.partitions) != 1:
            raise RegistryError(
                f"topic {self.topic} on {self.bootstrap_servers} has {len(topic.partitions)} "
                "partitions; the registry needs exactly 1 (its records must stay in order): "
                "choose another --topic"
            )
        resource = ConfigResource(ResourceType.TOPIC, self.topic)
        try:
            configs = admin.describe_configs([resource])[resource].result(timeout=self.timeout_s)
        except (KafkaException, TimeoutError) as error:
            raise RegistryError(f"cannot describe topic {self.topic}: {error}") from None
        policy = configs["cleanup.policy"].value if "cleanup.policy" in configs else "delete"
        if "compact" not in (policy or ""):
            raise RegistryError(
                f"topic {self.topic} on {self.bootstrap_servers} has cleanup.policy={policy}: "
                "retention would delete registered schemas; set cleanup.policy=compact on it, "
                "or choose another --topic"
            )
        return False

    def _create_topic(self, admin: AdminClient, replication: int) -> bool:
        new = NewTopic(self.topic, 1, max(replication, 1), config={"cleanup.policy": "compact"})
        try:
            admin.create_topics([new], request_timeout=self.timeout_s)[self.topic].result()
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RegistryError(
                    f"cannot create topic {self.topic} on {self.bootstrap_servers}: "
                    f"{error.args[0].str()}"
                ) from None
            return False
        log.info("created topic %s (1 partition, cleanup.policy=compact)", self.topic)
        return True

    def _read_all(self) -> list[Record]:
        """Return the topic's records from the first to the last one written before now."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                # librdkafka wants a group even for assigned partitions; nothing is committed.
                "group.id": f"ridestream-registry-{self.topic}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "log_level": 0,
            }
        )
        records: list[Record] = []
        try:
            partition = KafkaPartition(self.topic, 0)
            low, high = consumer.get_watermark_offsets(partition, timeout=self.timeout_s)
            if high <= low:
                return records
            consumer.assign([KafkaPartition(self.topic, 0, OFFSET_BEGINNING)])
            deadline = time.monotonic() + max(self.timeout_s, 30.0)
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        if message.offset() >= high:
                            return records
                        continue
                    raise RegistryError(f"cannot read topic {self.topic}: {message.error().str()}")
                record = Record.from_bytes(message.key(), message.value())
                if record is None:
                    log.warning(
                        "skipping a record with a non-JSON key at offset %d", message.offset()
                    )
                else:
                    records.append(record)
                if message.offset() + 1 >= high:
                    return records
            raise RegistryError(
                f"reading topic {self.topic} did not reach its end (offset {high}) in time"
            )
        except KafkaException as error:
            raise RegistryError(f"cannot read topic {self.topic}: {error.args[0].str()}") from None
        finally:
            consumer.close()


def _delivered(acknowledged: list[bool]) -> int:
    """Return how many records, from the first, were acknowledged."""
    count = 0
    for done in acknowledged:
        if not done:
            break
        count += 1
    return count
