"""Read a topic and show its records decoded: key, value, partition, offset, timestamp, headers.

Without a consumer group the consumer is assigned every partition and commits nothing, so looking
at a topic never moves anyone's offsets. With a group it subscribes and commits what it printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from ridestream.kafka.admin import check_topics
from ridestream.kafka.settings import KafkaSettings


@dataclass(frozen=True)
class Record:
    """One decoded record."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key: str | None
    value: Any
    raw_value: bytes | None
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """Return the value as it was written (UTF-8 text, or the repr of other bytes)."""
        return _text(self.raw_value) or "null"

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp.isoformat(sep=" ") if self.timestamp else None,
            "key": self.key,
            "value": self.value,
            **({"headers": self.headers} if self.headers else {}),
        }


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(data)


def decode(message: Any) -> Record:
    """Decode a confluent-kafka message: JSON values become objects, other bytes text."""
    raw = message.value()
    text = _text(raw)
    value: Any = text
    if text is not None and text[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            value = text
    kind, millis = message.timestamp()
    timestamp = (
        datetime.fromtimestamp(millis / 1000, UTC).replace(tzinfo=None)
        if kind and millis >= 0
        else None
    )
    headers = {name: _text(data) or "" for name, data in (message.headers() or [])}
    return Record(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp=timestamp,
        key=_text(message.key()),
        value=value,
        raw_value=raw,
        headers=headers,
    )


def record_filter(where: list[str], grep: str | None) -> Callable[[Record], bool]:
    """Return a predicate over records for ``--where`` and ``--grep``.

    Every ``FIELD=VALUE`` of ``where`` must match a JSON value's field (compared as text;
    ``key=...`` matches the key), and ``grep`` must occur in the raw value.
    """
    conditions = []
    for condition in where:
        name, separator, expected = condition.partition("=")
        if not separator or not name:
            raise ValueError(
                f"--where {condition!r}: write it as FIELD=VALUE, e.g. PULocationID=161"
            )
        conditions.append((name.strip(), expected.strip()))

    def matches(record: Record) -> bool:
        for name, expected in conditions:
            if name == "key":
                actual = record.key
            elif isinstance(record.value, dict):
                actual = record.value.get(name)
            else:
                return False
            if actual is None or str(actual) != expected:
                return False
        return grep is None or grep in (_text(record.raw_value) or "")

    return matches


def consume(
    kafka: KafkaSettings,
    consumer_options: dict[str, Any],
    topic: str,
    *,
    start: str = "earliest",
    group: str | None = None,
    follow: bool = False,
    idle_timeout_s: float = 5.0,
    since: datetime | None = None,
) -> Iterator[Record]:
    """Yield decoded records of ``topic``.

    ``start``: 'earliest' or 'latest' (for a group with committed offsets, its offsets win).
    ``since`` (UTC, without a group): start each partition at its first record written at or
    after that time instead.
    Without ``follow`` it stops at the end of every partition (as the topic was when it got
    there); with ``follow`` it waits for new records until the caller stops.
    """
    check_topics(kafka, [topic])
    config = {
        **kafka.client_config(),
        **consumer_options,
        "group.id": group or f"ridestream-consume-{int(time.time() * 1000)}",
        "auto.offset.reset": start,
        "enable.partition.eof": True,
        "enable.auto.commit": False,
        "log_level": 0,
    }
    consumer = Consumer(config)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        if group:
            consumer.subscribe([topic])
        elif since is not None:
            millis = int(since.replace(tzinfo=UTC).timestamp() * 1000)
            found = consumer.offsets_for_times(
                [TopicPartition(topic, p, millis) for p in partitions], timeout=10
            )
            # A partition with nothing written since then reports offset -1 (its end).
            consumer.assign(
                [TopicPartition(topic, tp.partition, max(tp.offset, OFFSET_END)) for tp in found]
            )
        else:
            offset = OFFSET_BEGINNING if start == "earliest" else OFFSET_END
            consumer.assign([TopicPartition(topic, p, offset) for p in partitions])
        at_end: set[int] = set()
        last_message = time.monotonic()
        next_offsets: dict[int, int] = {}
        while True:
            message = consumer.poll(0.5)
            if message is None:
                if not follow and group and time.monotonic() - last_message > idle_timeout_s:
                    return  # a group may have been assigned nothing to read
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    if not follow and at_end >= set(partitions):
                        return
                    continue
                raise RuntimeError(f"reading {topic!r} failed: {error.str()}")
            last_message = time.monotonic()
            at_end.discard(message.partition())
            next_offsets[message.partition()] = message.offset() + 1
            yield decode(message)
    finally:
        if group and next_offsets:
            # Commit what the caller has seen (including the record it stopped at), once.
            consumer.commit(
                offsets=[TopicPartition(topic, p, o) for p, o in next_offsets.items()],
                asynchronous=False,
            )
        consumer.close()
