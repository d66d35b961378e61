import json

from ridestream.progress import balance_from_metrics, windows_per_ride


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
