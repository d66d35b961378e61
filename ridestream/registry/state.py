"""The registry's contents, as a fold over the records of its Kafka topic.

Every change is one record in the compacted ``_schemas`` topic, keyed as Confluent's registry
keys them, so a compaction keeps exactly the latest state of each key:

- ``{"keytype":"SCHEMA","subject":s,"version":v,"magic":1}``: a subject's version (its schema id,
  schema text and soft-deleted flag); a tombstone is a permanent delete.
- ``{"keytype":"CONFIG","subject":s,"magic":0}``: a subject's compatibility level (``subject``
  null: the global one); a tombstone resets it.
- ``{"keytype":"DELETE_SUBJECT","subject":s,"magic":0}``: a soft delete of a subject's versions
  up to ``version``.

The running registry applies its own records with :meth:`RegistryState.apply` after Kafka
acknowledged them, and a starting one applies the whole topic the same way: one code path, so a
restart rebuilds exactly what was served. Records of other kinds (Confluent's ``NOOP``, ``MODE``,
...) are skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from ridestream.registry.compatibility import DEFAULT_LEVEL, canonical_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One record of the registry's topic: a JSON key and a JSON value (None: a tombstone)."""

    key: dict[str, Any]
    value: dict[str, Any] | None

    def key_bytes(self) -> bytes:
        """Return the key as stored: compact JSON in Confluent's key order (compaction compares bytes)."""
        return _json(self.key)

    def value_bytes(self) -> bytes | None:
        """Return the value as stored, or None for a tombstone."""
        return None if self.value is None else _json(self.value)

    @classmethod
    def from_bytes(cls, key: bytes | None, value: bytes | None) -> Record | None:
        """Return the record read from Kafka, or None when it is not JSON objects (skip it)."""
        try:
            parsed_key = json.loads(key or b"")
            parsed_value = None if value is None else json.loads(value)
        except ValueError:
            return None
        if not isinstance(parsed_key, dict):
            return None
        if parsed_value is not None and not isinstance(parsed_value, dict):
            return None
        return cls(parsed_key, parsed_value)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a subject: its global schema id and canonical schema text."""

    subject: str
    version: int
    schema_id: int
    schema: str
    deleted: bool = False

    def record(self) -> Record:
        """Return the record that stores this version."""
        return Record(
            schema_key(self.subject, self.version),
            {
                "subject": self.subject,
                "version": self.version,
                "id": self.schema_id,
                "schema": self.schema,
                "deleted": self.deleted,
            },
        )

    def soft_deleted(self) -> SchemaVersion:
        """Return this version marked deleted."""
        return replace(self, deleted=True)


def schema_key(subject: str, version: int) -> dict[str, Any]:
    """Return the key of a subject's version."""
    return {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}


def schema_tombstone(subject: str, version: int) -> Record:
    """Return the record that deletes a version permanently."""
    return Record(schema_key(subject, version), None)


def config_record(subject: str | None, level: str) -> Record:
    """Return the record that sets a subject's (or, for None, the global) compatibility level."""
    return Record(
        {"keytype": "CONFIG", "subject": subject, "magic": 0},
        {"subject": subject, "compatibilityLevel": level},
    )


def config_tombstone(subject: str | None) -> Record:
    """Return the record that removes a subject's (or the global) compatibility level."""
    return Record({"keytype": "CONFIG", "subject": subject, "magic": 0}, None)


def delete_subject_record(subject: str, up_to_version: int) -> Record:
    """Return the record that soft-deletes a subject's versions up to ``up_to_version``."""
    return Record(
        {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0},
        {"subject": subject, "version": up_to_version},
    )


class RegistryState:
    """Subjects, their versions and compatibility levels: what the registry's records add up to.

    Not thread-safe: :class:`ridestream.registry.service.SchemaRegistry` serializes access.
    """

    def __init__(self) -> None:
        self.subjects: dict[str, dict[int, SchemaVersion]] = {}
        self.levels: dict[str | None, str] = {}
        # Never lowered while running: an id freed by a permanent delete is not handed out again.
        self.max_id = 0

    def apply(self, record: Record) -> None:
        """Apply one record of the topic (in topic order)."""
        keytype = record.key.get("keytype")
        subject = record.key.get("subject")
        if keytype == "SCHEMA":
            self._apply_schema(subject, record.key.get("version"), record.value)
        elif keytype == "CONFIG":
            if record.value is None:
                self.levels.pop(subject, None)
            elif record.value.get("compatibilityLevel"):
                self.levels[subject] = str(record.value["compatibilityLevel"]).upper()
        elif keytype == "DELETE_SUBJECT" and record.value is not None:
            up_to = int(record.value.get("version") or 0)
            versions = self.subjects.get(subject, {})
            for number, version in versions.items():
                if number <= up_to:
                    versions[number] = version.soft_deleted()

    def _apply_schema(self, subject: Any, version: Any, value: dict[str, Any] | None) -> None:
        if not isinstance(subject, str) or not isinstance(version, int):
            log.warning("skipping a SCHEMA record with key subject=%r version=%r", subject, version)
            return
        if value is None:
            versions = self.subjects.get(subject, {})
            versions.pop(version, None)
            if not versions:
                self.subjects.pop(subject, None)
            return
        try:
            schema_id, text = int(value["id"]), str(value["schema"])
        except (KeyError, TypeError, ValueError):
            log.warning(
                "skipping subject %r version %d: no id or schema in %r", subject, version, value
            )
            return
        # Canonical on read too, so a topic written by another registry (Confluent's keeps
        # Java's rendering) still matches re-registrations of the same schema.
        try:
            text = canonical_schema(text)[0]
        except ValueError:
            log.warning(
                "subject %r version %d holds a schema that does not parse", subject, version
            )
        self.subjects.setdefault(subject, {})[version] = SchemaVersion(
            subject, version, schema_id, text, bool(value.get("deleted", False))
        )
        self.max_id = max(self.max_id, schema_id)

    def versions(self, subject: str, deleted: bool = False) -> list[SchemaVersion]:
        """Return a subject's versions in order, soft-deleted ones only when ``deleted``."""
        versions = self.subjects.get(subject, {})
        return [versions[n] for n in sorted(versions) if deleted or not versions[n].deleted]

    def schema_id(self, schema: str) -> int | None:
        """Return the id of a canonical schema text, if any version (even soft-deleted) holds it."""
        for version in self._all_versions():
            if version.schema == schema:
                return version.schema_id
        return None

    def schema_text(self, schema_id: int) -> str | None:
        """Return the schema with id ``schema_id``, if any version (even soft-deleted) holds it."""
        for version in self._all_versions():
            if version.schema_id == schema_id:
                return version.schema
        return None

    def uses(self, schema_id: int, deleted: bool = False) -> list[SchemaVersion]:
        """Return the versions that hold schema ``schema_id``, by subject and version."""
        return [
            version
            for version in self._all_versions()
            if version.schema_id == schema_id and (deleted or not version.deleted)
        ]

    def level(self, subject: str | None) -> str:
        """Return the compatibility level in force for ``subject``: its own, else the global one."""
        if subject is not None and subject in self.levels:
            return self.levels[subject]
        return self.levels.get(None, DEFAULT_LEVEL)

    def _all_versions(self) -> list[SchemaVersion]:
        return [
            versions[number]
            for subject in sorted(self.subjects)
            for versions in (self.subjects[subject],)
            for number in sorted(versions)
        ]
