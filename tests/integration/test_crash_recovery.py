"""Exactly-once to Delta through crashes: kill -9 the job at random points, restart, compare.

The job runs through spark-submit.sh in its own process group; each kill is SIGKILL to the whole
group (driver JVM and Python at once, as a lost machine), once the run has committed a batch of
its own (one more than the checkpoint held when it started) and after a further random delay, so
some kills land mid-batch. Every restart resumes from the checkpoint. The final Delta tables
must equal what plain Python computes from the input: each window once with its full count
(update mode, MERGE with txnAppId/txnVersion), each malformed record once.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import time
from datetime import datetime, timedelta

import pytest

from ridestream.cli import build_parser
from ridestream.cli.parity import run_parity
from ridestream.kafka.datagen import rides_between
from ridestream.paths import PROJECT_ROOT
from ridestream.sinks import merge_windows
from tests.corpus import malformed_records
from tests.integration.helpers import (
    create_topic,
    encode_all,
    expected_tumbling_windows,
    produce_values,
)
from tests.integration.jobs import assert_windows_equal, delta_windows, run_job, write_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 2
# How long a run may take to commit its first batch (a fresh JVM's first Delta MERGE) before the
# test fails: generous, for a machine busy with other work.
FIRST_BATCH_TIMEOUT_S = 300
WINDOW = timedelta(minutes=5)


def job_command(topic: str, tmp_path, profile) -> list[str]:
    return [
        str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py",
        "--profile", str(profile), "--topic", topic,
        "--window", "5 minutes", "--watermark", "10 minutes",
        "--max-offsets-per-trigger", "100", "--shuffle-partitions", "2",
        "--sink", "delta", "--output-mode", "update", "--delta-path", str(tmp_path / "windows"),
        "--dead-letter", "delta", "--dead-letter-path", str(tmp_path / "rejects"),
        "--checkpoint-dir", str(tmp_path / "checkpoints"),
        "--metrics-file", str(tmp_path / "metrics.jsonl"), "--progress", "off",
    ]  # fmt: skip


def batches_committed(tmp_path) -> int:
    """Return how many batches the windows query has committed: its checkpoint's commit log.

    Spark writes ``commits/<batch id>`` (atomically, by a rename) once a batch's output is
    written, so a kill after it cannot take the batch back.
    """
    commits = tmp_path / "checkpoints" / "ride_windows" / "commits"
    return sum(1 for path in commits.glob("*") if path.name.isdigit()) if commits.exists() else 0


def wait_until_gone(group: int, timeout_s: float = 30.0) -> None:
    """Wait until every process of ``group`` has exited (a JVM killed with -9 takes a moment).

    The next run starts as a restart after a lost machine would: once the old driver is gone and
    its checkpoint lock released (the lock is the kernel's, held until the process exits).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"processes of group {group} still ran {timeout_s:.0f} s after kill -9")


def test_the_delta_output_is_exact_after_two_kill_9s(spark, kafka_broker, tmp_path, capsys):
    rng = random.Random(20261125)
    rides = list(rides_between(datetime(2024, 6, 1, 7, 0), datetime(2024, 6, 1, 9, 0), 800, 3, 120))
    values = encode_all(rides)
    malformed = {}
    corpus = malformed_records(16)  # 2% bad records, of every kind the parser rejects
    for position, record in zip(sorted(rng.sample(range(len(values)), 16)), corpus, strict=True):
        values.insert(position, record.value)
        malformed[position] = record
    topic = "rides_crash"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, topic, values)
    profile = write_profile(tmp_path, kafka_broker.bootstrap_servers)
    log = (tmp_path / "runs.log").open("ab")

    committed_at_kill = []  # batches in the commit log after each kill
    for kill in range(KILLS):
        before = batches_committed(tmp_path)
        run = subprocess.Popen(
            [*job_command(topic, tmp_path, profile), "--trigger", "1 second"],
            cwd=PROJECT_ROOT, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + FIRST_BATCH_TIMEOUT_S
        while batches_committed(tmp_path) <= before:
            ended = run.poll() is not None
            if ended or time.monotonic() > deadline:
                if not ended:
                    os.killpg(run.pid, signal.SIGKILL)
                    run.wait(30)
                why = "ended by itself" if ended else f"timed out after {FIRST_BATCH_TIMEOUT_S} s"
                pytest.fail(
                    f"run {kill + 1} {why} before committing a batch ({before} committed before "
                    f"it): {(tmp_path / 'runs.log').read_text()[-3000:]}"
                )
            time.sleep(0.1)
        time.sleep(rng.uniform(0, 1.5))  # often in the middle of the next batch
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(30)
        wait_until_gone(run.pid)
        committed_at_kill.append(batches_committed(tmp_path))
    # Each kill came after at least one more committed batch than the one before it.
    assert all(b > a for a, b in itertools.pairwise([0, *committed_at_kill])), committed_at_kill

    # A last run to the end of the topic, in one batch (the batch size is not in the checkpoint;
    # a batch planned before the kill is run again as planned). In this process: the restart
    # under test is the checkpoint's and the lock's (taken over from the killed driver), and a
    # third driver JVM would add half a minute of start-up and cold first MERGE.
    flags = [*job_command(topic, tmp_path, profile)[2:], "--trigger", "available-now"]
    assert run_job(spark, [*flags, "--max-offsets-per-trigger", str(len(values))]) == 0
    # Said in one line: the killed run's lock was taken over.
    assert "ride_windows: took over the lock on" in capsys.readouterr().err

    actual, written = delta_windows(spark, tmp_path / "windows")
    assert written == len(actual), "a window was written twice"
    expected = expected_tumbling_windows(rides, WINDOW, timedelta(minutes=10), closed_only=False)
    assert_windows_equal(actual, expected)

    # Parity: the same windows as a batch query over the offsets the checkpoint committed, with
    # the job's own builders, equal the table (no ride was late: out of order by 2 minutes at
    # most, under the 10-minute watermark).
    code = run_parity(build_parser().parse_args(["parity", *flags]), lambda: spark)
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"parity: equal: the {len(expected)} windows of "), out
    assert f"{len(values)} records in" in out and f"{topic}[0:0] to {topic}[0:{len(values)}]" in out

    rejects = spark.read.format("delta").load(str(tmp_path / "rejects")).orderBy("offset").collect()
    assert [row.offset for row in rejects] == sorted(malformed)
    assert [row.reason for row in rejects] == [malformed[p].reason for p in sorted(malformed)]
    assert [None if row.value is None else bytes(row.value) for row in rejects] == [
        malformed[p].value for p in sorted(malformed)
    ]


def test_a_replayed_batch_id_is_skipped_by_the_merge(spark, tmp_path):
    path = str(tmp_path / "windows")
    merge = merge_windows(path, ("PULocationID",), app_id="test")
    schema = (
        "window_start timestamp, window_end timestamp, PULocationID int, ride_count long, "
        "total_amount double, tip_amount double, avg_trip_distance double"
    )
    start, end = datetime(2024, 1, 1, 10, 0), datetime(2024, 1, 1, 10, 5)
    merge(spark.createDataFrame([(start, end, 1, 2, 40.0, 4.0, 2.0)], schema), 0)
    merge(spark.createDataFrame([(start, end, 1, 3, 60.0, 6.0, 2.0)], schema), 1)
    # Batch 1 again, with other numbers (as if a restarted query saw different data): skipped.
    merge(spark.createDataFrame([(start, end, 1, 99, 0.0, 0.0, 0.0)], schema), 1)
    rows = spark.read.format("delta").load(path).collect()
    assert [(r.PULocationID, r.ride_count, r.total_amount) for r in rows] == [(1, 3, 60.0)]
