"""spark-submit.sh refuses a bad command line before it starts a JVM (ridestream/precheck.py).

Each run here has a JVM that cannot start: ``JAVA_HOME`` names a directory without Java, so a
command that got as far as spark-submit fails with spark-submit's own error, naming that
directory. The positive control shows that a command the check passes does get there.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ridestream.errors import EXIT_USER_ERROR
from ridestream.paths import PROJECT_ROOT
from ridestream.preflight import CheckpointLock

NO_JAVA = "no-java-here"


def submit(tmp_path, *flags: str) -> tuple[int, str]:
    result = subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), "jobs/ride_windows.py",
         "--checkpoint-dir", str(tmp_path / "checkpoints"), *flags],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "JAVA_HOME": str(tmp_path / NO_JAVA)},
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_a_command_the_check_passes_goes_on_to_spark_submit(tmp_path):
    code, seen = submit(tmp_path, "--trigger", "available-now")
    assert code != 0 and f"{NO_JAVA}/bin/java" in seen, seen[-2000:]


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--shuffle-partitions", "0"], "ride_windows: spark.shuffle_partitions 0: must be at least 1"),
        (["--trigger", "every minute"], "ride_windows: query.trigger 'every minute':"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_a_bad_setting_is_refused_before_the_jvm_in_one_line(tmp_path, flags, line):
    code, seen = submit(tmp_path, *flags)
    assert code == EXIT_USER_ERROR, seen[-2000:]
    assert line in seen and NO_JAVA not in seen and "Traceback" not in seen
    assert len(seen.strip().splitlines()) <= 2, seen


def test_a_held_checkpoint_is_refused_before_the_jvm(tmp_path):
    lock = CheckpointLock(tmp_path / "checkpoints", "ride_windows")
    lock.acquire()  # this process is the other run
    try:
        code, seen = submit(tmp_path, "--trigger", "available-now")
    finally:
        lock.release()
    assert code == EXIT_USER_ERROR, seen[-2000:]
    assert f"is in use by another run of this job (pid {os.getpid()} on " in seen
    assert NO_JAVA not in seen


def test_help_is_printed_without_the_jvm(tmp_path):
    code, seen = submit(tmp_path, "--help")
    assert code == 0, seen[-2000:]
    assert seen.startswith("usage: spark-submit.sh jobs/ride_windows.py") and NO_JAVA not in seen


def test_the_check_leaves_a_stale_lock_for_the_run_that_takes_it_over(tmp_path):
    stale = {"pid": 99999999, "host": "gone", "since": "2026-12-01 00:00:00 UTC"}
    path = tmp_path / "ride_windows.lock"
    path.write_text(json.dumps(stale))
    CheckpointLock(tmp_path, "ride_windows").check()  # not held: no refusal
    assert json.loads(path.read_text()) == stale
    taker = CheckpointLock(tmp_path, "ride_windows")
    taker.acquire()
    try:
        assert taker.took_over == stale
    finally:
        taker.release()
