"""Every ride accounted for: valid = in windows + dropped late, rejects in both dead-letter sinks.

The run is cut into known batches (one partition, ``maxOffsetsPerTrigger`` = the batch size), so
the watermark in force for each batch, and with it which rides are dropped, can be computed in
plain Python from the input alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from ridestream.cli import build_parser
from ridestream.cli.audit import cmd_balance
from ridestream.cli.parity import run_parity
from ridestream.state import query_state
from tests.builders import ride, ride_json
from tests.integration.helpers import consume_all, create_topic, produce_values
from tests.integration.jobs import run_job, write_profile

pytestmark = pytest.mark.integration

BATCH = 42  # records per batch: one partition and maxOffsetsPerTrigger = BATCH cut them exactly
WINDOW = timedelta(minutes=5)
DELAY = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1)
BAD = {b"{truncated": "not_json", b'{"PULocationID": 7}': "missing_field:tpep_pickup_datetime"}


def known_batches() -> list[list[bytes]]:
    """Four batches of 42 records: on time, on time, late (some too late), on time."""
    t0 = datetime(2024, 3, 1, 10, 0)
    first = [ride(t0 + timedelta(seconds=30 * i), PULocationID=1 + i % 3) for i in range(BATCH)]
    second = [ride(t0 + timedelta(minutes=21, seconds=30 * i)) for i in range(BATCH)]
    # The third batch drops rides by the watermark of the second one: 10:20:30 - 5 minutes =
    # 10:15:30. 12 rides in windows that ended by then (10:00-10:10) are dropped; 8 rides of
    # 10:15:00-10:15:07 are behind it too, but their window (10:15-10:20) is still open.
    late_closed = [ride(t0 + timedelta(minutes=i % 10), PULocationID=2) for i in range(12)]
    late_open = [ride(t0 + timedelta(minutes=15, seconds=i), PULocationID=3) for i in range(8)]
    on_time = [ride(t0 + timedelta(minutes=42, seconds=30 * i)) for i in range(BATCH - 20 - 2)]
    third = [*late_closed, *late_open, *on_time]
    fourth = [
        ride(t0 + timedelta(minutes=55, seconds=20 * i), PULocationID=4) for i in range(BATCH)
    ]
    values = [[ride_json(r) for r in batch] for batch in (first, second, third, fourth)]
    values[2][5:5] = list(BAD)
    return values


def plain_python_accounting(batches: list[list[bytes]]) -> tuple[list[dict], list[dict], int]:
    """Replay the batches with Spark's rule: (kept rides, dropped rides, valid count).

    Batch b's watermark is the latest event time of the batches before it minus the delay. It
    closes windows (evicts their state) in batch b, but drops late rides only from batch b + 1
    on: since Spark 3.4 a stateful operator drops input by the previous batch's watermark
    (one batch behind the eviction), so that chained operators do not drop each other's output.
    """
    kept, dropped, max_seen, watermarks = [], [], None, []
    for batch in batches:
        watermarks.append(max_seen - DELAY if max_seen else None)
        drop_by = watermarks[-2] if len(watermarks) > 1 else None
        for value in batch:
            if value in BAD:
                continue
            fields = json.loads(value)
            pickup = datetime.fromisoformat(fields["tpep_pickup_datetime"])
            window_end = EPOCH + WINDOW * ((pickup - EPOCH) // WINDOW) + WINDOW
            (dropped if drop_by and window_end <= drop_by else kept).append(fields)
        batch_max = max(
            datetime.fromisoformat(json.loads(v)["tpep_pickup_datetime"])
            for v in batch
            if v not in BAD
        )
        max_seen = max(max_seen or batch_max, batch_max)
    return kept, dropped, len(kept) + len(dropped)


def windows_of(rides: list[dict]) -> dict:
    groups = defaultdict(list)
    for fields in rides:
        pickup = datetime.fromisoformat(fields["tpep_pickup_datetime"])
        groups[(EPOCH + WINDOW * ((pickup - EPOCH) // WINDOW), fields["PULocationID"])].append(
            fields["total_amount"]
        )
    return {key: (len(amounts), sum(amounts)) for key, amounts in groups.items()}


def shifted(line: str) -> str:
    """Move 3 valid rides of batch 1 into batch 0 in a metrics line (a falsified record)."""
    progress = json.loads(line)
    shift = {0: 3, 1: -3}.get(progress["batchId"], 0)
    if shift and progress["name"] == "ride_windows":
        for key in ("input", "valid"):
            progress["observedMetrics"]["records"][key] += shift
        progress["numInputRows"] += shift
    return json.dumps(progress)


def balance(metrics, table, capsys) -> tuple[int, str, str]:
    """Run ``rides balance METRICS [--windows TABLE]`` in this process (its session is ours)."""
    windows = ["--windows", str(table)] if table else []
    args = build_parser().parse_args(["balance", str(metrics), *windows])
    code = cmd_balance(args)
    out, err = capsys.readouterr()
    return code, out, err


def parity(spark, flags: list[str], capsys) -> tuple[int, str, str]:
    """Run ``rides parity`` with the job's flags in this process (its session is ours)."""
    code = run_parity(build_parser().parse_args(["parity", *flags]), lambda: spark)
    out, err = capsys.readouterr()
    return code, out, err


