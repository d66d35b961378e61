"""Typed, frozen settings loaded once at the edge: TOML profile, then environment, then CLI flags.

A profile is ``conf/<name>.toml`` (or a path to any ``.toml`` file). ``RIDESTREAM_PROFILE`` picks
the default profile (``local``, the embedded broker). Every setting can be overridden by a flag;
:data:`OVERRIDES` is the one table of flags, the setting each one sets, and its help text.
Secrets are never written in a profile: the profile names the environment variable that holds one
(``[kafka.secrets]``), and ``kafka.bootstrap_servers_env`` may name one that holds the cluster.
Relative paths in a profile are resolved against ``$RIDESTREAM_HOME``.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ridestream.paths import CONF_DIR, ridestream_home

DEFAULT_PROFILE = "local"
WINDOW_KINDS = ("tumbling", "hopping", "session")
SINK_KINDS = ("console", "kafka", "delta")
# "kafka+delta": every reject to both (a topic to replay from, a table to query by reason).
DEAD_LETTER_KINDS = ("kafka", "delta", "kafka+delta", "console", "none")
OUTPUT_MODES = ("append", "update")
STARTING_OFFSETS = ("earliest", "latest")
# How a ride is written in a Kafka value: a JSON object, or a CSV line in schema order.
VALUE_FORMATS = ("json", "csv")
# "one": the windows and dead-letter queries each read and parse the topic. "two": one query
# parses every record once into a Delta table of parsed records, and both read that table.
STAGES = ("one", "two")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the setting and the fix."""


_DURATION_UNITS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}


def parse_duration(text: str) -> timedelta:
    """Parse a duration in Spark's interval style: ``"10 minutes"``, ``"30 seconds"``, ``"1 hour"``."""
    if str(text).strip() == "0":
        return timedelta(0)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", str(text))
    if not match or match.group(2).lower() not in _DURATION_UNITS:
        raise ConfigError(f"{text!r} is not a duration: write it like '10 minutes' or '30 seconds'")
    return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()])


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


# The client properties whose names differ between librdkafka (confluent-kafka) and the Java client
# (Spark). A profile declares the librdkafka form, once; :class:`KafkaSettings` derives the Java one.
SASL_USERNAME = "sasl.username"
SASL_PASSWORD = "sasl.password"
SSL_CA_LOCATION = "ssl.ca.location"
_JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
# Properties a profile must not set: they are derived, or they would put a secret in the file.
_DERIVED = {
    "sasl.jaas.config": "write sasl.username and sasl.password ([kafka.secrets]) instead: "
    "the JAAS line Spark needs is derived from them",
    "ssl.truststore.location": "write ssl.ca.location (a PEM file) instead: "
    "Spark's truststore options are derived from it",
    "ssl.truststore.type": "write ssl.ca.location (a PEM file) instead: "
    "Spark's truststore options are derived from it",
}
_SECRET_WORDS = ("password", "secret")


