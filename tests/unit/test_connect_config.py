"""The Connect worker's configs, input files and refusals, without starting a JVM."""

from __future__ import annotations

import socket
from datetime import datetime

import pytest
from chispa import assert_df_equality

from ridestream.connect import (
    CONNECT_CONF_DIR,
    ConnectError,
    ConnectorStatus,
    EmbeddedConnect,
    complete_last_line,
    list_connectors,
    read_properties,
    render_connector_config,
    ride_csv_lines,
    startup_error,
    write_lines,
)
from ridestream.kafka.datagen import rides_between
from ridestream.local import free_port
from ridestream.parsing import parse_rides, valid_rides
from ridestream.schemas import ride_schema
from tests.builders import KAFKA_SCHEMA, kafka_rows, ride
from tests.corpus import as_rows

SOURCE = CONNECT_CONF_DIR / "trips-source.properties"
SINK = CONNECT_CONF_DIR / "trips-sink.properties"


def worker(tmp_path, **overrides) -> EmbeddedConnect:
    settings = {
        "data_dir": tmp_path / "connect",
        "bootstrap_servers": f"127.0.0.1:{free_port()}",
        "rest_port": free_port(),
        "connectors": [SOURCE, SINK],
        "variables": {"trips_csv": str(tmp_path / "trips.csv")},
    }
    return EmbeddedConnect(**{**settings, **overrides})


def test_placeholders_are_replaced_and_comments_and_kafka_references_are_left_alone():
    text = (
        "# file=${trips_csv} is filled in at start\n"
        "file=${trips_csv}\n"
        "password=${env:TRIPS_PASSWORD}\n"
        "regex.replacement=$1\n"
    )
    rendered = render_connector_config(text, {"trips_csv": r"C:\trips\a.csv"})
    assert rendered == (
        "# file=${trips_csv} is filled in at start\n"
        "file=C:\\\\trips\\\\a.csv\n"
        "password=${env:TRIPS_PASSWORD}\n"
        "regex.replacement=$1\n"
    )
    assert read_properties(rendered)["file"] == r"C:\trips\a.csv"


def test_a_placeholder_without_a_value_is_refused_with_its_name_and_file():
    with pytest.raises(ConnectError, match=r"x.properties uses \$\{trips_csv\} and no value"):
        render_connector_config("file=${trips_csv}\n", {}, source="x.properties")


def test_read_properties_takes_both_separators_and_skips_comments():
    text = "# a comment\n! another\n\nname = trips\ntopic: rides\nurl=http://h:1/x=y\n"
    assert read_properties(text) == {"name": "trips", "topic": "rides", "url": "http://h:1/x=y"}


def test_the_project_configs_connect_the_source_file_to_the_sink_file_through_one_topic(tmp_path):
    configs = worker(tmp_path).connector_configs()
    assert list(configs) == ["trips-source", "trips-sink"]
    source, sink = (read_properties(text) for text in configs.values())
    assert source["connector.class"] == "org.apache.kafka.connect.file.FileStreamSourceConnector"
    assert source["file"] == str(tmp_path / "trips.csv")
    assert sink["connector.class"] == "org.apache.kafka.connect.file.FileStreamSinkConnector"
    assert sink["topics"] == source["topic"] == "rides_csv_connect"
    assert sink["file"] == str(tmp_path / "connect" / "trips-sink.csv")
    assert source["topic.creation.default.partitions"] == "1"  # keeps the file's line order


@pytest.mark.parametrize(
    "path", sorted(CONNECT_CONF_DIR.glob("*.properties")), ids=lambda p: p.name
)
def test_connector_configs_keep_comments_on_their_own_lines(path):
    # In .properties a '#' after a value is part of the value.
    values = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert [line for line in values if "#" in line] == []


def test_a_missing_connector_config_is_named_before_anything_starts(tmp_path):
    missing = tmp_path / "nowhere.properties"
    connect = worker(tmp_path, connectors=[SOURCE, missing])
    with pytest.raises(ConnectError, match=f"connector config {missing} does not exist"):
        connect.start()
    assert not connect.data_dir.exists()


def test_connector_configs_need_a_name_of_their_own(tmp_path):
    nameless = tmp_path / "nameless.properties"
    nameless.write_text("connector.class=x\n")
    with pytest.raises(ConnectError, match="has no name= line"):
        worker(tmp_path, connectors=[nameless]).connector_configs()
    with pytest.raises(ConnectError, match="two connector configs are named trips-sink"):
        worker(tmp_path, connectors=[SINK, SINK]).connector_configs()


def test_a_taken_rest_port_is_refused_with_the_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        connect = worker(tmp_path, rest_port=port)
        with pytest.raises(ConnectError, match=f"port {port} on 127.0.0.1 is taken"):
            connect.start()
    assert not connect.pid_file.exists()


