"""Nothing lost when a broker dies: a 3-node cluster, one node SIGKILLed mid-stream.

Rides go into a topic of 3 partitions (replication 3, min ISR 2) through the project's producer
(acks=all, idempotence, from conf/clients.toml), paced over about 15 s, while ride_windows reads
the topic and appends one-minute windows to Delta. A third of the way in, the active controller,
which also leads a partition, is killed with SIGKILL. Producer and job must carry on by
themselves: every ride delivered once and read once, the job never restarted, and the table equal
to the windows computed in plain Python from the rides that were produced.

Event time runs ``SPEEDUP`` times faster than the wall clock. While a partition has no leader,
its rides wait in the producer and the job reads the other partitions ahead of it; the watermark
delay absorbs ``WATERMARK / SPEEDUP`` = 15 s of such skew before a ride would count as late.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ridestream import runner
from ridestream.config import Settings
from ridestream.errors import EXIT_STOPPED
from ridestream.kafka.datagen import RideGenerator, run_datagen
from ridestream.kafka.producer import DeliveryReport, make_producer, send
from ridestream.local import EmbeddedKafkaCluster
from tests.integration.helpers import expected_tumbling_windows, wait_until
from tests.integration.jobs import (
    JOB,
    WATERMARK,
    assert_windows_equal,
    delta_windows,
    job_flags,
    job_settings,
    write_profile,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOPIC = "rides_failover"
PARTITIONS = 3
WINDOW = timedelta(minutes=1)  # many small windows from a short stream
START = datetime(2024, 5, 1, 8, 0)
RIDES = 2_400
RATE = 8.0  # rides per event second: 2,400 rides over 300 event seconds...
SPEEDUP = 20  # ...at 20 event seconds per wall second: 15 s of producing
SEED = 11
# One last ride an hour later moves the watermark past every window of the stream, so all of
# them are final, and in the table, when the job is stopped.
CLOSING_START = START + timedelta(hours=1)
KILL_AFTER = RIDES // 3  # rides handed to the producer before the kill


def stream_rides() -> RideGenerator:
    return RideGenerator(START, RATE, seed=SEED)


def closing_ride() -> RideGenerator:
    return RideGenerator(CLOSING_START, RATE, seed=SEED + 1)


def produced() -> tuple[list[dict], list[bytes]]:
    """Return the rides the producer sends, as dicts and as the values on the wire."""
    stream, closing = stream_rides(), closing_ride()
    rides = [stream.ride() for _ in range(RIDES)] + [closing.ride()]
    values = stream_rides().take(RIDES).values + closing_ride().take(1).values
    return rides, [value.encode() for value in values]


class Timeline:
    """What happened when, in seconds since the test began; printed and kept in a file."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.events: list[tuple[float, str]] = []

    def note(self, text: str, at: float | None = None) -> None:
        self.events.append(((at or time.monotonic()) - self.began, text))

    def write(self, path: Path) -> None:
        text = "\n".join(f"{seconds:6.1f} s  {what}" for seconds, what in sorted(self.events))
        path.write_text(text + "\n")
        print(text)


@dataclass
class JobRun:
    """ride_windows on the runner in a thread, once; stopped through its stop event."""

    spark: object
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)
    outcome: dict = field(default_factory=dict)

    def start(self) -> None:
        def run() -> None:
            try:
                self.outcome["code"] = runner.execute(self.spark, JOB, self.settings, self.stop)
            except BaseException as error:  # noqa: BLE001 - asserted on by the test
                self.outcome["error"] = error

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self, timeout_s: float = 90) -> None:
        self.stop.set()
        self.thread.join(timeout_s)


@dataclass
class ProbeConsumer:
    """Tails every partition and notes when each record became readable (monotonic seconds)."""

    bootstrap: str
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        consumer = assigned_consumer(self.bootstrap, "failover-probe")
        try:
            while not self.stop.is_set():
                for message in consumer.consume(1000, timeout=0.2):
                    if not message.error():
                        self.arrivals.append((time.monotonic(), message.partition()))
        finally:
            consumer.close()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)

    def longest_wait(self, partition: int, since: float) -> str:
        """Return the longest time, from ``since`` on, that ``partition`` showed no new record."""
        times = [since, *sorted(t for t, p in self.arrivals if p == partition and t >= since)]
        if len(times) == 1:
            return "no record at all"
        return f"{max(b - a for a, b in zip(times, times[1:], strict=False)):.1f} s"


