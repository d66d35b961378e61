"""A Kafka Connect worker: Apache Kafka's own standalone worker, in its own JVM, with connectors.

Its jars come from Maven Central (see :mod:`ridestream.jars`, bundle ``connect``: the worker and the
file connectors) and never share Spark's classpath. Like :class:`ridestream.local.EmbeddedKafka`,
the worker keeps everything in one directory: its properties, the connector configs as they were
given to it, the offsets of its source connectors, its log and its PID file. It listens on
127.0.0.1 only. Readiness is the worker's REST API listing every configured connector, with the
connector and all its tasks ``RUNNING``; a connector that fails while starting fails :meth:`start`.

>>> worker = EmbeddedConnect(                                              # doctest: +SKIP
...     Path("/tmp/connect"), "127.0.0.1:9092", rest_port=8083,
...     connectors=[CONNECT_CONF_DIR / "trips-source.properties",
...                 CONNECT_CONF_DIR / "trips-sink.properties"],
...     variables={"trips_csv": "/data/trips.csv"})
>>> worker.start(); connector_statuses(worker.rest_url); worker.stop()    # doctest: +SKIP

Connector configs are ``.properties`` files (``conf/connect/``). A ``${name}`` in a value is
replaced at start by ``variables[name]`` (``${data_dir}`` is the worker's directory unless given),
and the result is written to ``<data_dir>/connectors/``: that is what the worker runs. Kafka's own
config-provider references (``${env:VAR}``, with a colon) are left for the worker to resolve.

FileStreamSource, the source of ``trips-source.properties``, tails its file: it sends a line once
the line's newline is written, so a file whose last line has no trailing newline keeps that line
back until one is appended (:func:`complete_last_line`). :func:`write_lines` ends every line it
writes. One line is one record, so a CSV field cannot hold a line break, and a header line would be
sent as a record like any other.

The worker runs in standalone mode: one process, source offsets in a local file, so a restarted
worker resumes a source file where it stopped rather than sending it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ridestream import jars
from ridestream.errors import UserError
from ridestream.local import LocalService, pid_alive, port_is_free
from ridestream.paths import CONF_DIR, java_options

CONNECT_CONF_DIR = CONF_DIR / "connect"
DEFAULT_REST_PORT = 8083

_WORKER_MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"
_LOG4J = """\
# Warnings and errors, plus the worker's own account of what it runs: connectors and tasks created,
# started, failed and stopped. Without the overrides below a start writes about a thousand lines
# (every client's configuration, every plugin found, every REST request).
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.connect.name = org.apache.kafka.connect.runtime.Connect
logger.connect.level = info
logger.worker.name = org.apache.kafka.connect.runtime.Worker
logger.worker.level = info
logger.herder.name = org.apache.kafka.connect.runtime.standalone.StandaloneHerder
logger.herder.level = info
logger.tasks.name = org.apache.kafka.connect.runtime.WorkerTask
logger.tasks.level = info
logger.sourcetask.name = org.apache.kafka.connect.runtime.AbstractWorkerSourceTask
logger.sourcetask.level = info
logger.sinktask.name = org.apache.kafka.connect.runtime.WorkerSinkTask
logger.sinktask.level = info
logger.file.name = org.apache.kafka.connect.file
logger.file.level = info
"""
# ${name}: letters, digits and underscores only, so Kafka's ${provider:key} references never match.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RUNNING = "RUNNING"
_FAILED = "FAILED"


class ConnectError(UserError, RuntimeError):
    """The Connect worker could not be started, stopped or asked; the message says what to do."""


@dataclass(frozen=True)
class TaskStatus:
    """One task of a connector, as the worker's REST API reports it."""

    id: int
    state: str
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    """A connector and its tasks, as ``GET /connectors/<name>/status`` reports them.

    ``state`` is the connector's own: ``UNASSIGNED``, ``RUNNING``, ``PAUSED``, ``STOPPED`` or
    ``FAILED``; each task has one of the same. ``trace`` is the Java stack trace of a failure.
    """

    name: str
    type: str
    state: str
    tasks: tuple[TaskStatus, ...] = ()
    trace: str | None = None

    @property
    def running(self) -> bool:
        """Return True when the connector and every task run (and it has its tasks)."""
        return (
            self.state == _RUNNING
            and bool(self.tasks)
            and all(task.state == _RUNNING for task in self.tasks)
        )

    @property
    def failure(self) -> str | None:
        """Return the first line of the connector's or a task's failure, None if none failed."""
        failed = [(self.state, self.trace), *((task.state, task.trace) for task in self.tasks)]
        for state, trace in failed:
            if state == _FAILED:
                return _first_line(trace) or "no reason given"
        return None

    def describe(self) -> str:
        """Return e.g. ``trips-source (source): RUNNING, 1 of 1 tasks running``."""
        running = sum(task.state == _RUNNING for task in self.tasks)
        text = (
            f"{self.name} ({self.type}): {self.state}, {running} of {len(self.tasks)} tasks running"
        )
        failure = self.failure
        return f"{text}; failed: {failure}" if failure else text

    @classmethod
    def from_json(cls, status: Mapping) -> ConnectorStatus:
        """Build from the JSON of the REST API's status endpoint."""
        connector = status.get("connector", {})
        return cls(
            name=status["name"],
            type=status.get("type", "unknown"),
            state=connector.get("state", "UNKNOWN"),
            tasks=tuple(
                TaskStatus(int(task["id"]), task.get("state", "UNKNOWN"), task.get("trace"))
                for task in sorted(status.get("tasks", []), key=lambda task: int(task["id"]))
            ),
            trace=connector.get("trace"),
        )


