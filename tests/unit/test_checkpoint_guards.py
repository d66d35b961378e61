"""What keeps two runs, or two queries, off one checkpoint: the lock, and checkpoints per output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ridestream import runner
from ridestream.errors import ConfigError
from ridestream.jobs.ride_windows import JOB
from ridestream.preflight import (
    FINGERPRINT_FILE,
    ID_KEY,
    TOPICS_FILE,
    CheckpointBusy,
    CheckpointLock,
    TopicRecreated,
    check_checkpoint,
    check_topic_ids,
    checkpoint_id,
)

HOLD_THE_LOCK = """
import sys, time
from ridestream.preflight import CheckpointLock
lock = CheckpointLock(sys.argv[1], "ride_windows")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_run_on_a_held_checkpoint_is_refused_naming_the_holder(tmp_path):
    first = CheckpointLock(tmp_path, "ride_windows")
    first.acquire()
    try:
        second = CheckpointLock(tmp_path, "ride_windows")
        with pytest.raises(CheckpointBusy) as refused:
            second.acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()} on " in message and " since " in message
        assert "stop that run first, or give this one its own --checkpoint-dir" in message
        # Another job's queries in the same directory are not held by it.
        other = CheckpointLock(tmp_path, "stream_sql")
        other.acquire()
        other.release()
    finally:
        first.release()
    after = CheckpointLock(tmp_path, "ride_windows")
    after.acquire()
    assert after.took_over is None  # released cleanly: nothing to take over
    after.release()


def test_a_lock_left_by_a_killed_run_is_taken_over_and_said_so(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CheckpointBusy, match=f"pid {holder.pid} on "):
            CheckpointLock(tmp_path, "ride_windows").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    lock = CheckpointLock(tmp_path, "ride_windows")
    lock.acquire()
    try:
        assert lock.took_over is not None and lock.took_over["pid"] == holder.pid
        assert json.loads((tmp_path / "ride_windows.lock").read_text())["pid"] == os.getpid()
    finally:
        lock.release()


def test_without_checkpoint_dir_each_output_gets_a_checkpoint_of_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    root = tmp_path / "checkpoints/local/ride_windows"

    def checkpoint(*flags: str) -> str:
        return str(runner.settings_for(JOB, list(flags)).query.checkpoint_dir)

    console, kafka = checkpoint(), checkpoint("--sink", "kafka")
    delta = checkpoint("--sink", "delta")
    other_table = checkpoint("--sink", "delta", "--delta-path", str(tmp_path / "x/ride_windows"))
    assert console == str(root / "console")
    assert kafka == str(root / "kafka-ride_windows")
    assert delta.startswith(str(root / "delta-ride_windows-"))
    # The same table name elsewhere is another table: another checkpoint.
    assert other_table.startswith(str(root / "delta-ride_windows-")) and other_table != delta
    # The same output, the same checkpoint (a restart resumes); --checkpoint-dir is taken as is.
    assert checkpoint("--sink", "delta") == delta
    assert checkpoint("--checkpoint-dir", str(tmp_path / "mine")) == str(tmp_path / "mine")


def test_a_checkpoint_records_its_output_and_refuses_another(tmp_path):
    settings = runner.settings_for(JOB, ["--checkpoint-dir", str(tmp_path), "--sink", "kafka"])
    runner.preflight(JOB, settings)
    recorded = json.loads((tmp_path / "ride_windows" / FINGERPRINT_FILE).read_text())
    assert recorded["sink"] == "kafka ride_windows" and len(recorded[ID_KEY]) == 32
    to_delta = runner.settings_for(
        JOB, ["--checkpoint-dir", str(tmp_path), "--sink", "delta", "--delta-path", "/t/w"]
    )
    with pytest.raises(ConfigError, match=r"sink 'kafka ride_windows' -> 'delta /t/w'"):
        runner.preflight(JOB, to_delta)


def test_a_fingerprint_from_before_sinks_were_recorded_is_completed_not_refused(tmp_path):
    shape = {"topic": "rides", "window": "tumbling 1 minute"}
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / FINGERPRINT_FILE).write_text(json.dumps(shape))
    check_checkpoint(tmp_path, "q", {**shape, "sink": "console"})
    recorded = json.loads((tmp_path / "q" / FINGERPRINT_FILE).read_text())
    assert recorded["sink"] == "console" and recorded[ID_KEY] == checkpoint_id(tmp_path, "q")
    with pytest.raises(ConfigError, match="sink 'console' -> 'kafka t'"):
        check_checkpoint(tmp_path, "q", {**shape, "sink": "kafka t"})


def test_a_run_that_fails_before_its_queries_start_leaves_the_checkpoint_unclaimed(tmp_path):
    settings = runner.settings_for(JOB, ["--checkpoint-dir", str(tmp_path)])
    runner.preflight(JOB, settings, claim=False)
    assert not (tmp_path / "ride_windows" / FINGERPRINT_FILE).exists()
    assert checkpoint_id(tmp_path, "ride_windows") is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shuffle-partitions", "0"], "spark.shuffle_partitions 0: must be at least 1"),
        (["--window-kind", "session", "--gap", "0 seconds"], "window.gap '0 seconds': must be"),
        (["--max-offsets-per-trigger", "-1"], "source.max_offsets_per_trigger -1: must be at"),
        (["--min-partitions", "0"], "source.min_partitions 0: must be at least 1"),
        (["--trigger", "soon"], "query.trigger 'soon': write an interval ('10 seconds'), "),
        (["--window", "0 minutes"], "window.size '0 minutes': must be longer than 0 s"),
        (["--window-kind", "hopping", "--slide", "2 minutes"], "must not be longer than window.s"),
        (["--watermark", "soon"], "window.watermark 'soon' is not a duration"),
        (["--group-by", "PULocationID,Zone"], "Zone is not a ride field; choose from VendorID"),
        (["--log-level", "LOUD"], "spark.log_level 'LOUD': choose one of ALL, DEBUG"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_when_settings_load(flags, message):
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        runner.settings_for(JOB, flags)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value) and time.monotonic() - started < 5


def test_a_topic_created_again_since_the_checkpoint_was_written_is_refused(tmp_path):
    queries = [str(tmp_path / "ride_windows"), str(tmp_path / "ride_windows_dead_letter")]
    assert check_topic_ids(queries, {"rides": "id-1"}) == []  # the first run records the ids
    recorded = json.loads((tmp_path / "ride_windows" / TOPICS_FILE).read_text())
    assert recorded == {"rides": "id-1"}
    assert check_topic_ids(queries, {"rides": "id-1"}) == []
    with pytest.raises(TopicRecreated, match="^topic rides was deleted and created again since"):
        check_topic_ids(queries, {"rides": "id-2"})
    # A new query of the job (a dead letter turned on later) has no record yet: still refused.
    (tmp_path / "ride_windows_dead_letter" / TOPICS_FILE).unlink()
    with pytest.raises(TopicRecreated):
        check_topic_ids(queries, {"rides": "id-2"})
    # source.fail_on_data_loss = false: accepted, and recorded anew.
    assert check_topic_ids(queries, {"rides": "id-2"}, go_on=True) == ["rides"]
    assert check_topic_ids(queries, {"rides": "id-2"}) == []
    # A topic the checkpoint never read is recorded, not refused; a remote checkpoint is not
    # checked.
    assert check_topic_ids(queries, {"rides": "id-2", "pickups": "id-9"}) == []
    assert check_topic_ids(["s3a://bucket/checkpoints/q"], {"rides": "id-3"}) == []
