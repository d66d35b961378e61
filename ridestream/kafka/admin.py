"""Admin calls: is the cluster reachable, does a topic exist, create topics."""

from __future__ import annotations

import re
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ridestream.errors import UserError
from ridestream.kafka.settings import SASL_PASSWORD, SASL_USERNAME, SSL_CA_LOCATION, KafkaSettings


class KafkaUnavailable(UserError, RuntimeError):
    """The cluster cannot be reached, or a topic the job needs is missing."""


def admin_client(kafka: KafkaSettings) -> AdminClient:
    """Return an AdminClient for the configured cluster (librdkafka's own logging silenced)."""
    return AdminClient({**kafka.client_config(), "log_level": 0})


def topic_ids(kafka: KafkaSettings, topics: list[str], timeout_s: float = 5.0) -> dict[str, str]:
    """Return each topic's id: Kafka gives a topic deleted and created again a new one.

    Offsets alone cannot tell the new topic from the old: Spark reads a topic created again
    from the offset its checkpoint had reached, skipping the new topic's first records without
    a word when there are more of them by then. A topic that cannot be described (gone, not
    authorised, the cluster down) is left out.
    """
    from confluent_kafka import TopicCollection

    if not topics:
        return {}
    admin = admin_client(kafka)
    futures = admin.describe_topics(TopicCollection(list(topics)), request_timeout=timeout_s)
    ids = {}
    for topic, future in futures.items():
        try:
            ids[topic] = str(future.result().topic_id)
        except KafkaException:
            continue
    return ids


def check_topics(
    kafka: KafkaSettings,
    topics: list[str],
    timeout_s: float = 10.0,
    outputs: list[str] | None = None,
) -> None:
    """Raise :class:`KafkaUnavailable` unless the cluster answers and every topic exists.

    ``outputs`` are topics the job writes: a missing one is fine when the brokers create topics
    on first write (``auto.create.topics.enable``, the embedded broker), else refused now rather
    than at the first record that needs it (Confluent Cloud never auto-creates).

    Refused credentials and failed TLS handshakes are reported as soon as librdkafka sees them
    (in well under a second), not after ``timeout_s``: librdkafka only passes them to the error
    callback and keeps retrying, so the metadata call is made in short slices and the callback's
    errors are checked in between. Messages name the fix and never contain a secret.
    """
    errors: list[KafkaError] = []
    admin = AdminClient({**kafka.client_config(), "log_level": 0, "error_cb": errors.append})
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=min(_SLICE_S, max(deadline - time.monotonic(), 0)))
            break
        except KafkaException as error:
            admin.poll(0)  # serves error_cb
            refusal = next((e for e in errors if _is_refusal(e)), None)
            if refusal is not None:
                raise KafkaUnavailable(_refusal_message(kafka, refusal)) from None
            if time.monotonic() >= deadline:
                # The connection's own error says more than "Failed to get metadata".
                last = next((e for e in reversed(errors) if e.code() != _ALL_DOWN), None)
                reason = _broker_reason(last) if last else error.args[0].str()
                raise KafkaUnavailable(
                    f"cannot reach Kafka at {kafka.bootstrap_servers} ({reason}): "
                    f"{_reach_advice(kafka)}"
                ) from None
    missing = [topic for topic in topics if topic not in metadata.topics]
    if missing:
        raise KafkaUnavailable(
            f"topic {', '.join(missing)} does not exist on {kafka.bootstrap_servers}: produce rides "
            "first (`./rides datagen`), or fix source.topic / --topic"
        )
    missing = [topic for topic in outputs or [] if topic not in metadata.topics]
    if missing and not _auto_creates_topics(admin, metadata):
        raise KafkaUnavailable(
            f"output topic {', '.join(missing)} does not exist on {kafka.bootstrap_servers} and the "
            f"cluster does not create topics on first write: create it (`./rides topics create "
            f"{missing[0]}` with the job's --profile), or choose another topic"
        )