def quote_jaas(value: str) -> str:
    """Return ``value`` as a double-quoted JAAS option value (backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the Kafka cluster, for the Python clients and for Spark alike.

    ``options`` are client properties both clients understand (``security.protocol``,
    ``sasl.mechanism``, ...), plus two that this class translates for Spark's Java client:

    - ``sasl.username`` / ``sasl.password`` (an API key and its secret): given as they are to
      librdkafka; for Spark they become ``sasl.jaas.config`` with the login module of
      ``sasl.mechanism`` (PLAIN or SCRAM).
    - ``ssl.ca.location`` (a PEM file with the CA that signed the brokers' certificates): given as
      it is to librdkafka; for Spark it becomes ``ssl.truststore.location`` with
      ``ssl.truststore.type=PEM``. Leave it out to trust the system's CAs (Confluent Cloud).

    ``secrets`` maps a property to the environment variable that holds its value. A property whose
    name says password or secret must come from there, never from ``options``, so that neither the
    profile nor ``repr`` of these settings ever holds a secret. Only :meth:`client_config` and
    :meth:`spark_options` return secret values, to be handed to a client and not printed.
    """

    bootstrap_servers: str
    options: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    # property name -> name of the environment variable that holds its (secret) value
    secrets: Mapping[str, str] = field(default_factory=lambda: _frozen({}))

    def __post_init__(self) -> None:
        declared = {*self.options, *self.secrets}
        for prop in sorted(declared & _DERIVED.keys()):
            raise ConfigError(f"kafka setting {prop}: {_DERIVED[prop]}")
        for prop in sorted(self.options):
            if any(word in prop.lower() for word in _SECRET_WORDS):
                raise ConfigError(
                    f"kafka setting {prop} is a secret: name the environment variable that holds "
                    f'it in [kafka.secrets] ({prop} = "MY_VARIABLE"), never its value'
                )
        credentials = declared & {SASL_USERNAME, SASL_PASSWORD}
        if credentials and len(credentials) < 2:
            missing = ({SASL_USERNAME, SASL_PASSWORD} - credentials).pop()
            raise ConfigError(f"kafka settings: {credentials.pop()} is set but {missing} is not")
        mechanism = self.options.get("sasl.mechanism")
        if credentials and mechanism not in _JAAS_LOGIN_MODULES:
            raise ConfigError(
                f"kafka setting sasl.mechanism is {mechanism!r}: with sasl.username and "
                f"sasl.password choose one of {', '.join(_JAAS_LOGIN_MODULES)} (Confluent Cloud: PLAIN)"
            )

    def source_of(self, prop: str) -> str:
        """Return where a property's value comes from, for messages: ``$VAR`` or the option."""
        if prop in self.secrets:
            return f"${self.secrets[prop]}"
        return f"kafka.options {prop!r}"

    def resolved_options(self) -> dict[str, str]:
        """Return ``options`` plus secrets read from their environment variables."""
        options = dict(self.options)
        for prop, variable in self.secrets.items():
            value = os.environ.get(variable)
            if not value:
                raise ConfigError(f"kafka setting {prop} comes from ${variable}, which is not set")
            options[prop] = value
        ca_file = options.get(SSL_CA_LOCATION)
        if ca_file and not Path(ca_file).is_file():
            raise ConfigError(
                f"kafka setting {SSL_CA_LOCATION}: {ca_file} is not a file (a PEM file with the CA "
                "certificate that signed the brokers'; leave it out to trust the system's CAs)"
            )
        return options

    def spark_options(self) -> dict[str, str]:
        """Return the options Spark's Kafka source and sink take (``kafka.``-prefixed).

        The credentials become one ``sasl.jaas.config`` line and the CA file a PEM truststore, as
        the Java client wants them. The result holds secrets: pass it to ``.options()``, never
        to a log or a command line.
        """
        java = self.resolved_options()
        username, password = java.pop(SASL_USERNAME, None), java.pop(SASL_PASSWORD, None)
        if username is not None and password is not None:
            module = _JAAS_LOGIN_MODULES[java["sasl.mechanism"]]
            java["sasl.jaas.config"] = (
                f"{module} required username={quote_jaas(username)} "
                f"password={quote_jaas(password)};"
            )
        ca_file = java.pop(SSL_CA_LOCATION, None)
        if ca_file:
            # PEM truststores need a Java client of Kafka 2.7 or later (Spark ships 3.9).
            java["ssl.truststore.type"] = "PEM"
            java["ssl.truststore.location"] = ca_file
        options = {f"kafka.{prop}": value for prop, value in java.items()}
        options["kafka.bootstrap.servers"] = self.bootstrap_servers
        return options

    def client_config(self) -> dict[str, str]:
        """Return a confluent-kafka (librdkafka) configuration for the same cluster.

        librdkafka takes ``sasl.username``, ``sasl.password`` and ``ssl.ca.location`` as they are.
        The result holds secrets: pass it to a client, never to a log.
        """
        return {"bootstrap.servers": self.bootstrap_servers, **self.resolved_options()}


