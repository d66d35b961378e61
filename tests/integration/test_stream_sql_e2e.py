"""stream_sql end to end: every file of sql/ against rides produced to the real broker.

Known rides (out of order by up to 90 s, three malformed records) are in a topic
(``rides_topic``). One run of the job, in the test session, runs all the files' queries at
once, each into a Delta table of its own: a file's plain SELECT becomes ``CREATE TABLE <file>
AS <the SELECT as written>`` (its console output is what ``rides sql`` prints, tested below).
Each table is compared with the same question answered in plain Python over the same records:
the rides as the generator made them, and ``ride_streams`` (the course's three columns, with the
pickup as event time) read from the produced JSON with ``json.loads``.
"""

from __future__ import annotations

import json
import re
import signal
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from ridestream import cli, runner
from ridestream.jobs.stream_sql import JOB
from ridestream.paths import PROJECT_ROOT, ridestream_home
from ridestream.sql import CreateTable, Select, parse_sql
from tests.integration.helpers import consume_all, encode_all
from tests.integration.jobs import MALFORMED, MALFORMED_REASONS

pytestmark = pytest.mark.integration

SQL = PROJECT_ROOT / "sql"
WATERMARK = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1)
# What ride_streams rejects: values that are not JSON objects (its columns are all optional, so
# the record without a pickup time is a row of its own, with nulls).
STREAM_REJECTS = ["not_json", "not_utf8"]
TIPS_TOPIC = "sql_tips_per_hour"


def streams_file(tmp_path, topic: str):
    """sql/01_ride_streams.sql as written, on the test's topic instead of `rides`."""
    text = (SQL / "01_ride_streams.sql").read_text()
    assert "KAFKA_TOPIC='rides'" in text
    path = tmp_path / "01_ride_streams.sql"
    path.write_text(text.replace("KAFKA_TOPIC='rides'", f"KAFKA_TOPIC='{topic}'"))
    return path


def as_tables() -> tuple[str, dict[str, str]]:
    """Return every query file's statements as CREATE TABLEs, and {file stem: table name}."""
    statements, tables = [], {}
    for path in sorted(SQL.glob("*.sql")):
        if path.name.startswith("01_"):
            continue
        for parsed in parse_sql(path.read_text(), path.name):
            if isinstance(parsed, Select):
                table = path.stem.split("_", 1)[1]
                statements.append(f"CREATE TABLE {table} AS {parsed.query}")
            else:
                assert isinstance(parsed, CreateTable)
                table = parsed.name
                statements.append(parsed.statement.text)
            tables[path.stem] = table
    return ";\n".join(statements), tables


def produced_values(rides: list[dict]) -> list[bytes]:
    """The topic's values, in order, as the fixture produced them."""
    values = encode_all(rides)
    for position, value in sorted(MALFORMED.items()):
        values.insert(position, value)
    return values


def ride_streams_rows(values: list[bytes]) -> list[dict]:
    """ride_streams read with the json module: a JSON number is its text in a varchar column."""
    rows = []
    for value in values:
        try:
            record = json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        pickup = record.get("tpep_pickup_datetime")
        rows.append(
            {
                "VendorID": None if record.get("VendorID") is None else str(record["VendorID"]),
                "tpep_pickup_datetime": pickup and datetime.fromisoformat(pickup),
                "trip_distance": record.get("trip_distance"),
                "payment_type": None
                if record.get("payment_type") is None
                else str(record["payment_type"]),
            }
        )
    return rows


def sessions(rows: list[dict], key: str, time: str, gap: timedelta, watermark_delay: timedelta):
    """Session windows per ``key``, the sessions closed by the final watermark only (append).

    A ride joins a session when it starts before or at the session's end (last ride + gap): a
    ride exactly one gap after the last one continues the session (Spark's rule, seen on a batch
    query of 08:00, 08:01 and 08:03 with a 60 s gap: sessions 08:00-08:02 (2) and 08:03-08:04).
    Spark writes a session once the watermark (latest event time - delay) reaches its end.
    """
    timed = [row for row in rows if row[time] is not None]
    watermark = max(row[time] for row in timed) - watermark_delay
    by_key = defaultdict(list)
    for row in timed:
        by_key[row[key]].append(row[time])
    found = {}
    for group, times in by_key.items():
        times.sort()
        start, end, count = times[0], times[0] + gap, 1
        for moment in times[1:]:
            if moment <= end:
                end, count = max(end, moment + gap), count + 1
                continue
            found[(group, start, end)] = count
            start, end, count = moment, moment + gap, 1
        found[(group, start, end)] = count
    return {session: n for session, n in found.items() if session[2] <= watermark}


