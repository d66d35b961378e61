"""Run the registry in this process: bind the port, load the Kafka store, serve until SIGTERM."""

from __future__ import annotations

import errno
import logging
import signal
import threading

from ridestream.registry.errors import RegistryError
from ridestream.registry.kafka_log import DEFAULT_TOPIC, SchemaLog
from ridestream.registry.rest import RegistryHttpServer
from ridestream.registry.service import SchemaRegistry
from ridestream.registry.state import RegistryState

log = logging.getLogger(__name__)


def serve(
    port: int,
    bootstrap_servers: str,
    topic: str = DEFAULT_TOPIC,
    kafka_timeout_s: float = 10.0,
) -> None:
    """Serve the registry on ``127.0.0.1:port`` with its store in ``topic``, until SIGTERM.

    The port is taken first (so a second registry fails at once), then the whole topic is read;
    only then are requests answered (a client that connected meanwhile waits). Raises
    :class:`RegistryError` when the port is taken or Kafka cannot be reached.
    """
    registry_state = RegistryState()
    store = SchemaLog(bootstrap_servers, topic, timeout_s=kafka_timeout_s)
    # The server needs the registry and the registry needs the store: bind with a placeholder.
    httpd = _bind(port)
    try:
        records = store.open()
        for record in records:
            registry_state.apply(record)
        httpd.registry = SchemaRegistry(store, registry_state)
        log.info(
            "ridestream registry listening on http://127.0.0.1:%d (topic %s on %s: %d records, "
            "%d subjects)",
            port,
            topic,
            bootstrap_servers,
            len(records),
            len(registry_state.subjects),
        )
        # serve_forever must be stopped from another thread; the handler runs in this one.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
        httpd.serve_forever(poll_interval=0.2)
        log.info("ridestream registry stopped")
    finally:
        httpd.server_close()
        store.close()


def _bind(port: int) -> RegistryHttpServer:
    try:
        return RegistryHttpServer(port, registry=None)  # type: ignore[arg-type]
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise RegistryError(
                f"port {port} on 127.0.0.1 is taken by another process: stop it, or give the "
                "registry another --port"
            ) from None
        raise RegistryError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