@dataclass(frozen=True)
class SourceSettings:
    """The topic rides are read from, and how."""

    topic: str = "rides"
    format: str = "json"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    # Spark tasks to read a batch in (Kafka's minPartitions): None reads one task per partition.
    min_partitions: int | None = None

    def __post_init__(self) -> None:
        if self.format not in VALUE_FORMATS:
            raise ConfigError(
                f"source.format {self.format!r}: choose one of {', '.join(VALUE_FORMATS)}"
            )


@dataclass(frozen=True)
class WindowSettings:
    """Event-time windows: kind, size, slide (hopping), gap (session), watermark, group keys."""

    kind: str = "tumbling"
    size: str = "5 minutes"
    slide: str | None = None
    gap: str | None = None
    watermark: str = "10 minutes"
    group_by: tuple[str, ...] = ("PULocationID",)

    def __post_init__(self) -> None:
        if self.kind not in WINDOW_KINDS:
            raise ConfigError(f"window.kind {self.kind!r}: choose one of {', '.join(WINDOW_KINDS)}")
        parse_duration(self.watermark)
        if self.kind == "session":
            if not self.gap:
                raise ConfigError(
                    "window.kind 'session' needs window.gap (for example '5 minutes')"
                )
            parse_duration(self.gap)
        else:
            parse_duration(self.size)
        if self.kind == "hopping":
            if not self.slide:
                raise ConfigError(
                    "window.kind 'hopping' needs window.slide (for example '1 minute')"
                )
            if parse_duration(self.slide) > parse_duration(self.size):
                raise ConfigError("window.slide must not be longer than window.size")


def storage_path(value: str | Path) -> Path | str:
    """Return a local path as a Path, a storage URI (``s3a://bucket/x``, ``abfss://``) unchanged.

    ``Path`` would fold the URI's ``//`` into one slash.
    """
    text = str(value)
    return text if "://" in text else Path(text).expanduser()


@dataclass(frozen=True)
class SinkSettings:
    """Where the windows go: console, a Kafka topic, or a Delta table."""

    kind: str = "console"
    output_mode: str = "append"
    topic: str = "ride_windows"
    path: Path | str = Path("delta/ride_windows")  # or a storage URI (s3a://...)
    console_rows: int = 20

    def __post_init__(self) -> None:
        if self.kind not in SINK_KINDS:
            raise ConfigError(f"sink.kind {self.kind!r}: choose one of {', '.join(SINK_KINDS)}")
        if self.output_mode not in OUTPUT_MODES:
            raise ConfigError(
                f"sink.output_mode {self.output_mode!r}: choose one of {', '.join(OUTPUT_MODES)}"
            )


