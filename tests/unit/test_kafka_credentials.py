"""SASL credentials and CA files: declared once in a profile, translated for each client.

confluent-kafka (librdkafka) takes sasl.username / sasl.password / ssl.ca.location as they are;
Spark's Java client gets a sasl.jaas.config line and a PEM truststore derived from them.
"""

from __future__ import annotations

import pytest

from ridestream.config import build_settings, load_profile
from ridestream.errors import ConfigError
from ridestream.kafka.settings import KafkaSettings, quote_jaas
from ridestream.local import EmbeddedKafka, SaslSslListener
from ridestream.tls import BrokerTls

SECRET = 'pa"ss\\word-0f9e'  # a quote and a backslash, to exercise the JAAS escaping
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


@pytest.fixture
def cloud_env(monkeypatch):
    monkeypatch.setenv("CONFLUENT_BOOTSTRAP_SERVERS", "pkc-test.eu-west-1.aws.confluent.cloud:9092")
    monkeypatch.setenv("CONFLUENT_API_KEY", "ABCDKEY")
    monkeypatch.setenv("CONFLUENT_API_SECRET", SECRET)


def sasl_settings(mechanism="PLAIN", **options) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="h:9092",
        options={"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism, **options},
        secrets={"sasl.username": "CONFLUENT_API_KEY", "sasl.password": "CONFLUENT_API_SECRET"},
    )


def test_confluent_cloud_profile_reads_cluster_and_key_from_the_environment(cloud_env):
    settings = build_settings("confluent-cloud", load_profile("confluent-cloud"))
    assert settings.kafka.bootstrap_servers == "pkc-test.eu-west-1.aws.confluent.cloud:9092"
    assert settings.kafka.client_config() == {
        "bootstrap.servers": "pkc-test.eu-west-1.aws.confluent.cloud:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "ABCDKEY",
        "sasl.password": SECRET,
    }
    assert not settings.embedded.kafka and not settings.embedded.datagen


def test_confluent_cloud_profile_without_its_bootstrap_variable_names_it(monkeypatch):
    monkeypatch.delenv("CONFLUENT_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(ConfigError, match=r"\$CONFLUENT_BOOTSTRAP_SERVERS, which is not set"):
        build_settings("confluent-cloud", load_profile("confluent-cloud"))


def test_bootstrap_flag_wins_over_the_bootstrap_variable(cloud_env):
    settings = build_settings(
        "confluent-cloud",
        load_profile("confluent-cloud"),
        {"kafka.bootstrap_servers": "other:9092"},
    )
    assert settings.kafka.bootstrap_servers == "other:9092"


def test_spark_gets_a_jaas_line_instead_of_username_and_password(cloud_env):
    options = sasl_settings().spark_options()
    assert options == {
        "kafka.bootstrap.servers": "h:9092",
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "PLAIN",
        "kafka.sasl.jaas.config": (
            f'{PLAIN} required username="ABCDKEY" password="pa\\"ss\\\\word-0f9e";'
        ),
    }


def test_scram_credentials_use_the_scram_login_module(cloud_env):
    jaas = sasl_settings("SCRAM-SHA-512").spark_options()["kafka.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required ")


def test_jaas_values_escape_backslash_and_quote():
    assert quote_jaas('a"b\\c') == '"a\\"b\\\\c"'


def test_a_ca_file_is_a_pem_truststore_for_spark_and_as_is_for_librdkafka(cloud_env, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = sasl_settings(**{"ssl.ca.location": str(ca)})
    assert settings.client_config()["ssl.ca.location"] == str(ca)
    spark = settings.spark_options()
    assert spark["kafka.ssl.truststore.type"] == "PEM"
    assert spark["kafka.ssl.truststore.location"] == str(ca)
    assert "kafka.ssl.ca.location" not in spark


def test_a_missing_ca_file_is_named(cloud_env, tmp_path):
    settings = sasl_settings(**{"ssl.ca.location": str(tmp_path / "nope.pem")})
    with pytest.raises(ConfigError, match="ssl.ca.location: .*nope.pem is not a file"):
        settings.client_config()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sasl.jaas.config": "x"}, "write sasl.username and sasl.password"),
        ({"ssl.truststore.location": "/ca.jks"}, "write ssl.ca.location"),
        ({"sasl.password": "written-in-the-file"}, r"is a secret: name the environment variable"),
        ({"sasl.username": "key"}, "sasl.username is set but sasl.password is not"),
    ],
)
def test_a_profile_cannot_declare_credentials_twice_or_in_clear(options, message):
    with pytest.raises(ConfigError, match=message):
        KafkaSettings(bootstrap_servers="h:1", options=options)


def test_credentials_need_a_mechanism_with_a_known_login_module():
    with pytest.raises(ConfigError, match="choose one of PLAIN, SCRAM-SHA-256"):
        KafkaSettings(
            bootstrap_servers="h:1",
            secrets={"sasl.username": "K", "sasl.password": "S"},
        )


def test_printing_settings_never_shows_the_secret(cloud_env):
    settings = build_settings("confluent-cloud", load_profile("confluent-cloud"))
    settings.kafka.spark_options()  # resolving must not cache the secret on the object
    for text in (repr(settings), str(settings), repr(settings.kafka), str(settings.kafka)):
        assert SECRET not in text and 'pa\\"ss' not in text
        assert "CONFLUENT_API_SECRET" in repr(settings.kafka)


def test_a_missing_secret_is_named_by_its_variable_only(monkeypatch, cloud_env):
    monkeypatch.delenv("CONFLUENT_API_SECRET")
    with pytest.raises(ConfigError, match=r"sasl.password comes from \$CONFLUENT_API_SECRET"):
        sasl_settings().spark_options()


def test_the_sasl_ssl_listener_is_off_by_default_and_hides_its_passwords(tmp_path):
    plain = EmbeddedKafka(data_dir=tmp_path, port=9092)
    assert "SASL_SSL" not in plain._properties()

    tls = BrokerTls(keystore=tmp_path / "broker.p12", password="store-pw-1", ca_pem=tmp_path / "ca")
    listener = SaslSslListener(port=9095, users={"key": SECRET}, tls=tls)
    broker = EmbeddedKafka(data_dir=tmp_path, port=9092, sasl_ssl=listener)
    properties = broker._properties()
    assert "listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9095,CONTROLLER://" in (
        properties
    )
    assert "inter.broker.listener.name=PLAINTEXT\n" in properties
    # JAAS-quoted, then escaped once more for the .properties file.
    assert 'user_key="pa\\\\"ss\\\\\\\\word-0f9e";' in properties
    for text in (repr(broker), repr(listener), repr(tls)):
        assert SECRET not in text and "store-pw-1" not in text
