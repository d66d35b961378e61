"""The embedded Kafka broker: a real Apache Kafka 4.x node in KRaft mode, in its own JVM.

Its jars come from Maven Central (see :mod:`ridestream.jars`, bundle ``kafka``) and never share
Spark's classpath. Data, configuration, the log and the PID file live in one directory. Readiness is
an admin call that sees the broker, not an open port: the port opens before the broker is unfenced.

>>> broker = EmbeddedKafka(data_dir=Path("/tmp/k"), port=19092)   # doctest: +SKIP
>>> broker.start(); broker.bootstrap_servers; broker.stop()        # doctest: +SKIP

Optionally it also opens a SASL_SSL listener with PLAIN users, the shape of Confluent Cloud, for
testing a client profile locally (see :class:`SaslSslListener` and :mod:`ridestream.tls`).

:class:`EmbeddedKafkaCluster` runs three such nodes as one cluster (replication 3, min ISR 2), so a
test can kill one and watch producers and jobs carry on:

>>> cluster = EmbeddedKafkaCluster(data_dir=Path("/tmp/kc"))        # doctest: +SKIP
>>> cluster.start(); cluster.kill(2); cluster.stop()               # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ridestream import jars
from ridestream.errors import UserError
from ridestream.kafka.settings import quote_jaas
from ridestream.paths import java_options
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


class BrokerError(UserError, RuntimeError):
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


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct, currently free TCP ports on 127.0.0.1."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def kafka_uuid() -> str:
    """Return a random Kafka ``Uuid`` as ``kafka-storage random-uuid`` prints it.

    Sixteen random bytes in URL-safe base64 without padding; like Kafka, never one that starts
    with ``-`` (a command line would read it as an option). Saves a JVM start per cluster id.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


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


class LocalService:
    """A local service in a process of its own, kept in one directory with its pid file and log.

    The embedded broker, the schema registry and the Connect worker are such services: a
    subclass names its files (``PID_FILE``, ``LOG_FILE``) and has a ``data_dir``.
    """

    data_dir: Path
    PID_FILE: ClassVar[str]
    LOG_FILE: ClassVar[str]

    @property
    def pid_file(self) -> Path:
        """Return the file that records the service's PID."""
        return self.data_dir / self.PID_FILE

    @property
    def log_file(self) -> Path:
        """Return the service's log (its stdout and stderr)."""
        return self.data_dir / self.LOG_FILE

    def pid(self) -> int | None:
        """Return the PID of this service's process when it is running, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) and self._owns(pid) else None

    def _owns(self, pid: int) -> bool:
        """Return True when the live process ``pid`` is this service (a subclass may check)."""
        return True

    def is_running(self) -> bool:
        """Return True when this service's process is alive."""
        return self.pid() is not None

    def tail_log(self, lines: int = 5) -> str:
        """Return the last lines of the service's log."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


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


@dataclass(frozen=True)
class ControllerQuorum:
    """The voters of a multi-node cluster's KRaft quorum, written into every node's storage.

    Kafka 4.x bootstraps a dynamic quorum (KIP-853): each node knows the controllers by
    ``controller.quorum.bootstrap.servers``, and ``kafka-storage format --initial-controllers``
    writes the same voter set (id, host, port and metadata directory id of each) into every node.

    Parameters
    ----------
    cluster_id
        Shared by every node (a :func:`kafka_uuid`).
    voters
        ``(node id, controller port, directory id)`` of each controller, on 127.0.0.1.
    """

    cluster_id: str
    voters: tuple[tuple[int, int, str], ...]

    @property
    def bootstrap_servers(self) -> str:
        """Return ``controller.quorum.bootstrap.servers``: every controller's address."""
        return ",".join(f"127.0.0.1:{port}" for _, port, _ in self.voters)

    @property
    def initial_controllers(self) -> str:
        """Return the value of ``kafka-storage format --initial-controllers``."""
        return ",".join(
            f"{node}@127.0.0.1:{port}:{directory}" for node, port, directory in self.voters
        )


