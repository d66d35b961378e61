"""Kafka Connect's own standalone worker moves trip CSV lines file -> topic -> file."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from ridestream.cli import build_parser, main
from ridestream.connect import (
    EmbeddedConnect,
    complete_last_line,
    list_connectors,
    ride_csv_lines,
    write_lines,
)
from ridestream.kafka.datagen import rides_between
from ridestream.local import free_port, pid_alive
from tests.integration.helpers import consume_all

pytestmark = pytest.mark.integration

TOPIC = "rides_csv_connect"  # conf/connect/trips-source.properties
RIDES = 200


def wait_for_lines(path: Path, count: int, timeout_s: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(lines := path.read_text().splitlines()) >= count:
            return lines
        time.sleep(0.2)
    return path.read_text().splitlines() if path.exists() else []


def processes_using(directory: Path) -> list[int]:
    """PIDs of live processes whose command line names ``directory``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(directory).encode() in command and pid_alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def rides_cli(capsys, action: str, *argv: str) -> tuple[int, str]:
    """Run `rides <command> <action> ...` in this process; return its exit code and stdout."""
    capsys.readouterr()
    args = build_parser().parse_args([argv[0], action, *argv[1:]])
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_trip_lines_go_file_to_topic_to_file_and_an_unterminated_last_line_waits(
    kafka_broker, tmp_path, capsys
):
    rides = list(rides_between(datetime(2024, 5, 1, 8, 0), datetime(2024, 5, 1, 9, 0), RIDES))
    lines = ride_csv_lines(rides)
    assert len(lines) == RIDES and all(line.count(",") == 17 for line in lines)
    trips_csv = tmp_path / "trips.csv"
    # All but the last line as write_lines writes them; the last one without its newline, as an
    # editor or a truncated export may leave it.
    write_lines(trips_csv, lines[:-1])
    with trips_csv.open("a") as file:
        file.write(lines[-1])

    # Started as a user starts it: `rides connect start` with the two configs by name. The worker
    # object is the same worker (same directory and port), to look at it from here.
    worker = EmbeddedConnect(
        data_dir=tmp_path / "connect",
        bootstrap_servers=kafka_broker.bootstrap_servers,
        rest_port=free_port(),
    )
    connect = [
        "connect", "--bootstrap-servers", kafka_broker.bootstrap_servers,
        "--rest-port", str(worker.rest_port), "--dir", str(worker.data_dir),
    ]  # fmt: skip
    sink_file = worker.data_dir / "trips-sink.csv"
    try:
        start = [*connect, "--config", "trips-source", "--config", "trips-sink"]
        assert rides_cli(capsys, "start", *start, "--var", f"trips_csv={trips_csv}")[0] == 0
        pid = worker.pid()
        assert pid is not None
        code, out = rides_cli(capsys, "status", *connect)
        assert code == 0
        assert out.splitlines() == [
            f"connect at {worker.rest_url}: running (pid {pid})",
            "  trips-sink (sink): RUNNING, 1 of 1 tasks running",
            "    task 0: RUNNING",
            "  trips-source (source): RUNNING, 1 of 1 tasks running",
            "    task 0: RUNNING",
        ]

        # The REST API itself, not only the helper the readiness check uses.
        with urllib.request.urlopen(f"{worker.rest_url}/connectors", timeout=5) as response:
            assert sorted(json.load(response)) == ["trips-sink", "trips-source"]
        assert list_connectors(worker.rest_url) == ["trips-sink", "trips-source"]
        statuses = worker.statuses()
        assert {name: status.state for name, status in statuses.items()} == {
            "trips-sink": "RUNNING",
            "trips-source": "RUNNING",
        }
        assert all(status.running for status in statuses.values())
        assert statuses["trips-source"].type == "source"

        # The unterminated last line is kept back: the topic and the sink stop one short.
        held_back = consume_all(kafka_broker.bootstrap_servers, TOPIC, RIDES - 1)
        assert [m.value().decode() for m in held_back] == lines[:-1]
        assert wait_for_lines(sink_file, RIDES - 1) == lines[:-1]

        assert complete_last_line(trips_csv)
        records = consume_all(kafka_broker.bootstrap_servers, TOPIC, RIDES)
        assert [m.value().decode() for m in records] == lines
        assert all(m.key() is None for m in records)
        assert wait_for_lines(sink_file, RIDES) == lines
        assert sink_file.read_text() == "".join(f"{line}\n" for line in lines)
        assert rides_cli(capsys, "stop", *connect) == (0, f"connect at {worker.rest_url} stopped\n")
    finally:
        worker.stop()
    assert rides_cli(capsys, "status", *connect) == (3, f"connect at {worker.rest_url}: stopped\n")

    leftovers = processes_using(worker.data_dir)
    for leftover in leftovers:  # a failed check must not leave a JVM running
        os.kill(leftover, signal.SIGKILL)
    assert leftovers == []
    assert not pid_alive(pid)
    assert not worker.is_running()
    assert not worker.pid_file.exists()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        # The worker refuses the config and exits: its logged error is the message.
        (
            "connector.class=org.example.NoSuchConnector\n",
            "the Connect worker exited with code 3 while starting: Failed to create connector "
            ".*Failed to find any class that implements Connector and which name matches "
            "org.example.NoSuchConnector",
        ),
        # The connector starts, its task fails: the task's trace is the message.
        (
            "connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector\n"
            "topics=rides_csv_connect\nfile=/nonexistent/dir/out.csv\n",
            "connector broken failed: .*ConnectException: Couldn't find or create file "
            "'/nonexistent/dir/out.csv'",
        ),
    ],
    ids=["unknown-class", "task-fails"],
)
def test_a_connector_that_cannot_run_fails_start_with_its_reason_and_leaves_no_worker(
    kafka_broker, tmp_path, capsys, config, reason
):
    broken = tmp_path / "broken.properties"
    broken.write_text(f"name=broken\n{config}")
    worker = EmbeddedConnect(
        data_dir=tmp_path / "connect",
        bootstrap_servers=kafka_broker.bootstrap_servers,
        rest_port=free_port(),
    )
    with pytest.raises(SystemExit) as exit_info:
        main([
            "connect", "start", "--bootstrap-servers", kafka_broker.bootstrap_servers,
            "--rest-port", str(worker.rest_port), "--dir", str(worker.data_dir),
            "--config", str(broken),
        ])  # fmt: skip
    # After the "starting" line, one line with the reason, exit 2 (a config to fix), no trace.
    starting, *error = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2
    assert starting.startswith("rides: starting the Kafka Connect worker")
    assert len(error) == 1 and error[0].startswith("rides: "), error
    assert re.search(reason, error[0]), error
    # start() itself stopped the worker it launched.
    leftovers = processes_using(worker.data_dir)
    for leftover in leftovers:
        os.kill(leftover, signal.SIGKILL)
    assert leftovers == []
    assert not worker.is_running()
