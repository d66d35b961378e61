import json

from ridestream.accounting import balance_from_metrics, windows_per_ride


def line(batch_id, read, valid, rejected, name="ride_windows", dropped=0):
    return json.dumps(
        {
            "name": name,
            "batchId": batch_id,
            "numInputRows": read,
            "observedMetrics": {
                "records": {"input": valid + rejected, "valid": valid, "rejected": rejected}
            },
            "stateOperators": [{"numRowsDroppedByWatermark": dropped}],
        }
    )


def test_a_run_balances_when_every_batch_does():
    lines = [line(0, 10, 9, 1), line(1, 5, 5, 0, dropped=2), line(0, 7, 7, 0, name="other")]
    balance = balance_from_metrics(lines, "ride_windows")
    assert (balance.batches, balance.read, balance.valid, balance.rejected) == (2, 15, 14, 1)
    assert balance.dropped_late == 2 and balance.balances


def test_a_batch_that_lost_records_is_named():
    balance = balance_from_metrics([line(0, 10, 9, 1), line(1, 6, 5, 0)], "ride_windows")
    assert not balance.balances and balance.unbalanced_batches == [1]


def test_a_batch_the_file_never_recorded_is_named():
    balance = balance_from_metrics([line(0, 10, 9, 1), line(3, 5, 5, 0)], "ride_windows")
    assert balance.missing_batches == [1, 2]


MINUTE = 60


def test_windows_per_ride_from_the_table_starts_and_sizes():
    # Tumbling 5-minute windows, even with gaps between them: each ride in one window.
    assert windows_per_ride([0, 5 * MINUTE, 20 * MINUTE], {5 * MINUTE}) == 1
    # Hopping 60 minutes sliding 5: starts every 5 minutes, each ride in 12 windows.
    starts = [k * 5 * MINUTE for k in range(-11, 3)]
    assert windows_per_ride(starts, {60 * MINUTE}) == 12
    # Session windows have many sizes and do not overlap within a zone.
    assert windows_per_ride([0, 7, 100], {30, 45}) == 1


def test_only_kafka_offsets_count_as_lag():
    from types import SimpleNamespace

    from ridestream.progress import offsets_behind

    kafka = SimpleNamespace(
        endOffset='{"rides": {"0": 5, "1": 7}}', latestOffset='{"rides": {"0": 9, "1": 7}}'
    )
    assert offsets_behind(kafka) == 4
    # A Delta source (the windows query of two stages) has a version and an index, no lag.
    delta = '{"sourceVersion": 1, "reservoirId": "x", "reservoirVersion": 3, "index": -1}'
    assert offsets_behind(SimpleNamespace(endOffset=delta, latestOffset=delta)) is None


def test_the_summary_names_late_drops_only_for_a_query_with_state():
    from types import SimpleNamespace

    from ridestream.progress import ProgressReporter

    def progress(name, state):
        return SimpleNamespace(
            progress=SimpleNamespace(
                name=name, id=name, batchId=0, numInputRows=10, inputRowsPerSecond=0.0,
                processedRowsPerSecond=0.0, batchDuration=10, sink=None, sources=[],
                stateOperators=state, eventTime={}, observedMetrics={}, json="{}",
            )
        )  # fmt: skip

    reporter = ProgressReporter(show=set())
    reporter.onQueryProgress(progress("parse", []))
    reporter.onQueryProgress(progress("windows", [SimpleNamespace(numRowsDroppedByWatermark=2)]))
    assert reporter.summary("parse") == "1 batch, 10 rows read"
    assert reporter.summary("windows") == "1 batch, 10 rows read, 2 dropped late"


def test_the_progress_line_shows_no_watermark_before_one_exists():
    from types import SimpleNamespace

    from ridestream.progress import format_progress

    def batch(watermark):
        return SimpleNamespace(
            name="windows", id="w", batchId=0, numInputRows=10, inputRowsPerSecond=0.0,
            processedRowsPerSecond=0.0, batchDuration=10, sources=[], stateOperators=[],
            eventTime={"watermark": watermark}, observedMetrics={},
        )  # fmt: skip

    assert "watermark" not in format_progress(batch("1970-01-01T00:00:00.000Z"))
    assert "watermark 2024-05-01 08:35:00" in format_progress(batch("2024-05-01T08:35:00.000Z"))


class FakeQuery:
    def __init__(self, name, progress):
        self.name, self.lastProgress = name, progress


def test_the_summary_waits_for_the_last_batch_that_ran_not_for_an_idle_trigger():
    import threading
    import time
    from types import SimpleNamespace

    from ridestream.progress import wait_for_listener

    ran = {"batchId": 6, "durationMs": {"addBatch": 120, "triggerExecution": 300}}
    # What an idle query (no new data for a while) shows as its last progress: the next batch's
    # id, no batch run. No listener ever gets it (Spark 4.2); waiting for it held stops 60 s.
    idle = {"batchId": 7, "durationMs": {"latestOffset": 3, "triggerExecution": 3}}
    reporter = SimpleNamespace(last_batch={"rejects": 6, "windows": 5})
    started = time.monotonic()
    wait_for_listener(reporter, [FakeQuery("rejects", idle)], timeout_s=5)
    assert time.monotonic() - started < 1
    # A batch that ran and whose event has not arrived yet is waited for...
    later = threading.Timer(0.5, lambda: reporter.last_batch.update(windows=6))
    later.start()
    started = time.monotonic()
    wait_for_listener(reporter, [FakeQuery("windows", ran)], timeout_s=5)
    assert 0.4 < time.monotonic() - started < 3
    # ... up to the timeout.
    started = time.monotonic()
    wait_for_listener(reporter, [FakeQuery("other", ran)], timeout_s=1)
    assert time.monotonic() - started >= 1
