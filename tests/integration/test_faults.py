"""Faults a running job meets, each on the real stack, with what the user sees and what was kept.

Rows of the README's "When things go wrong" table that need a running job: the only broker down
for a while (the job says so, waits, catches up, and loses or doubles nothing), the source topic
deleted under a running job, or deleted and created again, a damaged checkpoint, and a stop asked
for while the job is still starting. (A second run on a held checkpoint and every way to stop a
running job are in test_stopping.py; a lock left by a killed run, and settings refused at load, in
tests/unit/test_checkpoint_guards.py; faults at a Delta output in test_faults_output.py.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import threading
import time
from contextlib import redirect_stderr
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ridestream import progress, runner
from ridestream.errors import EXIT_STOPPED, ConfigError, explain
from ridestream.jobs.ride_windows import JOB
from ridestream.kafka.datagen import rides_between
from ridestream.kafka.settings import KafkaSettings
from ridestream.kafka.topics import delete_topic
from ridestream.local import EmbeddedKafka, free_port
from ridestream.paths import PROJECT_ROOT
from ridestream.preflight import TopicRecreated
from tests.integration.helpers import (
    consume_all,
    create_topic,
    encode_all,
    expected_tumbling_windows,
    produce_values,
    wait_until,
)
from tests.integration.jobs import (
    MALFORMED,
    MALFORMED_REASONS,
    WINDOW,
    assert_windows_equal,
    delta_windows,
    job_flags,
    job_settings,
    write_profile,
)

pytestmark = pytest.mark.integration


def rides(count: int, seed: int) -> list[dict]:
    return list(
        rides_between(datetime(2024, 5, 1, 8, 0), datetime(2024, 5, 1, 8, 30), count, seed=seed)
    )


def test_a_broker_outage_is_reported_and_the_job_catches_up_with_nothing_lost_or_doubled(
    spark, tmp_path, monkeypatch
):
    """The only broker down under a job that reads it and writes its dead letters to it.

    Windows go to Delta (exactly once: every window checked against plain Python), rejects to a
    Kafka topic through the same Spark Kafka writer a Kafka sink uses. Half the records (two of
    the three rejects among them) arrive after the outage, so the dead-letter query writes to the
    cluster both before it and after it, through the same cached producer.
    """
    # Its own broker: this test stops it. Failure detection at test speed: probe every second.
    monkeypatch.setattr(progress.KafkaWatch, "INTERVAL_S", 1.0)
    monkeypatch.setattr(progress.KafkaWatch, "PROBE_S", 2.0)
    broker = EmbeddedKafka(
        data_dir=tmp_path / "kafka", port=free_port(), controller_port=free_port()
    )
    broker.start()
    try:
        topic, known = "rides_outage", rides(240, seed=11)
        values = encode_all(known)
        # One reject before the outage, the others in batches after it.
        malformed = dict(zip((25, 130, 205), MALFORMED.values(), strict=True))
        for position, value in sorted(malformed.items()):
            values.insert(position, value)
        create_topic(broker.bootstrap_servers, topic, partitions=1)
        produce_values(broker.bootstrap_servers, topic, values[:120])
        metrics = tmp_path / "metrics.jsonl"
        settings = job_settings([
            *job_flags(topic, tmp_path), "--trigger", "1 second", "--max-offsets-per-trigger", "60",
            "--profile", str(write_profile(tmp_path, broker.bootstrap_servers)),
            "--sink", "delta", "--output-mode", "update", "--delta-path", str(tmp_path / "w"),
            "--dead-letter", "kafka", "--dead-letter-topic", "outage_rejects",
            "--metrics-file", str(metrics),
        ])  # fmt: skip

        def read() -> int:
            lines = metrics.read_text().splitlines() if metrics.exists() else []
            return sum(
                json.loads(line)["numInputRows"]
                for line in lines
                if json.loads(line)["name"] == JOB.name
            )

        stop, seen, outcome = threading.Event(), io.StringIO(), {}

        def run() -> None:
            outcome["code"] = runner.execute(spark, JOB, settings, stop)

        job = threading.Thread(target=run, daemon=True)
        with redirect_stderr(seen):
            job.start()
            wait_until(lambda: read() >= 60 or not job.is_alive(), 180, "the job's first rows")
            broker.stop()  # the only broker, down
            wait_until(lambda: "is not answering" in seen.getvalue(), 60, "the outage line")
            time.sleep(8)
            broker.start()  # back, with its data
            wait_until(lambda: "answers again after" in seen.getvalue(), 60, "the back line")
            produce_values(broker.bootstrap_servers, topic, values[120:])
            wait_until(
                lambda: read() >= len(values) or not job.is_alive(), 240, "every record read"
            )
            stop.set()
            job.join(120)
        console = seen.getvalue()
        assert outcome == {"code": EXIT_STOPPED}, console[-3000:]
        assert console.count("is not answering") == 1 and console.count("answers again after") == 1
        assert "Traceback" not in console
        # Every record read once, and counted once: the same windows as a run without an outage.
        assert read() == len(values)
        actual, written = delta_windows(spark, tmp_path / "w")
        assert written == len(actual)
        assert_windows_equal(actual, expected_tumbling_windows(known, WINDOW, timedelta(0), False))
        # The dead letters are at-least-once (a batch retried after the outage may write one
        # twice): every malformed record is there with its reason, and nothing else.
        dead = consume_all(broker.bootstrap_servers, "outage_rejects", len(malformed))
        assert {
            int(dict(m.headers())["ridestream.source.offset"]): (
                dict(m.headers())["ridestream.reason"].decode(),
                m.value(),
            )
            for m in dead
        } == {
            offset: (reason, value)
            for (offset, value), reason in zip(malformed.items(), MALFORMED_REASONS, strict=True)
        }
    finally:
        broker.stop()


def test_a_topic_deleted_under_a_running_job_stops_it_with_one_line(spark, kafka_broker, tmp_path):
    topic = "rides_deleted"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, topic, encode_all(rides(120, seed=12)))
    metrics = tmp_path / "metrics.jsonl"
    settings = job_settings([
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path), "--trigger", "1 second", "--max-offsets-per-trigger", "30",
        "--dead-letter", "none", "--metrics-file", str(metrics), "--sink", "kafka",
        "--output-topic", "deleted_out",
    ])  # fmt: skip
    failure = {}

    def run() -> None:
        try:
            runner.execute(spark, JOB, settings)
        except Exception as error:  # noqa: BLE001 - what the runner's caller gets
            failure["error"] = error

    job = threading.Thread(target=run, daemon=True)
    job.start()
    wait_until(lambda: metrics.exists() and metrics.read_text().strip(), 180, "a first batch")
    delete_topic(KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers), topic)
    job.join(240)
    assert not job.is_alive() and "error" in failure, "the job did not stop"
    line = explain(failure["error"])
    assert "\n" not in line
    assert line.startswith("a topic the job reads was deleted, or lost records, while it ran")
    assert "--checkpoint-dir" in line


def test_a_topic_created_again_under_a_job_stops_it_and_its_checkpoint_is_refused(
    spark, kafka_broker, tmp_path, monkeypatch
):
    # Spark alone reads a topic created again from the old offsets: with more records in it by
    # then, it skips the new topic's first records without a word (checked: Spark 4.2).
    monkeypatch.setattr(progress.KafkaWatch, "INTERVAL_S", 1.0)
    topic, bootstrap = "rides_recreated", kafka_broker.bootstrap_servers
    create_topic(bootstrap, topic, partitions=1)
    produce_values(bootstrap, topic, encode_all(rides(120, seed=14)))
    metrics = tmp_path / "metrics.jsonl"
    flags = [
        *job_flags(topic, tmp_path), "--trigger", "1 second", "--max-offsets-per-trigger", "30",
        "--dead-letter", "none", "--metrics-file", str(metrics),
    ]  # fmt: skip
    profile = ["--profile", str(write_profile(tmp_path, bootstrap))]
    failure = {}

    def run() -> None:
        try:
            runner.execute(spark, JOB, job_settings([*profile, *flags]))
        except Exception as error:  # noqa: BLE001 - what the runner's caller gets
            failure["error"] = error

    job = threading.Thread(target=run, daemon=True)
    job.start()
    wait_until(lambda: metrics.exists() and metrics.read_text().strip(), 180, "a first batch")
    delete_topic(KafkaSettings(bootstrap_servers=bootstrap), topic)
    wait_until(lambda: try_create(bootstrap, topic), 30, "the topic created again")
    produce_values(bootstrap, topic, encode_all(rides(400, seed=15)))
    job.join(120)
    assert not job.is_alive() and "error" in failure, "the job went on"
    line = explain(failure["error"])
    # The watch sees the new id, unless Spark failed first while the topic was gone.
    assert line.startswith(
        (f"topic {topic} was deleted and created again while the job ran (its id changed)",
         "a topic the job reads was deleted, or lost records, while it ran")
    ), line  # fmt: skip
    assert "tart over with a new --checkpoint-dir" in line
    # The next run stops before its first batch.
    with pytest.raises(TopicRecreated) as refused:
        runner.execute(spark, JOB, job_settings([*profile, *flags]))
    assert str(refused.value).startswith(
        f"topic {topic} was deleted and created again since this checkpoint was written"
    )
    # What source.fail_on_data_loss = false does: it goes on from the old offsets, past the new
    # topic's first records.
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(
        write_profile(tmp_path, bootstrap).read_text() + "[source]\nfail_on_data_loss = false\n"
    )
    committed = committed_offset(tmp_path / "checkpoints" / "ride_windows", topic)
    metrics.unlink()
    seen = io.StringIO()
    with redirect_stderr(seen):
        code = runner.execute(
            spark,
            JOB,
            job_settings(["--profile", str(lenient), *flags, "--trigger", "available-now"]),
        )
    assert code == 0
    assert "going on from the checkpoint's offsets" in seen.getvalue()
    batches = [json.loads(line) for line in metrics.read_text().splitlines()]
    # It starts where the checkpoint had got to (the last committed batch's end, or the start of
    # a batch planned but not committed, which it runs again), not at the new topic's start.
    start = batches[0]["sources"][0]["startOffset"][topic]["0"]
    assert 0 < start <= committed < 400
    assert sum(batch["numInputRows"] for batch in batches) == 400 - start


def try_create(bootstrap: str, topic: str) -> bool:
    try:
        create_topic(bootstrap, topic, partitions=1)
    except Exception:  # noqa: BLE001 - the deletion is still under way
        return False
    return True


def committed_offset(checkpoint: Path, topic: str) -> int:
    """Return the offset of ``topic``'s partition 0 after the checkpoint's last committed batch."""
    last = max(int(path.name) for path in (checkpoint / "commits").iterdir() if path.name.isdigit())
    return json.loads((checkpoint / "offsets" / str(last)).read_text().splitlines()[2])[topic]["0"]


def test_a_damaged_checkpoint_is_refused_with_the_fix(spark, kafka_broker, tmp_path):
    topic = "rides_damaged"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, topic, encode_all(rides(60, seed=13)))
    flags = [
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path), "--dead-letter", "none", "--max-offsets-per-trigger", "1000",
    ]  # fmt: skip
    assert runner.execute(spark, JOB, job_settings(flags)) == 0
    offsets = sorted((tmp_path / "checkpoints" / "ride_windows" / "offsets").iterdir())
    offsets[-1].write_text("v1\n{not json")  # a write cut short
    with pytest.raises(ConfigError) as refused:
        runner.execute(spark, JOB, job_settings(flags))
    message = str(refused.value)
    assert f"ride_windows is damaged (offsets/{offsets[-1].name}: not JSON)" in message
    assert "restore it from a copy, or start over with a new --checkpoint-dir" in message


def test_a_stop_asked_for_while_the_job_starts_ends_it_with_exit_130(kafka_broker, tmp_path):
    topic = "rides_starting"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    job = subprocess.Popen(
        [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py", "--profile",
         str(write_profile(tmp_path, kafka_broker.bootstrap_servers)), *job_flags(topic, tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(2)  # the JVM is starting; the Python driver is not there yet
        job.send_signal(signal.SIGTERM)  # to the wrapper, as `kill` does
        output, _ = job.communicate(timeout=300)
        assert job.returncode == EXIT_STOPPED, output[-3000:]
        assert "ride_windows: interrupted" in output or "stopped after" in output, output[-3000:]
        assert "Traceback" not in output
    finally:
        # The whole group: the wrapper may be gone while the JVM and driver are not.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
