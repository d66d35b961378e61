"""ride_clean's end-to-end latency: real-time mode against micro-batches (trigger 0 s and 1 s).

    ./bench/run clean                                  # 1k and 10k rides/s, 15 s each, 3 triggers
    ./bench/run clean --rates 1000 --seconds 20 --triggers real-time,0
    ./bench/run clean --help

One process, one embedded Kafka broker on free ports in a temporary directory, one Spark session
from the project's session builder (the ``local`` profile's Spark settings). For each trigger and
rate, in one run: a fresh input topic (2 partitions, as the embedded default) and the job's query
(``ridestream.jobs.ride_clean.build_writers``, started by the runner's ``start_query``), warmed up
until a first batch of records has come out; then rides produced at a fixed rate by
confluent-kafka for ``--seconds`` (``linger.ms`` ``--producer-linger-ms``, 0 by default).

A record's latency runs from its produce time to the time it is visible in the clean topic:
the input record's Kafka timestamp (CreateTime, stamped by librdkafka when ``produce()`` is
called; ride_clean carries it in the ``ridestream.source.timestamp`` header, to the millisecond)
to the clean record's log-append time (the clean topic is created with
``message.timestamp.type=LogAppendTime``: the broker stamps each record when it appends it).
Both clocks are this machine's. It includes the producer's batching, the source's fetch, the
query, the Kafka sink's producer and the broker's appends; it leaves out a downstream consumer's
own fetch wait. Every produced ride must come out (the count is checked and printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, Producer

from bench.support.latency import Summary, send_schedule, source_time_ms, summarize
from bench.support.machine import machine, package_version
from ridestream.config import (
    DeadLetterSettings,
    QuerySettings,
    SinkSettings,
    SourceSettings,
    build_settings,
    load_profile,
)
from ridestream.jobs.ride_clean import RideCleanOptions, build_writers
from ridestream.kafka.datagen import encode_json, rides_between
from ridestream.kafka.settings import KafkaSettings
from ridestream.kafka.topics import create_topic
from ridestream.local import EmbeddedKafka, free_port
from ridestream.runner import start_query, stop_between_batches
from ridestream.session import build_session
from ridestream.sources import read_kafka_stream
from ridestream.zones import zones_frame

TRIGGERS = ("real-time", "0 seconds", "1 second")
PARTITIONS = 2
WARMUP_RECORDS = 200


@dataclass(frozen=True)
class Run:
    """One trigger at one rate: what was produced, and the latencies of what came out."""

    trigger: str
    rate: int
    produced: int
    summary: Summary
    load: str
    # Micro-batches: the mean batch's duration and records (real-time batches last the interval).
    batch_s: float | None  # None: no batch with input ended while measured
    batch_rows: float | None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="./bench/run clean",
        description="ride_clean's produce-to-visible latency per record: real-time mode versus "
        "micro-batches, at fixed rates, in one run (bench/README.md records the results).",
    )
    parser.add_argument(
        "--rates", default="1000,10000", help="rides/s to produce, comma-separated (%(default)s)"
    )
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="how long each rate is produced (%(default)s)"
    )
    parser.add_argument(
        "--triggers",
        default=",".join(TRIGGERS),
        help="'real-time' and micro-batch intervals, comma-separated (%(default)s)",
    )
    parser.add_argument(
        "--producer-linger-ms",
        type=int,
        default=0,
        help="the rides producer's linger.ms (%(default)s; conf/clients.toml says 20 for "
        "throughput, which adds up to 20 ms to every ride)",
    )
    parser.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=None,
        help="the job's Kafka clients' fetch.max.wait.ms (default: the Java client's 500)",
    )
    parser.add_argument(
        "--sink-linger-ms",
        type=int,
        default=None,
        help="the job's Kafka sink's linger.ms (default: kafka-clients 3.9's 0)",
    )
    return parser.parse_args(argv)


def produce_at_rate(bootstrap: str, topic: str, rate: int, seconds: float, linger_ms: int) -> int:
    """Produce ``rate * seconds`` rides at ``rate``/s, each stamped when produced; return the count."""
    count = int(rate * seconds)
    rides = rides_between(datetime(2024, 1, 1), datetime(2024, 1, 1) + timedelta(hours=1), count)
    values = [(str(ride["PULocationID"]), encode_json(ride)) for ride in rides]
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": linger_ms, "acks": "all",
         "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000}
    )  # fmt: skip
    start = time.monotonic()
    index = 0
    for at, due in send_schedule(rate, count):
        wait = start + at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        for key, value in values[index : index + due]:
            producer.produce(topic, value, key)
        index += due
        producer.poll(0)
    producer.flush(60)
    return count


def read_latencies(
    bootstrap: str, topic: str, expected: int, since_ms: float = 0, timeout_s: float = 120
) -> list[float]:
    """Read ``expected`` clean records (or what came within the timeout) produced from ``since_ms``.

    Returns their latencies in ms; records produced earlier (a warm-up) are read and left out.
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{topic}",
         "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )  # fmt: skip
    consumer.subscribe([topic])
    latencies: list[float] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(latencies) < expected and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                if message.error():
                    continue
                _, appended_ms = message.timestamp()
                produced_ms = source_time_ms(message.headers())
                if produced_ms >= since_ms:
                    latencies.append(appended_ms - produced_ms)
    finally:
        consumer.close()
    return latencies


