"""The rides command against a real broker: produce, datagen, consume, topics.

Every expectation is computed here, independently of ridestream: trip files are read back with
pandas, records are consumed with a plain confluent-kafka consumer, and datagen's fractions are
classified from the records themselves.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from ridestream.paths import SCHEMAS_DIR
from tests.integration.helpers import consume_all, create_topic
from tests.trip_files import fhv_table, green_table, write, yellow_table

pytestmark = pytest.mark.integration

SCHEMA_OF_KIND = {"yellow": "ride", "green": "green_ride", "fhv": "fhv_ride"}


def rides(*args: str, bootstrap: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run the rides command against the test broker; return the finished process."""
    result = subprocess.run(
        [sys.executable, "-m", "ridestream.cli", *args, "--bootstrap-servers", bootstrap],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def new_topic(bootstrap: str, partitions: int = 1) -> str:
    topic = f"t_{uuid.uuid4().hex[:10]}"
    create_topic(bootstrap, topic, partitions)
    return topic


def declared_fields(kind: str) -> list[tuple[str, str]]:
    """Return (name, base type) of the declared schema, read straight from the .avsc file."""
    avro = json.loads((SCHEMAS_DIR / f"{SCHEMA_OF_KIND[kind]}.avsc").read_text())
    fields = []
    for field in avro["fields"]:
        kind_of = field["type"]
        if isinstance(kind_of, list):
            kind_of = next(branch for branch in kind_of if branch != "null")
        if isinstance(kind_of, dict):
            kind_of = "timestamp" if "logicalType" in kind_of else kind_of["type"]
        fields.append((field["name"], kind_of))
    return fields


def expected_rows(path: Path, kind: str) -> list[dict]:
    """Read the trip file with pandas and spell each row as the declared record should be."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = {name.lower(): name for name in frame.columns}
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for name, base in declared_fields(kind):
            value = record.get(columns.get(name.lower()))
            if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
                row[name] = None
            elif value is pd.NaT:
                row[name] = None
            elif base == "timestamp":
                row[name] = pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")
            elif base in ("int", "long"):
                row[name] = int(float(value))
            elif base == "double":
                row[name] = float(value)
            else:
                row[name] = str(value)
        rows.append(row)
    return rows


def csv_value_as_row(value: str, kind: str) -> dict:
    row = {}
    for (name, base), text in zip(declared_fields(kind), value.split(","), strict=True):
        if text == "":
            row[name] = None
        elif base in ("int", "long"):
            row[name] = int(text)
        elif base == "double":
            row[name] = float(text)
        else:
            row[name] = text
    return row


@pytest.mark.parametrize(
    ("kind", "name", "value_format"),
    [
        ("yellow", "yellow_tripdata_2024-01.parquet", "json"),
        ("yellow", "yellow_tripdata_2019-01.csv", "json"),
        ("yellow", "yellow_tripdata_2019-01.csv.gz", "csv"),
        ("green", "green_tripdata_2019-01.parquet", "csv"),
        ("green", "green_tripdata_2019-01.csv.gz", "json"),
        ("fhv", "fhv_tripdata_2019-01.parquet", "json"),
        ("fhv", "fhv_tripdata_2019-01.csv", "csv"),
    ],
)
def test_a_trip_file_round_trips_field_by_field(kafka_broker, tmp_path, kind, name, value_format):
    bootstrap = kafka_broker.bootstrap_servers
    table = {"yellow": yellow_table, "green": green_table, "fhv": fhv_table}[kind]()
    path = write(table, tmp_path, name)
    topic = new_topic(bootstrap)
    key = "PULocationID"
    result = rides(
        "produce", str(path), "--topic", topic, "--format", value_format, "--key", key,
        bootstrap=bootstrap, check=True,
    )  # fmt: skip
    assert f"sent {table.num_rows:,}, failed 0" in result.stdout

    messages = consume_all(bootstrap, topic, expected_at_least=table.num_rows)
    expected = expected_rows(path, kind)
    assert len(messages) == len(expected)
    key_field = next(n for n, _ in declared_fields(kind) if n.lower() == key.lower())
    for message, want in zip(messages, expected, strict=True):
        text = message.value().decode()
        got = json.loads(text) if value_format == "json" else csv_value_as_row(text, kind)
        assert got == want
        want_key = want[key_field]
        assert message.key() == (None if want_key is None else str(want_key).encode())


def test_records_without_a_key_and_extra_columns_reported(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    path = write(yellow_table(count=20), tmp_path, "yellow_tripdata_2024-02.parquet")
    topic = new_topic(bootstrap)
    result = rides("produce", str(path), "--topic", topic, "--key", "none", bootstrap=bootstrap)
    assert result.returncode == 0, result.stderr
    assert "left out: Airport_fee" in result.stderr
    messages = consume_all(bootstrap, topic, expected_at_least=20)
    assert len(messages) == 20
    assert [m.key() for m in messages] == [None] * 20


def kafka_offsets_s(messages) -> list[float]:
    """Return each record's Kafka (create) timestamp in seconds after the first one's."""
    stamps = [message.timestamp()[1] for message in messages]
    return [(stamp - stamps[0]) / 1000 for stamp in stamps]


def test_a_fixed_rate_never_runs_ahead_of_the_rate(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    path = write(yellow_table(count=120), tmp_path, "yellow_tripdata_2024-03.parquet")
    topic = new_topic(bootstrap)
    rides("produce", str(path), "--topic", topic, "--rate", "60", bootstrap=bootstrap, check=True)
    offsets = kafka_offsets_s(consume_all(bootstrap, topic, expected_at_least=120))
    assert len(offsets) == 120
    # Record n may leave no earlier than n/60 s after the start (the first may go at once);
    # 50 ms of slack for the timer. Only a lower bound: a slow machine cannot fail this.
    assert all(offset >= n / 60 - 1 / 60 - 0.05 for n, offset in enumerate(offsets))
    assert offsets[-1] >= 1.9


def test_an_event_time_replay_keeps_the_trips_pace_sped_up(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    table = yellow_table(count=60, span_s=90)  # 90 s of trips, replayed 30x: about 3 s
    path = write(table, tmp_path, "yellow_tripdata_2024-04.parquet")
    topic = new_topic(bootstrap)
    rides(
        "produce", str(path), "--topic", topic, "--speedup", "30", "--restamp",
        bootstrap=bootstrap, check=True,
    )  # fmt: skip
    messages = consume_all(bootstrap, topic, expected_at_least=60)
    assert len(messages) == 60
    original = pd.read_parquet(path)
    pickups = original["tpep_pickup_datetime"].tolist()
    durations = (original["tpep_dropoff_datetime"] - original["tpep_pickup_datetime"]).tolist()
    first, earliest = pickups[0], min(pickups)
    running_max = first
    offsets = kafka_offsets_s(messages)
    lags = []
    for message, offset, pickup, duration in zip(
        messages, offsets, pickups, durations, strict=True
    ):
        running_max = max(running_max, pickup)
        # Not sent before its (file-order) event time, scaled by the speed-up...
        assert offset >= (running_max - first).total_seconds() / 30 - 0.05
        # ...nor much after it (the replay's clock starts at the earliest pickup).
        lags.append(offset - (running_max - earliest).total_seconds() / 30)
        ride = json.loads(message.value())
        restamped = datetime.fromisoformat(ride["tpep_pickup_datetime"])
        sent_at = datetime(1970, 1, 1) + timedelta(milliseconds=message.timestamp()[1])
        # Restamped to the present (the file is from 2024), and the trip keeps its length.
        assert abs((restamped - sent_at).total_seconds()) < 60
        dropoff = datetime.fromisoformat(ride["tpep_dropoff_datetime"])
        assert (dropoff - restamped).total_seconds() == pd.Timedelta(duration).total_seconds()
    # The rides are due over about 3 s; a replay at 20x instead of 30x would send the later half
    # 0.75-1.5 s late, and its median ride 0.75 s late. The median, not each ride: the pacer keeps
    # an absolute schedule, so a stall of the process on a busy machine (1.7 s seen in a suite
    # run) makes the rides due during it late and the rest on time again.
    assert statistics.median(lags) <= 0.4, sorted(lags)


def test_a_missing_topic_is_refused_with_the_fix(kafka_broker, tmp_path):
    path = write(yellow_table(count=5), tmp_path, "yellow_tripdata_2024-05.parquet")
    result = rides(
        "produce", str(path), "--topic", "no_such_topic", bootstrap=kafka_broker.bootstrap_servers
    )
    assert result.returncode == 2
    assert "topic 'no_such_topic' does not exist" in result.stderr and "--create" in result.stderr
    assert "Traceback" not in result.stderr


def test_failed_deliveries_are_counted_and_fail_the_run(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"tiny_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # The broker refuses any batch over 100 bytes: every ride is rejected by the broker.
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "100"})])[
        topic
    ].result()
    path = write(yellow_table(count=50), tmp_path, "yellow_tripdata_2024-06.parquet")
    result = rides("produce", str(path), "--topic", topic, bootstrap=bootstrap)
    assert result.returncode == 1
    assert "sent 0, failed 50" in result.stdout
    assert "50 records failed:" in result.stderr and "too large" in result.stderr.lower()


def classify(values: list[bytes | None], start: datetime, rate: float) -> dict[str, int]:
    """Classify generated records from the bytes alone: malformed, in order, out of order, late.

    Record i's in-order event time is start + i/rate (the documented contract); its lag is how
    far its pickup lies before that.
    """
    counts = {"malformed": 0, "in_order": 0, "out_of_order": 0, "late": 0}
    required = ("tpep_pickup_datetime", "tpep_dropoff_datetime", "PULocationID", "DOLocationID")
    for index, value in enumerate(values):
        try:
            ride = json.loads(value.decode("utf-8"))
            assert all(ride.get(name) is not None for name in required)
            assert isinstance(ride["total_amount"], int | float)
            pickup = datetime.fromisoformat(ride["tpep_pickup_datetime"])
        except (ValueError, AssertionError, AttributeError, KeyError, TypeError):
            counts["malformed"] += 1
            continue
        base = (start + timedelta(seconds=index / rate)).replace(microsecond=0)
        lag = (base - pickup).total_seconds()
        if lag == 0:
            counts["in_order"] += 1
        elif 0 < lag <= 6:
            counts["out_of_order"] += 1
        elif lag >= 600:
            counts["late"] += 1
        else:
            raise AssertionError(f"record {index}: pickup {lag} s before its slot")
    return counts


def datagen_into(bootstrap: str, seed: int, count: int = 2000) -> tuple[str, list]:
    topic = new_topic(bootstrap)
    rides(
        "datagen", "--topic", topic, "--start", "2024-01-01 00:00:00", "--count", str(count),
        "--rate", "10", "--seed", str(seed), "--out-of-order", "0.1", "--late", "0.05",
        "--malformed", "0.05", bootstrap=bootstrap, check=True,
    )  # fmt: skip
    return topic, consume_all(bootstrap, topic, expected_at_least=count)


def test_datagen_is_deterministic_for_a_seed_and_makes_the_fractions_asked_for(kafka_broker):
    bootstrap = kafka_broker.bootstrap_servers
    _, first = datagen_into(bootstrap, seed=7)
    _, again = datagen_into(bootstrap, seed=7)
    _, other = datagen_into(bootstrap, seed=8)
    assert [m.value() for m in first] == [m.value() for m in again]
    assert [m.key() for m in first] == [m.key() for m in again]
    assert [m.value() for m in first] != [m.value() for m in other]

    counts = classify([m.value() for m in first], datetime(2024, 1, 1), rate=10)
    assert sum(counts.values()) == 2000
    for kind, fraction in (("out_of_order", 0.1), ("late", 0.05), ("malformed", 0.05)):
        expected = 2000 * fraction
        sigma = math.sqrt(2000 * fraction * (1 - fraction))
        assert abs(counts[kind] - expected) <= 4 * sigma, (kind, counts)


def test_datagen_rides_are_plausible(kafka_broker):
    bootstrap = kafka_broker.bootstrap_servers
    topic = new_topic(bootstrap)
    rides(
        "datagen", "--topic", topic, "--start", "2024-01-01 00:00:00", "--count", "3000",
        "--rate", "5", bootstrap=bootstrap, check=True,
    )  # fmt: skip
    trips = [json.loads(m.value()) for m in consume_all(bootstrap, topic, expected_at_least=3000)]
    assert len(trips) == 3000
    zones = pd.Series([t["PULocationID"] for t in trips]).value_counts()
    # Skewed: the ten busiest zones carry far more than 10/265 of the pickups.
    assert zones.head(10).sum() / len(trips) > 0.3
    for trip in trips:
        assert 1 <= trip["PULocationID"] <= 265 and 1 <= trip["DOLocationID"] <= 265
        minutes = (
            datetime.fromisoformat(trip["tpep_dropoff_datetime"])
            - datetime.fromisoformat(trip["tpep_pickup_datetime"])
        ).total_seconds() / 60
        assert minutes > 0
        # The metered fare grows with distance and time: at least the per-mile part.
        assert trip["fare_amount"] >= 3.0 + 3.5 * trip["trip_distance"]
        parts = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount")
        surcharges = trip["improvement_surcharge"] + trip["congestion_surcharge"]
        assert trip["total_amount"] == pytest.approx(sum(trip[p] for p in parts) + surcharges)


def test_datagen_pickup_locations_stream(kafka_broker):
    bootstrap = kafka_broker.bootstrap_servers
    topic = new_topic(bootstrap)
    rides(
        "datagen", "--stream", "pickup-locations", "--topic", topic, "--start",
        "2024-01-01 00:00:00", "--count", "50", "--rate", "1", bootstrap=bootstrap, check=True,
    )  # fmt: skip
    messages = consume_all(bootstrap, topic, expected_at_least=50)
    assert len(messages) == 50
    records = [json.loads(m.value()) for m in messages]
    assert all(set(r) == {"PULocationID", "tpep_pickup_datetime"} for r in records)
    assert [m.key().decode() for m in messages] == [str(r["PULocationID"]) for r in records]


def test_consume_prints_decoded_records_with_a_limit_a_filter_and_a_group(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    path = write(yellow_table(count=40), tmp_path, "yellow_tripdata_2024-07.parquet")
    topic = new_topic(bootstrap, partitions=2)
    rides("produce", str(path), "--topic", topic, bootstrap=bootstrap, check=True)
    table = pd.read_parquet(path)

    limited = rides("consume", topic, "--limit", "3", "--json", bootstrap=bootstrap, check=True)
    lines = [json.loads(line) for line in limited.stdout.splitlines()]
    assert len(lines) == 3 and "consume: 3 records" in limited.stderr
    assert {"partition", "offset", "timestamp", "key", "value"} <= set(lines[0])

    zone = int(table["PULocationID"].iloc[0])
    filtered = rides(
        "consume", topic, "--where", f"PULocationID={zone}", "--json", bootstrap=bootstrap
    )
    matching = [json.loads(line) for line in filtered.stdout.splitlines()]
    assert len(matching) == int((table["PULocationID"] == zone).sum())
    assert all(m["value"]["PULocationID"] == zone and m["key"] == str(zone) for m in matching)
    assert f"({40:,} read" in filtered.stderr

    group = f"g_{uuid.uuid4().hex[:6]}"
    first = rides(
        "consume", topic, "--group", group, "--limit", "15", "--json", bootstrap=bootstrap
    )
    rest = rides("consume", topic, "--group", group, "--json", bootstrap=bootstrap)
    seen = [
        (r["partition"], r["offset"])
        for out in (first.stdout, rest.stdout)
        for r in map(json.loads, out.splitlines())
    ]
    assert len(seen) == 40 and len(set(seen)) == 40  # the group resumed where it stopped


def test_topics_create_describe_list_delete(kafka_broker):
    bootstrap = kafka_broker.bootstrap_servers
    name = f"tutorial_topic_{uuid.uuid4().hex[:6]}"
    created = rides(
        "topics", "create", name, "--partitions", "2", "--retention", "1 day",
        "--cleanup-policy", "delete", bootstrap=bootstrap, check=True,
    )  # fmt: skip
    assert f"created topic '{name}'" in created.stdout
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert len(metadata.topics[name].partitions) == 2

    described = rides("topics", "describe", name, bootstrap=bootstrap, check=True).stdout
    assert "2 partitions" in described and "retention.ms = 86400000" in described
    assert "cleanup.policy = delete" in described
    assert name in rides("topics", "list", bootstrap=bootstrap, check=True).stdout

    again = rides("topics", "create", name, bootstrap=bootstrap)
    assert again.returncode != 0 and "already exists" in again.stderr

    rides("topics", "delete", name, bootstrap=bootstrap, check=True)
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert name not in metadata.topics