def parity_rows(out: str) -> set[tuple[datetime, int, str]]:
    """Return (window_start, zone, why) of each row of parity's table."""
    rows = set()
    for line in out.splitlines()[2:]:
        date, time, _end_date, _end_time, zone, _stream, _batch, *why = line.split()
        why = " ".join(why).split(" (")[0]
        rows.add((datetime.fromisoformat(f"{date} {time}"), int(zone), why))
    return rows


def test_valid_rides_are_in_windows_or_dropped_late_and_rejects_reach_both_sinks(
    spark, kafka_broker, tmp_path, capsys
):
    batches = known_batches()
    topic = "rides_accounting"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, topic, [v for batch in batches for v in batch])
    kept, dropped, valid = plain_python_accounting(batches)
    assert len(dropped) == 12 and valid == 4 * BATCH - len(BAD)  # the input is what it says
    assert all(len(batch) == BATCH for batch in batches)

    table, dead_letter, metrics = tmp_path / "windows", tmp_path / "dead", tmp_path / "m.jsonl"
    flags = [
        "--profile", str(write_profile(tmp_path, kafka_broker.bootstrap_servers)),
        "--topic", topic, "--window", "5 minutes", "--watermark", "5 minutes",
        "--trigger", "available-now", "--max-offsets-per-trigger", str(BATCH),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--shuffle-partitions", "2",
        "--sink", "delta", "--output-mode", "update", "--delta-path", str(table),
        "--dead-letter", "kafka+delta", "--dead-letter-path", str(dead_letter),
        "--dead-letter-topic", "accounting_dead_letter", "--metrics-file", str(metrics),
    ]  # fmt: skip
    assert run_job(spark, flags) == 0

    # The Delta table holds the kept rides' windows, each once, with their final counts.
    rows = spark.read.format("delta").load(str(table)).collect()
    actual = {
        (r.window_start, r.PULocationID): (r.ride_count, pytest.approx(r.total_amount))
        for r in rows
    }
    assert len(rows) == len(actual)
    assert actual == windows_of(kept)

    # The balance command finds the same split, from the metrics file and the table alone.
    capsys.readouterr()
    code, out, err = balance(metrics, table, capsys)
    assert code == 0, out + err
    assert f"valid              {valid:>12,}" in out
    assert f"in windows         {len(kept):>12,}" in out
    assert f"dropped late       {len(dropped):>12,}" in out
    assert "valid = in windows + dropped late" in out
    assert "batches: valid = added to the table + dropped late" in out

    # Both dead-letter sinks hold each malformed record once, bytes and reason.
    rejects = spark.read.format("delta").load(str(dead_letter)).collect()
    assert sorted((bytes(r.value), r.reason) for r in rejects) == sorted(BAD.items())
    messages = consume_all(kafka_broker.bootstrap_servers, "accounting_dead_letter", len(BAD))
    reasons = {m.value(): dict(m.headers())["ridestream.reason"].decode() for m in messages}
    assert reasons == BAD and len(messages) == len(BAD)

    # Parity: the batch recomputation over the same offsets differs from the table exactly
    # where late rides were dropped, and every difference is explained by them.
    capsys.readouterr()
    code, out, err = parity(spark, flags, capsys)
    late_windows = {
        key
        for key, counted in windows_of(kept + dropped).items()
        if windows_of(kept).get(key) != counted
    }
    assert code == 0, out + err
    assert f"{len(late_windows)} windows differ" in out
    assert f"{len(late_windows)} explained by late rides ({len(dropped)} rides dropped" in out
    assert "UNEXPLAINED" not in out
    assert parity_rows(out) == {(start, zone, "late rides") for start, zone in late_windows}

    # State: the windows of kept rides that end after the last watermark (Spark evicts a window
    # once the watermark reaches its end), read through Spark's state readers.
    last_watermark = max(datetime.fromisoformat(r["tpep_pickup_datetime"]) for r in kept + dropped)
    last_watermark -= DELAY
    held = sorted(key for key in windows_of(kept) if key[0] + WINDOW > last_watermark)
    state = query_state(spark, tmp_path / "checkpoints" / "ride_windows")
    [store] = state.stores
    assert (store.operator, store.rows, sum(store.keys_per_partition)) == (
        "stateStoreSave",
        len(held),
        len(held),
    )
    assert len(store.keys_per_partition) == 2  # --shuffle-partitions 2
    assert (store.oldest.start, store.newest.start) == (held[0][0], held[-1][0])
    assert state.watermark_ms == (last_watermark - EPOCH) // timedelta(milliseconds=1)
    # The command, as a user runs it (its own session, which never ran a query), on the job's
    # checkpoint directory: the windows query (the dead letter's holds no state: left out).
    command = subprocess.run(
        [sys.executable, "-m", "ridestream.cli", "state", str(tmp_path / "checkpoints")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = command.stdout
    assert command.returncode == 0, out + command.stderr[-2000:]
    assert f"batch 4, watermark {last_watermark}, 1 stateful operator, {len(held)} state" in out
    assert "ride_windows_dead_letter" not in out

    # The check can fail: rides moved from one batch to another (the run's sums still agree),
    # windows counted twice, or a batch missing from the metrics file.
    lines = metrics.read_text().splitlines()
    metrics.write_text("".join(f"{shifted(line)}\n" for line in lines))
    code, out, err = balance(metrics, table, capsys)
    assert code == 1 and "batches [0, 1]: valid rides, the rides their merges added" in err, out
    metrics.write_text("".join(f"{line}\n" for line in lines))
    spark.sql(f"INSERT INTO delta.`{table}` SELECT * FROM delta.`{table}` WHERE PULocationID = 4")
    code, out, err = balance(metrics, table, capsys)
    assert code == 1, out
    assert "more rides than were valid" in err
    # Parity finds zone 4's windows doubled, and late rides do not explain them.
    code, out, err = parity(spark, flags, capsys)
    assert code == 1, out + err
    zone_4 = {(start, zone, "unexplained") for start, zone in windows_of(kept) if zone == 4}
    assert {row for row in parity_rows(out) if row[2] == "unexplained"} == zone_4
    assert out.count("unexplained (written 2 times)") == len(zone_4)
    assert f"{len(zone_4)} UNEXPLAINED" in out
    # (A batch missing from the metrics file is found from the file alone: no table to read.)
    metrics.write_text("".join(f"{line}\n" for line in lines if json.loads(line)["batchId"] != 1))
    code, out, err = balance(metrics, None, capsys)
    assert code == 1 and "batches [1] ran but are not in" in err