def assigned_consumer(bootstrap: str, group: str) -> Consumer:
    """Return a consumer of every partition from offset 0 (the group id is required, never used)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    return consumer


def end_offsets(bootstrap: str) -> dict[int, int]:
    consumer = assigned_consumer(bootstrap, "failover-ends")
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()


def read_topic(bootstrap: str, ends: dict[int, int]) -> list[bytes]:
    """Return every value of the topic, each partition read from offset 0 to ``ends``."""
    consumer = assigned_consumer(bootstrap, "failover-check")
    values, positions = [], dict.fromkeys(range(PARTITIONS), 0)
    deadline = time.monotonic() + 60
    try:
        while positions != ends:
            assert time.monotonic() < deadline, f"the topic was not read to {ends}: at {positions}"
            for message in consumer.consume(1000, timeout=0.5):
                assert message.error() is None, message.error()
                values.append(message.value())
                positions[message.partition()] = message.offset() + 1
    finally:
        consumer.close()
    return values


def batches(metrics_file: Path) -> list[dict]:
    """Return the job's progress, one dict per micro-batch, from its metrics file."""
    if not metrics_file.exists():
        return []
    return [json.loads(line) for line in metrics_file.read_text().splitlines()]


def spark_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "")).replace(tzinfo=None)


@pytest.fixture
def kafka_cluster(tmp_path):
    cluster = EmbeddedKafkaCluster(data_dir=tmp_path / "cluster")
    cluster.start()
    yield cluster
    cluster.stop()


