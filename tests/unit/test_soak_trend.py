"""The soak's trend verdict (bench/soak.py): least-squares slope over the second half, bound."""

import statistics

import pytest

from bench.soak import judge_trend, least_squares_slope


def test_the_slope_is_the_least_squares_one():
    xs = [0.0, 1.0, 2.5, 4.0, 7.0]
    ys = [3.0, 4.5, 4.0, 9.0, 12.0]
    assert least_squares_slope(xs, ys) == pytest.approx(statistics.linear_regression(xs, ys).slope)


def test_only_the_second_half_is_judged_against_the_larger_of_percent_and_floor():
    minutes = [0, 1, 2, 3, 4, 5, 6, 7, 8]
    # Warm-up climbs steeply, then the series is flat: no trend.
    flat = [100, 300, 500, 700, 800, 800, 800, 800, 800]
    trend = judge_trend("m", "MiB", minutes, flat, max_growth_pct=10, floor=32)
    assert trend.points == 5 and trend.slope_per_min == 0 and trend.ok
    # A second half growing 10/min over 4 minutes: 40, within 10% of its median 800 (80).
    growing = [100, 300, 500, 700, 780, 790, 800, 810, 820]
    trend = judge_trend("m", "MiB", minutes, growing, max_growth_pct=10, floor=32)
    assert trend.growth == pytest.approx(40) and trend.bound == pytest.approx(80) and trend.ok
    # The same growth against 2% of the median (16) is bounded by the floor (32): it trends up.
    trend = judge_trend("m", "MiB", minutes, growing, max_growth_pct=2, floor=32)
    assert trend.bound == 32 and not trend.ok


def test_too_few_values_in_the_second_half_give_no_verdict():
    assert judge_trend("lag", "recs", [0, 1, 2, 3], [1, None, None, 5], 10, 1) is None
