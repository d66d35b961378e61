"""Which cases and topics the windows benchmark runs (bench/windows.py), without running them."""

import pytest

from bench.windows import AVRO_CASES, AVRO_RATIOS, cases, parse_args, topic_formats

WRITERS = {1: '{"type": "record", "name": "ride", "fields": []}'}


def keys(only, writers=None, avro=tuple(AVRO_CASES)):
    return [case.key for case in cases(set(only), writers, avro)]


def test_without_writer_schemas_no_avro_case_runs():
    assert not [key for key in keys(range(1, 8)) if "avro" in key]


@pytest.mark.parametrize("measurement", sorted(AVRO_CASES))
def test_each_avro_ratio_divides_two_cases_its_measurement_runs(measurement):
    _, numerator, denominator, _ = AVRO_RATIOS[measurement]
    run = keys([measurement], WRITERS)
    assert {numerator, denominator} <= set(run)
    assert [key for key in run if "avro" in key] == AVRO_CASES[measurement]


def test_avro_cases_join_only_the_measurements_named():
    assert [key for key in keys([1, 2, 3, 7], WRITERS, [3]) if "avro" in key] == ["stream_avro"]


def test_the_avro_topic_is_prepared_only_for_the_measurements_that_read_it():
    assert topic_formats({1, 2, 3, 7}, avro={1, 2, 3, 7}) == ["json", "csv", "avro"]
    assert topic_formats({1, 2, 3, 7}, avro=set()) == ["json", "csv"]
    assert topic_formats({4, 5}, avro=set()) == ["json"]
    assert topic_formats({6}, avro=set()) == []


def test_avro_is_opt_in_for_all_four_measurements_or_those_named():
    assert parse_args([]).avro == []
    assert parse_args(["--avro"]).avro == [1, 2, 3, 7]
    assert parse_args(["--avro", "7,3"]).avro == [3, 7]
    with pytest.raises(SystemExit):
        parse_args(["--avro", "5"])
