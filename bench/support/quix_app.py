"""The Quix Streams baseline: 5-minute tumbling ride counts per pickup zone, as Quix writes it.

Run by the benchmark with the interpreter of its own virtualenv (quixstreams is never installed
into the project's), so this file imports nothing from ridestream::

    python bench/support/quix_app.py --broker 127.0.0.1:9092 --topic rides_json --count 3000000

It reads the JSON rides from the earliest offset, windows them by pickup time (the event time, as
the job does) per message key (the producer keys rides by PULocationID), with 10 minutes of grace
(the job's watermark), and counts the windows it emits.

A Quix app runs until stopped. Its ``run(count=N)`` counts *outputs* of the pipeline in 3.x
(closed windows here, not messages) and ``run(timeout=T)`` stops after T seconds without a new
message, so neither stops at the end of the topic by itself. This app reads the end offsets
first and calls ``Application.stop()`` from its ``on_message_processed`` callback once every
partition's last offset is processed; an idle ``timeout`` only guards against a stall (the
benchmark then sees fewer messages than ``--count`` and fails). Timing runs from the first
processed message to the last; start-up, the consumer group join and shutdown are left out. The
result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta

from confluent_kafka import Consumer, TopicPartition
from quixstreams import Application

WINDOW = timedelta(minutes=5)
GRACE = timedelta(minutes=10)
EPOCH = datetime(1970, 1, 1)
MILLISECOND = timedelta(milliseconds=1)
IDLE_TIMEOUT_S = 60.0


def last_offsets(broker: str, topic: str) -> dict[int, int]:
    """Return the offset of the last record of each non-empty partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": broker, "group.id": "quix-bench-offsets"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in partitions
        }
    finally:
        consumer.close()
    return {p: high - 1 for p, (low, high) in ends.items() if high > low}


def pickup_ms(value: dict, headers: object, timestamp: int, timestamp_type: object) -> int:
    """Return the ride's pickup time (``YYYY-MM-DD HH:MM:SS``, UTC) in epoch milliseconds."""
    return (datetime.fromisoformat(value["tpep_pickup_datetime"]) - EPOCH) // MILLISECOND


def main(argv: list[str] | None = None) -> int:
    """Count rides per zone and 5-minute window until ``--count`` messages are processed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", required=True, help="bootstrap servers")
    parser.add_argument("--topic", required=True, help="the JSON rides topic")
    parser.add_argument(
        "--count", type=int, required=True, help="messages in the topic (checked, not a stop)"
    )
    args = parser.parse_args(argv)

    unfinished = last_offsets(args.broker, args.topic)
    seen = {"first": None, "last": None, "messages": 0}

    def processed(topic: str, partition: int, offset: int) -> None:
        now = time.perf_counter()
        if seen["first"] is None:
            seen["first"] = now
        seen["last"] = now
        seen["messages"] += 1
        if offset >= unfinished.get(partition, offset + 1):
            del unfinished[partition]
            if not unfinished:
                app.stop()  # the end of the topic: what a long-running app never sees

    emitted = {"windows": 0, "rides": 0}

    def count_window(window: dict) -> None:
        emitted["windows"] += 1
        emitted["rides"] += window["value"]

    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        app = Application(
            broker_address=args.broker,
            consumer_group=f"bench-{time.time_ns()}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            on_message_processed=processed,
            loglevel="WARNING",
        )
        rides = app.topic(
            args.topic,
            value_deserializer="json",
            key_deserializer="string",
            timestamp_extractor=pickup_ms,
        )
        (
            app.dataframe(rides)
            .tumbling_window(duration_ms=WINDOW, grace_ms=GRACE)
            .count()
            # final(): each window once, when closed, like the job's append mode.
            .final()
            .update(count_window)
        )
        app.run(timeout=IDLE_TIMEOUT_S, collect=False)
    if seen["first"] is None or seen["messages"] != args.count:
        print(f"quix: processed {seen['messages']:,} of {args.count:,} messages", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "messages": seen["messages"],
                "seconds": seen["last"] - seen["first"],
                "windows": emitted["windows"],
                "rides_in_windows": emitted["rides"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
