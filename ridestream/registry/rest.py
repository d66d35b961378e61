"""HTTP for the registry: Confluent's REST paths, content type and error bodies.

Answers are ``application/vnd.schemaregistry.v1+json``; requests may be that, plain JSON, or
``application/vnd.schemaregistry+json``. Errors are ``{"error_code": N, "message": "..."}`` with
Confluent's codes (see :mod:`ridestream.registry.errors`); an unknown path is a 404 and a known
path with another method a 405, in the same shape. Query flags (``deleted``, ``permanent``,
``verbose``, ``defaultToGlobal``...) are true when they say ``true`` in any case: the Python
client sends ``True``. ``normalize`` is accepted and changes nothing: every schema is stored in
Avro's canonical rendering anyway.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ridestream.registry.errors import ApiError
from ridestream.registry.service import SchemaRegistry

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_ACCEPTED_TYPES = (
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
)
_MAX_BODY_BYTES = 16 * 1024 * 1024

Query = dict[str, str]
# A route answers with a JSON-able value, or with str: a raw schema, sent as it is.
Handler = Callable[[SchemaRegistry, dict[str, str], Query, Any], Any]


def _flag(query: Query, name: str) -> bool:
    return query.get(name, "false").strip().lower() == "true"


def _routes() -> list[tuple[str, re.Pattern[str], Handler]]:
    """Return (method, path pattern, handler) for every call of the API this registry serves."""
    segment = r"[^/]+"
    subject = rf"/subjects/(?P<subject>{segment})"
    version = rf"{subject}/versions/(?P<version>{segment})"
    schema_id = rf"/schemas/ids/(?P<id>{segment})"
    table: list[tuple[str, str, Handler]] = [
        ("GET", r"/", lambda r, p, q, b: {}),
        ("GET", r"/schemas/types", lambda r, p, q, b: ["AVRO"]),
        ("GET", schema_id, lambda r, p, q, b: r.schema_by_id(p["id"])),
        ("GET", rf"{schema_id}/schema", lambda r, p, q, b: r.raw_schema_by_id(p["id"])),
        (
            "GET",
            rf"{schema_id}/versions",
            lambda r, p, q, b: r.versions_of_id(p["id"], _flag(q, "deleted")),
        ),
        (
            "GET",
            rf"{schema_id}/subjects",
            lambda r, p, q, b: r.subjects_of_id(p["id"], _flag(q, "deleted")),
        ),
        (
            "GET",
            r"/subjects",
            lambda r, p, q, b: r.subjects(
                q.get("subjectPrefix", ""), _flag(q, "deleted"), _deleted_only(q)
            ),
        ),
        ("POST", subject, lambda r, p, q, b: r.lookup(p["subject"], b, _flag(q, "deleted"))),
        (
            "DELETE",
            subject,
            lambda r, p, q, b: r.delete_subject(p["subject"], _flag(q, "permanent")),
        ),
        (
            "GET",
            rf"{subject}/versions",
            lambda r, p, q, b: r.versions(p["subject"], _flag(q, "deleted"), _deleted_only(q)),
        ),
        ("POST", rf"{subject}/versions", lambda r, p, q, b: r.register(p["subject"], b)),
        (
            "GET",
            version,
            lambda r, p, q, b: r.version(p["subject"], p["version"], _flag(q, "deleted")),
        ),
        (
            "GET",
            rf"{version}/schema",
            lambda r, p, q, b: r.raw_version_schema(
                p["subject"], p["version"], _flag(q, "deleted")
            ),
        ),
        (
            "DELETE",
            version,
            lambda r, p, q, b: r.delete_version(p["subject"], p["version"], _flag(q, "permanent")),
        ),
        (
            "POST",
            rf"/compatibility{version}",
            lambda r, p, q, b: r.test_compatibility(
                p["subject"], p["version"], b, _flag(q, "verbose")
            ),
        ),
        (
            "POST",
            rf"/compatibility{subject}/versions",
            lambda r, p, q, b: r.test_compatibility(p["subject"], None, b, _flag(q, "verbose")),
        ),
        ("GET", r"/config", lambda r, p, q, b: r.config(None, _flag(q, "defaultToGlobal"))),
        ("PUT", r"/config", lambda r, p, q, b: r.set_config(None, b)),
        ("DELETE", r"/config", lambda r, p, q, b: r.delete_config(None)),
        (
            "GET",
            rf"/config/(?P<subject>{segment})",
            lambda r, p, q, b: r.config(p["subject"], _flag(q, "defaultToGlobal")),
        ),
        (
            "PUT",
            rf"/config/(?P<subject>{segment})",
            lambda r, p, q, b: r.set_config(p["subject"], b),
        ),
        (
            "DELETE",
            rf"/config/(?P<subject>{segment})",
            lambda r, p, q, b: r.delete_config(p["subject"]),
        ),
        # Always read-write: import mode and read-only subjects are not part of this registry.
        ("GET", r"/mode", lambda r, p, q, b: {"mode": "READWRITE"}),
        ("GET", rf"/mode/(?P<subject>{segment})", lambda r, p, q, b: {"mode": "READWRITE"}),
        ("GET", r"/contexts", lambda r, p, q, b: ["."]),
    ]
    return [(method, re.compile(rf"{path}/?"), handler) for method, path, handler in table]


def _deleted_only(query: Query) -> bool:
    # Confluent's server reads deletedOnly; the Python client sends deleted_only.
    return _flag(query, "deletedOnly") or _flag(query, "deleted_only")


ROUTES = _routes()
_NEEDS_BODY = {"POST", "PUT"}


class RegistryRequestHandler(BaseHTTPRequestHandler):
    """Serve one connection's requests against ``server.registry``."""

    # Keep-alive: the Python client reuses its connection for every call.
    protocol_version = "HTTP/1.1"
    server: RegistryHttpServer

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's naming
        """Answer a GET."""
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        """Answer a POST."""
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        """Answer a PUT."""
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        """Answer a DELETE."""
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        raw = self._read_body()
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        try:
            status, payload = 200, self._dispatch(method, url.path, query, raw)
        except ApiError as error:
            status, payload = error.status, error.body()
        except Exception as error:  # noqa: BLE001 - answer 500 and log, never drop the connection
            log.exception("%s %s failed", method, self.path)
            status, payload = 500, {"error_code": 500, "message": f"Internal error: {error}"}
        self._send(status, payload)

    def _dispatch(self, method: str, path: str, query: Query, raw: bytes) -> Any:
        allowed = False
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            params = {name: unquote(value) for name, value in match.groupdict().items()}
            return handler(self.server.registry, params, query, self._json_body(method, raw))
        if allowed:
            raise ApiError(405, 405, "HTTP 405 Method Not Allowed")
        raise ApiError(404, 404, "HTTP 404 Not Found")

    def _read_body(self) -> bytes:
        # Read the whole body even when the request is refused: the connection stays usable.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY_BYTES)) if length > 0 else b""

    def _json_body(self, method: str, raw: bytes) -> Any:
        if method not in _NEEDS_BODY:
            return None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type and content_type not in _ACCEPTED_TYPES:
            raise ApiError(415, 415, "HTTP 415 Unsupported Media Type")
        try:
            body = json.loads(raw or b"null")
        except ValueError as error:
            raise ApiError(400, 400, f"Unparseable JSON body: {error}") from None
        if not isinstance(body, dict):
            raise ApiError(422, 422, "The request body must be a JSON object")
        return body

    def _send(self, status: int, payload: Any) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Send the access log to DEBUG (the log shows changes and failures, not every call)."""
        log.debug("%s %s", self.address_string(), format % args)


class RegistryHttpServer(ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 that serves one :class:`SchemaRegistry`."""

    daemon_threads = True

    def __init__(self, port: int, registry: SchemaRegistry) -> None:
        self.registry = registry
        super().__init__(("127.0.0.1", port), RegistryRequestHandler)
