"""What each call of Confluent's Schema Registry REST API does, on the registry's state.

Each method takes the request's decoded parts and returns the JSON document to answer with, or
raises :class:`ridestream.registry.errors.ApiError` with Confluent's status, code and message.
A change becomes records (see :mod:`ridestream.registry.state`) that are written to the Kafka
store and, once acknowledged, applied to the state; then the answer goes out. One lock
serializes the calls: a local registry serves a handful of clients, and every write waits for
Kafka anyway.

The rules follow Confluent's registry:

- A schema id is global: one id per distinct schema (in Avro's canonical rendering), the same
  under every subject; ids count up from 1.
- Registering a schema a subject already holds (live) answers its existing id and version;
  otherwise the schema must pass the subject's compatibility level against its live versions.
- Deletes are soft first (the version stays readable by id, and by ``deleted=true``), and only a
  soft-deleted version or subject may be deleted permanently (``permanent=true``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ridestream.registry import errors
from ridestream.registry.compatibility import (
    LEVELS,
    InvalidSchema,
    canonical_schema,
    incompatibilities,
)
from ridestream.registry.errors import ApiError
from ridestream.registry.kafka_log import StoreError
from ridestream.registry.state import (
    Record,
    RegistryState,
    SchemaVersion,
    config_record,
    config_tombstone,
    delete_subject_record,
    schema_tombstone,
)

log = logging.getLogger(__name__)

LATEST = -1
MAX_VERSION = 2**31 - 1


class RecordLog(Protocol):
    """Where changes go before they are applied (:class:`~ridestream.registry.kafka_log.SchemaLog`)."""

    def append(self, records: Sequence[Record]) -> None:
        """Write ``records`` durably, in order; raise ``StoreError`` otherwise."""


class SchemaRegistry:
    """The registry's operations over a :class:`RegistryState` kept in a :class:`RecordLog`.

    Parameters
    ----------
    store
        Receives every change before it is applied.
    state
        The state read from the store at start.
    """

    def __init__(self, store: RecordLog, state: RegistryState) -> None:
        self._store = store
        self._state = state
        self._lock = threading.Lock()

    # -- schemas ---------------------------------------------------------------------------------

    def register(self, subject: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /subjects/{subject}/versions``: register a schema, or find it registered."""
        text, parsed = _schema_of(request)
        with self._lock:
            state = self._state
            live = state.versions(subject)
            for version in reversed(live):
                if version.schema == text:
                    return _registered(version)
            previous = [(v.version, v.schema) for v in live]
            problems = incompatibilities(parsed, previous, state.level(subject))
            if problems:
                raise ApiError(
                    409,
                    errors.INCOMPATIBLE_SCHEMA,
                    "Schema being registered is incompatible with an earlier schema for subject "
                    f'"{subject}", details: [{", ".join(problems)}]',
                )
            schema_id = state.schema_id(text) or state.max_id + 1
            every = state.versions(subject, deleted=True)
            number = max((v.version for v in every), default=0) + 1
            new = SchemaVersion(subject, number, schema_id, text)
            # A soft-deleted earlier version of the same schema is dropped for good, as Confluent
            # does: the subject holds the schema once, as its newest version.
            replaced = [
                schema_tombstone(subject, v.version)
                for v in every
                if v.deleted and v.schema_id == schema_id
            ]
            self._write("Register schema operation", [*replaced, new.record()])
            return _registered(new)

    def lookup(self, subject: str, request: Mapping[str, Any], deleted: bool) -> dict[str, Any]:
        """``POST /subjects/{subject}``: the version of ``subject`` that holds this schema."""
        text, _ = _schema_of(request)
        with self._lock:
            versions = self._state.versions(subject, deleted=deleted)
            if not versions:
                raise errors.subject_not_found(subject)
            for version in reversed(versions):
                if version.schema == text:
                    return _version_document(version)
            raise errors.schema_not_found()

    def schema_by_id(self, schema_id: str) -> dict[str, Any]:
        """``GET /schemas/ids/{id}``: the schema with this id (soft-deleted ones too)."""
        with self._lock:
            return {"schema": self._schema_text(schema_id)}

    def raw_schema_by_id(self, schema_id: str) -> str:
        """``GET /schemas/ids/{id}/schema``: the schema itself, as JSON text."""
        with self._lock:
            return self._schema_text(schema_id)

    def versions_of_id(self, schema_id: str, deleted: bool) -> list[dict[str, Any]]:
        """``GET /schemas/ids/{id}/versions``: every (subject, version) that holds the schema."""
        with self._lock:
            self._schema_text(schema_id)
            uses = self._state.uses(int(schema_id), deleted=deleted)
            return [{"subject": v.subject, "version": v.version} for v in uses]

    def subjects_of_id(self, schema_id: str, deleted: bool) -> list[str]:
        """``GET /schemas/ids/{id}/subjects``: every subject that holds the schema."""
        with self._lock:
            self._schema_text(schema_id)
            uses = self._state.uses(int(schema_id), deleted=deleted)
            return sorted({v.subject for v in uses})

    def _schema_text(self, schema_id: str) -> str:
        try:
            number = int(schema_id)
        except ValueError:
            raise errors.schema_not_found(schema_id) from None
        text = self._state.schema_text(number)
        if text is None:
            raise errors.schema_not_found(number)
        return text

    # -- subjects and versions -------------------------------------------------------------------

    def subjects(self, prefix: str, deleted: bool, deleted_only: bool) -> list[str]:
        """``GET /subjects``: those with a live version (``deleted``: any; ``deleted_only``: none)."""
        with self._lock:
            names = []
            for subject in sorted(self._state.subjects):
                if not subject.startswith(prefix):
                    continue
                has_live = bool(self._state.versions(subject))
                if (deleted_only and not has_live) or (not deleted_only and (deleted or has_live)):
                    names.append(subject)
            return names

    def versions(self, subject: str, deleted: bool, deleted_only: bool) -> list[int]:
        """``GET /subjects/{subject}/versions``: the subject's version numbers."""
        with self._lock:
            every = self._state.versions(subject, deleted=deleted or deleted_only)
            if not every:
                raise errors.subject_not_found(subject)
            if deleted_only:
                return [v.version for v in every if v.deleted]
            return [v.version for v in every]

    def version(self, subject: str, version: str, deleted: bool) -> dict[str, Any]:
        """``GET /subjects/{subject}/versions/{version}``: one version (``latest``: the newest)."""
        number = parse_version(version)
        with self._lock:
            return _version_document(self._find_version(subject, number, deleted))

    def raw_version_schema(self, subject: str, version: str, deleted: bool) -> str:
        """``GET /subjects/{subject}/versions/{version}/schema``: that version's schema itself."""
        number = parse_version(version)
        with self._lock:
            return self._find_version(subject, number, deleted).schema

    def _find_version(self, subject: str, number: int, deleted: bool) -> SchemaVersion:
        versions = self._state.versions(subject, deleted=deleted)
        if number == LATEST and versions:
            return versions[-1]
        for version in versions:
            if version.version == number:
                return version
        if not versions:
            raise errors.subject_not_found(subject)
        raise errors.version_not_found("latest" if number == LATEST else number)

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        """``DELETE /subjects/{subject}``: soft-delete its versions, or purge soft-deleted ones."""
        with self._lock:
            every = self._state.versions(subject, deleted=True)
            if not every:
                raise errors.subject_not_found(subject)
            live = [v.version for v in every if not v.deleted]
            if not permanent:
                if not live:
                    raise ApiError(
                        404,
                        errors.SUBJECT_SOFT_DELETED,
                        f"Subject '{subject}' was soft deleted. "
                        "Set permanent=true to delete permanently",
                    )
                self._write("Delete subject operation", [delete_subject_record(subject, live[-1])])
                return live
            if live:
                raise ApiError(
                    404,
                    errors.SUBJECT_NOT_SOFT_DELETED,
                    f"Subject '{subject}' was not deleted first before being permanently deleted",
                )
            # Newest first, as Confluent does (a version may refer to an older one).
            records = [schema_tombstone(subject, v.version) for v in reversed(every)]
            if subject in self._state.levels:
                records.append(config_tombstone(subject))
            self._write("Delete subject operation", records)
            return [v.version for v in every]

    def delete_version(self, subject: str, version: str, permanent: bool) -> int:
        """``DELETE /subjects/{subject}/versions/{version}``: soft, then ``permanent``."""
        number = parse_version(version)
        with self._lock:
            target = self._find_version(subject, number, deleted=number != LATEST or permanent)
            if not permanent and target.deleted:
                raise ApiError(
                    404,
                    errors.VERSION_SOFT_DELETED,
                    f"Subject '{subject}' Version {target.version} was soft deleted. "
                    "Set permanent=true to delete permanently",
                )
            if permanent and not target.deleted:
                raise ApiError(
                    404,
                    errors.VERSION_NOT_SOFT_DELETED,
                    f"Subject '{subject}' Version {target.version} was not deleted first before "
                    "being permanently deleted",
                )
            if not permanent:
                records = [target.soft_deleted().record()]
            else:
                records = [schema_tombstone(subject, target.version)]
                others = [v for v in self._state.versions(subject, deleted=True) if v != target]
                if not others and subject in self._state.levels:
                    records.append(config_tombstone(subject))
            self._write("Delete schema version operation", records)
            return target.version

    # -- compatibility ---------------------------------------------------------------------------

    def test_compatibility(
        self, subject: str, version: str | None, request: Mapping[str, Any], verbose: bool
    ) -> dict[str, Any]:
        """``POST /compatibility/subjects/{subject}/versions[/{version}]``: is it compatible.

        Judged under the subject's level against one live version, or (``version`` None) all of
        them; never against soft-deleted versions.
        """
        number = None if version is None else parse_version(version)
        with self._lock:
            live = self._state.versions(subject)
            if number is None:
                against = live
            elif number == LATEST:
                against = live[-1:]
            else:
                against = [v for v in live if v.version == number]
                if not against:
                    raise errors.version_not_found(number)
            try:
                _, parsed = _schema_of(request)
            except ApiError as error:
                if not verbose:
                    raise
                problems = [error.message]
            else:
                previous = [(v.version, v.schema) for v in against]
                problems = incompatibilities(parsed, previous, self._state.level(subject))
        answer: dict[str, Any] = {"is_compatible": not problems}
        if verbose:
            answer["messages"] = problems
        return answer

    # -- configuration ---------------------------------------------------------------------------

    def config(self, subject: str | None, default_to_global: bool) -> dict[str, Any]:
        """``GET /config[/{subject}]``: the compatibility level (a subject's own, if it has one)."""
        with self._lock:
            if subject is None or default_to_global:
                return {"compatibilityLevel": self._state.level(subject)}
            if subject not in self._state.levels:
                raise ApiError(
                    404,
                    errors.SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
                    f"Subject '{subject}' does not have subject-level compatibility configured",
                )
            return {"compatibilityLevel": self._state.levels[subject]}

    def set_config(self, subject: str | None, request: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /config[/{subject}]``: set the compatibility level (``{"compatibility": ...}``)."""
        level = request.get("compatibility", request.get("compatibilityLevel"))
        if not isinstance(level, str) or level.upper() not in LEVELS:
            raise ApiError(
                422,
                errors.INVALID_COMPATIBILITY_LEVEL,
                "Invalid compatibility level. Valid values are none, backward, forward, full, "
                "backward_transitive, forward_transitive, and full_transitive",
            )
        with self._lock:
            self._write(
                "Update compatibility level operation", [config_record(subject, level.upper())]
            )
        return {"compatibility": level.upper()}

    def delete_config(self, subject: str | None) -> dict[str, Any]:
        """``DELETE /config[/{subject}]``: drop the level set there; answer the one it had."""
        with self._lock:
            if subject is not None and subject not in self._state.levels:
                raise errors.subject_not_found(subject)
            old = self._state.level(subject)
            if subject in self._state.levels:
                self._write("Delete compatibility level operation", [config_tombstone(subject)])
            return {"compatibilityLevel": old}

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, action: str, records: Sequence[Record]) -> None:
        """Store ``records`` in Kafka, then apply them (those stored, should Kafka fail midway)."""
        try:
            self._store.append(records)
        except StoreError as error:
            for record in records[: error.delivered]:
                self._state.apply(record)
            raise errors.store_error(action, error.reason) from None
        for record in records:
            self._state.apply(record)
        log.info(
            "%s: %s",
            action,
            "; ".join(
                f"{record.key_bytes().decode()}{' deleted' if record.value is None else ''}"
                for record in records
            ),
        )


def parse_version(text: str) -> int:
    """Return a version number from a path segment: ``latest`` (or -1) is :data:`LATEST`."""
    if text.strip().lower() == "latest":
        return LATEST
    try:
        number = int(text.strip())
    except ValueError:
        raise errors.invalid_version(text) from None
    if number == LATEST:
        return LATEST
    if not 1 <= number <= MAX_VERSION:
        raise errors.invalid_version(text)
    return number


def _schema_of(request: Mapping[str, Any]) -> tuple[str, Any]:
    """Return the canonical text and parsed form of a request's Avro schema, or refuse it (422)."""
    schema_type = request.get("schemaType") or "AVRO"
    if str(schema_type).upper() != "AVRO":
        raise errors.invalid_schema(
            f"schema type {schema_type} is not supported: this registry holds Avro schemas only"
        )
    if request.get("references"):
        raise errors.invalid_schema("schema references are not supported by this registry")
    if request.get("metadata") or request.get("ruleSet"):
        raise errors.invalid_schema(
            "metadata and rule sets (data contracts) are not supported by this registry"
        )
    text = request.get("schema")
    if not isinstance(text, str) or not text.strip():
        raise errors.invalid_schema("the request has no schema (a JSON string in field 'schema')")
    try:
        return canonical_schema(text)
    except InvalidSchema as error:
        raise errors.invalid_schema(str(error)) from None


def _registered(version: SchemaVersion) -> dict[str, Any]:
    """Return the answer to a registration: the id, as every client needs, and the version."""
    return {"id": version.schema_id, "version": version.version, "schema": version.schema}


def _version_document(version: SchemaVersion) -> dict[str, Any]:
    """Return a version as Confluent's API shows one (Avro, so no ``schemaType``)."""
    document: dict[str, Any] = {
        "subject": version.subject,
        "version": version.version,
        "id": version.schema_id,
        "schema": version.schema,
    }
    if version.deleted:
        document["deleted"] = True
    return document
