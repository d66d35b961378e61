"""The embedded stack a profile starts around a job: a local Kafka broker and ride generators.

A profile with ``embedded.kafka = true`` (``local``) gets a real broker on its
``kafka.bootstrap_servers`` (127.0.0.1) before the job checks Kafka, and with
``embedded.datagen = true`` a generator per topic the job reads (:class:`Feed`):
a new topic first gets the last few minutes of records at once (so the first windows close right
away), then a ``rides datagen`` process keeps producing live (not for a run that reads what is
there and stops). Only topics the stack created are generated into. When the job ends, the stack stops
what it started and nothing else: a broker or generator that was already running stays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ridestream.config import Settings, parse_duration
from ridestream.errors import ConfigError
from ridestream.local import EmbeddedKafka, pid_alive, port_is_free
from ridestream.paths import ridestream_home

# Demo rides arrive a little out of order (as real ones do), well within the demo's watermark.
DEMO_MIX_FLAGS = ("--out-of-order", "0.3", "--disorder", "5 seconds")


@dataclass(frozen=True)
class Feed:
    """A topic the embedded stack keeps fed with generated records while the job runs."""

    topic: str
    stream: str = "rides"  # what `rides datagen --stream` generates
    format: str = "json"


def embedded_broker(settings: Settings) -> EmbeddedKafka:
    """Return the embedded broker a profile's ``kafka.bootstrap_servers`` points at."""
    host, _, port = settings.kafka.bootstrap_servers.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise ConfigError(
            f"profile {settings.profile!r} points at {settings.kafka.bootstrap_servers}: the "
            "embedded broker only runs on 127.0.0.1:<port>"
        )
    return EmbeddedKafka(data_dir=ridestream_home() / "kafka" / port, port=int(port))


def embedded_registry(settings: Settings):  # noqa: ANN201 - an EmbeddedRegistry
    """Return the local schema registry a profile's ``schema_registry.url`` points at."""
    from urllib.parse import urlsplit

    from ridestream.registry import EmbeddedRegistry

    url = urlsplit(settings.schema_registry.url or "")
    if url.hostname not in ("127.0.0.1", "localhost") or url.port is None:
        raise ConfigError(
            f"profile {settings.profile!r}: the local schema registry runs on "
            f"schema_registry.url http://127.0.0.1:<port>, not {settings.schema_registry.url!r}"
        )
    return EmbeddedRegistry(
        ridestream_home() / "registry" / str(url.port),
        port=url.port,
        bootstrap_servers=settings.kafka.bootstrap_servers,
    )


def _say(line: str) -> None:
    print(f"ridestream: {line}", file=sys.stderr, flush=True)