def test_a_killed_broker_loses_no_ride_and_the_job_carries_on(spark, kafka_cluster, tmp_path):
    timeline = Timeline()
    bootstrap = kafka_cluster.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    new_topic = NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([new_topic])[TOPIC].result()

    metrics = tmp_path / "metrics.jsonl"
    settings = job_settings(
        [
                "--profile", str(write_profile(tmp_path, bootstrap)),
                *job_flags(TOPIC, tmp_path),
                "--window", "1 minute",
                "--trigger", "1 second",
                "--max-offsets-per-trigger", "100000",
                "--sink", "delta", "--delta-path", str(tmp_path / "windows"),
                "--dead-letter", "none",
                "--metrics-file", str(metrics),
        ]
    )  # fmt: skip
    assert settings.job.window.watermark == "5 minutes"  # WATERMARK, from job_flags
    # The guarantees under test come from the project's client settings, not from this test.
    assert settings.producer["acks"] == "all" and settings.producer["enable.idempotence"] is True

    job, probe = JobRun(spark, settings), ProbeConsumer(bootstrap)
    try:
        # The job first runs its (empty) batch 0, the slow one of a fresh JVM, so the kill meets
        # a warm query.
        job.start()
        wait_until(lambda: batches(metrics) or job.outcome, 120, "the job's first batch")
        timeline.note("job ran batch 0")
        probe.start()

        # The producer: rides paced in (sped-up) event time, then the closing ride.
        report = DeliveryReport()
        producer = make_producer(settings.kafka, dict(settings.producer), report)
        paced_from = time.monotonic()

        def event_now() -> datetime:
            return START + timedelta(seconds=(time.monotonic() - paced_from) * SPEEDUP)

        def produce() -> None:
            run_datagen(producer, TOPIC, stream_rides(), report, count=RIDES, now=event_now)
            timeline.note(f"stream delivered: {report.summary(TOPIC)}")
            closing = closing_ride().take(1)
            send(producer, TOPIC, closing.keys, closing.values, report)
            report.undelivered = producer.flush(60)

        producer_thread = threading.Thread(target=produce, daemon=True)
        producer_thread.start()
        timeline.note("producer started")

        # Kill the active controller, which leads a partition too, a third of the way in. (A
        # topic of 3 partitions on 3 nodes gets one preferred leader on each node.)
        wait_until(lambda: report.produced >= KILL_AFTER, 60, f"{KILL_AFTER} rides produced")
        partitions = admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions.values()
        leaders = {p.id: p.leader for p in partitions}
        victim = controller = kafka_cluster.active_controller()
        led = sorted(p for p, leader in leaders.items() if leader == victim)
        assert led, f"the active controller (node {controller}) leads no partition: {leaders}"
        killed_at, killed_at_wall = time.monotonic(), time.time()
        kafka_cluster.kill(victim)
        timeline.note(
            f"SIGKILL node {victim} (active controller: node {controller}; "
            f"leader of partition {led}; {report.produced} rides produced)"
        )

        producer_thread.join(120)
        assert not producer_thread.is_alive(), "the producer did not finish in 120 s"
        timeline.note(f"producer finished: {report.summary(TOPIC)}")
        assert report.failed == 0 and report.undelivered == 0, report.errors
        assert report.sent == report.produced == RIDES + 1

        # Let the job catch up: every offset read, and a batch run at the final watermark (the
        # one that appends the windows the closing ride closed).
        rides, values = produced()
        ends = end_offsets(bootstrap)
        final_watermark = max(ride["tpep_pickup_datetime"] for ride in rides) - WATERMARK

        def caught_up() -> bool:
            seen = batches(metrics)
            return bool(job.outcome) or (
                bool(seen)
                and {int(p): o for p, o in seen[-1]["sources"][0]["endOffset"][TOPIC].items()}
                == ends
                and any(
                    spark_time(b["eventTime"].get("watermark", "1970-01-01T00:00:00Z"))
                    >= final_watermark
                    for b in seen
                )
            )

        wait_until(
            caught_up, 120, f"the job to read to {ends} and reach watermark {final_watermark}"
        )
        timeline.note("job caught up")
    finally:
        job.finish()
        probe.finish()

    # What the kill did: how long each partition showed nothing new, and the job's batches.
    progress = batches(metrics)
    for partition in range(PARTITIONS):
        owner = "led by the killed node" if partition in led else f"led by {leaders[partition]}"
        timeline.note(
            f"partition {partition} ({owner}), longest wait for a new record after the kill: "
            f"{probe.longest_wait(partition, killed_at)}"
        )
    for batch in progress:
        started = datetime.fromisoformat(batch["timestamp"].replace("Z", "+00:00")).timestamp()
        durations = batch["durationMs"]
        timeline.note(
            f"batch {batch['batchId']} started: {batch['numInputRows']} rows in "
            f"{durations['triggerExecution'] / 1000:.1f} s (offsets "
            f"{durations.get('latestOffset', 0) / 1000:.1f} s, read+aggregate+write "
            f"{durations.get('addBatch', 0) / 1000:.1f} s)",
            at=killed_at + started - killed_at_wall,
        )
    timeline.write(tmp_path / "timeline.txt")
    assert not job.thread.is_alive(), "the job did not stop"
    assert "error" not in job.outcome, f"the job failed: {job.outcome['error']!r}"
    assert job.outcome["code"] == EXIT_STOPPED
    assert victim not in kafka_cluster.running()

    # One run of the query, every record read exactly once, none behind the watermark.
    assert len({batch["runId"] for batch in progress}) == 1, "the query was restarted"
    assert [batch["batchId"] for batch in progress] == list(range(len(progress)))
    assert sum(batch["numInputRows"] for batch in progress) == RIDES + 1
    dropped = sum(op["numRowsDroppedByWatermark"] for b in progress for op in b["stateOperators"])
    assert dropped == 0, (
        "rides fell behind the watermark: a partition stalled longer than it allows"
    )

    # The topic holds exactly the produced records: none lost, none duplicated by a retry.
    assert sum(ends.values()) == RIDES + 1
    assert Counter(read_topic(bootstrap, ends)) == Counter(values)

    # Each window once, equal to the windows computed in plain Python from the produced rides.
    actual, written = delta_windows(spark, tmp_path / "windows")
    assert written == len(actual), "a window was written twice"
    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    assert len(expected) > 100
    assert_windows_equal(actual, expected)
