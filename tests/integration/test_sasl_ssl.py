"""The confluent-cloud profile against a local SASL_SSL listener: what Confluent Cloud asks of us.

A broker of our own opens a SASL_SSL listener with one PLAIN user and a certificate from a
throwaway CA. The profile is conf/confluent-cloud.toml as shipped, with the cluster and API key
from its environment variables, plus the local CA (Confluent Cloud needs none). Both clients must
get in with it; wrong credentials and a wrong CA must stop the job in one line, without the secret.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from ridestream.config import Settings, build_settings, load_profile
from ridestream.kafka.admin import KafkaUnavailable, check_topics, ensure_topic
from ridestream.local import EmbeddedKafka, SaslSslListener, free_port
from ridestream.paths import PROJECT_ROOT, ridestream_home
from ridestream.sources import read_kafka_batch
from ridestream.tls import create_broker_tls

pytestmark = pytest.mark.integration

API_KEY = "RIDESKEY42"
# A quote and a backslash: the broker's and Spark's JAAS lines must both escape them.
SECRET_TOKEN = secrets.token_hex(4)  # appears in every form of the secret, escaped or not
API_SECRET = 'local"sasl\\secret-' + SECRET_TOKEN
WRONG_SECRET = "wrong-secret-" + secrets.token_hex(4)
TOPIC = "rides_sasl"
RECORDS = [(b"161", b'{"ride": 1}'), (b"237", b'{"ride": 2}'), (b"161", b'{"ride": 3}')]


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    """A broker with a SASL_SSL listener (PLAIN user API_KEY) next to its PLAINTEXT one."""
    data = tmp_path_factory.mktemp("sasl-kafka")
    listener = SaslSslListener(
        port=free_port(), users={API_KEY: API_SECRET}, tls=create_broker_tls(data / "tls")
    )
    broker = EmbeddedKafka(
        data_dir=data / "broker", port=free_port(), controller_port=free_port(), sasl_ssl=listener
    )
    broker.start()
    yield broker
    broker.stop()


def cloud_env(broker: EmbeddedKafka, secret: str = API_SECRET) -> dict[str, str]:
    """The environment a Confluent Cloud user exports, pointed at the local listener."""
    return {
        "CONFLUENT_BOOTSTRAP_SERVERS": broker.sasl_ssl.bootstrap_servers,
        "CONFLUENT_API_KEY": API_KEY,
        "CONFLUENT_API_SECRET": secret,
    }


def cloud_profile(broker: EmbeddedKafka, ca_file: Path | None = None) -> dict:
    """conf/confluent-cloud.toml as shipped, plus the CA file of the local listener."""
    values = load_profile("confluent-cloud")
    values["kafka"]["options"]["ssl.ca.location"] = str(ca_file or broker.sasl_ssl.tls.ca_pem)
    return values


@pytest.fixture
def settings(sasl_broker, monkeypatch) -> Settings:
    for name, value in cloud_env(sasl_broker).items():
        monkeypatch.setenv(name, value)
    return build_settings("confluent-cloud", cloud_profile(sasl_broker))


@pytest.fixture(scope="module")
def produced(sasl_broker):
    """RECORDS produced over SASL_SSL by a plain confluent-kafka producer with the profile's config."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in cloud_env(sasl_broker).items():
            env.setenv(name, value)
        kafka = build_settings("confluent-cloud", cloud_profile(sasl_broker)).kafka
        ensure_topic(kafka, TOPIC, partitions=1)
        producer = Producer({**kafka.client_config(), "acks": "all", "log_level": 0})
        failures = []
        for key, value in RECORDS:
            producer.produce(
                TOPIC, value=value, key=key, on_delivery=lambda e, _: e and failures.append(e)
            )
        remaining = producer.flush(30)
    assert remaining == 0 and not failures, failures
    return RECORDS


def test_confluent_kafka_round_trip_over_sasl_ssl(settings, produced):
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": "sasl-round-trip",
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )
    consumer.subscribe([TOPIC])
    received = []
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                received.append((message.key(), message.value()))
            if len(received) == len(produced):
                break
    finally:
        consumer.close()
    assert received == produced


