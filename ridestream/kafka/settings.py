"""How to reach a Kafka cluster, declared once for both kinds of client.

confluent-kafka (librdkafka) and Spark's Java client name some properties differently (credentials,
CA files). A profile declares the librdkafka form once, in ``[kafka]``; :class:`KafkaSettings`
gives each client its own form, and keeps secrets out of files, ``repr`` and messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ridestream.errors import ConfigError


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


# The client properties whose names differ between librdkafka (confluent-kafka) and the Java client
# (Spark). A profile declares the librdkafka form, once; :class:`KafkaSettings` derives the Java one.
SASL_USERNAME = "sasl.username"
SASL_PASSWORD = "sasl.password"
SSL_CA_LOCATION = "ssl.ca.location"
_JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
# Properties a profile must not set: they are derived, or they would put a secret in the file.
_DERIVED = {
    "sasl.jaas.config": "write sasl.username and sasl.password ([kafka.secrets]) instead: "
    "the JAAS line Spark needs is derived from them",
    "ssl.truststore.location": "write ssl.ca.location (a PEM file) instead: "
    "Spark's truststore options are derived from it",
    "ssl.truststore.type": "write ssl.ca.location (a PEM file) instead: "
    "Spark's truststore options are derived from it",
}
_SECRET_WORDS = ("password", "secret")


def quote_jaas(value: str) -> str:
    """Return ``value`` as a double-quoted JAAS option value (backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the Kafka cluster, for the Python clients and for Spark alike.

    ``options`` are client properties both clients understand (``security.protocol``,
    ``sasl.mechanism``, ...), plus two that this class translates for Spark's Java client:

    - ``sasl.username`` / ``sasl.password`` (an API key and its secret): given as they are to
      librdkafka; for Spark they become ``sasl.jaas.config`` with the login module of
      ``sasl.mechanism`` (PLAIN or SCRAM).
    - ``ssl.ca.location`` (a PEM file with the CA that signed the brokers' certificates): given as
      it is to librdkafka; for Spark it becomes ``ssl.truststore.location`` with
      ``ssl.truststore.type=PEM``. Leave it out to trust the system's CAs (Confluent Cloud).

    ``secrets`` maps a property to the environment variable that holds its value. A property whose
    name says password or secret must come from there, never from ``options``, so that neither the
    profile nor ``repr`` of these settings ever holds a secret. Only :meth:`client_config` and
    :meth:`spark_options` return secret values, to be handed to a client and not printed.
    """

    bootstrap_servers: str
    options: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    # property name -> name of the environment variable that holds its (secret) value
    secrets: Mapping[str, str] = field(default_factory=lambda: _frozen({}))

    def __post_init__(self) -> None:
        declared = {*self.options, *self.secrets}
        for prop in sorted(declared & _DERIVED.keys()):
            raise ConfigError(f"kafka setting {prop}: {_DERIVED[prop]}")
        for prop in sorted(self.options):
            if any(word in prop.lower() for word in _SECRET_WORDS):
                raise ConfigError(
                    f"kafka setting {prop} is a secret: name the environment variable that holds "
                    f'it in [kafka.secrets] ({prop} = "MY_VARIABLE"), never its value'
                )
        credentials = declared & {SASL_USERNAME, SASL_PASSWORD}
        if credentials and len(credentials) < 2:
            missing = ({SASL_USERNAME, SASL_PASSWORD} - credentials).pop()
            raise ConfigError(f"kafka settings: {credentials.pop()} is set but {missing} is not")
        mechanism = self.options.get("sasl.mechanism")
        if credentials and mechanism not in _JAAS_LOGIN_MODULES:
            raise ConfigError(
                f"kafka setting sasl.mechanism is {mechanism!r}: with sasl.username and "
                f"sasl.password choose one of {', '.join(_JAAS_LOGIN_MODULES)} (Confluent Cloud: PLAIN)"
            )

    def source_of(self, prop: str) -> str:
        """Return where a property's value comes from, for messages: ``$VAR`` or the option."""
        if prop in self.secrets:
            return f"${self.secrets[prop]}"
        return f"kafka.options {prop!r}"

    def resolved_options(self) -> dict[str, str]:
        """Return ``options`` plus secrets read from their environment variables."""
        options = dict(self.options)
        for prop, variable in self.secrets.items():
            value = os.environ.get(variable)
            if not value:
                raise ConfigError(f"kafka setting {prop} comes from ${variable}, which is not set")
            options[prop] = value
        ca_file = options.get(SSL_CA_LOCATION)
        if ca_file and not Path(ca_file).is_file():
            raise ConfigError(
                f"kafka setting {SSL_CA_LOCATION}: {ca_file} is not a file (a PEM file with the CA "
                "certificate that signed the brokers'; leave it out to trust the system's CAs)"
            )
        return options

    def spark_options(self) -> dict[str, str]:
        """Return the options Spark's Kafka source and sink take (``kafka.``-prefixed).

        The credentials become one ``sasl.jaas.config`` line and the CA file a PEM truststore, as
        the Java client wants them. The result holds secrets: pass it to ``.options()``, never
        to a log or a command line.
        """
        java = self.resolved_options()
        username, password = java.pop(SASL_USERNAME, None), java.pop(SASL_PASSWORD, None)
        if username is not None and password is not None:
            module = _JAAS_LOGIN_MODULES[java["sasl.mechanism"]]
            java["sasl.jaas.config"] = (
                f"{module} required username={quote_jaas(username)} "
                f"password={quote_jaas(password)};"
            )
        ca_file = java.pop(SSL_CA_LOCATION, None)
        if ca_file:
            # PEM truststores need a Java client of Kafka 2.7 or later (Spark ships 3.9).
            java["ssl.truststore.type"] = "PEM"
            java["ssl.truststore.location"] = ca_file
        options = {f"kafka.{prop}": value for prop, value in java.items()}
        options["kafka.bootstrap.servers"] = self.bootstrap_servers
        return options

    def client_config(self) -> dict[str, str]:
        """Return a confluent-kafka (librdkafka) configuration for the same cluster.

        librdkafka takes ``sasl.username``, ``sasl.password`` and ``ssl.ca.location`` as they are.
        The result holds secrets: pass it to a client, never to a log.
        """
        return {"bootstrap.servers": self.bootstrap_servers, **self.resolved_options()}