def _first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def rest_url(port: int = DEFAULT_REST_PORT) -> str:
    """Return the address of the REST API of a worker on 127.0.0.1 at ``port``."""
    return f"http://127.0.0.1:{port}"


def _get_json(url: str, timeout_s: float) -> object:
    """GET ``url`` and decode its JSON; :class:`ConnectError` if no worker answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http only
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = _first_line(error.read().decode(errors="replace")) or error.reason
        raise ConnectError(
            f"the Connect worker answered {url} with {error.code}: {detail}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ConnectError(
            f"no Kafka Connect worker answers at {url} ({reason}): start it, or check the REST port"
        ) from None


def list_connectors(url: str, timeout_s: float = 5.0) -> list[str]:
    """Return the names of the connectors a worker runs (``GET /connectors``), sorted.

    Parameters
    ----------
    url
        The worker's REST API, e.g. :func:`rest_url` or :attr:`EmbeddedConnect.rest_url`.
    timeout_s
        How long to wait for the answer.
    """
    return sorted(_get_json(f"{url.rstrip('/')}/connectors", timeout_s))


def connector_status(url: str, name: str, timeout_s: float = 5.0) -> ConnectorStatus:
    """Return one connector's status (``GET /connectors/<name>/status``)."""
    quoted = urllib.request.quote(name, safe="")
    status = _get_json(f"{url.rstrip('/')}/connectors/{quoted}/status", timeout_s)
    return ConnectorStatus.from_json(status)


def connector_statuses(url: str, timeout_s: float = 5.0) -> dict[str, ConnectorStatus]:
    """Return the status of every connector of a worker, by name (one REST call)."""
    expanded = _get_json(f"{url.rstrip('/')}/connectors?expand=status", timeout_s)
    return {
        name: ConnectorStatus.from_json(entry["status"]) for name, entry in sorted(expanded.items())
    }


