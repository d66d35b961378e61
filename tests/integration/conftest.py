"""Integration fixtures: the known rides topic shared by the job's end-to-end tests."""

from __future__ import annotations

from datetime import datetime

import pytest

from ridestream.kafka.datagen import rides_between
from tests.integration.helpers import create_topic, encode_all, produce_values
from tests.integration.jobs import MALFORMED


@pytest.fixture(scope="session")
def rides_topic(kafka_broker):
    """A one-partition topic of 400 rides over 40 minutes, out of order by up to 90 s."""
    rides = list(
        rides_between(
            datetime(2024, 5, 1, 8, 0), datetime(2024, 5, 1, 8, 40), 400, seed=7, disorder_s=90
        )
    )
    values = encode_all(rides)
    for position, value in sorted(MALFORMED.items()):
        values.insert(position, value)
    topic = "rides_e2e"
    create_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    produce_values(kafka_broker.bootstrap_servers, topic, values)
    return topic, rides
