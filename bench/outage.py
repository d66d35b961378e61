"""A running job's only broker down for a while: what the job does, and what it kept.

    ./bench/run outage                       # a 6-minute outage: longer than the clients wait
    ./bench/run outage --seconds 30          # a short one
    ./bench/run outage --seconds 360 --trigger "2 seconds"

The long row of the README's "When things go wrong" table, too long for the test suite (the
suite's tests/integration/test_faults.py takes the broker away for ~10 s). On its own broker
(free loopback ports, data under $RIDESTREAM_HOME/bench/outage): produces --rides rides, runs
ride_windows to a Delta table (update mode, --max-offsets-per-trigger 200, so it is mid-topic
when the broker goes), stops the broker after the first batch, starts it again after --seconds,
and prints a timeline: the job's own lines, and whether it waited and caught up or stopped.
A job that stopped is run again from its checkpoint. At the end the table must hold every ride
exactly once: the count per window and zone is compared with one computed in plain Python.
Exit code 0 when nothing was lost or doubled, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from bench.support.machine import machine
from ridestream import runner
from ridestream.config import SparkSettings
from ridestream.delta_log import read_table
from ridestream.errors import explain
from ridestream.jobs.ride_windows import JOB
from ridestream.kafka.datagen import encode_json, rides_between
from ridestream.kafka.producer import DeliveryReport, make_producer, send
from ridestream.kafka.settings import KafkaSettings
from ridestream.kafka.topics import create_topic
from ridestream.local import EmbeddedKafka, free_port
from ridestream.paths import ridestream_home

TOPIC = "rides_outage"
WINDOW = timedelta(minutes=5)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the options (``--help`` lists them)."""
    parser = argparse.ArgumentParser(
        prog="./bench/run outage",
        description="Take a running job's only broker away for --seconds; report what the job "
        "did and check that its Delta output lost and doubled nothing.",
    )
    parser.add_argument(
        "--seconds", type=float, default=360.0, help="how long the broker is down (default 360)"
    )
    parser.add_argument("--rides", type=int, default=2000, help="rides produced (default 2000)")
    parser.add_argument(
        "--trigger", default="2 seconds", help="the job's trigger (default '2 seconds')"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rides < 200:
        parser.error("--seconds must be > 0 and --rides at least 200")
    return args


def expected_counts(rides: list[dict]) -> Counter:
    """Rides per (5-minute window start, pickup zone), in plain Python."""
    epoch = datetime(1970, 1, 1)
    return Counter(
        (epoch + WINDOW * ((ride["tpep_pickup_datetime"] - epoch) // WINDOW), ride["PULocationID"])
        for ride in rides
    )


def table_counts(path: str) -> tuple[Counter, int]:
    """Return the table's rides per (window start, zone), and its row count."""
    rows = read_table(path, ["window_start", "PULocationID", "ride_count"]).to_pylist()
    counts = Counter()
    for row in rows:
        counts[(row["window_start"].replace(tzinfo=None), row["PULocationID"])] += row["ride_count"]
    return counts, len(rows)


class Timeline:
    """Console lines with the seconds since the start."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, line: str) -> None:
        """Print ``line`` after the seconds since the start."""
        print(f"[{time.monotonic() - self.start:6.1f} s] {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the outage; return 0 when the table lost and doubled nothing."""
    args = parse_args(argv)
    from ridestream.session import build_session

    timeline = Timeline()
    work = ridestream_home() / "bench" / "outage"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    broker = EmbeddedKafka(data_dir=work / "kafka", port=free_port(), controller_port=free_port())
    timeline.say(f"machine: {machine()}")
    broker.start()
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        rides = list(
            rides_between(datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 10), args.rides, seed=7)
        )
        create_topic(kafka, TOPIC, partitions=1)
        report = DeliveryReport()
        producer = make_producer(kafka, {"acks": "all"}, report)
        send(producer, TOPIC, [None] * len(rides), [encode_json(r) for r in rides], report)
        producer.flush(30)
        if report.failed or report.sent != len(rides):
            raise SystemExit(f"bench outage: producing the rides failed: {report.errors[:3]}")
        profile = work / "outage.toml"
        profile.write_text(
            f'[kafka]\nbootstrap_servers = "{broker.bootstrap_servers}"\n[embedded]\nkafka = false\n'
        )
        table, metrics = work / "windows", work / "metrics.jsonl"
        flags = [
            "--profile", str(profile), "--topic", TOPIC, "--window", "5 minutes",
            "--watermark", "5 minutes", "--sink", "delta", "--output-mode", "update",
            "--delta-path", str(table), "--dead-letter", "none", "--checkpoint-dir",
            str(work / "checkpoints"), "--max-offsets-per-trigger", "200",
            "--metrics-file", str(metrics), "--shuffle-partitions", "2",
        ]  # fmt: skip
        spark = build_session(
            SparkSettings(master="local[2]", shuffle_partitions=2), app_name="bench-outage"
        )
        timeline.say(f"{len(rides):,} rides in {TOPIC}; the job starts (trigger {args.trigger})")
        stop, outcome = threading.Event(), {}

        def run() -> None:
            try:
                settings = runner.settings_for(JOB, [*flags, "--trigger", args.trigger])
                outcome["code"] = runner.execute(spark, JOB, settings, stop)
            except Exception as error:  # noqa: BLE001 - reported below
                outcome["error"] = error
                timeline.say(f"the job stopped: {explain(error)}")

        job = threading.Thread(target=run, daemon=True)
        job.start()
        while job.is_alive() and not (metrics.exists() and metrics.read_text().strip()):
            time.sleep(0.2)
        broker.stop()
        down = time.monotonic()
        timeline.say(f"broker stopped for {args.seconds:.0f} s")
        job.join(args.seconds)
        if not job.is_alive():
            timeline.say(f"the job ended {time.monotonic() - down:.0f} s into the outage")
        time.sleep(max(0.0, down + args.seconds - time.monotonic()))
        alive = job.is_alive()
        broker.start()
        timeline.say(f"broker back; the job is {'still running' if alive else 'gone'}")
        if alive:
            read = 0
            while job.is_alive() and read < len(rides):
                lines = metrics.read_text().splitlines()
                read = sum(int(line.split('"numInputRows":')[1].split(",")[0]) for line in lines)
                time.sleep(1)
            stop.set()
            job.join(300)
            caught_up = "error" not in outcome
            timeline.say("the job caught up" if caught_up else "the job failed after the outage")
        if "error" in outcome:
            timeline.say("run again from the checkpoint, to the end of the topic")
            again = runner.settings_for(JOB, [*flags, "--trigger", "available-now"])
            runner.execute(spark, JOB, again)
        counts, rows = table_counts(str(table))
        expected = expected_counts(rides)
        lost = sum((expected - counts).values())
        doubled = sum((counts - expected).values())
        timeline.say(
            f"Delta table: {sum(counts.values()):,} rides in {rows:,} rows "
            f"({len(expected):,} windows expected); lost {lost}, doubled {doubled}, "
            f"windows written twice {rows - len(counts)}"
        )
        spark.stop()
        return 0 if lost == doubled == rows - len(counts) == 0 else 1
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
