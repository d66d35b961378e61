"""--trigger real-time: its forms, and the one-line refusal of what real-time mode cannot run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ridestream import runner
from ridestream.config import QuerySettings
from ridestream.errors import EXIT_USER_ERROR, ConfigError
from ridestream.jobs import ride_clean, ride_pickups_join, ride_windows, ride_zones, stream_sql
from ridestream.paths import PROJECT_ROOT


@pytest.mark.parametrize(
    ("trigger", "interval"),
    [
        ("real-time", "5 seconds"),
        ("real-time 5 seconds", "5 seconds"),
        ("real-time 1 minute", "1 minute"),
        ("1 second", None),
        ("0 seconds", None),
        ("available-now", None),
    ],
)
def test_real_time_triggers_carry_their_checkpoint_interval(trigger, interval):
    query = QuerySettings(trigger=trigger)
    assert query.real_time_interval == interval
    assert not query.ends or trigger == "available-now"


@pytest.mark.parametrize("trigger", ["real-time 4 seconds", "real-time 500 ms", "real-time soon"])
def test_a_real_time_interval_under_5_seconds_or_not_a_duration_is_refused(trigger):
    with pytest.raises(ConfigError, match=r"at least 5 seconds: write 'real-time' \(5 s\)"):
        QuerySettings(trigger=trigger)


def refusal(job: runner.Job, *flags: str) -> str:
    settings = runner.settings_for(job, ["--trigger", "real-time", *flags])
    with pytest.raises(ConfigError) as refused:
        runner.check_trigger(job, settings)
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("job", [ride_windows.JOB, ride_zones.JOB, ride_pickups_join.JOB])
def test_a_stateful_job_is_refused_real_time_mode_naming_the_state(job):
    message = refusal(job)
    assert message.startswith(f"--trigger 'real-time': {job.name} keeps state across records")
    assert "--trigger '1 second'" in message and "jobs/ride_clean.py" in message


def test_stream_sql_is_refused_real_time_mode_naming_its_foreach_batch_outputs():
    message = refusal(stream_sql.JOB, "--query", "SELECT * FROM rides")
    assert "stream_sql prints and merges results per micro-batch (foreachBatch)" in message


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (("--sink", "delta"), "real-time mode cannot write to a Delta table"),
        (("--sink", "console"), "ride_clean's console output is a query apart"),
        (("--output-mode", "append"), "update mode only, not append"),
        (("--min-partitions", "4"), "leave --min-partitions (source.min_partitions) out"),
        (("--dead-letter", "delta"), "rejects to delta are a query apart"),
        (("--dead-letter", "kafka+delta"), "rejects to kafka+delta are a query apart"),
    ],
)
def test_ride_clean_is_refused_real_time_mode_for_what_it_cannot_write(flags, reason):
    assert reason in refusal(ride_clean.JOB, *flags)


@pytest.mark.parametrize(
    "flags", [(), ("--dead-letter", "none"), ("--trigger", "real-time 1 minute")]
)
def test_ride_clean_to_kafka_runs_in_real_time_mode(flags):
    settings = runner.settings_for(ride_clean.JOB, ["--trigger", "real-time", *flags])
    runner.check_trigger(ride_clean.JOB, settings)  # no refusal
    assert ride_clean.JOB.real_time_refusal(settings) is None


def test_a_refused_job_exits_2_with_one_line_before_any_broker_or_spark_starts(tmp_path):
    # Port 1 answers nothing: a run that got as far as Kafka would fail differently, later.
    profile = tmp_path / "p.toml"
    profile.write_text('[kafka]\nbootstrap_servers = "127.0.0.1:1"\n[embedded]\nkafka = false\n')
    done = subprocess.run(
        [sys.executable, "jobs/ride_windows.py", "--profile", str(profile), "--trigger",
         "real-time", "--checkpoint-dir", str(tmp_path / "c")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "RIDESTREAM_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == EXIT_USER_ERROR
    assert done.stderr.splitlines() == [
        "ride_windows: --trigger 'real-time': ride_windows keeps state across records (windows, "
        "joins or aggregates), and Spark 4.2 runs only stateless queries in real-time mode; use "
        "an interval (--trigger '1 second'), or jobs/ride_clean.py for the stateless real-time path"
    ]
    assert not (tmp_path / "c").exists()