def test_spark_reads_the_topic_through_the_derived_jaas_line(spark, settings, produced):
    records = read_kafka_batch(spark, settings.kafka, TOPIC).orderBy("offset")
    rows = records.collect()
    assert [(bytes(row.key), bytes(row.value)) for row in rows] == produced
    # Plans end up in error messages and logs: the options holding the secret must not show.
    assert SECRET_TOKEN not in records._jdf.queryExecution().toString()


def test_the_preflight_passes_with_the_right_key(settings, produced):
    check_topics(settings.kafka, [TOPIC])


def test_a_wrong_secret_stops_the_preflight_in_one_line_without_the_secret(
    sasl_broker, monkeypatch
):
    for name, value in cloud_env(sasl_broker, secret=WRONG_SECRET).items():
        monkeypatch.setenv(name, value)
    kafka = build_settings("confluent-cloud", cloud_profile(sasl_broker)).kafka
    with pytest.raises(KafkaUnavailable) as raised:
        check_topics(kafka, [TOPIC])
    message = str(raised.value)
    assert message.startswith(
        f"authentication failed for {sasl_broker.sasl_ssl.bootstrap_servers} as '{API_KEY}'"
    )
    assert "check $CONFLUENT_API_KEY / $CONFLUENT_API_SECRET" in message
    assert WRONG_SECRET not in message and API_SECRET not in message
    assert "\n" not in message


def test_a_wrong_ca_stops_the_preflight_in_one_line(sasl_broker, settings):
    # The broker's own certificate is not a CA: a plausible mix-up of two files.
    wrong_ca = sasl_broker.sasl_ssl.tls.keystore.with_name("broker.pem")
    kafka = build_settings("confluent-cloud", cloud_profile(sasl_broker, wrong_ca)).kafka
    with pytest.raises(KafkaUnavailable) as raised:
        check_topics(kafka, [TOPIC])
    message = str(raised.value)
    assert message.startswith(f"TLS handshake with {sasl_broker.sasl_ssl.bootstrap_servers} failed")
    assert f"that {wrong_ca} (ssl.ca.location) holds the CA" in message
    assert "\n" not in message


def toml_text(values: dict, table: str = "") -> str:
    """Write nested dicts of strings, numbers, booleans and lists as TOML (JSON scalars are TOML)."""
    text = f"[{table}]\n" if table else ""
    for key, value in values.items():
        if not isinstance(value, dict):
            text += f"{json.dumps(key)} = {json.dumps(value)}\n"
    for key, value in values.items():
        if isinstance(value, dict):
            text += toml_text(value, f"{table}.{key}" if table else key)
    return text


def test_spark_submit_with_a_wrong_secret_exits_in_one_line_without_the_secret(
    sasl_broker, produced, tmp_path
):
    profile = tmp_path / "confluent-cloud-local.toml"
    profile.write_text(toml_text(cloud_profile(sasl_broker)))
    started = time.time()
    result = subprocess.run(
        [
            str(PROJECT_ROOT / "spark-submit.sh"),
            "jobs/ride_windows.py",
            "--profile",
            str(profile),
            "--trigger",
            "available-now",
            "--checkpoint-dir",
            str(tmp_path / "checkpoints"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **cloud_env(sasl_broker, secret=WRONG_SECRET)},
    )
    # spark-submit's Python runner merges the driver's stderr into stdout: read what a user sees.
    seen = result.stdout + result.stderr
    assert result.returncode == 2, seen[-3000:]
    assert f"ride_windows: authentication failed for {sasl_broker.sasl_ssl.bootstrap_servers}" in (
        seen
    )
    assert "check $CONFLUENT_API_KEY / $CONFLUENT_API_SECRET" in seen
    assert "Traceback" not in seen and "\tat org.apache" not in seen
    assert WRONG_SECRET not in seen
    # A user error writes no trace file; if anything was written, it must not hold the secret.
    logs = ridestream_home() / "logs"
    for path in logs.glob("*") if logs.exists() else []:
        if path.is_file() and path.stat().st_mtime >= started - 1:
            assert WRONG_SECRET not in path.read_text(errors="replace"), path