def test_an_unreachable_broker_is_refused_in_seconds_not_after_the_workers_minute(tmp_path):
    connect = worker(tmp_path)
    with pytest.raises(ConnectError, match="no Kafka broker answers at 127.0.0.1:"):
        connect.start(broker_timeout=1)
    assert not connect.pid_file.exists()


def test_asking_a_worker_that_is_not_there_says_so():
    port = free_port()
    with pytest.raises(ConnectError, match=f"no Kafka Connect worker answers at .*:{port}"):
        list_connectors(f"http://127.0.0.1:{port}", timeout_s=1)


def test_a_failed_task_is_reported_with_the_first_line_of_its_trace():
    status = ConnectorStatus.from_json(
        {
            "name": "trips-sink",
            "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
            "tasks": [
                {
                    "id": 0,
                    "state": "FAILED",
                    "trace": "org.apache.kafka.connect.errors.ConnectException: no such file\n"
                    "\tat org.apache.kafka.connect.file.FileStreamSinkTask.start\n",
                }
            ],
            "type": "sink",
        }
    )
    assert not status.running
    assert status.failure == "org.apache.kafka.connect.errors.ConnectException: no such file"
    assert status.describe().startswith("trips-sink (sink): RUNNING, 0 of 1 tasks running; failed")


def test_a_connector_without_its_tasks_yet_is_not_running():
    status = ConnectorStatus.from_json(
        {"name": "s", "connector": {"state": "RUNNING"}, "tasks": [], "type": "sink"}
    )
    assert not status.running and status.failure is None


def test_write_lines_ends_every_line_and_refuses_a_line_break(tmp_path):
    path = write_lines(tmp_path / "in" / "trips.csv", ["a,1", "b,2"])
    assert path.read_bytes() == b"a,1\nb,2\n"
    with pytest.raises(ValueError, match="line 2 holds a line break"):
        write_lines(tmp_path / "bad.csv", ["a", 'b,"two\nlines"'])


def test_complete_last_line_appends_a_missing_newline_once(tmp_path):
    path = tmp_path / "trips.csv"
    path.write_bytes(b"a,1\nb,2")
    assert complete_last_line(path)
    assert not complete_last_line(path)
    assert path.read_bytes() == b"a,1\nb,2\n"
    # FileStreamSource waits for the byte after a final '\r' (it could be '\r\n').
    windows = tmp_path / "windows.csv"
    windows.write_bytes(b"a,1\r\nb,2\r")
    assert complete_last_line(windows)
    assert windows.read_bytes() == b"a,1\r\nb,2\r\n"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert not complete_last_line(empty)
    assert empty.read_bytes() == b""


def test_ride_lines_parse_into_the_same_rides_with_the_jobs_csv_parser(spark):
    rides = [
        ride("2024-03-01 08:15:00", PULocationID=161, total_amount=31.25, tip_amount=None),
        ride(datetime(2024, 3, 1, 9, 0), store_and_fwd_flag='say "hi", ok'),
        *rides_between(datetime(2024, 5, 1, 8, 0), datetime(2024, 5, 1, 9, 0), 20),
    ]
    values = [line.encode() for line in ride_csv_lines(rides)]
    parsed = spark.createDataFrame(kafka_rows(values), KAFKA_SCHEMA).transform(
        parse_rides, ride_schema(), value_format="csv"
    )
    # The format carries timestamps to the second; generated dropoffs have microseconds.
    expected = [
        {k: v.replace(microsecond=0) if isinstance(v, datetime) else v for k, v in fields.items()}
        for fields in rides
    ]
    assert_df_equality(
        valid_rides(parsed, ride_schema()),
        as_rows(spark, expected),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_the_first_logged_error_and_its_innermost_exception_say_why_the_worker_exited():
    log = (
        "[2026-12-02 12:39:48,500] INFO Kafka Connect started (org.apache.kafka.connect.runtime.Connect)\n"
        "[2026-12-02 12:39:48,556] ERROR Failed to create connector for /x/bad.properties "
        "(org.apache.kafka.connect.cli.ConnectStandalone)\n"
        "[2026-12-02 12:39:48,557] ERROR Stopping after connector error "
        "(org.apache.kafka.connect.cli.ConnectStandalone)\n"
        "java.util.concurrent.ExecutionException: org.apache.kafka.connect.runtime.rest.errors."
        "BadRequestException: Failed to find any class that implements Connector and which name "
        "matches org.example.Nope\n"
        "\tat org.apache.kafka.connect.util.ConvertingFutureCallback.result(...)\n"
    )
    assert startup_error(log) == (
        "Failed to create connector for /x/bad.properties: Failed to find any class that "
        "implements Connector and which name matches org.example.Nope"
    )
    assert len(startup_error(log, limit=40)) == 40
    # A JVM that never got as far as logging: the caller shows the last lines instead.
    assert (
        startup_error("Unrecognized VM option 'Nope'\nError: Could not create the JVM.\n") is None
    )
