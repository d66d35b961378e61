"""The same job on a Spark standalone cluster (a master and a worker on 127.0.0.1).

The master and worker come from the installed pyspark (``spark-class``); the job is submitted
with the project's wrapper and ``--master spark://...``, its package shipped with ``--py-files``.
Its Delta output must equal the windows computed in plain Python, which is also what the local
run of the same input must produce (test_ride_windows_e2e).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyspark
import pytest

from ridestream.local import free_port
from ridestream.paths import java_options
from tests.integration.helpers import expected_tumbling_windows
from tests.integration.jobs import (
    WATERMARK,
    WINDOW,
    assert_windows_equal,
    delta_windows,
    job_flags,
    spark_submit,
    write_profile,
)

pytestmark = pytest.mark.integration


def spark_class(*args: str, log: Path) -> subprocess.Popen:
    spark_home = Path(pyspark.__file__).parent
    return subprocess.Popen(
        [str(spark_home / "bin" / "spark-class"), *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "SPARK_HOME": str(spark_home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            # The JVM options test.sh gives every JVM (RIDESTREAM_JAVA_OPTIONS), for these too.
            "SPARK_DAEMON_JAVA_OPTS": shlex.join(java_options()),
        },
        start_new_session=True,
    )


def wait_for(log: Path, text: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {log}:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def standalone_cluster(tmp_path):
    """A standalone master and one worker (1 core, 1 GB) on free loopback ports."""
    port = free_port()
    master_log, worker_log = tmp_path / "master.log", tmp_path / "worker.log"
    master = spark_class(
        "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
        "--webui-port", str(free_port()), log=master_log,
    )  # fmt: skip
    url = f"spark://127.0.0.1:{port}"
    processes = [master]
    try:
        wait_for(master_log, "I have been elected leader", master)
        worker = spark_class(
            "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
            "--memory", "1g", "--webui-port", str(free_port()), "--work-dir",
            str(tmp_path / "work"), log=worker_log,
        )  # fmt: skip
        processes.append(worker)
        wait_for(worker_log, "Successfully registered with master", worker)
        yield url
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
        shutil.rmtree(tmp_path / "work", ignore_errors=True)


def test_ride_windows_on_a_standalone_cluster_equals_the_local_answer(
    spark, kafka_broker, rides_topic, standalone_cluster, tmp_path
):
    topic, rides = rides_topic
    result = spark_submit(
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path), "--sink", "delta", "--delta-path", str(tmp_path / "windows"),
        "--dead-letter", "none", "--progress", "off",
        # The whole topic in one batch (the last flag wins): each Delta commit on the cluster's
        # one cold executor costs seconds, and batch by batch is tested in the local runs.
        "--max-offsets-per-trigger", "1000",
        spark_args=(
            "--master", standalone_cluster, "--executor-memory", "768m",
            "--conf", f"spark.executor.extraJavaOptions={shlex.join(java_options())}",
        ),
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "ride_windows: finished after" in result.stdout + result.stderr

    actual, written = delta_windows(spark, tmp_path / "windows")
    assert written == len(actual), "a window was written twice"
    assert_windows_equal(actual, expected_tumbling_windows(rides, WINDOW, WATERMARK))
