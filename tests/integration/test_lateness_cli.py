"""`rides lateness` on rides with known disorder, against the same figures computed here."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer

from ridestream.cli import build_parser
from ridestream.kafka.datagen import Mix, RideGenerator, encode_json
from tests.integration.helpers import create_topic

pytestmark = pytest.mark.integration

TOPIC = "rides_lateness"
RIDES = 600
WINDOW = timedelta(minutes=1)
BASE_MS = 1_733_000_000_000  # the first record's Kafka timestamp; each next one 10 ms later
GARBAGE = {100: b"{not json", 450: b"\xff\xfe"}


def produced_rides() -> list[dict]:
    mix = Mix(
        out_of_order=0.3, disorder=timedelta(seconds=20), late=0.03, late_by=timedelta(minutes=2)
    )
    generator = RideGenerator(datetime(2024, 5, 1, 8, 0), rate=5, seed=11, mix=mix)
    return [generator.ride() for _ in range(RIDES)]


@pytest.fixture(scope="module")
def lateness_topic(kafka_broker):
    """Rides on two partitions in turn, in production order = timestamp order, with 2 garbage."""
    rides = produced_rides()
    values = [encode_json(ride) for ride in rides]
    for position, value in sorted(GARBAGE.items()):
        values.insert(position, value)
    create_topic(kafka_broker.bootstrap_servers, TOPIC, partitions=2)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 5})
    for index, value in enumerate(values):
        producer.produce(TOPIC, value, partition=index % 2, timestamp=BASE_MS + 10 * index)
    assert producer.flush(30) == 0
    # (partition, event time) per ride, in production order; garbage has none
    placed, index = [], 0
    for position in range(len(values)):
        if position in GARBAGE:
            continue
        placed.append((position, position % 2, rides[index]["tpep_pickup_datetime"]))
        index += 1
    return kafka_broker.bootstrap_servers, placed


def rides_cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return args.handler(args)


def expected_lateness(times: list[datetime]) -> list[float]:
    out, latest = [], None
    for moment in times:
        out.append(0.0 if latest is None or moment >= latest else (latest - moment).total_seconds())
        latest = moment if latest is None else max(latest, moment)
    return out


def expected_dropped(times: list[datetime], delay_s: float) -> int:
    dropped, latest = 0, None
    for moment in times:
        start = moment.replace(second=0, microsecond=0)  # 1-minute windows
        end = start + WINDOW
        if latest is not None and (latest - end).total_seconds() >= delay_s:
            dropped += 1
        latest = moment if latest is None else max(latest, moment)
    return dropped


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"s": 1, "min": 60}[unit]


def row(out: str, label: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return line.strip()[len(label) :].split()


def advice(out: str) -> dict[float, int]:
    found = re.findall(r"^\s+([\d.]+ (?:s|min))\s+([\d,]+)\s+[\d.]+%\s+window end", out, re.M)
    return {seconds(delay): int(count.replace(",", "")) for delay, count in found}


def check_report(out: str, placed: list[tuple]) -> None:
    times = [moment for _, _, moment in placed]
    overall = expected_lateness(times)
    cells = row(out, "all partitions")
    assert int(cells[0].replace(",", "")) == len(times)
    assert cells[1] == f"{sum(v > 0 for v in overall) / len(times):.1%}"
    printed = [seconds(" ".join(cells[i : i + 2])) for i in range(2, 12, 2)]
    wanted = [nearest_rank(overall, q) for q in (50, 90, 99, 99.9, 100)]
    assert printed == pytest.approx(wanted, rel=0.005, abs=0.01)
    for partition in (0, 1):
        own = expected_lateness([moment for _, p, moment in placed if p == partition])
        cells = row(out, f"partition {partition}")
        assert int(cells[0].replace(",", "")) == len(own)
        assert seconds(" ".join(cells[10:12])) == pytest.approx(max(own), rel=0.005)
    delays = advice(out)
    assert 0 in delays and min(delays.values()) == 0 and len(delays) >= 3
    for delay, dropped in delays.items():
        assert dropped == expected_dropped(times, delay), delay


def test_lateness_of_a_whole_topic_matches_a_plain_python_count(lateness_topic, capsys, tmp_path):
    bootstrap, placed = lateness_topic
    plot = tmp_path / "lateness.png"
    code = rides_cli(
        "lateness", "--bootstrap-servers", bootstrap, "--topic", TOPIC, "--window", "1 minute",
        "--plot", str(plot),
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"{TOPIC}: {len(placed):,} rides"), out
    check_report(out, placed)
    # The disorder is known: late rides were moved back 2-3 minutes, so some window had ended.
    assert advice(out)[0] > 0
    assert f"({len(GARBAGE)} records without a readable event time left out" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lateness_of_a_time_range_reads_only_its_records(lateness_topic, capsys):
    bootstrap, placed = lateness_topic

    def when(position: int) -> str:
        stamp = datetime.fromtimestamp((BASE_MS + 10 * position) / 1000, UTC)
        return stamp.replace(tzinfo=None).isoformat(sep=" ")

    code = rides_cli(
        "lateness", "--bootstrap-servers", bootstrap, "--topic", TOPIC,
        "--from", when(200), "--to", when(500),
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    in_range = [item for item in placed if 200 <= item[0] < 500]
    assert out.startswith(f"{TOPIC}: {len(in_range):,} rides"), out
    check_report(out, in_range)
    assert "(1 records without a readable event time" in out  # 450 is in the range, 100 is not
