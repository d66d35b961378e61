"""The clean benchmark's pure parts (bench/support/latency.py): pacing and latency arithmetic."""

from datetime import UTC, datetime

import pytest

from bench.support.latency import (
    Variant,
    parse_variants,
    percentile,
    send_schedule,
    source_time_ms,
    summarize,
)


def test_records_are_sent_at_the_rate_never_before_they_are_due():
    schedule = send_schedule(rate=10_000, count=25, tick_s=0.001)
    assert sum(count for _, count in schedule) == 25
    sent = 0
    for at, count in schedule:
        # Every record sent by now was due by now: record n at n / rate.
        assert (sent + count - 1) / 10_000 <= at + 1e-12
        sent += count
    assert schedule[:3] == [(0.0, 1), (0.001, 10), (0.002, 10)]


def test_a_slow_rate_sends_one_record_per_due_time():
    assert send_schedule(rate=2, count=3, tick_s=0.25) == [(0.0, 1), (0.5, 1), (1.0, 1)]


def test_the_source_timestamp_header_is_read_in_milliseconds():
    headers = [("ridestream.source.topic", b"rides"), ("ridestream.source.timestamp",
               b"2026-12-03T10:15:00.123Z")]  # fmt: skip
    expected = datetime(2026, 12, 3, 10, 15, 0, 123000, tzinfo=UTC).timestamp() * 1000
    assert source_time_ms(headers) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no ridestream.source.timestamp header"):
        source_time_ms([("ridestream.reason", b"not_json")])


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    summary = summarize([5.0, 1.0, 3.0])
    assert (summary.records, summary.p50, summary.p99, summary.max) == (3, 3.0, 5.0, 5.0)


def test_latency_variants_name_a_trigger_and_optionally_partitions_and_a_store():
    assert parse_variants("1 second, 0 seconds/2 ,0 seconds/2/hdfs") == [
        Variant("1 second"),
        Variant("0 seconds", 2),
        Variant("0 seconds", 2, "hdfs"),
    ]
    assert Variant("0 seconds", 2, "hdfs").describe() == (
        "trigger 0 seconds, 2 shuffle partitions, hdfs store"
    )
    with pytest.raises(ValueError, match="state store 'memory', choose rocksdb or hdfs"):
        parse_variants("0 seconds/2/memory")
