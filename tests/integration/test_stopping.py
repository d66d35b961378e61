"""Every documented way to stop a job stops it cleanly: batch finished, summary printed, exit 130.

The job runs through ``spark-submit.sh`` against the test broker (its profile starts no embedded
broker), and is stopped the ways users and supervisors stop it: Ctrl-C (SIGINT to the terminal's
process group), ``kill`` of the wrapper (SIGTERM to its pid only), and ``timeout`` / systemd
(SIGTERM to the whole process group). While it runs, a second run on the same checkpoint is
refused at once, naming the first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest

from ridestream.errors import EXIT_STOPPED, EXIT_USER_ERROR
from ridestream.paths import PROJECT_ROOT
from tests.integration.jobs import job_flags, write_profile

pytestmark = pytest.mark.integration


def start_job(topic: str, tmp_path, profile) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py", "--profile",
            str(profile), *job_flags(topic, tmp_path), "--trigger", "2 seconds",
            "--max-offsets-per-trigger", "20", "--dead-letter", "none",
            "--metrics-file", str(tmp_path / "metrics.jsonl"),
        ],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )  # fmt: skip


def wait_for_batches(metrics, job: subprocess.Popen, count: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert job.poll() is None, f"the job ended by itself: {job.stdout.read()[-3000:]}"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= count:
            return
        time.sleep(0.3)
    pytest.fail(f"no {count} batches in {timeout_s} s")


def assert_stopped_cleanly(job: subprocess.Popen, metrics) -> str:
    output, _ = job.communicate(timeout=120)
    assert job.returncode == EXIT_STOPPED, output[-3000:]
    assert output.count("stopping after the current batch") == 1, output[-3000:]
    assert "ride_windows: stopped after" in output and "run again to resume" in output
    assert "Traceback" not in output and "\tat org.apache" not in output
    # The summary counts what the metrics file recorded, batch by batch: nothing cut off.
    batches = [json.loads(line) for line in metrics.read_text().splitlines()]
    read = sum(batch["numInputRows"] for batch in batches)
    assert f"{len(batches)} batches, {read:,} rows read" in output, output[-2000:]
    return output


def test_sigterm_to_the_wrapper_stops_the_job_and_a_second_run_is_refused_meanwhile(
    kafka_broker, rides_topic, tmp_path
):
    topic, _ = rides_topic
    profile = write_profile(tmp_path, kafka_broker.bootstrap_servers)
    job = start_job(topic, tmp_path, profile)
    try:
        wait_for_batches(tmp_path / "metrics.jsonl", job, 2)
        second = subprocess.run(
            [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py", "--profile",
             str(profile), *job_flags(topic, tmp_path)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        seen = second.stdout + second.stderr
        assert second.returncode == EXIT_USER_ERROR, seen[-3000:]
        assert "is in use by another run of this job (pid " in seen
        assert "stop that run first, or give this one its own --checkpoint-dir" in seen
        assert "Traceback" not in seen
        os.kill(job.pid, signal.SIGTERM)  # the wrapper alone, as `kill <pid>` does
        assert_stopped_cleanly(job, tmp_path / "metrics.jsonl")
    finally:
        # The whole group: the wrapper may be gone while the JVM and driver are not.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "group-term"])
def test_a_signal_to_the_whole_process_group_stops_the_job_once(
    kafka_broker, rides_topic, tmp_path, signum
):
    topic, _ = rides_topic
    job = start_job(topic, tmp_path, write_profile(tmp_path, kafka_broker.bootstrap_servers))
    try:
        wait_for_batches(tmp_path / "metrics.jsonl", job, 2)
        os.killpg(job.pid, signum)  # the terminal's Ctrl-C, or timeout/systemd's SIGTERM
        assert_stopped_cleanly(job, tmp_path / "metrics.jsonl")
    finally:
        # The whole group: the wrapper may be gone while the JVM and driver are not.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