def tumbling(rows: list[dict], size: timedelta, key=None):
    """{(window_start, key value): [rows]} for tumbling windows of ``size`` over the pickup."""
    windows = defaultdict(list)
    for row in rows:
        pickup = row["tpep_pickup_datetime"]
        start = EPOCH + size * ((pickup - EPOCH) // size)
        windows[(start, row[key] if key else None)].append(row)
    return windows


def table(spark, path) -> list:
    return spark.read.format("delta").load(str(path)).collect()


def test_every_sql_file_answers_its_question_over_the_rides_on_the_broker(
    spark, kafka_broker, rides_topic, tmp_path
):
    topic, rides = rides_topic
    query, tables = as_tables()
    assert len(tables) == 7, tables
    # hw3 once more, to a Kafka topic instead of a Delta table.
    (hw3,) = parse_sql((SQL / "hw3_tips_per_hour.sql").read_text())
    query += f";\nCREATE TABLE tips_to_kafka WITH (KAFKA_TOPIC='{TIPS_TOPIC}') AS {hw3.query}"
    profile = tmp_path / "test.toml"
    profile.write_text(
        f'[kafka]\nbootstrap_servers = "{kafka_broker.bootstrap_servers}"\n[embedded]\nkafka = false\n'
    )
    flags = [
        "--profile", str(profile), "--topic", topic, "--streams", str(streams_file(tmp_path, topic)),
        "--query", query, "--trigger", "available-now", "--watermark", "5 minutes",
        "--max-offsets-per-trigger", "1000", "--tables-dir", str(tmp_path / "tables"),
        "--dead-letter", "delta", "--dead-letter-path", str(tmp_path / "rejects"),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--shuffle-partitions", "2",
    ]  # fmt: skip
    assert runner.execute(spark, JOB, runner.settings_for(JOB, flags)) == 0
    tables_dir = tmp_path / "tables"

    def rows_of(stem: str) -> list:
        return table(spark, tables_dir / tables[stem])

    stream_rows = ride_streams_rows(produced_values(rides))
    assert len(stream_rows) == len(rides) + 1  # and the record without a pickup time

    # 02: every row of ride_streams, once.
    written = Counter(
        (r.VendorID, r.tpep_pickup_datetime, r.trip_distance, r.payment_type)
        for r in rows_of("02_all_rides")
    )
    assert written == Counter(tuple(row.values()) for row in stream_rows)

    # 03: rides per vendor (the record without fields is the vendor null's one ride).
    assert {r.VENDORID: r.rides for r in rows_of("03_rides_per_vendor")} == Counter(
        row["VendorID"] for row in stream_rows
    )

    # 04: card and cash rides.
    expected = Counter(
        row["payment_type"] for row in stream_rows if row["payment_type"] in ("1", "2")
    )
    assert {r.payment_type: r.rides for r in rows_of("04_card_and_cash_rides")} == expected
    assert set(expected) == {"1", "2"}

    # 05: sessions per payment type, 60 s gap, the closed ones.
    expected = sessions(
        stream_rows, "payment_type", "tpep_pickup_datetime", timedelta(seconds=60), WATERMARK
    )
    assert len(expected) >= 2
    assert {
        (r.payment_type, r.window_start, r.window_end): r.rides
        for r in rows_of("05_payment_type_sessions")
    } == expected

    # hw1: rides per zone in 5-minute windows, every window (update mode: the latest count).
    expected = {
        key: len(members)
        for key, members in tumbling(rides, timedelta(minutes=5), "PULocationID").items()
    }
    written = rows_of("hw1_rides_per_zone_5min")
    assert len(written) == len(expected) > 50
    assert {(r.window_start, r.PULocationID): r.ride_count for r in written} == expected

    # hw2: sessions per zone, 5-minute gap, the closed ones; and the longest per zone from them.
    expected = sessions(
        rides, "PULocationID", "tpep_pickup_datetime", timedelta(minutes=5), WATERMARK
    )
    written = rows_of("hw2_zone_sessions")
    assert {
        (r.PULocationID, r.window_start, r.window_end): r.ride_count for r in written
    } == expected

    def longest(found) -> dict:
        per_zone = defaultdict(timedelta)
        for zone, start, end in found:
            per_zone[zone] = max(per_zone[zone], end - start)
        return dict(per_zone)

    assert longest((r.PULocationID, r.window_start, r.window_end) for r in written) == longest(
        expected
    )

    # hw3: tips per hour (rounded to the cent in the SQL).
    hours = tumbling(rides, timedelta(hours=1))
    assert len(hours) == 2  # rides from 07:58:30 to 08:40
    written = {r.window_start: (r.tip_amount, r.ride_count) for r in rows_of("hw3_tips_per_hour")}
    assert written.keys() == {start for start, _ in hours}
    for (start, _), members in hours.items():
        assert written[start][0] == pytest.approx(sum(r["tip_amount"] for r in members), abs=0.005)
        assert written[start][1] == len(members)

    # hw3 on Kafka: keyed by the window (the GROUP BY); the latest record of a key is its value.
    latest = {}
    for message in consume_all(kafka_broker.bootstrap_servers, TIPS_TOPIC, len(hours)):
        key, value = json.loads(message.key()), json.loads(message.value())
        assert key == {"window_start": value["window_start"], "window_end": value["window_end"]}
        start = datetime.fromisoformat(value["window_start"].removesuffix("Z"))
        latest[start.replace(tzinfo=None)] = (value["tip_amount"], value["ride_count"])
    assert latest == written

    # Rejects: each stream's, with its reason (rides: all three; ride_streams: not JSON objects).
    reasons = sorted(r.reason for r in table(spark, tmp_path / "rejects"))
    assert reasons == sorted(MALFORMED_REASONS + STREAM_REJECTS)


def test_rides_sql_prints_the_running_counts_and_stops_at_the_end(
    kafka_broker, rides_topic, tmp_path, monkeypatch, capsys
):
    """The course's statement 3 from the shell: ride_streams registered by the profile."""
    topic, rides = rides_topic
    profile = tmp_path / "sql.toml"
    profile.write_text(
        f'[kafka]\nbootstrap_servers = "{kafka_broker.bootstrap_servers}"\n'
        f'[source]\ntopic = "{topic}"\n'
        # The test session's: a run in this process must not change the session's settings.
        "[spark]\nshuffle_partitions = 2\n[embedded]\nkafka = false\n"
        '[dead_letter]\nkind = "none"\n'
        f'[jobs.stream_sql]\nstreams = ["{streams_file(tmp_path, topic)}"]\n'
    )
    # A home of its own, to see what the run leaves there; the jars are shared (a home without
    # them downloads them all again).
    home = tmp_path / "home"
    home.mkdir()
    (home / "jars").symlink_to(ridestream_home() / "jars", target_is_directory=True)
    monkeypatch.setenv("RIDESTREAM_HOME", str(home))
    handlers = {number: signal.getsignal(number) for number in runner._STOP_SIGNALS}
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main(
                ["sql", "--profile", str(profile), "--file", "sql/03_rides_per_vendor.sql",
                 "--trigger", "available-now"]
            )  # fmt: skip
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    out, err = capsys.readouterr()
    assert exited.value.code == 0, err[-3000:]
    # The last table printed holds every vendor's latest count.
    printed = {}
    for vendor, count in re.findall(r"^\|(\w+)\s*\|(\d+)\s*\|$", out, re.MULTILINE):
        printed[vendor] = int(count)
    expected = Counter(row["VendorID"] for row in ride_streams_rows(produced_values(rides)))
    assert printed == {("NULL" if k is None else k): v for k, v in expected.items()}
    assert "stream_sql: finished after" in err
    assert not list((tmp_path / "home").glob("checkpoints*")), "the one-shot kept a checkpoint"
