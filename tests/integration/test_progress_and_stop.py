"""Watching and stopping a running job: progress lines, metrics JSON, graceful stop, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from ridestream.errors import EXIT_STOPPED
from tests.integration.helpers import consume_all, expected_tumbling_windows
from tests.integration.jobs import (
    MALFORMED,
    WATERMARK,
    WINDOW,
    assert_windows_equal,
    job_flags,
    kafka_window,
    run_job,
    write_profile,
)

pytestmark = pytest.mark.integration


def batches_in(metrics_file, name: str) -> list[dict]:
    if not metrics_file.exists():
        return []
    return [p for p in map(json.loads, metrics_file.read_text().splitlines()) if p["name"] == name]


def stop_after(metrics_file, name: str, batches: int) -> threading.Event:
    """Return an event set (as by Ctrl-C) once query ``name`` has recorded ``batches`` batches."""
    stop = threading.Event()

    def watch() -> None:
        while len(batches_in(metrics_file, name)) < batches:
            time.sleep(0.2)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop


def test_a_stopped_job_reports_progress_and_resumes_from_its_checkpoint(
    spark, kafka_broker, rides_topic, tmp_path, capsys
):
    topic, rides = rides_topic
    metrics = tmp_path / "metrics.jsonl"
    flags = [
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path),
        "--sink", "kafka", "--output-topic", "windows_resumed", "--dead-letter", "none",
        "--metrics-file", str(metrics),
    ]  # fmt: skip

    # First run: a processing-time trigger with room between batches (20 rows each, so about
    # 20 batches in all), stopped (as by Ctrl-C) after two of them.
    first = [*flags, "--trigger", "2 seconds", "--max-offsets-per-trigger", "20"]
    assert run_job(spark, first, stop_after(metrics, "ride_windows", 2)) == EXIT_STOPPED
    stopped = capsys.readouterr().err
    assert "ride_windows: stopped after" in stopped
    assert "run again to resume from the checkpoint" in stopped
    first_batches = batches_in(metrics, "ride_windows")
    read_before_stop = sum(p["numInputRows"] for p in first_batches)
    assert 0 < read_before_stop < len(rides) + len(MALFORMED)

    # Second run: the same checkpoint, to the end of the topic.
    assert run_job(spark, [*flags, "--trigger", "available-now"]) == 0
    finished = capsys.readouterr().err
    assert "ride_windows: finished after" in finished

    # A progress line per batch, and every record read exactly once over the two runs.
    all_batches = batches_in(metrics, "ride_windows")
    lines = [
        line for line in (stopped + finished).splitlines() if line.startswith("ride_windows #")
    ]
    assert len(lines) == len(all_batches)
    assert "watermark" in lines[-1] and "state" in lines[-1] and "lag 0" in lines[-1]
    assert sum(p["numInputRows"] for p in all_batches) == len(rides) + len(MALFORMED)
    assert len({p["batchId"] for p in all_batches}) == len(all_batches)

    # Accounting: each batch's parsed records split into valid and rejected, summed over the run.
    observed = [p["observedMetrics"]["records"] for p in all_batches]
    assert sum(o["valid"] for o in observed) == len(rides)
    assert sum(o["rejected"] for o in observed) == len(MALFORMED)
    assert " valid + " in lines[0] and " rejected" in lines[0]
    balance = subprocess.run(
        [sys.executable, "-m", "ridestream.cli", "balance", str(metrics)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert balance.returncode == 0, balance.stdout + balance.stderr
    assert f"valid              {len(rides):>12,}" in balance.stdout
    assert f"rejected           {len(MALFORMED):>12,}" in balance.stdout
    assert "balanced: read = parsed = valid + rejected in every batch" in balance.stdout

    # The resumed output is the whole answer, each window once.
    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    messages = consume_all(kafka_broker.bootstrap_servers, "windows_resumed", len(expected))
    actual = dict(kafka_window(message) for message in messages)
    assert len(messages) == len(actual), "a window was written twice"
    assert_windows_equal(actual, expected, rounded=True)


def test_two_stages_run_together_stop_and_resume_with_every_record_parsed_once(
    spark, kafka_broker, rides_topic, tmp_path, capsys
):
    topic, rides = rides_topic
    records = len(rides) + len(MALFORMED)
    metrics = tmp_path / "metrics.jsonl"
    flags = [
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path), "--stages", "two", "--parsed-path", str(tmp_path / "parsed"),
        "--sink", "kafka", "--output-topic", "windows_two_stages", "--dead-letter", "none",
        "--metrics-file", str(metrics),
    ]  # fmt: skip

    # First run: with an interval trigger both stages run at once; stopped (as by Ctrl-C) after
    # two parse batches of 40 records, ten batches before the end of the topic (the windows query
    # may or may not have read the table by then: that depends on the machine).
    first = [*flags, "--trigger", "2 seconds", "--max-offsets-per-trigger", "40"]
    assert run_job(spark, first, stop_after(metrics, "ride_windows_parse", 2)) == EXIT_STOPPED
    stopped = capsys.readouterr().err
    assert "ride_windows_parse #" in stopped and "ride_windows: stopped after" in stopped
    parsed_before_stop = sum(p["numInputRows"] for p in batches_in(metrics, "ride_windows_parse"))
    assert 0 < parsed_before_stop < records

    # Second run: the same checkpoints, to the end of the topic (the stages one after the other).
    assert run_job(spark, [*flags, "--trigger", "available-now"]) == 0
    assert "ride_windows: finished after" in capsys.readouterr().err

    # Every record parsed once and stored once, and read once by the windows query.
    assert sum(p["numInputRows"] for p in batches_in(metrics, "ride_windows_parse")) == records
    offsets = [
        row.offset for row in spark.read.format("delta").load(str(tmp_path / "parsed")).collect()
    ]
    assert sorted(offsets) == list(range(records))
    assert sum(p["numInputRows"] for p in batches_in(metrics, "ride_windows")) == records

    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    messages = consume_all(kafka_broker.bootstrap_servers, "windows_two_stages", len(expected))
    actual = dict(kafka_window(message) for message in messages)
    assert len(messages) == len(actual), "a window was written twice"
    assert_windows_equal(actual, expected, rounded=True)
