"""Shared fixtures: one Spark session and (for integration tests) one real Kafka broker per run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ridestream import jars
from ridestream.config import SparkSettings
from ridestream.local import EmbeddedKafka, free_port
from ridestream.session import build_session


@pytest.fixture(autouse=True)
def _no_jar_downloads(monkeypatch):
    """Fail a test that would download jars: test.sh resolved them all before pytest started.

    A test that points $RIDESTREAM_HOME at a directory of its own shares the jars with a symlink
    (``home / "jars"``); without it the session builder resolves every bundle again from Maven
    Central (47 s, and the network) inside the test.
    """

    def refuse(bundle: object) -> str:
        raise AssertionError(
            f"a test tried to download jars into {jars.bundle_dir('spark').parent}: link its "
            "$RIDESTREAM_HOME/jars to the project's"
        )

    monkeypatch.setattr(jars, "_ivy_module", refuse)


@pytest.fixture(scope="session")
def spark():
    """A local[2] session with the project's connectors, 2 shuffle partitions, UTC, no UI."""
    session = build_session(
        SparkSettings(master="local[2]", shuffle_partitions=2, conf={"spark.ui.enabled": "false"}),
        app_name="ridestream-tests",
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A real single-node Kafka broker on free loopback ports, stopped after the run."""
    broker = EmbeddedKafka(
        data_dir=tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port()
    )
    broker.start()
    yield broker
    broker.stop()


# The longest test files first (longest processing time first): with two workers taking files in
# collection order, a long file collected last would run alone at the end. The order follows the
# suite's --durations report; a file not listed keeps its place after these. (xdist keeps this
# order only with --no-loadscope-reorder, in pyproject.toml's addopts: by default it sends the
# files with the most tests first, and the longest files, of one or two tests each, came last.)
LONGEST_FIRST = [
    "test_crash_recovery.py",
    "test_faults.py",
    "test_bench_smoke.py",
    "test_ride_windows_e2e.py",
    "test_accounting.py",
    "test_stream_sql_e2e.py",
    "test_rides_cli.py",
    "test_faults_output.py",
    "test_standalone_cluster.py",
    "test_pane_windows.py",
    "test_stopping.py",
    "test_ride_windows_semantics.py",
    "test_readme_examples.py",
    "test_progress_and_stop.py",
    "test_broker_failover.py",
    "test_ride_pickups_join_semantics.py",
    "test_soak_smoke.py",
    "test_notebook.py",
    "test_delta_log.py",
    "test_parsing.py",
    "test_sasl_ssl.py",
    "test_avro_ride_windows.py",
    "test_stream_driver.py",
    "test_ride_clean.py",
    "test_connect.py",
    "test_parsing_csv.py",
    "test_ride_pickups_join_e2e.py",
    "test_ride_zones.py",
    "test_outputs.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files longest first (a stable sort: tests keep their order within a file)."""
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# Where a worker's time went: with RIDESTREAM_TEST_TIMELINE=DIR, each worker appends one line per
# test (worker, start and end in seconds since the epoch, test id) to DIR/<worker>.tsv.
# For balancing the workers (LONGEST_FIRST above); off by default.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201
    directory = os.environ.get("RIDESTREAM_TEST_TIMELINE")
    start = time.time()
    yield
    if directory:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(directory).mkdir(parents=True, exist_ok=True)
        with open(Path(directory) / f"{worker}.tsv", "a") as log:
            log.write(f"{worker}\t{start:.1f}\t{time.time():.1f}\t{item.nodeid}\n")
