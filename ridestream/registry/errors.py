"""The registry's two kinds of failure: a refused request, and a registry that cannot run."""

from __future__ import annotations

from ridestream.errors import UserError

# The registry process prefixes its one-line errors with this; EmbeddedRegistry looks for it.
PROG = "ridestream-registry"

# Confluent Schema Registry's error codes (its REST API reference, "Errors"): the HTTP status,
# then two digits of detail. Clients branch on them, so they are kept exactly.
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408
# Confluent answered an incompatible schema with error code 409 for a decade; its newest
# releases say 40901. Clients test the HTTP status (409), which both share.
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
STORE_ERROR = 50001


class RegistryError(UserError, RuntimeError):
    """The registry cannot start (port taken, Kafka unreachable); the message says what to do."""


class ApiError(Exception):
    """A request the registry refuses: an HTTP status, Confluent's error code and a message.

    Parameters
    ----------
    status
        The HTTP status of the answer (404, 409, 422, 500...).
    error_code
        Confluent's code (``40401`` subject not found, ...), the ``error_code`` of the body.
    message
        The ``message`` of the body.
    """

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, object]:
        """Return the JSON body Confluent's registry sends with an error."""
        return {"error_code": self.error_code, "message": self.message}


def subject_not_found(subject: str) -> ApiError:
    """Return the 404 for a subject with no versions (none at all, or none visible)."""
    return ApiError(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def version_not_found(version: int | str) -> ApiError:
    """Return the 404 for a version a subject does not have."""
    return ApiError(404, VERSION_NOT_FOUND, f"Version {version} not found.")


def schema_not_found(schema_id: int | str | None = None) -> ApiError:
    """Return the 404 for an unknown schema id, or a schema a subject does not hold."""
    if schema_id is None:
        return ApiError(404, SCHEMA_NOT_FOUND, "Schema not found")
    return ApiError(404, SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")


def invalid_schema(reason: str) -> ApiError:
    """Return the 422 for a schema that does not parse, or that this registry cannot hold."""
    return ApiError(422, INVALID_SCHEMA, f"Invalid schema: {reason}")


def invalid_version(version: str) -> ApiError:
    """Return the 422 for a version that is neither a positive integer nor ``latest``."""
    return ApiError(
        422,
        INVALID_VERSION,
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )


def store_error(action: str, reason: str) -> ApiError:
    """Return the 500 for a change that could not be written to the Kafka store."""
    return ApiError(500, STORE_ERROR, f"{action} failed while writing to the Kafka store: {reason}")
