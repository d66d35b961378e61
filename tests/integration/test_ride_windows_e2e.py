"""ride_windows end to end: real broker, real Delta tables, spark-submit and the job's own main.

Known rides go into a topic, some out of order (by less than the watermark delay, so none is
late) and a few malformed. The output must equal the windows computed independently in plain
Python, and the malformed records must sit in the dead-letter sink with their reasons.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ridestream.kafka.datagen import rides_between
from ridestream.local import free_port
from ridestream.paths import PROJECT_ROOT
from tests.integration.helpers import (
    consume_all,
    create_topic,
    encode_all,
    expected_tumbling_windows,
    produce_values,
)

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=5)
WATERMARK = timedelta(minutes=5)
MALFORMED = {5: b"{not json", 150: b"\xff\xfe\x00", 300: b'{"PULocationID": 1}'}
MALFORMED_REASONS = ["malformed_json", "not_utf8", "missing_field:tpep_pickup_datetime"]


@pytest.fixture(scope="module")
def rides_topic(kafka_broker):
    """A one-partition topic of 400 rides over 40 minutes, out of order by up to 90 s."""
    rides = list(
        rides_between(
            datetime(2024, 5, 1, 8, 0), datetime(2024, 5, 1, 8, 40), 400, seed=7, disorder_s=90
        )
    )
    values = encode_all(rides)
    for position, value in sorted(MALFORMED.items()):
        values.insert(position, value)
    topic = "rides_e2e"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, topic, values)
    return topic, rides


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
        "--max-offsets-per-trigger",
        "60",
        "--checkpoint-dir",
        str(tmp_path / "checkpoints"),
        "--shuffle-partitions",
        "2",
    ]


def write_profile(tmp_path: Path, bootstrap: str) -> Path:
    profile = tmp_path / "test.toml"
    profile.write_text(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[embedded]\nkafka = false\n')
    return profile


def assert_windows_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, (count, total, tip, distance) in expected.items():
        assert actual[key][0] == count, key
        assert actual[key][1:] == pytest.approx((total, tip, distance)), key


def spark_submit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "RIDESTREAM_PROFILE": "local"},
    )


def test_spark_submit_writes_the_windows_and_rejects_to_delta(
    spark, kafka_broker, rides_topic, tmp_path
):
    topic, rides = rides_topic
    profile = write_profile(tmp_path, kafka_broker.bootstrap_servers)
    result = spark_submit(
        "--profile",
        str(profile),
        *job_flags(topic, tmp_path),
        "--sink",
        "delta",
        "--delta-path",
        str(tmp_path / "windows"),
        "--dead-letter",
        "delta",
        "--dead-letter-path",
        str(tmp_path / "rejects"),
    )
    assert result.returncode == 0, result.stderr[-4000:]

    table = spark.read.format("delta").load(str(tmp_path / "windows")).collect()
    actual = {
        (row.window_start, row.PULocationID): (
            row.ride_count,
            row.total_amount,
            row.tip_amount,
            row.avg_trip_distance,
        )
        for row in table
    }
    assert len(table) == len(actual), "a window was written twice"
    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    assert len(expected) > 50
    assert_windows_equal(actual, expected)

    rejects = spark.read.format("delta").load(str(tmp_path / "rejects")).orderBy("offset").collect()
    assert [row.reason for row in rejects] == MALFORMED_REASONS
    assert [bytes(row.value) for row in rejects] == [MALFORMED[p] for p in sorted(MALFORMED)]


def load_job():
    spec = importlib.util.spec_from_file_location(
        "ride_windows", PROJECT_ROOT / "jobs/ride_windows.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_writes_keyed_windows_and_dead_letters_to_kafka(
    spark, kafka_broker, rides_topic, tmp_path
):
    topic, rides = rides_topic
    job = load_job()
    args = job.parse_args(
        [
            "--profile",
            str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
            *job_flags(topic, tmp_path),
            "--sink",
            "kafka",
            "--output-topic",
            "windows_out",
            "--dead-letter",
            "kafka",
            "--dead-letter-topic",
            "rejects_out",
        ]
    )
    from ridestream.config import settings_from_args

    assert job.main(spark, settings_from_args(args)) == 0

    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    messages = consume_all(kafka_broker.bootstrap_servers, "windows_out", len(expected))
    actual = {}
    for message in messages:
        value, key = json.loads(message.value()), json.loads(message.key())
        assert key == {"window_start": value["window_start"], "PULocationID": value["PULocationID"]}
        start = datetime.fromisoformat(value["window_start"].replace("Z", "")).replace(tzinfo=None)
        actual[(start, value["PULocationID"])] = (
            value["ride_count"],
            value["total_amount"],
            value["tip_amount"],
            value["avg_trip_distance"],
        )
    assert len(messages) == len(actual), "a window was written twice"
    assert_windows_equal(actual, expected)

    dead = consume_all(kafka_broker.bootstrap_servers, "rejects_out", len(MALFORMED))
    dead.sort(key=lambda m: int(dict(m.headers())["ridestream.source.offset"]))
    assert [dict(m.headers())["ridestream.reason"].decode() for m in dead] == MALFORMED_REASONS
    assert [m.value() for m in dead] == [MALFORMED[p] for p in sorted(MALFORMED)]


def test_unreachable_broker_is_one_line_that_names_the_fix(tmp_path):
    result = spark_submit(
        "--profile",
        str(write_profile(tmp_path, f"127.0.0.1:{free_port()}")),
        "--trigger",
        "available-now",
    )
    # spark-submit's Python runner merges the driver's stderr into stdout: read what a user sees.
    seen = result.stdout + result.stderr
    assert result.returncode == 2
    assert "ride_windows: cannot reach Kafka at 127.0.0.1:" in seen
    assert "./rides kafka start" in seen
    assert "Traceback" not in seen and "\tat org.apache" not in seen


def test_missing_topic_is_one_line_that_names_the_fix(kafka_broker, tmp_path):
    result = spark_submit(
        "--profile",
        str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        "--topic",
        "no_such_topic",
        "--trigger",
        "available-now",
    )
    seen = result.stdout + result.stderr
    assert result.returncode == 2
    assert "topic no_such_topic does not exist" in seen
    assert "Traceback" not in seen
