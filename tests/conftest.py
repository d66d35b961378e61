"""Shared fixtures: one Spark session and (for integration tests) one real Kafka broker per run."""

from __future__ import annotations

import pytest

from ridestream.config import SparkSettings
from ridestream.local import EmbeddedKafka, free_port
from ridestream.session import build_session


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
