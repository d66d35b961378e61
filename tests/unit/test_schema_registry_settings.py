"""[schema_registry]: the registry Avro values refer to, with Confluent Cloud's key from env vars."""

from __future__ import annotations

import pytest

from ridestream.config import SchemaRegistrySettings, build_settings
from ridestream.errors import ConfigError

KAFKA = {"kafka": {"bootstrap_servers": "127.0.0.1:9092"}}


def test_the_profile_section_and_the_flag_set_the_url():
    profile = {**KAFKA, "schema_registry": {"url": "http://127.0.0.1:8081"}}
    assert build_settings("t", profile).schema_registry.url == "http://127.0.0.1:8081"
    flagged = build_settings("t", profile, {"schema_registry.url": "https://sr.example:443"})
    assert flagged.schema_registry.url == "https://sr.example:443"


def test_confluent_cloud_credentials_come_from_the_named_variables(monkeypatch):
    settings = SchemaRegistrySettings(
        url="https://sr.example", key_env="SR_KEY", secret_env="SR_SECRET"
    )
    monkeypatch.setenv("SR_KEY", "ABC")
    monkeypatch.setenv("SR_SECRET", "s3cr3t")
    assert settings.client_config() == {
        "url": "https://sr.example",
        "basic.auth.user.info": "ABC:s3cr3t",
    }
    monkeypatch.delenv("SR_SECRET")
    with pytest.raises(ConfigError, match=r"export SR_SECRET"):
        settings.client_config()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "127.0.0.1:8081"}, "http://HOST:PORT"),
        ({"url": "http://x", "key_env": "K"}, "both key_env and secret_env"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_settings_are_refused_in_one_line(values, message):
    with pytest.raises(ConfigError, match=message) as refused:
        build_settings("t", {**KAFKA, "schema_registry": values})
    assert "\n" not in str(refused.value)


def test_avro_without_a_registry_says_how_to_get_one():
    with pytest.raises(ConfigError, match=r"\./rides registry start"):
        SchemaRegistrySettings().client_config()