class EmbeddedStack:
    """Start the profile's embedded broker and generators on entry; stop them on exit.

    Parameters
    ----------
    settings
        The job's settings: ``embedded`` says what to start, ``kafka`` where.
    feeds
        The topics to keep fed.
    """

    def __init__(self, settings: Settings, feeds: list[Feed]) -> None:  # noqa: D107
        self.settings = settings
        self.feeds = feeds
        self.state = ridestream_home() / "stack" / Path(settings.profile).stem
        self.broker: EmbeddedKafka | None = None
        self.registry: Any = None  # the local schema registry, when this stack started it
        self.generators: list[tuple[int, Path]] = []

    def __enter__(self) -> EmbeddedStack:
        """Bring the stack up; on a failure, take down what had started."""
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop what :meth:`up` started."""
        self.down()

    def up(self) -> None:
        """Start the broker (unless it runs) and a generator per feed (unless one feeds it)."""
        embedded = self.settings.embedded
        if not embedded.kafka:
            return
        from ridestream.kafka.admin import ensure_topic

        self.state.mkdir(parents=True, exist_ok=True)
        broker = embedded_broker(self.settings)
        # Something already listens there (this broker, or another one, a test's say): use it.
        if not broker.is_running() and port_is_free(broker.port):
            _say(f"starting the embedded Kafka broker on {broker.bootstrap_servers}...")
            broker.start()
            self.broker = broker
        if embedded.registry or any(feed.format == "avro" for feed in self.feeds):
            self._registry_up()
        if not embedded.datagen:
            return
        for feed in self.feeds:
            # The stack generates only into topics it made: a topic of the user's own (filled
            # with `rides produce` or `rides datagen`) is never mixed with generated rides.
            made_here = self.state / f"created-{feed.topic}"
            if ensure_topic(self.settings.kafka, feed.topic, embedded.topic_partitions):
                made_here.touch()
                # A new topic gets the past few minutes at once, so the first windows close
                # right away; a topic that already has records keeps them.
                self._backfill(feed)
            if not made_here.exists() or self.settings.query.ends:
                continue  # not ours, or a run that reads what is there and stops
            pid_file = self.state / f"datagen-{feed.topic}.pid"
            if pid_file.exists() and pid_alive(int(pid_file.read_text() or 0)):
                continue  # another job's generator already feeds this topic
            self.generators.append((self._generate(feed), pid_file))

    def _registry_up(self) -> None:
        """Start the local schema registry at ``schema_registry.url`` (unless one runs there)."""
        registry = embedded_registry(self.settings)
        if not registry.is_running() and port_is_free(registry.port):
            _say(f"starting the local schema registry on {registry.url}...")
            registry.start()
            self.registry = registry

    def _backfill(self, feed: Feed) -> None:
        """Produce the profile's datagen backfill (records up to now) into the feed's topic."""
        from ridestream.kafka.datagen import Mix, RideGenerator, run_datagen
        from ridestream.kafka.producer import DeliveryReport, make_producer

        embedded = self.settings.embedded
        now = datetime.now(UTC).replace(tzinfo=None)
        # From a whole minute on, so the first windows a demo closes are whole ones too.
        start = (now - parse_duration(embedded.datagen_backfill)).replace(second=0, microsecond=0)
        generator = RideGenerator(
            start,
            embedded.datagen_rate,
            mix=Mix(
                out_of_order=float(DEMO_MIX_FLAGS[1]), disorder=parse_duration(DEMO_MIX_FLAGS[3])
            ),
            stream=feed.stream,
            value_format=feed.format,
            avro=self._avro(feed),
        )
        report = DeliveryReport()
        producer = make_producer(self.settings.kafka, dict(self.settings.producer), report)
        run_datagen(producer, feed.topic, generator, report, live_until=now)
        what = "rides" if feed.stream == "rides" else f"{feed.stream} records"
        _say(
            f"backfilled {report.sent:,} {what} covering the last {embedded.datagen_backfill} "
            f"into {feed.topic!r}"
        )

    def _avro(self, feed: Feed):  # noqa: ANN202 - an AvroValues, or None
        """Return the registry-aware encoder of an Avro feed (None for JSON and CSV)."""
        if feed.format != "avro":
            return None
        from ridestream.kafka.avro_values import AvroValues
        from ridestream.kafka.datagen import STREAMS

        return AvroValues(self.settings.schema_registry, feed.topic, STREAMS[feed.stream])

    def _generate(self, feed: Feed) -> int:
        """Start a live `rides datagen` process for the feed; return its pid."""
        log_dir = ridestream_home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / "datagen.log").open("ab")
        live = subprocess.Popen(
            [
                sys.executable, "-m", "ridestream.cli", "datagen",
                "--profile", self.settings.profile,
                "--bootstrap-servers", self.settings.kafka.bootstrap_servers,
                "--topic", feed.topic, "--stream", feed.stream, "--format", feed.format,
                "--backfill", "0", *DEMO_MIX_FLAGS,
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl-C in the terminal reaches the job, which stops it after
            # its last batch, instead of killing it mid-batch.
            start_new_session=True,
        )  # fmt: skip
        (self.state / f"datagen-{feed.topic}.pid").write_text(str(live.pid))
        rate = self.settings.embedded.datagen_rate
        _say(f"generating {rate:g} {feed.stream}/s into {feed.topic!r} (log: {log.name})")
        return live.pid

    def down(self) -> None:
        """Stop the generators and the broker this stack started, and nothing else."""
        while self.generators:
            pid, pid_file = self.generators.pop()
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
            pid_file.unlink(missing_ok=True)
        if self.registry is not None:
            registry, self.registry = self.registry, None
            registry.stop()
            _say("stopped the local schema registry")
        if self.broker is not None:
            broker, self.broker = self.broker, None
            broker.stop()
            _say("stopped the embedded Kafka broker")
