"""A job of two inputs (ride_pickups_join) counts each input's records: progress line and summary."""

from __future__ import annotations

from types import SimpleNamespace

from ridestream.progress import ProgressReporter, format_progress


def batch(rides: dict, pickups: dict) -> SimpleNamespace:
    return SimpleNamespace(
        name="join", id="j", batchId=0, numInputRows=rides["input"] + pickups["input"],
        inputRowsPerSecond=0.0, processedRowsPerSecond=0.0, batchDuration=10, sink=None,
        sources=[], stateOperators=[], eventTime={}, json="{}",
        observedMetrics={"records.rides": rides, "records.pickups": pickups},
    )  # fmt: skip


def test_the_progress_line_adds_up_the_inputs_and_shows_each():
    line = format_progress(
        batch({"input": 10, "valid": 9, "rejected": 1}, {"input": 5, "valid": 5, "rejected": 0})
    )
    assert line.startswith(
        "join #0: 15 rows (0/s in, 0/s done) in 0.0 s = 14 valid + 1 rejected "
        "(rides 10 = 9 + 1; pickups 5 = 5 + 0)"
    ), line


def test_the_summary_keeps_each_inputs_totals():
    reporter = ProgressReporter(show=set())
    for rides, pickups in ((10, 5), (3, 4)):
        reporter.onQueryProgress(
            SimpleNamespace(
                progress=batch(
                    {"input": rides, "valid": rides - 1, "rejected": 1},
                    {"input": pickups, "valid": pickups, "rejected": 0},
                )
            )
        )
    assert reporter.summary("join") == (
        "2 batches, 22 rows read (20 valid, 2 rejected; rides 13: 11 valid, 2 rejected; "
        "pickups 9: 9 valid, 0 rejected)"
    )
