"""Faults at a job's Delta output, each under a running job on the real stack.

Rows of the README's "When things go wrong" table: the output table removed under a running job,
a disk that runs out of space (a file-size limit, as ``ulimit -f`` sets, put on the running JVM),
and a stop asked for while a batch's MERGE runs. Each checks what the user is told and that a
run after it leaves the table exactly as a run without the fault would (expected values from
plain Python over the produced rides).
"""

from __future__ import annotations

import resource
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ridestream import runner
from ridestream.delta_log import commits
from ridestream.errors import EXIT_STOPPED, explain
from ridestream.jobs.ride_windows import JOB
from ridestream.kafka.datagen import rides_between
from tests.integration.helpers import (
    create_topic,
    encode_all,
    expected_tumbling_windows,
    produce_values,
    wait_until,
)
from tests.integration.jobs import (
    WINDOW,
    assert_windows_equal,
    delta_windows,
    job_flags,
    job_settings,
    write_profile,
)

pytestmark = pytest.mark.integration


class RunningJob:
    """ride_windows to a Delta table in update mode, 40 rides a batch, run in a thread."""

    def __init__(self, spark, bootstrap: str, tmp_path: Path, topic: str, seed: int) -> None:
        self.spark, self.table = spark, tmp_path / "windows"
        self.rides = list(
            rides_between(datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 8, 30), 200, seed=seed)
        )
        create_topic(bootstrap, topic, partitions=1)
        produce_values(bootstrap, topic, encode_all(self.rides))
        self.commits_dir = tmp_path / "checkpoints" / "ride_windows" / "commits"
        self.flags = [
            "--profile", str(write_profile(tmp_path, bootstrap)), *job_flags(topic, tmp_path),
            "--max-offsets-per-trigger", "40", "--sink", "delta", "--output-mode", "update",
            "--delta-path", str(self.table), "--dead-letter", "none",
        ]  # fmt: skip
        self.stop, self.outcome = threading.Event(), {}

    def start(self) -> None:
        settings = job_settings([*self.flags, "--trigger", "1 second"])

        def run() -> None:
            try:
                self.outcome["code"] = runner.execute(self.spark, JOB, settings, self.stop)
            except Exception as error:  # noqa: BLE001 - what the runner's caller gets
                self.outcome["error"] = error

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def committed(self) -> int:
        """Return how many batches the checkpoint has committed."""
        return len(list(self.commits_dir.glob("[0-9]*"))) if self.commits_dir.exists() else 0

    def join(self, timeout_s: float = 120) -> dict:
        self.thread.join(timeout_s)
        if self.thread.is_alive():  # stopped, so that it does not run on into the next test
            self.stop.set()
            self.thread.join(120)
            pytest.fail(f"the job did not end in {timeout_s} s")
        return self.outcome

    def finish_and_check(self) -> None:
        """Run the job again to the end of the topic: the table is then exact, each window once."""
        rest = job_settings([*self.flags, "--max-offsets-per-trigger", "1000"])
        assert runner.execute(self.spark, JOB, rest) == 0
        actual, written = delta_windows(self.spark, self.table)
        assert written == len(actual)
        expected = expected_tumbling_windows(self.rides, WINDOW, timedelta(0), closed_only=False)
        assert_windows_equal(actual, expected)


def test_the_output_table_removed_under_a_running_job_stops_it_with_one_line(
    spark, kafka_broker, tmp_path
):
    job = RunningJob(spark, kafka_broker.bootstrap_servers, tmp_path, "rides_table_gone", seed=21)
    job.start()
    wait_until(lambda: job.committed() >= 1 or not job.thread.is_alive(), 180, "a first batch")
    shutil.rmtree(job.table)
    outcome = job.join(timeout_s=60)
    assert "error" in outcome, f"the job went on without its table: {outcome}"
    line = explain(outcome["error"])
    assert line.startswith(f"the Delta table {job.table} was removed while the job wrote to it")
    assert "restore the table and run again, or start over with a new --checkpoint-dir" in line
    assert "\n" not in line
    # Nothing was written in its place: a table made again would hold only the later batches.
    assert not job.table.exists()


def jvm_pid(spark) -> int:
    pid = spark.sparkContext._gateway.proc.pid
    assert b"java" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    return pid


def test_a_disk_that_fills_up_stops_the_job_with_one_line_and_a_rerun_loses_nothing(
    spark, kafka_broker, tmp_path
):
    job = RunningJob(spark, kafka_broker.bootstrap_servers, tmp_path, "rides_disk_full", seed=22)
    pid = jvm_pid(spark)
    limit = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    job.start()
    wait_until(lambda: job.committed() >= 1 or not job.thread.is_alive(), 180, "a first batch")
    try:
        # Every file the JVM writes from now on stops at 1 KiB, as on a disk that is full:
        # the next batch's Delta files, state and checkpoint files cannot be written.
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1024, limit[1]))
        outcome = job.join()
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, limit)
    assert "error" in outcome, f"the job did not stop: {outcome}"
    line = explain(outcome["error"])
    assert line.startswith("the disk ran out of space, or a file reached the size limit"), line
    assert "free space and run again" in line
    job.finish_and_check()


def merge_running(spark) -> bool:
    """Return True while a Delta MERGE runs in ``spark`` (its Spark jobs say so)."""
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    for index in range(jobs.size()):
        info = jobs.apply(index)
        if str(info.status()) == "RUNNING" and info.description().isDefined():
            if "MERGE operation" in info.description().get():
                return True
    return False


def test_a_stop_during_a_merge_lets_the_merge_commit_and_ends_with_exit_130(
    spark, kafka_broker, tmp_path
):
    job = RunningJob(spark, kafka_broker.bootstrap_servers, tmp_path, "rides_stop_merge", seed=23)
    job.start()
    wait_until(lambda: job.committed() >= 1 or not job.thread.is_alive(), 180, "a first batch")
    wait_until(
        lambda: merge_running(spark) or not job.thread.is_alive(), 60, "a MERGE", poll_s=0.02
    )
    merging = job.committed()  # the batch whose MERGE runs now
    job.stop.set()  # what Ctrl-C or SIGTERM does (test_stopping.py sends the signals)
    assert job.join() == {"code": EXIT_STOPPED}
    # The MERGE under way finished and its batch committed: the table's last MERGE is that
    # batch, and the checkpoint says it is done.
    merges = [c.txn_version for c in commits(job.table) if c.operation == "MERGE"]
    assert merges[-1] == merging
    assert job.committed() == merging + 1
    job.finish_and_check()
