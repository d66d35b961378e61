"""The clean benchmark's pure parts: when to send each record, and what a record's latency is."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

SOURCE_TIMESTAMP = "ridestream.source.timestamp"


def send_schedule(rate: float, count: int, tick_s: float = 0.001) -> list[tuple[float, int]]:
    """Return ``(seconds after the start, records to send then)`` for ``count`` records at ``rate``.

    Record n is due at ``n / rate``; the records due within one ``tick_s`` go out together (a
    Python loop cannot sleep 100 microseconds reliably, but it can send ten records every
    millisecond). Every record is in exactly one tick, never before it is due.
    """
    if rate <= 0 or count < 0:
        raise ValueError(f"rate {rate!r} and count {count!r}: need rate > 0 and count >= 0")
    schedule: list[tuple[float, int]] = []
    sent = 0
    tick = 0
    while sent < count:
        at = tick * tick_s
        # Records 0..due-1 are due by time `at`; the epsilon keeps float error from delaying one.
        due = min(count, math.floor(at * rate + 1e-9) + 1)
        if due > sent:
            schedule.append((at, due - sent))
            sent = due
        tick += 1
    return schedule


def source_time_ms(headers: Sequence[tuple[str, bytes]] | None) -> float:
    """Return the input record's Kafka timestamp (ms since the epoch) a clean record carries.

    ride_clean writes it as ``ridestream.source.timestamp``, ISO 8601 with milliseconds and an
    offset (``2026-12-03T10:15:00.123Z``).
    """
    for key, value in headers or ():
        if key == SOURCE_TIMESTAMP:
            text = value.decode().replace("Z", "+00:00")
            return datetime.fromisoformat(text).timestamp() * 1000
    raise ValueError(f"no {SOURCE_TIMESTAMP} header")


@dataclass(frozen=True)
class Summary:
    """Latencies of one run, in milliseconds."""

    records: int
    p50: float
    p99: float
    max: float


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of sorted values (``fraction`` 0.99 for p99)."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(latencies_ms: Iterable[float]) -> Summary:
    """Return the count, p50, p99 and max of latencies."""
    ordered = sorted(latencies_ms)
    return Summary(
        records=len(ordered),
        p50=percentile(ordered, 0.5),
        p99=percentile(ordered, 0.99),
        max=ordered[-1] if ordered else float("nan"),
    )


# The state stores a latency variant can name: Spark's default (HDFS-backed, in the JVM heap) and
# the project's (RocksDB with changelog checkpointing, ridestream.session).
STATE_STORES = {
    "rocksdb": "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "hdfs": "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider",
}


@dataclass(frozen=True)
class Variant:
    """One way to run the windows job for a latency measurement: trigger, shuffle partitions, store.

    ``None`` keeps the session's setting.
    """

    trigger: str
    shuffle_partitions: int | None = None
    state_store: str | None = None

    def describe(self) -> str:
        """Return e.g. 'trigger 0 seconds, 2 shuffle partitions, hdfs store'."""
        parts = [f"trigger {self.trigger}"]
        if self.shuffle_partitions is not None:
            parts.append(f"{self.shuffle_partitions} shuffle partitions")
        if self.state_store is not None:
            parts.append(f"{self.state_store} store")
        return ", ".join(parts)


def parse_variants(text: str) -> list[Variant]:
    """Parse ``TRIGGER[/SHUFFLE_PARTITIONS[/rocksdb|hdfs]]`` items separated by commas.

    ``"1 second,0 seconds/2,0 seconds/2/hdfs"``: three variants measured one after another.
    """
    variants = []
    for item in text.split(","):
        parts = [part.strip() for part in item.split("/")]
        if not parts[0] or len(parts) > 3:
            raise ValueError(f"{item!r}: write TRIGGER[/SHUFFLE_PARTITIONS[/rocksdb|hdfs]]")
        partitions = int(parts[1]) if len(parts) > 1 and parts[1] else None
        store = parts[2] if len(parts) > 2 else None
        if store is not None and store not in STATE_STORES:
            raise ValueError(f"{item!r}: state store {store!r}, choose {' or '.join(STATE_STORES)}")
        variants.append(Variant(parts[0], partitions, store))
    return variants
