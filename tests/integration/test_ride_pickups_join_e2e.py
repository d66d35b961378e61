"""ride_pickups_join end to end: two real topics, the whole job, the output against a nested loop.

Rides and the pickup locations datagen pairs with them (some match their ride, some cannot) go
into two topics with one malformed record each. The job runs once over what is there; its Kafka
output must equal a plain-Python nested-loop join of the same records, as read back from the
JSON that was produced (seconds, as the producers write them).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest

from ridestream import runner
from ridestream.jobs.ride_pickups_join import JOB
from ridestream.kafka.datagen import encode_json, pickup_for, rides_between
from ridestream.state import query_state
from tests.integration.helpers import consume_all, create_topic, produce_values
from tests.integration.jobs import write_profile

pytestmark = pytest.mark.integration

WITHIN = timedelta(minutes=10)
MAX_TRIP = timedelta(hours=3)
WATERMARK = timedelta(minutes=10)  # both sides' default


def read_back(value: bytes) -> dict:
    """Decode a JSON record; timestamps as naive UTC datetimes (the job writes '...Z')."""
    record = json.loads(value)
    return {
        key: datetime.fromisoformat(text).replace(tzinfo=None)
        if key.endswith("_datetime") and text is not None
        else text
        for key, text in record.items()
    }


def nested_loop_join(rides: list[dict], pickups: list[dict]) -> Counter:
    """Every (ride, pickup) pair in one zone with the pickup within 10 minutes of the dropoff.

    And the job's one extra rule (docs/joins.md): a pickup later than the ride's start + the
    longest trip (3 hours) + 10 minutes does not count.
    """
    rows = Counter()
    for ride in rides:
        for pickup in pickups:
            time = pickup["tpep_pickup_datetime"]
            apart = abs(time - ride["tpep_dropoff_datetime"])
            waited = time - ride["tpep_pickup_datetime"]
            if (
                pickup["PULocationID"] == ride["DOLocationID"]
                and apart <= WITHIN
                and waited <= MAX_TRIP + WITHIN
            ):
                rows[
                    (
                        ride["VendorID"],
                        ride["DOLocationID"],
                        pickup["tpep_pickup_datetime"],
                        ride["tpep_dropoff_datetime"],
                    )
                ] += 1
    return rows


def test_the_join_on_the_real_broker_equals_a_nested_loop_join(spark, kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    start = datetime(2024, 6, 1, 9, 0)
    generated = list(rides_between(start, start + timedelta(minutes=20), 200, seed=3))
    ride_values = [encode_json(ride) for ride in generated]
    pickup_values = [encode_json(pickup_for(ride, i)) for i, ride in enumerate(generated)]
    for topic, values in (("join_rides", ride_values), ("join_pickups", pickup_values)):
        create_topic(bootstrap, topic)
        produce_values(bootstrap, topic, [*values, b"{not json"])
    metrics = tmp_path / "metrics.jsonl"
    flags = [
        "--profile", str(write_profile(tmp_path, bootstrap)),
        "--topic", "join_rides", "--pickups-topic", "join_pickups",
        "--trigger", "available-now", "--checkpoint-dir", str(tmp_path / "checkpoints"),
        "--shuffle-partitions", "2", "--metrics-file", str(metrics),
        "--sink", "kafka", "--output-topic", "join_out",
        "--dead-letter", "kafka", "--dead-letter-topic", "join_rejects",
    ]  # fmt: skip

    assert runner.execute(spark, JOB, runner.settings_for(JOB, flags)) == 0

    expected = nested_loop_join(
        [read_back(v) for v in ride_values], [read_back(v) for v in pickup_values]
    )
    # The pairing makes at least half the pickups match their own ride.
    assert sum(expected.values()) >= 100
    messages = consume_all(bootstrap, "join_out", sum(expected.values()))
    actual = Counter()
    for message in messages:
        row = read_back(message.value())
        actual[
            (
                row["VendorID"],
                row["PULocationID"],
                row["pickup_datetime"],
                row["last_dropoff_datetime"],
            )
        ] += 1
        key = json.loads(message.key())
        assert key == {
            name: json.loads(message.value())[name]
            for name in ("PULocationID", "last_dropoff_datetime", "pickup_datetime")
        }
    assert actual == expected

    # State, through Spark's state readers: one batch read everything (no watermark yet), a
    # second moved the watermark to the smaller of the two sides' (max time - 10 minutes). A
    # ride stays while the watermark is before its pickup + max trip + within, a pickup while
    # it is before its time + within (the module docstring of ride_pickups_join). Over these
    # 20 minutes of input both rules keep every row; the windows' state test sees eviction.
    rides_in = [read_back(v) for v in ride_values]
    pickups_in = [read_back(v) for v in pickup_values]
    watermark = min(
        max(r["tpep_pickup_datetime"] for r in rides_in) - WATERMARK,
        max(p["tpep_pickup_datetime"] for p in pickups_in) - WATERMARK,
    )
    held_rides = [r for r in rides_in if r["tpep_pickup_datetime"] + MAX_TRIP + WITHIN > watermark]
    held_pickups = [p for p in pickups_in if p["tpep_pickup_datetime"] + WITHIN > watermark]
    state = query_state(spark, tmp_path / "checkpoints" / "ride_pickups_join")
    assert [(s.operator, s.store) for s in state.stores] == [
        ("symmetricHashJoin", "left"),
        ("symmetricHashJoin", "right"),
    ]
    rides_side, pickups_side = state.stores
    assert rides_side.rows == len(held_rides)
    assert sum(rides_side.keys_per_partition) == len({r["DOLocationID"] for r in held_rides})
    ride_times = sorted(r["tpep_pickup_datetime"] for r in held_rides)
    assert (rides_side.held, rides_side.oldest, rides_side.newest) == (
        "_ride_time",
        ride_times[0],
        ride_times[-1],
    )
    assert pickups_side.rows == len(held_pickups)
    assert sum(pickups_side.keys_per_partition) == len({p["PULocationID"] for p in held_pickups})
    pickup_times = sorted(p["tpep_pickup_datetime"] for p in held_pickups)
    assert (pickups_side.oldest, pickups_side.newest) == (pickup_times[0], pickup_times[-1])

    rejects = consume_all(bootstrap, "join_rejects", 2)
    assert sorted(dict(m.headers())["ridestream.source.topic"] for m in rejects) == [
        b"join_pickups",
        b"join_rides",
    ]
    # Each input's records, counted as they were parsed: input = valid + rejected, per input.
    batches = [json.loads(line) for line in metrics.read_text().splitlines()]
    totals = Counter()
    for batch in batches:
        for name, counts in batch.get("observedMetrics", {}).items():
            for key, value in counts.items():
                totals[(name, key)] += value
    assert totals[("records.rides", "input")] == 201
    assert totals[("records.rides", "valid")] == 200
    assert totals[("records.pickups", "input")] == 201
    assert totals[("records.pickups", "rejected")] == 1