@dataclass
class EmbeddedKafka(LocalService):
    """A KRaft broker + controller on 127.0.0.1: a single-node cluster, or one node of a cluster.

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
    node_id
        This node's ``node.id`` (its broker id in metadata).
    quorum
        The controller quorum this node votes in; None (the default): it is the only voter.
    replication_factor
        Replicas of new topics and of Kafka's internal topics (1 for a single node).
    min_insync_replicas
        Replicas that must have a record before an ``acks=all`` write succeeds.
    extra_properties
        Further broker properties (failure-detection timeouts, say), applied last.
    """

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None
    heap: str = "512m"
    auto_create_topics: bool = True
    sasl_ssl: SaslSslListener | None = None
    node_id: int = 1
    quorum: ControllerQuorum | None = None
    replication_factor: int = 1
    min_insync_replicas: int = 1
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    PID_FILE: ClassVar[str] = "broker.pid"
    LOG_FILE: ClassVar[str] = "broker.log"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.controller_port is None:
            self.controller_port = self.port + 1

    @property
    def bootstrap_servers(self) -> str:
        """Return the address clients connect to."""
        return f"127.0.0.1:{self.port}"

    def _properties(self) -> str:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        if self.sasl_ssl is not None:
            listeners.append(f"SASL_SSL://{self.sasl_ssl.bootstrap_servers}")
            protocols.append("SASL_SSL:SASL_SSL")
        if self.quorum is None:
            # A static quorum of one: this node, as a single-node cluster has always been set up.
            quorum = {
                "controller.quorum.voters": f"{self.node_id}@127.0.0.1:{self.controller_port}"
            }
        else:
            quorum = {"controller.quorum.bootstrap.servers": self.quorum.bootstrap_servers}
        replicas, min_isr = str(self.replication_factor), str(self.min_insync_replicas)
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            **quorum,
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{self.controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "auto.create.topics.enable": str(self.auto_create_topics).lower(),
            # Internal topics default to replication 3 / min ISR 2: on a single node consumer
            # groups and transactions never work unless they are brought down to 1.
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.sasl_ssl is not None:
            lines.update(self.sasl_ssl.properties())
        lines.update(self.extra_properties)
        return "".join(f"{key}={_properties_value(value)}\n" for key, value in lines.items())

    def _java(self, main_class: str, *args: str) -> list[str]:
        classpath = ":".join(str(jar) for jar in jars.resolve("kafka"))
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java not found on PATH: install a Java 17 runtime")
        return [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            *java_options(),
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    def _format_storage(self, properties: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        if self.quorum is None:
            options = ["-t", kafka_uuid()]
        else:
            options = ["-t", self.quorum.cluster_id]
            options += ["--initial-controllers", self.quorum.initial_controllers]
        result = subprocess.run(
            self._java(_STORAGE_TOOL, "format", *options, "-c", str(properties)),
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
        process = self.launch()
        try:
            self.wait_ready(timeout, process=process)
        except BrokerError:
            self.stop()
            raise

    def launch(self) -> subprocess.Popen:
        """Format the storage on first use and start the JVM; return at once (see :meth:`start`)."""
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
        return process

    def wait_ready(self, timeout: float = 90.0, process: subprocess.Popen | None = None) -> None:
        """Poll the broker's metadata until it lists itself (unfenced) or ``timeout`` passes."""
        _wait_for_brokers(self.bootstrap_servers, 1, timeout, [(self, process)])

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker with SIGTERM (a controlled shutdown); SIGKILL if it does not exit."""
        pid = self._terminate()
        _reap(pid, time.monotonic() + timeout)
        self.pid_file.unlink(missing_ok=True)

    def _terminate(self) -> int | None:
        """Send SIGTERM to the broker's JVM, if it runs; return its PID."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        return pid

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def _reap(pid: int | None, deadline: float) -> None:
    """Wait until ``pid`` has exited or ``deadline`` (monotonic) passes; then SIGKILL it."""
    if pid is None:
        return
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def _wait_for_brokers(
    bootstrap_servers: str,
    count: int,
    timeout: float,
    nodes: list[tuple[EmbeddedKafka, subprocess.Popen | None]],
) -> None:
    """Poll metadata until ``count`` brokers are listed (registered, unfenced) or time runs out.

    An open port is not readiness: it opens before the broker is unfenced. A node whose JVM exits
    while starting ends the wait at once, with the end of its log.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node, process in nodes:
            if process is not None and process.poll() is not None:
                raise BrokerError(
                    f"the broker exited with code {process.returncode} while starting; "
                    f"last lines of {node.log_file}:\n{node.tail_log()}"
                )
        try:
            if len(admin.list_topics(timeout=2).brokers) >= count:
                return
        except Exception:  # noqa: BLE001 - not ready yet: any client error means "try again"
            pass
        time.sleep(0.3)
    logs = ", ".join(str(node.log_file) for node, _ in nodes)
    what = "the broker did" if count == 1 else f"{count} brokers did"
    raise BrokerError(f"{what} not become ready in {timeout:.0f} s (see {logs})")


_CLUSTER_PROPERTIES = {
    # Failure detection in seconds rather than Kafka's defaults (9 s session, 30 s replica lag):
    # a killed node is fenced, and leaves the ISR of its partitions, about 4 s after it dies.
    "broker.session.timeout.ms": "4000",
    "broker.heartbeat.interval.ms": "1000",
    "replica.lag.time.max.ms": "5000",
    # The first consumer with a group.id (librdkafka looks up the coordinator even for assigned
    # partitions) creates __consumer_offsets: 50 partitions x 3 replicas by default, a lot of
    # replication work for three JVMs sharing one machine.
    "offsets.topic.num.partitions": "3",
}


@dataclass
class EmbeddedKafkaCluster:
    """A cluster of combined broker + controller nodes on 127.0.0.1, each in its own JVM.

    Every node votes in the controller quorum and holds a replica of every partition (replication
    ``size``, min ISR ``min_insync_replicas``), so with 3 nodes one may die and ``acks=all``
    writes go on. Ports are chosen free at construction; node ``i`` (1-based ``node.id``) keeps
    its data in ``data_dir/node-<i>``.

    Parameters
    ----------
    data_dir
        One subdirectory per node.
    size
        Number of nodes; 3 tolerates one failure (of brokers and of controllers).
    heap
        JVM heap per node.
    min_insync_replicas
        ``min.insync.replicas`` of every topic, internal ones included.
    """

    data_dir: Path
    size: int = 3
    heap: str = "384m"
    min_insync_replicas: int = 2
    nodes: list[EmbeddedKafka] = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        ports = free_ports(2 * self.size)
        quorum = ControllerQuorum(
            cluster_id=kafka_uuid(),
            voters=tuple((i + 1, ports[2 * i + 1], kafka_uuid()) for i in range(self.size)),
        )
        self.nodes = [
            EmbeddedKafka(
                data_dir=self.data_dir / f"node-{i + 1}",
                port=ports[2 * i],
                controller_port=ports[2 * i + 1],
                heap=self.heap,
                node_id=i + 1,
                quorum=quorum,
                replication_factor=self.size,
                min_insync_replicas=self.min_insync_replicas,
                extra_properties=_CLUSTER_PROPERTIES,
            )
            for i in range(self.size)
        ]

    @property
    def bootstrap_servers(self) -> str:
        """Return every node's client address, comma-separated."""
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> EmbeddedKafka:
        """Return the node whose ``node.id`` (broker id) is ``node_id``."""
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 120.0) -> None:
        """Start every node at once and wait until all of them are registered, unfenced brokers.

        The nodes start together: none can finish starting before a majority of the quorum is up.
        """
        launched: list[tuple[EmbeddedKafka, subprocess.Popen | None]] = []
        try:
            for node in self.nodes:
                launched.append((node, None if node.is_running() else node.launch()))
            _wait_for_brokers(self.bootstrap_servers, self.size, timeout, launched)
        except BrokerError:
            self.stop()
            raise

    def running(self) -> list[int]:
        """Return the ids of the nodes whose JVM is alive."""
        return [node.node_id for node in self.nodes if node.is_running()]

    def active_controller(self) -> int | None:
        """Return the node id of the quorum's leader (the active controller), if known.

        Read from a running node's ``quorum-state`` file, the KRaft election state it keeps in
        its metadata directory; None when no running node knows a leader.
        """
        for node in self.nodes:
            state = node.data_dir / "logs" / "__cluster_metadata-0" / "quorum-state"
            if not node.is_running() or not state.exists():
                continue
            try:
                leader = int(json.loads(state.read_text()).get("leaderId", -1))
            except (OSError, ValueError):
                continue
            if leader >= 0:
                return leader
        return None

    def kill(self, node_id: int) -> None:
        """Kill one node's JVM with SIGKILL, as a crash would."""
        self.node(node_id).kill()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node (SIGTERM to all at once, SIGKILL to any still alive after ``timeout``)."""
        pids = [node._terminate() for node in self.nodes]
        deadline = time.monotonic() + timeout
        for node, pid in zip(self.nodes, pids, strict=True):
            _reap(pid, deadline)
            node.pid_file.unlink(missing_ok=True)
