"""Lateness and watermark advice (ridestream.lateness) on a few hand-made arrivals."""

from datetime import datetime, timedelta

import pytest

from ridestream.lateness import (
    Arrival,
    arrival_order,
    histogram,
    lateness,
    measure,
    percentile,
    report_lines,
    round_up_delay,
    window_end,
    window_lateness,
)

T0 = datetime(2024, 1, 1, 8, 0, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_ride_is_late_by_how_far_the_largest_earlier_event_time_is_ahead_of_it():
    # 0, 10, 4 (6 behind 10), 12, 2 (10 behind 12), 30
    times = [at(0), at(10), at(4), at(12), at(2), at(30)]
    assert lateness(times) == [0, 0, 6, 0, 10, 0]


def test_window_lateness_is_how_far_the_window_end_is_behind_the_earlier_max():
    size = timedelta(minutes=1)
    assert window_end(at(59), size) == at(60)
    assert window_end(at(60), size) == at(120)  # a window is [start, end)
    times = [at(50), at(130), at(55), at(125), at(10)]
    # 130's window [120, 180) is open; 55's and 10's [0, 60) ended 70 s before 130.
    assert window_lateness(times, size) == [float("-inf"), -130, 70, -50, 70]


def test_arrivals_interleave_partitions_by_timestamp_and_keep_offset_order():
    a = Arrival(0, 0, at(1), at(100))
    b = Arrival(1, 0, at(2), at(90))
    c = Arrival(0, 1, at(3), at(80))
    d = Arrival(1, 1, at(1.5), at(70))  # an earlier timestamp than its predecessor: kept after b
    assert arrival_order([c, d, b, a]) == [a, b, d, c]


def test_records_sharing_a_timestamp_interleave_their_partitions_evenly():
    zeros = [Arrival(0, offset, at(0), at(offset)) for offset in range(4)]
    ones = [Arrival(1, offset, at(0), at(offset)) for offset in range(2)]
    later = Arrival(1, 2, at(1), at(9))
    # p0 at 0, 1/4, 2/4, 3/4 of the run; p1 at 0, 1/2: p1's second record goes after p0's third
    assert arrival_order([later, *ones, *zeros]) == [
        zeros[0], ones[0], zeros[1], zeros[2], ones[1], zeros[3], later
    ]  # fmt: skip


def test_percentiles_are_nearest_rank():
    values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    assert percentile(values, 50) == 5
    assert percentile(values, 90) == 9
    assert percentile(values, 99) == 10
    assert percentile(values, 100) == 10


def test_the_histogram_counts_on_time_rides_and_each_bin_up_to_its_edge():
    bins = dict(histogram([0, 0, 0.5, 1, 1.01, 5, 29, 31, 4000]))
    assert bins["on time"] == 2
    assert bins["<= 1 s"] == 2
    assert bins["<= 5 s"] == 2
    assert bins["<= 30 s"] == 1
    assert bins["<= 1 min"] == 1
    assert bins["> 30 min"] == 1
    assert sum(bins.values()) == 9


def test_delays_are_rounded_up_to_a_readable_step():
    assert [round_up_delay(s) for s in (0.2, 7, 13, 61, 200, 1000)] == [1, 7, 15, 70, 210, 1200]


def test_the_advice_drops_exactly_the_rides_whose_window_ended_a_delay_behind():
    size = timedelta(minutes=1)
    # In order every 10 s for 5 minutes, then three late rides: 235 and 205 are in [180, 240),
    # which ended 60 s before the max (300); 145 is in [120, 180), which ended 120 s before.
    times = [at(10 * i) for i in range(31)] + [at(235), at(205), at(145)]
    arrivals = [Arrival(0, i, at(i), t) for i, t in enumerate(times)]
    result = measure(arrivals, size)
    assert result.overall == [0] * 31 + [65, 95, 155]
    assert [late for late in result.window_lateness if late >= 0] == [60, 60, 120]
    by_delay = {advice.delay_s: advice.dropped for advice in result.advice}
    # 0 drops all three; just above the median (60 s: 70, steps of 10 above a minute) keeps two;
    # just above the max (120 s: 150, steps of 30 above two minutes) keeps all.
    assert by_delay == {0: 3, 70: 1, 150: 0}
    lines = report_lines(result)
    assert lines[0].startswith("34 rides")
    assert (
        lines[3].split()
        == ["all", "partitions", "34", "8.8%", "0", "s", "0", "s"] + ["2.58", "min"] * 3
    )


def test_measuring_nothing_is_an_error():
    with pytest.raises(ValueError):
        measure([], timedelta(minutes=1))