def _auto_creates_topics(admin: AdminClient, metadata) -> bool:  # noqa: ANN001
    """Return True when a broker says ``auto.create.topics.enable=true`` (False if it won't say)."""
    from confluent_kafka.admin import ConfigResource

    broker = ConfigResource(ConfigResource.Type.BROKER, str(next(iter(metadata.brokers))))
    try:
        configs = admin.describe_configs([broker], request_timeout=10)[broker].result(timeout=10)
    except Exception:  # noqa: BLE001 - not allowed to describe (Confluent Cloud): assume not
        return False
    entry = configs.get("auto.create.topics.enable")
    return entry is not None and str(entry.value).lower() == "true"


_SLICE_S = 0.5
_ALL_DOWN = KafkaError._ALL_BROKERS_DOWN


def _is_refusal(error: KafkaError) -> bool:
    """Return True for errors that waiting cannot cure: refused credentials, failed TLS.

    librdkafka retries them forever, so a preflight must decide to stop. A TLS client meeting a
    plaintext listener is reported as a transport error whose text says so.
    """
    return error.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL) or (
        error.code() == KafkaError._TRANSPORT and "SSL handshake failed" in error.str()
    )


def _broker_reason(error: KafkaError) -> str:
    """Return librdkafka's error text without the broker address prefix and the retry suffix."""
    text = re.sub(r"^\S+://\S+: ", "", error.str())
    text = re.sub(r" \(after \d+ms in state \w+.*\)$", "", text)
    if "certificate verify failed" in text:
        return "the broker's certificate could not be verified"
    return text if len(text) <= 160 else text[:157] + "..."


def _refusal_message(kafka: KafkaSettings, error: KafkaError) -> str:
    """Return the one-line message for refused credentials or a failed TLS handshake."""
    reason = _broker_reason(error)
    if error.code() == KafkaError._AUTHENTICATION:
        username = kafka.resolved_options().get(SASL_USERNAME)
        mechanism = kafka.options.get("sasl.mechanism", "")
        return (
            f"authentication failed for {kafka.bootstrap_servers} as {username!r} "
            f"(SASL {mechanism}: {reason}): check {kafka.source_of(SASL_USERNAME)} / "
            f"{kafka.source_of(SASL_PASSWORD)} (a key this cluster knows, and its secret)"
        )
    ca_file = kafka.options.get(SSL_CA_LOCATION)
    trust = (
        f"that {ca_file} ({SSL_CA_LOCATION}) holds the CA that signed the broker's certificate"
        if ca_file
        else f"that the broker's CA is trusted here (set {SSL_CA_LOCATION} to its PEM file)"
    )
    return (
        f"TLS handshake with {kafka.bootstrap_servers} failed ({reason}): check that it is a "
        f"TLS listener and {trust}"
    )


def _reach_advice(kafka: KafkaSettings) -> str:
    if kafka.options.get("security.protocol", "PLAINTEXT").upper() == "PLAINTEXT":
        return (
            "start the embedded broker with `./rides kafka start`, or fix "
            "kafka.bootstrap_servers / --bootstrap-servers"
        )
    return (
        "check kafka.bootstrap_servers / --bootstrap-servers, and that this machine can reach "
        "the cluster (network, firewall, proxy)"
    )


def ensure_topic(kafka: KafkaSettings, topic: str, partitions: int, replication: int = -1) -> bool:
    """Create ``topic`` unless it exists; return True when it was created.

    ``replication`` -1 is the cluster's default (1 on the embedded broker, 3 on Confluent Cloud).
    """
    admin = admin_client(kafka)
    if topic in admin.list_topics(timeout=10).topics:
        return False
    future = admin.create_topics([NewTopic(topic, partitions, replication)])[topic]
    try:
        future.result()
    except KafkaException as error:
        if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
            raise
        return False
    return True
