"""The confluent-cloud profile against a local SASL_SSL listener: what Confluent Cloud asks of us.

A broker of our own opens a SASL_SSL listener with one PLAIN user and a certificate from a
throwaway CA. The profile is conf/confluent-cloud.toml as shipped, with the cluster and API key
from its environment variables, plus the local CA (Confluent Cloud needs none). Both clients must
get in with it; wrong credentials and a wrong CA must stop the job in one line, without the secret.

Where a secret could leak, the tests look for it: the error text a user sees (the console of
spark-submit, the message of an exception, Spark's own error) and the files a run leaves (trace
files and anything else under its $RIDESTREAM_HOME). A positive control shows that these checks
do find a secret planted there.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import traceback
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from ridestream.config import Settings, build_settings, load_profile
from ridestream.errors import run_main
from ridestream.kafka.admin import KafkaUnavailable, check_topics, ensure_topic
from ridestream.kafka.settings import quote_jaas
from ridestream.local import EmbeddedKafka, SaslSslListener, free_port
from ridestream.paths import PROJECT_ROOT, ridestream_home
from ridestream.sources import read_kafka_batch
from ridestream.tls import create_broker_tls

pytestmark = pytest.mark.integration

API_KEY = "RIDESKEY42"
# A quote and a backslash: the broker's and Spark's JAAS lines must both escape them.
SECRET_TOKEN = secrets.token_hex(4)  # appears in every form of the secret, escaped or not
API_SECRET = 'local"sasl\\secret-' + SECRET_TOKEN
WRONG_TOKEN = secrets.token_hex(4)
WRONG_SECRET = 'wrong"sasl\\secret-' + WRONG_TOKEN
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
    # The broker takes only API_KEY with API_SECRET (a quote and a backslash in it).
    assert [(bytes(row.key), bytes(row.value)) for row in rows] == produced


def test_the_preflight_passes_with_the_right_key_and_reads_the_topics(settings, produced):
    check_topics(settings.kafka, [TOPIC])
    # Signed in and reading the cluster's topics: a missing one is named, not an auth failure.
    with pytest.raises(KafkaUnavailable, match=r"^topic rides_nowhere does not exist on "):
        check_topics(settings.kafka, [TOPIC, "rides_nowhere"])


def places_holding(token: str, texts: dict[str, str], home: Path | None = None) -> list[str]:
    """Name each text, and each file under ``home`` (not following links), that holds ``token``.

    ``token`` is the random part of a secret: it is in every form of it, escaped for JAAS or not.
    """
    places = [name for name, text in texts.items() if token in text]
    for directory, _, files in os.walk(home) if home else ():
        for name in sorted(files):
            path = Path(directory, name)
            if not path.is_symlink() and token in path.read_text(errors="replace"):
                places.append(str(path))
    return places


def trace_files(home: Path) -> list[Path]:
    """The trace files ride_windows leaves for a failure that is not a user error."""
    return sorted((home / "logs").glob("ride_windows-*.log"))


def test_the_leak_checks_find_a_planted_secret(tmp_path, monkeypatch, capsys):
    # The positive control of the checks below: a run that died of an error carrying the JAAS
    # line, as Spark's options hold it, would leave the secret on the console and in a trace file.
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "clean.pid").write_text("4242\n")

    def leaky_job() -> int:
        raise RuntimeError(f"cannot connect with password={quote_jaas(WRONG_SECRET)};\nat ...")

    with pytest.raises(SystemExit):
        run_main(leaky_job, "ride_windows")
    console = capsys.readouterr().err
    assert WRONG_SECRET not in console  # escaped: only the token finds it
    (trace,) = trace_files(tmp_path)
    assert places_holding(WRONG_TOKEN, {"console": console, "clean": "x"}, tmp_path) == [
        "console",
        str(trace),
    ]


def test_a_spark_read_with_a_wrong_secret_fails_without_the_secret_in_its_error(
    spark, sasl_broker, monkeypatch, produced
):
    for name, value in cloud_env(sasl_broker, secret=WRONG_SECRET).items():
        monkeypatch.setenv(name, value)
    kafka = build_settings("confluent-cloud", cloud_profile(sasl_broker)).kafka
    assert WRONG_TOKEN in str(kafka.spark_options())  # Spark is given the secret...
    with pytest.raises(Exception) as raised:  # noqa: B017 - whatever Spark raises, read its text
        read_kafka_batch(spark, kafka, TOPIC).collect()
    error = "".join(traceback.format_exception(raised.value))
    assert "Authentication failed" in error, error[-3000:]
    assert places_holding(WRONG_TOKEN, {"Spark's error": error}) == []  # ...and does not tell it


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
    assert places_holding(WRONG_TOKEN, {"message": message}) == []
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


def test_spark_submit_with_a_wrong_secret_exits_in_one_line_without_the_secret_or_a_trace_file(
    sasl_broker, produced, tmp_path
):
    profile = tmp_path / "confluent-cloud-local.toml"
    profile.write_text(toml_text(cloud_profile(sasl_broker)))
    # A home of its own, so every file the run leaves is the run's (the jars are shared).
    home = tmp_path / "home"
    home.mkdir()
    (home / "jars").symlink_to(ridestream_home() / "jars")
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
        env={
            **os.environ,
            **cloud_env(sasl_broker, secret=WRONG_SECRET),
            "RIDESTREAM_HOME": str(home),
        },
    )
    # spark-submit's Python runner merges the driver's stderr into stdout: read what a user sees.
    seen = result.stdout + result.stderr
    assert result.returncode == 2, seen[-3000:]
    assert f"ride_windows: authentication failed for {sasl_broker.sasl_ssl.bootstrap_servers}" in (
        seen
    )
    assert "check $CONFLUENT_API_KEY / $CONFLUENT_API_SECRET" in seen
    assert "Traceback" not in seen and "\tat org.apache" not in seen
    assert trace_files(home) == []  # a user error, not a crash
    assert places_holding(WRONG_TOKEN, {"console": seen}, home) == []
