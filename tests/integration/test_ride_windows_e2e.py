"""ride_windows end to end: real broker, real Delta tables, spark-submit and the job's own main.

Known rides go into a topic, some out of order (by less than the watermark delay, so none is
late) and a few malformed. The output must equal the windows computed independently in plain
Python, and the malformed records must sit in the dead-letter sink with their reasons.

The job's windows and rejects to Delta through ``spark-submit.sh`` are checked against plain
Python in tests/integration/test_crash_recovery.py (after two kill -9s) and, on a standalone
cluster, in tests/integration/test_standalone_cluster.py; here the refusals go through it.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from ridestream.cli import build_parser
from ridestream.cli.parity import run_parity
from ridestream.local import free_port
from tests.integration.helpers import consume_all, expected_tumbling_windows
from tests.integration.jobs import (
    MALFORMED,
    MALFORMED_REASONS,
    WATERMARK,
    WINDOW,
    assert_windows_equal,
    delta_windows,
    job_flags,
    job_settings,
    kafka_window,
    run_job,
    spark_submit,
    write_profile,
)

pytestmark = pytest.mark.integration


def test_main_writes_keyed_windows_and_dead_letters_to_kafka(
    spark, kafka_broker, rides_topic, tmp_path
):
    topic, rides = rides_topic
    flags = [
        "--profile",
        str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path),
        "--sink",
        "kafka",
        "--output-topic",
        "windows_out",
        "--dead-letter",
        "kafka",
        "--dead-letter-topic",
        "rejects_out",
    ]
    assert run_job(spark, flags) == 0

    expected = expected_tumbling_windows(rides, WINDOW, WATERMARK)
    messages = consume_all(kafka_broker.bootstrap_servers, "windows_out", len(expected))
    actual = {}
    for message in messages:
        value, key = json.loads(message.value()), json.loads(message.key())
        assert key == {"window_start": value["window_start"], "PULocationID": value["PULocationID"]}
        window, aggregates = kafka_window(message)
        actual[window] = aggregates
    assert len(messages) == len(actual), "a window was written twice"
    assert_windows_equal(actual, expected, rounded=True)
    # Rounded to the cent on the way out, as the console shows them.
    assert all(
        round(value["total_amount"], 2) == value["total_amount"]
        for value in (json.loads(m.value()) for m in messages)
    )

    dead = consume_all(kafka_broker.bootstrap_servers, "rejects_out", len(MALFORMED))
    dead.sort(key=lambda m: int(dict(m.headers())["ridestream.source.offset"]))
    assert [dict(m.headers())["ridestream.reason"].decode() for m in dead] == MALFORMED_REASONS
    assert [m.value() for m in dead] == [MALFORMED[p] for p in sorted(MALFORMED)]


def test_unreachable_broker_is_one_line_that_names_the_fix(tmp_path):
    result = spark_submit(
        "--profile",
        str(write_profile(tmp_path, f"127.0.0.1:{free_port()}")),
        "--trigger",
        "available-now",
    )
    # spark-submit's Python runner merges the driver's stderr into stdout: read what a user sees.
    seen = result.stdout + result.stderr
    assert result.returncode == 2
    assert "ride_windows: cannot reach Kafka at 127.0.0.1:" in seen
    assert "./rides kafka start" in seen
    assert "Traceback" not in seen and "\tat org.apache" not in seen


def test_missing_topic_is_one_line_that_names_the_fix(kafka_broker, tmp_path):
    result = spark_submit(
        "--profile",
        str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        "--topic",
        "no_such_topic",
        "--trigger",
        "available-now",
    )
    seen = result.stdout + result.stderr
    assert result.returncode == 2
    assert "topic no_such_topic does not exist" in seen
    assert "Traceback" not in seen


def test_an_unwritable_delta_path_is_one_line_that_names_the_fix(
    kafka_broker, rides_topic, tmp_path
):
    topic, _ = rides_topic
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a directory should be")
    result = spark_submit(
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        *job_flags(topic, tmp_path), "--sink", "delta", "--delta-path", str(blocker / "windows"),
    )  # fmt: skip
    seen = result.stdout + result.stderr
    assert result.returncode == 2
    assert "cannot write the Delta table at" in seen and "choose a writable --delta-path" in seen
    assert "Traceback" not in seen


def test_a_checkpoint_of_another_query_shape_is_refused_with_the_fix(
    spark, kafka_broker, rides_topic, tmp_path
):
    topic, _ = rides_topic
    profile = str(write_profile(tmp_path, kafka_broker.bootstrap_servers))
    flags = [*job_flags(topic, tmp_path), "--sink", "delta", "--delta-path", str(tmp_path / "w")]
    # The first run only has to leave a checkpoint behind: the whole topic in one batch, in this
    # process (the refusal is what runs through spark-submit).
    first = ["--profile", profile, *flags, "--dead-letter", "none", "--max-offsets-per-trigger"]
    assert run_job(spark, [*first, "1000"]) == 0
    # The same checkpoint with 10-minute windows: Spark would carry on over 5-minute state.
    second = spark_submit(
        "--profile", profile, *flags, "--dead-letter", "none", "--window", "10 minutes"
    )
    seen = second.stdout + second.stderr
    assert second.returncode == 2
    assert "belongs to a query of another shape" in seen
    assert "'tumbling 5 minutes' -> 'tumbling 10 minutes'" in seen
    assert "use a new --checkpoint-dir" in seen and "Traceback" not in seen


def test_two_stages_parse_each_record_once_and_write_the_same_windows_and_rejects(
    spark, kafka_broker, rides_topic, tmp_path, capsys
):
    from ridestream import runner
    from ridestream.accounting import balance_from_metrics
    from ridestream.errors import ConfigError
    from ridestream.jobs.ride_windows import JOB

    topic, rides = rides_topic
    profile = str(write_profile(tmp_path, kafka_broker.bootstrap_servers))
    parsed_path = tmp_path / "parsed"
    flags = [
        "--profile", profile, *job_flags(topic, tmp_path), "--stages", "two",
        "--parsed-path", str(parsed_path), "--sink", "delta", "--delta-path",
        str(tmp_path / "windows"), "--dead-letter", "delta", "--dead-letter-path",
        str(tmp_path / "rejects"), "--metrics-file", str(tmp_path / "metrics.jsonl"),
    ]  # fmt: skip
    settings = job_settings(flags)
    runner.preflight(JOB, settings)
    assert runner.execute(spark, JOB, settings) == 0

    # The windows: the same as one stage's, computed independently.
    actual, written = delta_windows(spark, tmp_path / "windows")
    assert written == len(actual), "a window was written twice"
    assert_windows_equal(actual, expected_tumbling_windows(rides, WINDOW, WATERMARK))
    rejects = spark.read.format("delta").load(str(tmp_path / "rejects")).orderBy("offset").collect()
    assert [row.reason for row in rejects] == MALFORMED_REASONS
    assert [bytes(row.value) for row in rejects] == [MALFORMED[p] for p in sorted(MALFORMED)]

    # Parity over the parsed table: the windows as a batch query agree with the table, but for
    # the windows that end after the last watermark (append mode has not written them yet).
    everything = expected_tumbling_windows(rides, WINDOW, WATERMARK, closed_only=False)
    still_open = everything.keys() - expected_tumbling_windows(rides, WINDOW, WATERMARK).keys()
    capsys.readouterr()
    code = run_parity(build_parser().parse_args(["parity", *flags]), lambda: spark)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(still_open)} windows differ" in out and f"{len(still_open)} still open" in out
    assert f"{len(rides) + len(MALFORMED)} rows of {parsed_path} (version" in out
    shown = {
        (datetime.fromisoformat(" ".join(line.split()[:2])), int(line.split()[4]))
        for line in out.splitlines()[2:]
        if line.rstrip().endswith("still open")
    }
    # (the table shows the first 20)
    assert shown <= still_open and len(shown) == min(20, len(still_open))

    # The parsed table: one row per Kafka record, raw bytes kept only for the rejects.
    parsed = spark.read.format("delta").load(str(parsed_path)).orderBy("offset").collect()
    assert [row.offset for row in parsed] == list(range(len(rides) + len(MALFORMED)))
    good = [row for row in parsed if row.reject_reason is None]
    assert len(good) == len(rides) and all(row.value is None for row in good)
    by_offset = {row.offset: row for row in parsed}
    assert all(by_offset[position].value is not None for position in MALFORMED)
    kept = sorted(
        (r.ride.tpep_pickup_datetime, r.ride.PULocationID, r.ride.total_amount) for r in good
    )
    assert kept == sorted(
        (r["tpep_pickup_datetime"], r["PULocationID"], r["total_amount"]) for r in rides
    )
    # The parse query ran in batches of 135 records; the windows query counted every record of the
    # table once: read = valid + rejected, batch by batch.
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    parse_batches = [json.loads(line) for line in lines if '"ride_windows_parse"' in line]
    assert sum(p["numInputRows"] for p in parse_batches) == len(rides) + len(MALFORMED)
    assert len(parse_batches) >= 3
    balance = balance_from_metrics(lines, "ride_windows")
    assert balance.balances and balance.missing_batches == []
    assert (balance.read, balance.valid, balance.rejected) == (403, 400, 3)

    # Another query (another checkpoint) appending to the same parsed table would count every
    # ride twice: refused before anything starts, with the fix.
    other = job_settings([*flags, "--checkpoint-dir", str(tmp_path / "other-checkpoints")])
    with pytest.raises(
        ConfigError, match="is written by the query of checkpoint .*choose another --parsed-path"
    ):
        runner.execute(spark, JOB, other)
    assert spark.read.format("delta").load(str(parsed_path)).count() == len(parsed)