def _properties_value(value: str) -> str:
    """Escape a value for a Java ``.properties`` file (a backslash starts an escape there)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def render_connector_config(
    text: str,
    variables: Mapping[str, str],
    source: str = "config",
    how_to_pass: str = "variables={{'{name}': ...}}",
) -> str:
    """Return a connector's ``.properties`` text with every ``${name}`` replaced by its value.

    Comment lines are left as they are. Values are escaped for a ``.properties`` file.

    Parameters
    ----------
    text
        The ``.properties`` text.
    variables
        Name -> value of each placeholder.
    source
        What to call the text in an error (its path).
    how_to_pass
        How a caller gives a placeholder a value, for the error (``{name}`` is the placeholder).

    Raises
    ------
    ConnectError
        When a placeholder has no value.
    """
    rendered = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith(("#", "!")):
            rendered.append(line)
            continue
        missing = [name for name in _PLACEHOLDER.findall(line) if name not in variables]
        if missing:
            raise ConnectError(
                f"{source} uses ${{{missing[0]}}} and no value was given for it: pass one "
                f"({how_to_pass.format(name=missing[0])}), or write the value into the file"
            )
        rendered.append(
            _PLACEHOLDER.sub(lambda match: _properties_value(variables[match.group(1)]), line)
        )
    return "".join(rendered)


def read_properties(text: str) -> dict[str, str]:
    """Return the ``key=value`` (or ``key: value``) entries of ``.properties`` text.

    Enough for connector configs: comment lines (``#``, ``!``) and blank lines are skipped and a
    backslash escapes the next character; line continuations are not supported.
    """
    entries = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        match = re.match(r"((?:\\.|[^=:\\])*?)\s*[=:]\s*(.*)$", line)
        key, value = (match.group(1), match.group(2)) if match else (line, "")
        entries[_unescape(key.strip())] = _unescape(value)
    return entries


def _unescape(text: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r"}
    return re.sub(r"\\(.)", lambda match: escapes.get(match.group(1), match.group(1)), text)


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    """Write ``lines`` to ``path`` for FileStreamSource, every one ending with a newline.

    FileStreamSource sends a line only once its newline is written, so the last line needs one
    too. A line holding a line break would become two records: refused.
    """
    lines = list(lines)
    for number, line in enumerate(lines, start=1):
        if "\n" in line or "\r" in line:
            raise ValueError(
                f"line {number} holds a line break: FileStreamSource sends one record per line"
            )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def complete_last_line(path: Path) -> bool:
    r"""Append a newline to ``path`` if its last line has none; return True if one was appended.

    FileStreamSource keeps an unterminated last line back (it may still be being written): this
    releases it. A final ``\r`` counts as unterminated too: the source waits for the next byte to
    tell ``\r`` from ``\r\n``, and the appended newline makes it ``\r\n``. Call it only on a
    file nothing else is writing to.
    """
    path = Path(path)
    with path.open("rb+") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return False
        file.seek(-1, os.SEEK_END)
        if file.read(1) == b"\n":
            return False
        file.write(b"\n")
    return True


def ride_csv_lines(rides: Iterable[Mapping]) -> list[str]:
    """Return rides (dicts of the ride schema's fields) as the project's CSV values, one per ride.

    The same encoder as ``rides produce --format csv`` (:func:`ridestream.kafka.encoding.csv_values`),
    so the records FileStreamSource sends parse like the producer's.
    """
    import pyarrow as pa

    from ridestream.kafka.encoding import csv_values
    from ridestream.schemas import arrow_schema

    schema = arrow_schema("ride")
    table = pa.Table.from_pylist(
        [{name: ride.get(name) for name in schema.names} for ride in rides], schema=schema
    )
    return csv_values(table).to_pylist()


@dataclass
class EmbeddedConnect(LocalService):
    """Apache Kafka's standalone Connect worker on 127.0.0.1, in its own JVM.

    Parameters
    ----------
    data_dir
        Holds ``worker.properties``, ``connectors/`` (the configs as the worker got them),
        ``offsets`` (source offsets), ``connect.log`` and ``connect.pid``.
    bootstrap_servers
        The Kafka cluster (PLAINTEXT) the connectors read and write.
    rest_port
        The REST API's port on 127.0.0.1 (Connect's default is 8083).
    connectors
        ``.properties`` files, one per connector, started with the worker (standalone mode has no
        other way in: its REST API can add connectors, but they are not kept across restarts).
    variables
        Values of the ``${name}`` placeholders in the connector configs; ``data_dir`` is built in.
    heap
        JVM heap; the file connectors need little.
    worker_properties
        Further worker properties (``producer.*`` overrides, say), applied last.
    """

    data_dir: Path
    bootstrap_servers: str
    rest_port: int = DEFAULT_REST_PORT
    connectors: Sequence[Path] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    heap: str = "256m"
    worker_properties: Mapping[str, str] = field(default_factory=dict)
    # How the caller gives a placeholder its value, for the error when one has none.
    how_to_pass: str = "variables={{'{name}': ...}}"
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    PID_FILE: ClassVar[str] = "connect.pid"
    LOG_FILE: ClassVar[str] = "connect.log"
    _log_start: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        # Absolute: the worker's JVM is recognised by this path on its command line (see pid).
        self.data_dir = Path(self.data_dir).resolve()
        self.connectors = [Path(path) for path in self.connectors]

    @property
    def rest_url(self) -> str:
        """Return the address of this worker's REST API."""
        return rest_url(self.rest_port)

    @property
    def worker_config(self) -> Path:
        """Return the worker's properties file (written at start)."""
        return self.data_dir / "worker.properties"

    def _owns(self, pid: int) -> bool:
        """Return True when ``pid`` is a JVM started with this directory's worker config.

        A PID reused by another process after a reboot is never signalled.
        """
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # no /proc: trust the PID file, as EmbeddedKafka does
        return str(self.worker_config).encode() in command

    def connector_configs(self) -> dict[str, str]:
        """Return connector name -> rendered ``.properties`` text, checking every config.

        Raises
        ------
        ConnectError
            When a config file is missing, has no ``name``, repeats another's name, or uses a
            placeholder without a value.
        """
        variables = {"data_dir": str(self.data_dir), **self.variables}
        configs: dict[str, str] = {}
        for path in self.connectors:
            if not path.is_file():
                raise ConnectError(
                    f"connector config {path} does not exist: check the path (the project's "
                    f"configs are in {CONNECT_CONF_DIR})"
                )
            text = render_connector_config(
                path.read_text(), variables, source=str(path), how_to_pass=self.how_to_pass
            )
            name = read_properties(text).get("name", "")
            if not name:
                raise ConnectError(f"connector config {path} has no name= line: give it one")
            if name in configs:
                raise ConnectError(
                    f"two connector configs are named {name} ({path} is the second): rename one"
                )
            configs[name] = text
        return configs

    def _worker_properties(self) -> str:
        lines = {
            "bootstrap.servers": self.bootstrap_servers,
            # Values and keys as plain text: a trip CSV line goes to Kafka as it is in the file
            # (the default JsonConverter would wrap each in a schema envelope).
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "offset.storage.file.filename": str(self.data_dir / "offsets"),
            # Offsets (the source's file position, the sink's consumer position) are committed
            # every second rather than every minute: after a crash at most a second is repeated.
            "offset.flush.interval.ms": "1000",
            "listeners": f"http://127.0.0.1:{self.rest_port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.rest_port),
            # Connectors are found through their jars' ServiceLoader manifests (Kafka's own and
            # current connectors have them) without scanning every class on the classpath: a
            # start takes 8-9 s instead of 17-19 (measured on 2 cores), and the worker itself
            # advises it. A connector jar without a manifest is then not found.
            "plugin.discovery": "service_load",
        }
        lines.update(self.worker_properties)
        return "".join(f"{key}={_properties_value(value)}\n" for key, value in lines.items())

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise ConnectError("java not found on PATH: install a Java 17 runtime")
        try:
            classpath = ":".join(str(jar) for jar in jars.resolve("connect"))
        except jars.JarResolutionError as error:
            raise ConnectError(str(error)) from None
        return [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            *java_options(),
            "-cp",
            classpath,
            _WORKER_MAIN,
            *args,
        ]

    def start(self, timeout: float = 90.0, broker_timeout: float = 10.0) -> None:
        """Start the worker with its connectors and wait until every one of them runs.

        Parameters
        ----------
        timeout
            Seconds to wait for the connectors to run.
        broker_timeout
            Seconds to wait for the Kafka cluster to answer before giving up (the worker itself
            would only give up after a minute).

        Raises
        ------
        ConnectError
            With what to do: a connector config is missing or incomplete, the REST port is taken,
            the cluster does not answer, the worker exits, or a connector fails.
        """
        configs = self.connector_configs()
        if self.is_running():
            self._wait_ready(list(configs), timeout, process=None)
            return
        if not port_is_free(self.rest_port):
            raise ConnectError(
                f"port {self.rest_port} on 127.0.0.1 is taken by another process: stop it, or "
                "give the Connect worker another REST port"
            )
        _check_broker(self.bootstrap_servers, broker_timeout)
        process = self._launch(configs)
        try:
            self._wait_ready(list(configs), timeout, process=process)
        except ConnectError:
            self.stop()
            raise

    def _launch(self, configs: Mapping[str, str]) -> subprocess.Popen:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.worker_config.write_text(self._worker_properties())
        (self.data_dir / "log4j2.properties").write_text(_LOG4J)
        connector_dir = self.data_dir / "connectors"
        if connector_dir.exists():
            shutil.rmtree(connector_dir)
        connector_dir.mkdir()
        paths = []
        for name, text in configs.items():
            path = connector_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.properties"
            path.write_text(text)
            paths.append(str(path))
        command = self._java(str(self.worker_config), *paths)
        with self.log_file.open("ab") as log:
            self._log_start = log.tell()
            # A session of its own: Ctrl-C in the terminal must not kill the worker mid-commit;
            # it is stopped by SIGTERM (connectors stop, offsets are committed) from stop().
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        self._process = process
        return process

    def _wait_ready(
        self, names: list[str], timeout: float, process: subprocess.Popen | None
    ) -> None:
        """Poll the REST API until every connector in ``names`` and all its tasks run.

        An answering REST API is not readiness: standalone mode creates the connectors one by
        one after it opens, and their tasks after that.
        """
        deadline = time.monotonic() + timeout
        statuses: dict[str, ConnectorStatus] = {}
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise ConnectError(self._exit_message(process.returncode))
            try:
                statuses = connector_statuses(self.rest_url, timeout_s=2.0)
            except ConnectError:
                statuses = {}
            for name in names:
                failure = statuses[name].failure if name in statuses else None
                if failure:
                    raise ConnectError(
                        f"connector {name} failed: {failure} (see {self.log_file}); "
                        "fix its config and start again"
                    )
            if all(name in statuses and statuses[name].running for name in names):
                return
            time.sleep(0.25)
        waiting = [
            statuses[name].describe() if name in statuses else f"{name}: not created"
            for name in names
            if name not in statuses or not statuses[name].running
        ]
        raise ConnectError(
            f"the Connect worker was not ready in {timeout:.0f} s "
            f"({'; '.join(waiting) or 'REST API not answering'}); see {self.log_file}"
        )

    def _exit_message(self, code: int) -> str:
        """Say why the worker exited while starting: its first error, else its last lines."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_start)
                text = log.read().decode(errors="replace")
        except OSError:
            text = ""
        exited = f"the Connect worker exited with code {code} while starting"
        reason = startup_error(text)
        if reason:
            return f"{exited}: {reason} (see {self.log_file})"
        tail = "\n".join(text.splitlines()[-5:]) or "(no log)"
        return f"{exited}; last lines of {self.log_file}:\n{tail}"

    def statuses(self, timeout_s: float = 5.0) -> dict[str, ConnectorStatus]:
        """Return the status of every connector this worker runs, by name."""
        return connector_statuses(self.rest_url, timeout_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker with SIGTERM (connectors stop, offsets are committed), else SIGKILL.

        SIGKILL only when it has not exited ``timeout`` seconds after the SIGTERM.
        """
        pid = self.pid()
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid  # started here, but its PID file is gone
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                _signal(pid, signal.SIGKILL)
                while pid_alive(pid):
                    time.sleep(0.05)
        if self._process is not None:
            # Started here: collect its exit status, so no zombie is left behind.
            self._process.wait()
            self._process = None
        self.pid_file.unlink(missing_ok=True)


def _signal(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid``; a process that has just exited is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


_ERROR_LINE = re.compile(r"^\[[^\]]*\] (?:ERROR|FATAL) (.*?)(?: \([\w.$]+\))?$")
_EXCEPTION = re.compile(r"\b[\w$]+(?:\.[\w$]+)+(?:Exception|Error): ")


def startup_error(log: str, limit: int = 300) -> str | None:
    """Return the worker's first logged error with its innermost exception message, if any.

    E.g. ``Failed to create connector for ...: Failed to find any class that implements
    Connector and which name matches org.example.Nope, ...`` (cut at ``limit`` characters).
    """
    lines = log.splitlines()
    for index, line in enumerate(lines):
        error = _ERROR_LINE.match(line)
        if error is None:
            continue
        reason = error.group(1).strip()
        cause = next((text for text in lines[index + 1 :] if _EXCEPTION.search(text)), None)
        if cause is not None:
            reason = f"{reason}: {_EXCEPTION.split(cause)[-1].strip()}"
        return reason if len(reason) <= limit else reason[: limit - 3] + "..."
    return None


def _check_broker(bootstrap_servers: str, timeout_s: float) -> None:
    """Raise :class:`ConnectError` unless a Kafka cluster answers at ``bootstrap_servers``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException:
        raise ConnectError(
            f"no Kafka broker answers at {bootstrap_servers}: start one (`./rides kafka start`), "
            "or give the Connect worker the right bootstrap servers"
        ) from None