@dataclass(frozen=True)
class DeadLetterSettings:
    """Where records that fail to parse go, with their reason."""

    kind: str = "kafka"
    topic: str = "rides_dead_letter"
    path: Path | str = Path("delta/rides_dead_letter")

    def __post_init__(self) -> None:
        if self.kind not in DEAD_LETTER_KINDS:
            raise ConfigError(
                f"dead_letter.kind {self.kind!r}: choose one of {', '.join(DEAD_LETTER_KINDS)}"
            )

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the sinks rejects go to: ('kafka', 'delta') for 'kafka+delta', () for 'none'."""
        return () if self.kind == "none" else tuple(self.kind.split("+"))


@dataclass(frozen=True)
class QuerySettings:
    """Trigger, checkpoints, and stages. ``trigger``: 'available-now', 'once', or a duration.

    ``stages`` 'two' adds a query that parses every record once into the Delta table at
    ``parsed_path`` (rides and rejects, one row per Kafka record); the windows and the dead-letter
    queries read that table instead of the topic. It costs a table and a trigger of latency, and
    saves the second parse (bench/README.md measures both).
    """

    trigger: str = "10 seconds"
    checkpoint_dir: Path | str = Path("checkpoints")
    progress: bool = True  # a line per micro-batch on stderr
    metrics_file: Path | None = None  # every batch's progress JSON, appended one per line
    stages: str = "one"
    parsed_path: Path | str = Path("delta/rides_parsed")  # or a storage URI (s3a://...)

    def __post_init__(self) -> None:
        if self.trigger not in ("available-now", "once"):
            parse_duration(self.trigger)
        if self.stages not in STAGES:
            raise ConfigError(f"query.stages {self.stages!r}: choose one of {', '.join(STAGES)}")

    def checkpoint(self, query_name: str) -> str:
        """Return the checkpoint location of one query (each query has its own)."""
        return f"{str(self.checkpoint_dir).rstrip('/')}/{query_name}"


@dataclass(frozen=True)
class SparkSettings:
    """Session settings. Shuffle partitions are frozen into a checkpoint: choose deliberately."""

    master: str | None = None
    shuffle_partitions: int = 4
    log_level: str = "WARN"
    conf: Mapping[str, str] = field(default_factory=lambda: _frozen({}))


@dataclass(frozen=True)
class EmbeddedSettings:
    """What spark-submit.sh starts for this profile: a local broker, and generated rides."""

    kafka: bool = False
    topic_partitions: int = 2
    datagen: bool = False
    datagen_rate: float = 20.0
    datagen_backfill: str = "3 minutes"


@dataclass(frozen=True)
class Settings:
    """Everything a job needs, loaded once in ``main`` and passed down."""

    profile: str
    kafka: KafkaSettings
    source: SourceSettings = SourceSettings()
    window: WindowSettings = WindowSettings()
    sink: SinkSettings = SinkSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    query: QuerySettings = QuerySettings()
    spark: SparkSettings = SparkSettings()
    embedded: EmbeddedSettings = EmbeddedSettings()
    # librdkafka settings: conf/clients.toml, then the profile's [producer] / [consumer]
    producer: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    consumer: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))


def on_off(text: str) -> bool:
    """Parse 'on' or 'off' (a flag's value) into a bool."""
    values = {"on": True, "off": False, "true": True, "false": False}
    if text.lower() not in values:
        raise ValueError(f"{text!r}: say on or off")
    return values[text.lower()]


@dataclass(frozen=True)
class Override:
    """A command-line flag that overrides one profile setting."""

    flag: str
    key: str
    help: str
    type: Any = str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None


OVERRIDES: tuple[Override, ...] = (
    Override("--bootstrap-servers", "kafka.bootstrap_servers", "Kafka brokers, host:port[,...]"),
    Override("--topic", "source.topic", "topic the rides are read from"),
    Override(
        "--format",
        "source.format",
        "json|csv: how the rides' values are written (csv: schema order, no header)",
        choices=VALUE_FORMATS,
    ),
    Override(
        "--starting-offsets",
        "source.starting_offsets",
        "earliest|latest; only for a new query (afterwards the checkpoint decides)",
        choices=STARTING_OFFSETS,
    ),
    Override(
        "--max-offsets-per-trigger",
        "source.max_offsets_per_trigger",
        "cap on records per micro-batch",
        int,
        "N",
    ),
    Override(
        "--min-partitions",
        "source.min_partitions",
        "Spark tasks to read each batch in, at least (default: one per topic partition)",
        int,
        "N",
    ),
    Override("--window-kind", "window.kind", "tumbling|hopping|session", choices=WINDOW_KINDS),
    Override("--window", "window.size", "window length, e.g. '5 minutes'", metavar="DURATION"),
    Override(
        "--slide", "window.slide", "hopping windows: how far each window moves", metavar="DURATION"
    ),
    Override(
        "--gap",
        "window.gap",
        "session windows: inactivity that closes a session",
        metavar="DURATION",
    ),
    Override(
        "--watermark",
        "window.watermark",
        "how late a ride may arrive and still be counted",
        metavar="DURATION",
    ),
    Override(
        "--group-by",
        "window.group_by",
        "comma-separated ride fields to group by",
        lambda text: tuple(part.strip() for part in text.split(",") if part.strip()),
        "FIELDS",
    ),
    Override("--sink", "sink.kind", "console|kafka|delta", choices=SINK_KINDS),
    Override(
        "--output-mode",
        "sink.output_mode",
        "append (each window once, when final) | update (changed windows every batch)",
        choices=OUTPUT_MODES,
    ),
    Override("--output-topic", "sink.topic", "Kafka sink: topic for the windows"),
    Override("--delta-path", "sink.path", "Delta sink: table directory", storage_path, "PATH"),
    Override(
        "--dead-letter",
        "dead_letter.kind",
        "kafka|delta|kafka+delta|console|none",
        choices=DEAD_LETTER_KINDS,
    ),
    Override("--dead-letter-topic", "dead_letter.topic", "topic for rejected records"),
    Override(
        "--dead-letter-path",
        "dead_letter.path",
        "Delta table for rejected records",
        storage_path,
        "PATH",
    ),
    Override(
        "--trigger",
        "query.trigger",
        "'available-now' (process what is there, then stop), 'once', or an interval",
    ),
    Override(
        "--checkpoint-dir",
        "query.checkpoint_dir",
        "directory of the queries' checkpoints",
        storage_path,
        "PATH",
    ),
    Override(
        "--progress",
        "query.progress",
        "a progress line per micro-batch on stderr: on|off",
        on_off,
        "on|off",
    ),
    Override(
        "--metrics-file",
        "query.metrics_file",
        "append every micro-batch's progress JSON to this file (one object per line)",
        Path,
        "PATH",
    ),
    Override(
        "--stages",
        "query.stages",
        "one (the windows and dead-letter queries each parse the topic) | two (one query parses "
        "every record once into a Delta table, --parsed-path, which both read)",
        choices=STAGES,
    ),
    Override(
        "--parsed-path",
        "query.parsed_path",
        "--stages two: Delta table of parsed records",
        storage_path,
        "PATH",
    ),
    Override("--master", "spark.master", "Spark master (default: spark-submit's, or local[*])"),
    Override(
        "--shuffle-partitions",
        "spark.shuffle_partitions",
        "state partitions; frozen into the checkpoint",
        int,
        "N",
    ),
    Override(
        "--log-level", "spark.log_level", "Spark's log level (WARN keeps the console readable)"
    ),
)

_SECTIONS = {
    "kafka": KafkaSettings,
    "source": SourceSettings,
    "window": WindowSettings,
    "sink": SinkSettings,
    "dead_letter": DeadLetterSettings,
    "query": QuerySettings,
    "spark": SparkSettings,
    "embedded": EmbeddedSettings,
}
_CLIENT_SECTIONS = ("producer", "consumer")
CLIENTS_FILE = CONF_DIR / "clients.toml"
_PATH_KEYS = {
    "sink.path",
    "dead_letter.path",
    "query.checkpoint_dir",
    "query.metrics_file",
    "query.parsed_path",
}


def profile_path(profile: str) -> Path:
    """Return the TOML file of a profile name (``conf/<name>.toml``) or path."""
    if profile.endswith(".toml") or os.sep in profile:
        return Path(profile).expanduser().resolve()
    return CONF_DIR / f"{profile}.toml"


def load_profile(profile: str) -> dict[str, Any]:
    """Read a profile's TOML into nested dicts."""
    path = profile_path(profile)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in CONF_DIR.glob("*.toml") if p != CLIENTS_FILE))
        raise ConfigError(
            f"no profile {profile!r} ({path} does not exist); known profiles: {known}"
        )
    with path.open("rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None


def build_settings(
    profile: str, values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build frozen settings from a profile's values and dotted-key overrides."""
    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    with CLIENTS_FILE.open("rb") as handle:
        clients: dict[str, dict[str, Any]] = tomllib.load(handle)
    for name in _CLIENT_SECTIONS:
        clients[name] = {**clients.get(name, {}), **values.get(name, {})}
    for name, table in values.items():
        if name in _CLIENT_SECTIONS:
            continue
        if name not in _SECTIONS:
            raise ConfigError(f"profile {profile!r}: unknown section [{name}]")
        sections[name].update(table)
    # Environment between profile and flags: kafka.bootstrap_servers_env names a variable that,
    # when set, replaces kafka.bootstrap_servers, so one profile serves any cluster of its kind.
    bootstrap_variable = sections["kafka"].pop("bootstrap_servers_env", None)
    if bootstrap_variable and os.environ.get(bootstrap_variable):
        sections["kafka"]["bootstrap_servers"] = os.environ[bootstrap_variable]
    for key, value in (overrides or {}).items():
        section, name = key.split(".", 1)
        sections[section][name] = value

    for key in _PATH_KEYS:
        section, name = key.split(".", 1)
        if name in sections[section]:
            path = storage_path(sections[section][name])
            if isinstance(path, Path) and not path.is_absolute():
                path = ridestream_home() / path
            sections[section][name] = path
    for section, name, default in (
        ("sink", "path", SinkSettings.path),
        ("dead_letter", "path", DeadLetterSettings.path),
        ("query", "checkpoint_dir", QuerySettings.checkpoint_dir),
        ("query", "parsed_path", QuerySettings.parsed_path),
    ):
        sections[section].setdefault(name, ridestream_home() / default)
    if "group_by" in sections["window"]:
        sections["window"]["group_by"] = tuple(sections["window"]["group_by"])
    for section, name in (("kafka", "options"), ("kafka", "secrets"), ("spark", "conf")):
        if name in sections[section]:
            sections[section][name] = _frozen(
                {key: str(value) for key, value in sections[section][name].items()}
            )
    if "bootstrap_servers" not in sections["kafka"]:
        if bootstrap_variable:
            raise ConfigError(
                f"profile {profile!r} reads kafka.bootstrap_servers from ${bootstrap_variable}, "
                f"which is not set: export {bootstrap_variable}=HOST:PORT, or pass --bootstrap-servers"
            )
        raise ConfigError(f"profile {profile!r} sets no kafka.bootstrap_servers")

    built = {}
    for name, cls in _SECTIONS.items():
        try:
            built[name] = cls(**sections[name])
        except TypeError as error:
            unknown = str(error).split("argument")[-1].strip()
            raise ConfigError(
                f"profile {profile!r}, section [{name}]: unknown setting {unknown}"
            ) from None
    return Settings(
        profile=profile,
        **built,
        **{name: _frozen(clients[name]) for name in _CLIENT_SECTIONS},
    )


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--profile`` and every override flag of :data:`OVERRIDES` to a parser."""
    parser.add_argument(
        "--profile",
        default=os.environ.get("RIDESTREAM_PROFILE", DEFAULT_PROFILE),
        help="conf/<NAME>.toml or a path to a .toml file (env RIDESTREAM_PROFILE; default: %(default)s)",
    )
    group = parser.add_argument_group("overrides (each replaces one profile setting)")
    for override in OVERRIDES:
        group.add_argument(
            override.flag,
            dest=override.key,
            type=override.type,
            metavar=override.metavar or override.flag.lstrip("-").upper().replace("-", "_"),
            choices=override.choices,
            default=None,
            help=f"{override.help} [{override.key}]",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Load the profile named by ``args.profile`` and apply the flags that were given."""
    overrides = {
        override.key: getattr(args, override.key)
        for override in OVERRIDES
        if getattr(args, override.key, None) is not None
    }
    # A path typed on the command line means what the shell means: relative to where the user is
    # (a profile's relative paths are under $RIDESTREAM_HOME).
    for key in _PATH_KEYS & overrides.keys():
        path = storage_path(overrides[key])
        overrides[key] = path.absolute() if isinstance(path, Path) else path
    return build_settings(args.profile, load_profile(args.profile), overrides)
