"""The pure parts of `rides parity` and `rides state`: offset logs, batch ranges, bad input.

The checkpoints here are written by hand in Spark's offset-log format (what Spark 4.2 wrote in
the integration tests' runs); the commands' runs on real checkpoints are in
``tests/integration/test_accounting.py``, ``test_crash_recovery.py`` and
``test_ride_pickups_join_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ridestream.cli import main
from ridestream.offset_log import CheckpointError, committed_batches, initial_offsets
from ridestream.parity import kafka_ranges, same_values

MINUTE_MS = 60_000


def write_checkpoint(path: Path, ends: list[int], watermarks: list[int], committed: int) -> Path:
    """Write a one-source Kafka checkpoint: batch b read partition 0 up to ends[b]."""
    (path / "offsets").mkdir(parents=True)
    (path / "commits").mkdir()
    (path / "sources" / "0").mkdir(parents=True)
    (path / "metadata").write_text('{"id":"x"}')
    (path / "sources" / "0" / "0").write_bytes(b'\x00v1\n{"t":{"0":0}}')
    for batch, (end, watermark) in enumerate(zip(ends, watermarks, strict=True)):
        meta = {"batchWatermarkMs": watermark, "batchTimestampMs": 0, "conf": {}}
        offsets = json.dumps({"t": {"0": end}})
        (path / "offsets" / str(batch)).write_text(f"v1\n{json.dumps(meta)}\n{offsets}")
        if batch < committed:
            (path / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    return path


def test_only_committed_batches_count_and_each_is_judged_by_the_previous_watermark(tmp_path):
    checkpoint = write_checkpoint(
        tmp_path / "q", ends=[10, 25, 25, 40], watermarks=[0, 5, 9, 12], committed=3
    )
    batches = committed_batches(checkpoint)
    assert [b.batch_id for b in batches] == [0, 1, 2]  # batch 3 planned, never committed
    assert initial_offsets(checkpoint) == {"t": {"0": 0}}
    ranges = kafka_ranges({"t": {"0": 0}}, batches)
    # Batch 2 read nothing (a batch that only moved the watermark): no range.
    assert ranges == [("t", 0, 0, 10, 0, 0), ("t", 0, 10, 25, 1, 0)]
    batches = committed_batches(write_checkpoint(tmp_path / "r", [3, 6, 9], [0, 7, 8], 3))
    assert [r[5] for r in kafka_ranges({"t": {"0": 0}}, batches)] == [0, 0, 7]


def test_an_offset_log_of_another_version_is_refused(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "q", ends=[10], watermarks=[0], committed=1)
    (checkpoint / "offsets" / "0").write_text('v9\n{"batchWatermarkMs":0}\n{}')
    with pytest.raises(CheckpointError, match="version 'v9'"):
        committed_batches(checkpoint)


def test_values_agree_to_the_last_bits_of_a_sum_but_not_beyond():
    window = {"ride_count": 3, "total_amount": 0.1 + 0.2 + 0.3, "avg_trip_distance": None}
    reordered = {"ride_count": 3, "total_amount": 0.3 + 0.2 + 0.1, "avg_trip_distance": None}
    assert window["total_amount"] != reordered["total_amount"]
    assert same_values(window, reordered)
    assert not same_values(window, {**reordered, "total_amount": 0.61})
    assert not same_values(window, {**reordered, "ride_count": 4})
    assert not same_values(window, None) and same_values(None, None)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing", "no such checkpoint directory"),
        ("empty", "is not a checkpoint: no query checkpoint"),
    ],
)
def test_state_of_something_that_is_not_a_checkpoint_is_one_line_and_exit_2(
    tmp_path, capsys, target, message
):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(SystemExit) as stopped:
        main(["state", str(tmp_path / target)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert message in err and err.count("\n") == 1, err


def test_parity_needs_the_runs_delta_table_and_a_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["parity", "--sink", "console"])
    assert stopped.value.code == 2
    assert "parity compares a Delta output" in capsys.readouterr().err
    flags = ["--sink", "delta", "--delta-path", str(tmp_path / "w")]
    with pytest.raises(SystemExit) as stopped:
        main(["parity", *flags, "--checkpoint-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "no such checkpoint" in err and err.count("\n") == 1, err
