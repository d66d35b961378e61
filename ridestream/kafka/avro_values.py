"""Avro Kafka values through a Schema Registry, with confluent-kafka's own serializers.

The producers (``rides produce`` / ``rides datagen --format avro``) write values in Confluent's
wire format under the subject ``<topic>-value``, registering the declared schema
(``schemas/<name>.avsc``, never re-typed) on first use; ``rides consume`` decodes them through
the registry. The registry is the profile's ``[schema_registry]``: the local one, Confluent's, or
Confluent Cloud's (key and secret from environment variables).

A schema the subject's compatibility mode forbids is refused by the registry (HTTP 409); that is
one line naming the subject, the mode and the field (:class:`IncompatibleSchema`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

from ridestream.config import SchemaRegistrySettings
from ridestream.errors import UserError
from ridestream.kafka.avro import from_avro_record, to_avro_record
from ridestream.schemas import load_avro

_MODE = re.compile(r"compatibility: '(\w+)'")
_FIELD = re.compile(r"(?:field|path) '([^']+)'")
# Confluent's shape: {errorType:'...', description:'...', additionalInfo:'...'}, quotes unescaped.
_DESCRIPTION = re.compile(r"description:'(.*?)', additionalInfo:")


class IncompatibleSchema(UserError):
    """The registry refused the declared schema under the subject's compatibility mode."""


class RegistryUnavailable(UserError):
    """The registry could not be reached or answered with an error."""


def refusal(subject: str, schema_name: str, message: str) -> str:
    """Return the one line that says why the registry refused ``schema_name`` under ``subject``.

    ``message`` is the registry's 409 message (Confluent's shape: details with ``description``,
    ``compatibility``), from which the mode and the field at fault are taken.
    """
    mode = _MODE.search(message)
    description = _DESCRIPTION.search(message)
    field = _FIELD.search(description.group(1) if description else message)
    return (
        f"the registry refused schemas/{schema_name}.avsc for subject {subject!r} "
        f"(compatibility {mode.group(1) if mode else 'unknown'}, "
        f"field {field.group(1) if field else 'unknown'}): "
        f"{description.group(1) if description else message}; "
        "change the schema compatibly (a new field needs a default) or the subject's mode"
    )


def _client(registry: SchemaRegistrySettings) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient(registry.client_config())


class AvroValues:
    """Encode Arrow batches of ``schema_name`` records as Avro values of ``topic``.

    The schema is registered (or found) once, when the encoder is made; each value is written by
    confluent-kafka's ``AvroSerializer``.
    """

    def __init__(self, registry: SchemaRegistrySettings, topic: str, schema_name: str) -> None:
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.schema_registry.error import SchemaRegistryError
        from confluent_kafka.serialization import MessageField, SerializationContext

        self.subject = f"{topic}-value"
        self.client = _client(registry)
        text = json.dumps(load_avro(schema_name))
        url = registry.url
        try:
            self.schema_id = self.client.register_schema(self.subject, Schema(text, "AVRO"))
        except SchemaRegistryError as error:
            if error.http_status_code == 409:
                raise IncompatibleSchema(
                    refusal(self.subject, schema_name, error.error_message)
                ) from None
            raise RegistryUnavailable(
                f"schema registry at {url}: {error.error_message} (HTTP {error.http_status_code})"
            ) from None
        except Exception as error:  # connection refused, timeouts
            raise RegistryUnavailable(
                f"cannot reach the schema registry at {url} ({type(error).__name__}): start it "
                "(./rides registry start) or fix [schema_registry] url"
            ) from None
        # Registered above; the serializer only looks the id up (its cache answers from then on).
        self._serialize = AvroSerializer(
            self.client,
            text,
            to_dict=to_avro_record,
            conf={"auto.register.schemas": False, "use.latest.version": False},
        )
        self._context = SerializationContext(topic, MessageField.VALUE)

    def encode_one(self, record: dict) -> bytes:
        """Return one record as a wire-format value."""
        return self._serialize(record, self._context)

    def encode(self, batch: pa.RecordBatch | pa.Table) -> list[bytes]:
        """Return the values of every row of ``batch``."""
        return [self.encode_one(row) for row in batch.to_pylist()]


class AvroReader:
    """Decode wire-format Avro values through the registry (each writer schema fetched once)."""

    def __init__(self, registry: SchemaRegistrySettings) -> None:
        from confluent_kafka.schema_registry.avro import AvroDeserializer

        self.client = _client(registry)
        self._deserialize = AvroDeserializer(self.client, from_dict=from_avro_record)

    def decode(self, value: bytes, topic: str) -> dict | None:
        """Return the record in ``value`` as written (with its writer schema's fields)."""
        from confluent_kafka.serialization import MessageField, SerializationContext

        return self._deserialize(value, SerializationContext(topic, MessageField.VALUE))