def load_average() -> str:
    """Return the 1-minute load average (the machine is shared: say how busy it was)."""
    return f"{os.getloadavg()[0]:.1f}"


def measure(spark, kafka: KafkaSettings, args, trigger: str, rate: int, workdir: Path) -> Run:  # noqa: ANN001
    """Run ride_clean with ``trigger`` while producing ``rate`` rides/s; return the latencies.

    ``kafka`` holds the job's Kafka client options (Java names, for Spark's source and sink);
    topics are created and read with plain librdkafka clients.
    """
    admin = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers)
    name = f"{trigger.replace(' ', '').replace('-', '')}_{rate}"
    rides, clean, dead = f"in_{name}", f"clean_{name}", f"dead_{name}"
    create_topic(admin, rides, partitions=PARTITIONS)
    create_topic(admin, clean, partitions=PARTITIONS,
                 config={"message.timestamp.type": "LogAppendTime"})  # fmt: skip
    create_topic(admin, dead, partitions=1)
    options = RideCleanOptions(
        source=SourceSettings(topic=rides),
        sink=SinkSettings(kind="kafka", output_mode="update", topic=clean),
        dead_letter=DeadLetterSettings(kind="kafka", topic=dead),
    )
    records = read_kafka_stream(spark, kafka, options.source)
    (writer,) = build_writers(records, zones_frame(spark), options, kafka).values()
    query = start_query(
        writer, f"bench_{name}", QuerySettings(trigger=trigger, checkpoint_dir=workdir / name)
    )
    try:
        # Warm up: the query's start and first batch (code generation, the broadcast) are not
        # latency. Records produced now come out before the measured ones start.
        warm = produce_at_rate(kafka.bootstrap_servers, rides, 100, WARMUP_RECORDS / 100, 0)
        if len(read_latencies(kafka.bootstrap_servers, clean, warm, timeout_s=180)) < warm:
            raise RuntimeError(f"{trigger}: the warm-up records did not come out")
        print(f"  {trigger} at {rate:,}/s: producing for {args.seconds:g} s (load "
              f"{load_average()})...", file=sys.stderr, flush=True)  # fmt: skip
        load = load_average()
        # Kafka timestamps are whole milliseconds: from the millisecond the measurement starts.
        since_ms = float(int(time.time() * 1000))
        produced = produce_at_rate(
            kafka.bootstrap_servers, rides, rate, args.seconds, args.producer_linger_ms
        )
        latencies = read_latencies(kafka.bootstrap_servers, clean, produced, since_ms)
        load = f"{load}-{load_average()}"
        batches = [p for p in query.recentProgress if p["numInputRows"] > 0][1:]
    finally:
        stop_between_batches(query)
    return Run(
        trigger, rate, produced, summarize(latencies), load,
        batch_s=statistics.mean(p["durationMs"]["triggerExecution"] / 1000 for p in batches)
        if batches else None,
        batch_rows=statistics.mean(p["numInputRows"] for p in batches) if batches else None,
    )  # fmt: skip


def print_report(runs: list[Run], args) -> None:  # noqa: ANN001
    """Print the runs as a table: per trigger and rate, p50, p99 and max in ms."""
    print(f"\nride_clean latency, produce -> visible in the clean topic (ms); {machine()}")
    print(f"pyspark {package_version('pyspark')}, producer linger.ms {args.producer_linger_ms}, "
          f"fetch.max.wait.ms {args.fetch_max_wait_ms or 'default (500)'}, sink linger.ms "
          f"{args.sink_linger_ms if args.sink_linger_ms is not None else 'default (0)'}")  # fmt: skip
    width = max(len("trigger"), *(len(run.trigger) for run in runs))
    print(
        f"{'trigger':<{width}} {'rides/s':>8} {'out/in':>15} {'p50':>7} {'p99':>7} {'max':>7}"
        f" {'batch s':>8} {'rows':>7}  load"
    )
    for run in runs:
        summary = run.summary
        # No batch with input ended while measured (a real-time batch lasts its interval): "-".
        batch_s = "-" if run.batch_s is None else f"{run.batch_s:.2f}"
        batch_rows = "-" if run.batch_rows is None else f"{run.batch_rows:.0f}"
        print(
            f"{run.trigger:<{width}} {run.rate:>8,} {summary.records:>7,}/{run.produced:<7,} "
            f"{summary.p50:>7.0f} {summary.p99:>7.0f} {summary.max:>7.0f}"
            f" {batch_s:>8} {batch_rows:>7}  {run.load}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table."""
    args = parse_args(argv)
    rates = [int(rate) for rate in args.rates.split(",")]
    triggers = [trigger.strip() for trigger in args.triggers.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-clean-"))
    broker = EmbeddedKafka(
        data_dir=workdir / "kafka", port=free_port(), controller_port=free_port()
    )
    broker.start()
    try:
        options = {}
        if args.fetch_max_wait_ms is not None:
            options["fetch.max.wait.ms"] = str(args.fetch_max_wait_ms)
        if args.sink_linger_ms is not None:
            options["linger.ms"] = str(args.sink_linger_ms)
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, options=options)
        profile = build_settings("local", load_profile("local"))
        spark = build_session(profile.spark, app_name="bench-clean")
        runs = [
            measure(spark, kafka, args, trigger, rate, workdir)
            for rate in rates
            for trigger in triggers
        ]
        print_report(runs, args)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
