"""A local Schema Registry that speaks Confluent's REST protocol, for Avro schemas.

Confluent's registry cannot run here (it is not on Maven Central; Karapace is not on PyPI, and
Apicurio does not build from Central alone), so this package is its stand-in for development and
tests. Clients talk to it exactly as to Confluent's: confluent-kafka's ``SchemaRegistryClient``,
``AvroSerializer`` and ``AvroDeserializer`` take its URL unchanged.

What it keeps from Confluent's registry:

- the REST paths, the ``application/vnd.schemaregistry.v1+json`` content type, the answers'
  shapes and the error codes (:mod:`ridestream.registry.errors`);
- global schema ids (one per distinct schema, under any subject), idempotent registration,
  versions per subject, soft and permanent deletes;
- compatibility levels NONE, BACKWARD (the default), FORWARD, FULL and their ``_TRANSITIVE``
  forms, judged by Apache Avro's reader/writer checker (:mod:`ridestream.registry.compatibility`);
- its storage: a compacted one-partition Kafka topic ``_schemas`` with Confluent's record keys,
  written with ``acks=all`` before each answer and read back at start
  (:mod:`ridestream.registry.kafka_log`).

What it leaves out: JSON Schema and Protobuf, schema references, contexts, data contracts
(metadata, rules), modes other than READWRITE, authentication, and more than one registry
process per topic. It listens on 127.0.0.1 only.

Run it like the embedded broker (``registry.pid`` and ``registry.log`` in a data directory):

>>> registry = EmbeddedRegistry(                                              # doctest: +SKIP
...     Path(".ridestream/registry"), port=8081, bootstrap_servers="127.0.0.1:9092"
... )
>>> registry.start(); registry.url; registry.stop()                          # doctest: +SKIP

or in the foreground: ``python -m ridestream.registry --port 8081 --bootstrap-servers
127.0.0.1:9092``.
"""

from ridestream.registry.errors import RegistryError
from ridestream.registry.process import EmbeddedRegistry

__all__ = ["EmbeddedRegistry", "RegistryError"]
