"""The registry as a background process, managed like the embedded broker.

A data directory holds ``registry.pid`` and ``registry.log`` (the process's output). ``start``
launches ``python -m ridestream.registry`` in a session of its own and waits until the registry
answers over HTTP; ``stop`` sends SIGTERM to the recorded PID only.

>>> registry = EmbeddedRegistry(Path("/tmp/r"), 8081, "127.0.0.1:9092")  # doctest: +SKIP
>>> registry.start(); registry.url; registry.stop()                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import ridestream
from ridestream.local import LocalService, pid_alive, port_is_free
from ridestream.registry.errors import PROG, RegistryError
from ridestream.registry.kafka_log import DEFAULT_TOPIC


@dataclass
class EmbeddedRegistry(LocalService):
    """A local Schema Registry process on 127.0.0.1, storing its schemas in a Kafka topic.

    Parameters
    ----------
    data_dir
        Holds ``registry.pid`` and ``registry.log``.
    port
        The HTTP port (Confluent's registry listens on 8081 by default).
    bootstrap_servers
        The Kafka cluster that holds ``topic``.
    topic
        The compacted topic of the registry's records; a registry started again on the same
        topic serves the same subjects, versions and ids.
    kafka_timeout_s
        How long the registry waits for Kafka at start before giving up.
    """

    data_dir: Path
    port: int = 8081
    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = DEFAULT_TOPIC
    kafka_timeout_s: float = 10.0
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    PID_FILE: ClassVar[str] = "registry.pid"
    LOG_FILE: ClassVar[str] = "registry.log"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    @property
    def url(self) -> str:
        """Return the registry's base URL, as clients take it (``schema.registry.url``)."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """Return the command line that runs this registry."""
        return [
            sys.executable,
            "-m",
            "ridestream.registry",
            "--port",
            str(self.port),
            "--bootstrap-servers",
            self.bootstrap_servers,
            "--topic",
            self.topic,
            "--kafka-timeout-s",
            str(self.kafka_timeout_s),
        ]

    def start(self, timeout: float = 60.0) -> None:
        """Start the registry and wait until it answers; raise :class:`RegistryError` if not."""
        if self.is_running():
            self.wait_ready(timeout)
            return
        if not port_is_free(self.port):
            raise RegistryError(
                f"port {self.port} on 127.0.0.1 is taken by another process: stop it, or give "
                "the registry another port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal must not stop it; stop() does.
            self._process = subprocess.Popen(
                self.command(),
                env=_child_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")
        try:
            self.wait_ready(timeout)
        except RegistryError:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``GET /config`` until it answers 200, the process exits, or ``timeout`` passes.

        The registry answers only once it has read its whole topic, so a 200 means it serves
        everything registered before.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise RegistryError(self._exit_message(self._process.returncode))
            if self.is_ready():
                return
            time.sleep(0.1)
        raise RegistryError(
            f"the registry did not answer on {self.url} within {timeout:.0f} s "
            f"(see {self.log_file})"
        )

    def is_ready(self, timeout: float = 2.0) -> bool:
        """Return True when the registry answers ``GET /config`` (it has read its whole topic)."""
        try:
            with _LOOPBACK.open(f"{self.url}/config", timeout=timeout) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _exit_message(self, code: int) -> str:
        """Return the registry's own one-line error, or say where its log is."""
        for line in reversed(self.tail_log(20).splitlines()):
            if line.startswith(f"{PROG}: "):
                return line.removeprefix(f"{PROG}: ")
        return f"the registry exited with code {code} while starting; see {self.log_file}"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the registry with SIGTERM (SIGKILL if it has not exited after ``timeout``)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._alive(pid):
                os.kill(pid, signal.SIGKILL)
                if self._process is not None and self._process.pid == pid:
                    self._process.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)
        self._process = None

    def _alive(self, pid: int) -> bool:
        # Reap our own child so it does not linger as a zombie.
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        return pid_alive(pid)


# Straight to 127.0.0.1: an http_proxy in the environment must not catch the readiness probe.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _child_environment() -> dict[str, str]:
    """Return this environment, with ridestream importable in the child even if not installed."""
    package_root = str(Path(ridestream.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": package_root if not path else f"{package_root}:{path}"}
