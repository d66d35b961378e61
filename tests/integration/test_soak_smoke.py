"""The soak script (bench/soak.py) on a quarter of a minute, with the job in the test session.

The 30-minute run spawns ``spark-submit.sh``; here the same soak drives ride_windows through the
runner in the suite's Spark session (``start_job``), which spares a cold JVM. Its numbers are not
judged here (``--max-growth 1000``: a run this short is all warm-up); what is checked is that it
samples, judges every series, drains the topic and balances the records.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

from bench import soak
from ridestream import runner
from ridestream.jobs.ride_windows import JOB
from tests.integration.helpers import consume_all

pytestmark = pytest.mark.integration

TOPIC = "soak_smoke"


class InSessionJob:
    """ride_windows on the runner in ``spark``, in a thread, as the soak's job."""

    def __init__(self, spark, run, profile, args) -> None:
        flags = soak.job_flags(run, profile, args.trigger, args.dead_letter)
        settings = runner.settings_for(JOB, flags)
        self.spark = spark
        self.requested = threading.Event()
        self.code = None

        def target() -> None:
            self.code = runner.execute(spark, JOB, settings, self.requested)

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def poll(self):
        if self.thread.is_alive():
            return None
        return 1 if self.code is None else self.code

    def driver_pid(self):
        return os.getpid()

    def jvm_pid(self):
        return self.spark.sparkContext._gateway.proc.pid

    def stop(self):
        self.requested.set()
        self.thread.join(120)
        return self.poll()


def test_a_short_soak_samples_judges_every_series_and_loses_no_record(
    spark, kafka_broker, tmp_path, capsys
):
    code = soak.main(
        ["--minutes", "0.25", "--sample-every", "3", "--rate", "50", "--trigger", "1 second",
         "--max-growth", "1000", "--dead-letter", "none",
         "--bootstrap-servers", kafka_broker.bootstrap_servers,
         "--topic", TOPIC, "--workdir", str(tmp_path)],
        start_job=lambda *args: InSessionJob(spark, *args),
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    samples = [line for line in out.splitlines() if line.startswith("soak  ")]
    assert len(samples) == 5, out  # 15 s, one every 3 s
    assert all("JVM RSS" in line and "MiB" in line and "lag" in line for line in samples)
    for series in ("JVM RSS", "Python RSS", "state rows", "batch duration", "lag"):
        assert any(line.startswith(series) and "bound" in line for line in out.splitlines()), out
    # Every record on the topic (read and counted here) was read by the job (its metrics file).
    on_topic = len(consume_all(kafka_broker.bootstrap_servers, TOPIC))
    batches = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    read = sum(b["numInputRows"] for b in batches if b["name"] == "ride_windows")
    assert on_topic > 500 and read == on_topic
    assert f"records: {on_topic:,} on the topic, {on_topic:,} read" in out
    assert "soak passed" in out
