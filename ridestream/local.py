"""The embedded Kafka broker: a real Apache Kafka 4.x node in KRaft mode, in its own JVM.

Its jars come from Maven Central (see :mod:`ridestream.jars`, bundle ``kafka``) and never share
Spark's classpath. Data, configuration, the log and the PID file live in one directory. Readiness is
an admin call that sees the broker, not an open port: the port opens before the broker is unfenced.

>>> broker = EmbeddedKafka(data_dir=Path("/tmp/k"), port=19092)   # doctest: +SKIP
>>> broker.start(); broker.bootstrap_servers; broker.stop()        # doctest: +SKIP

Optionally it also opens a SASL_SSL listener with PLAIN users, the shape of Confluent Cloud, for
testing a client profile locally (see :class:`SaslSslListener` and :mod:`ridestream.tls`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ridestream import jars
from ridestream.config import quote_jaas
from ridestream.tls import BrokerTls

_BROKER_MAIN = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_LOG4J = """\
# WARN and above to the log file; keep the one "Kafka Server started" line.
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = info
"""


class BrokerError(RuntimeError):
    """The embedded broker could not be started or stopped; the message says what to do."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1 (for tests and throwaway brokers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """Return True when process ``pid`` exists and has not exited (a zombie counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a running broker.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener with PLAIN users: what Confluent Cloud offers its clients.

    Parameters
    ----------
    port
        The listener's port on ``tls.host`` (127.0.0.1 unless the certificate says otherwise).
    users
        Username -> password of every client allowed in; never shown in ``repr``.
    tls
        The broker's keystore (see :func:`ridestream.tls.create_broker_tls`); clients trust
        ``tls.ca_pem``.
    """

    port: int
    users: Mapping[str, str] = field(repr=False)
    tls: BrokerTls

    @property
    def bootstrap_servers(self) -> str:
        """Return the address SASL_SSL clients connect to."""
        return f"{self.tls.host}:{self.port}"

    def properties(self) -> dict[str, str]:
        """Return the broker properties of this listener (named ``SASL_SSL``)."""
        # The broker side of PLAIN needs only the user_<name>="<password>" entries: inter-broker
        # and controller traffic stay on PLAINTEXT, so the broker never logs in as a client here.
        users = " ".join(f"user_{name}={quote_jaas(pw)}" for name, pw in self.users.items())
        prefix = "listener.name.sasl_ssl."
        return {
            f"{prefix}sasl.enabled.mechanisms": "PLAIN",
            f"{prefix}plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"
            ),
            f"{prefix}ssl.keystore.type": "PKCS12",
            f"{prefix}ssl.keystore.location": str(self.tls.keystore),
            f"{prefix}ssl.keystore.password": self.tls.password,
        }


def _properties_value(value: str) -> str:
    """Escape a value for a Java ``.properties`` file (a backslash starts an escape there)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


@dataclass
class EmbeddedKafka:
    """A single-node KRaft broker + controller on 127.0.0.1.

    Parameters
    ----------
    data_dir
        Holds ``server.properties``, the log directory, ``broker.log`` and ``broker.pid``.
    port
        The PLAINTEXT client port; the controller listens on ``controller_port``.
    heap
        JVM heap; 512m is plenty for development and tests.
    sasl_ssl
        An extra SASL_SSL listener with PLAIN users; None (the default) opens none.
    """

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None
    heap: str = "512m"
    auto_create_topics: bool = True
    sasl_ssl: SaslSslListener | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.controller_port is None:
            self.controller_port = self.port + 1

    @property
    def bootstrap_servers(self) -> str:
        """Return the address clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        """Return the file that records the broker JVM's PID."""
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        """Return the broker's log (its stdout and stderr)."""
        return self.data_dir / "broker.log"

    def pid(self) -> int | None:
        """Return the PID of this broker's JVM when it is running, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def is_running(self) -> bool:
        """Return True when this broker's JVM is alive."""
        return self.pid() is not None

    def _properties(self) -> str:
        # Single-node trap: internal topics default to replication 3 / min ISR 2, and consumer
        # groups and transactions never work unless they are brought down to 1.
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        if self.sasl_ssl is not None:
            listeners.append(f"SASL_SSL://{self.sasl_ssl.bootstrap_servers}")
            protocols.append("SASL_SSL:SASL_SSL")
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{self.controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "auto.create.topics.enable": str(self.auto_create_topics).lower(),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.sasl_ssl is not None:
            lines.update(self.sasl_ssl.properties())
        return "".join(f"{key}={_properties_value(value)}\n" for key, value in lines.items())

    def _java(self, main_class: str, *args: str, **popen: object) -> list[str]:
        classpath = ":".join(str(jar) for jar in jars.resolve("kafka"))
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java not found on PATH: install a Java 17 runtime")
        return [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    def _format_storage(self, properties: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        cluster_id = (
            subprocess.run(
                self._java(_STORAGE_TOOL, "random-uuid"), capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = subprocess.run(
            self._java(_STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(properties)),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BrokerError(
                f"could not format the broker's storage in {self.data_dir}: "
                f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}"
            )

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker (formatting its storage on first use) and wait until it serves clients."""
        if self.is_running():
            self.wait_ready(timeout)
            return
        ports = [self.port, self.controller_port]
        if self.sasl_ssl is not None:
            ports.append(self.sasl_ssl.port)
        for port in ports:
            if not port_is_free(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is taken by another process: stop it, or give the "
                    "embedded broker another port (kafka.bootstrap_servers in the profile)"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.data_dir / "server.properties"
        properties.write_text(self._properties())
        (self.data_dir / "log4j2.properties").write_text(_LOG4J)
        self._format_storage(properties)
        with self.log_file.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal must not kill the broker mid-write;
            # it is stopped by SIGTERM (a controlled shutdown) from stop().
            process = subprocess.Popen(
                self._java(_BROKER_MAIN, str(properties)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        try:
            self.wait_ready(timeout, process=process)
        except BrokerError:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 90.0, process: subprocess.Popen | None = None) -> None:
        """Poll the broker's metadata until it lists itself (unfenced) or ``timeout`` passes."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise BrokerError(
                    f"the broker exited with code {process.returncode} while starting; "
                    f"last lines of {self.log_file}:\n{self.tail_log()}"
                )
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except Exception:  # noqa: BLE001 - not ready yet: any client error means "try again"
                pass
            time.sleep(0.3)
        raise BrokerError(
            f"the broker did not become ready in {timeout:.0f} s (see {self.log_file})"
        )

    def tail_log(self, lines: int = 5) -> str:
        """Return the last lines of the broker's log."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker with SIGTERM (a controlled shutdown); SIGKILL if it does not exit."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
