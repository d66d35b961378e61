"""Running ride_windows in tests: the known input, flags, profiles, and the job on the runner."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ridestream import runner
from ridestream.config import Settings
from ridestream.jobs.ride_windows import JOB
from ridestream.paths import PROJECT_ROOT

WINDOW = timedelta(minutes=5)
WATERMARK = timedelta(minutes=5)
MALFORMED = {5: b"{not json", 150: b"\xff\xfe\x00", 300: b'{"PULocationID": 1}'}
MALFORMED_REASONS = ["not_json", "not_utf8", "missing_field:tpep_pickup_datetime"]


def job_flags(topic: str, tmp_path: Path) -> list[str]:
    return [
        "--topic",
        topic,
        "--window",
        "5 minutes",
        "--watermark",
        "5 minutes",
        "--trigger",
        "available-now",
        # Three batches of the 403 records of rides_topic: the watermark moves between batches,
        # and a cold micro-batch with Delta output costs seconds.
        "--max-offsets-per-trigger",
        "135",
        "--checkpoint-dir",
        str(tmp_path / "checkpoints"),
        "--shuffle-partitions",
        "2",
    ]


def write_profile(tmp_path: Path, bootstrap: str) -> Path:
    profile = tmp_path / "test.toml"
    profile.write_text(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[embedded]\nkafka = false\n')
    return profile


def assert_windows_equal(actual: dict, expected: dict, rounded: bool = False) -> None:
    """Compare windows {(start, zone): (count, total, tip, avg)} with the expected ones.

    ``rounded``: the actual amounts went through the Kafka sink, which rounds them to 2 decimals.
    """
    assert actual.keys() == expected.keys()
    tolerance = {"abs": 0.006} if rounded else {}
    for key, (count, total, tip, distance) in expected.items():
        assert actual[key][0] == count, key
        assert actual[key][1:] == pytest.approx((total, tip, distance), **tolerance), key


def spark_submit(*args: str, spark_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), *spark_args, "jobs/ride_windows.py", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "RIDESTREAM_PROFILE": "local"},
    )


def job_settings(flags: list[str]) -> Settings:
    """Return ride_windows' settings for ``flags``, as its command line would make them."""
    return runner.settings_for(JOB, flags)


def run_job(spark, flags: list[str], stop=None) -> int:
    """Run ride_windows in ``spark`` (this process) with ``flags``; return its exit code."""
    return runner.execute(spark, JOB, job_settings(flags), stop)


def delta_windows(spark, path) -> tuple[dict, int]:
    """Read a windows Delta table as {(window_start, zone): (count, total, tip, avg)}, row count."""
    table = spark.read.format("delta").load(str(path)).collect()
    windows = {
        (row.window_start, row.PULocationID): (
            row.ride_count,
            row.total_amount,
            row.tip_amount,
            row.avg_trip_distance,
        )
        for row in table
    }
    return windows, len(table)


def kafka_window(message) -> tuple[tuple, tuple]:
    """Return a window record from the Kafka sink as ((window_start, zone), aggregates)."""
    value = json.loads(message.value())
    start = datetime.fromisoformat(value["window_start"].replace("Z", "")).replace(tzinfo=None)
    aggregates = (
        value["ride_count"],
        value["total_amount"],
        value["tip_amount"],
        value["avg_trip_distance"],
    )
    return (start, value["PULocationID"]), aggregates
