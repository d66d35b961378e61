"""Typed, frozen settings loaded once at the edge: TOML profile, then environment, then CLI flags.

A profile is ``conf/<name>.toml`` (or a path to any ``.toml`` file). ``RIDESTREAM_PROFILE`` picks
the default profile (``local``, the embedded broker). A profile has shared sections and a section
per job::

    [kafka]                      how to reach the cluster (every job and command)
    [source] [dead_letter]       defaults for every job's section of that name (and the topic
    [window] [sink]              the `rides` commands produce to)
    [query] [spark] [embedded]   trigger and checkpoints, the session, what spark-submit.sh starts
    [producer] [consumer]        librdkafka settings, on top of conf/clients.toml
    [jobs.ride_windows]          one job's own options (``stages = "two"``)
    [jobs.ride_windows.window]   ... and its sections, over the shared defaults above

A job declares its options as a frozen dataclass (``ridestream.jobs.ride_windows.RideWindowsOptions``):
a field whose default is a settings dataclass is a section, built from that default, then the
shared table of the same name, then ``[jobs.<job>.<section>]``, then flags; any other field is a
plain option of ``[jobs.<job>]``. Every setting can be overridden by a flag (:class:`Override`);
:data:`SHARED_FLAGS` are every job's, the section flag groups are composed by each job.

Secrets are never written in a profile: the profile names the environment variable that holds one
(``[kafka.secrets]``), and ``kafka.bootstrap_servers_env`` may name one that holds the cluster.
Relative paths in a profile are resolved against ``$RIDESTREAM_HOME``; on the command line,
against the working directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from ridestream.errors import ConfigError
from ridestream.kafka.settings import KafkaSettings
from ridestream.paths import CONF_DIR, ridestream_home

DEFAULT_PROFILE = "local"
WINDOW_KINDS = ("tumbling", "hopping", "session")
SINK_KINDS = ("console", "kafka", "delta")
# "kafka+delta": every reject to both (a topic to replay from, a table to query by reason).
DEAD_LETTER_KINDS = ("kafka", "delta", "kafka+delta", "console", "none")
OUTPUT_MODES = ("append", "update")
STARTING_OFFSETS = ("earliest", "latest")
# How a ride is written in a Kafka value: a JSON object, a CSV line in schema order, or Avro in
# Confluent's wire format (schema id from the [schema_registry], see ridestream.avro_parsing).
VALUE_FORMATS = ("json", "csv", "avro")


def refuse_avro(setting: str, value: str, job: str) -> None:
    """Refuse Avro values for a job that reads only JSON and CSV (so far only ride_windows does)."""
    if value == "avro":
        raise ConfigError(
            f"{setting} 'avro': {job} reads JSON or CSV values (Avro values: jobs/ride_windows.py); "
            "choose json or csv"
        )


LOG_LEVELS = ("ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF", "TRACE")
# Triggers that process what is there and end; anything else is a processing-time interval, or
# real-time mode.
ENDING_TRIGGERS = ("available-now", "once")
# Spark's real-time mode (4.1+): long-running tasks pass each record through as it arrives; the
# interval only says how often progress is checkpointed, and Spark refuses one under 5 seconds
# (spark.sql.streaming.realTimeMode.minBatchDuration). 'real-time' alone checkpoints every 5 s.
REAL_TIME = "real-time"
REAL_TIME_DEFAULT_INTERVAL = "5 seconds"
REAL_TIME_MIN_INTERVAL = timedelta(seconds=5)

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


def _duration(setting: str, value: str, minimum: timedelta | None = timedelta(0)) -> timedelta:
    """Return ``value`` as a duration longer than ``minimum`` (None: any), or name the setting."""
    try:
        duration = parse_duration(value)
    except ConfigError:
        raise ConfigError(
            f"{setting} {value!r} is not a duration: write it like '10 minutes' or '30 seconds'"
        ) from None
    if minimum is not None and duration <= minimum:
        raise ConfigError(f"{setting} {value!r}: must be longer than {minimum.total_seconds():g} s")
    return duration


def _at_least(setting: str, value: float | None, minimum: float) -> None:
    """Refuse a number below ``minimum`` (None is left to mean "not set")."""
    if value is not None and value < minimum:
        raise ConfigError(f"{setting} {value!r}: must be at least {minimum:g}")


def _one_of(setting: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{setting} {value!r}: choose one of {', '.join(choices)}")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def storage_path(value: str | Path) -> Path | str:
    """Return a local path as a Path, a storage URI (``s3a://bucket/x``, ``abfss://``) unchanged.

    ``Path`` would fold the URI's ``//`` into one slash.
    """
    text = str(value)
    return text if "://" in text else Path(text).expanduser()


def _path_field(default: Path | None) -> Any:
    """Return a dataclass field holding a path: relative ones are resolved under RIDESTREAM_HOME."""
    return field(default=default, metadata={"path": True})


@dataclass(frozen=True)
class SourceSettings:
    """The topic a job reads, and how."""

    topic: str = "rides"
    format: str = "json"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    # Spark tasks to read a batch in (Kafka's minPartitions): None reads one task per partition.
    min_partitions: int | None = None

    def __post_init__(self) -> None:
        _one_of("source.format", self.format, VALUE_FORMATS)
        _one_of("source.starting_offsets", self.starting_offsets, STARTING_OFFSETS)
        _at_least("source.max_offsets_per_trigger", self.max_offsets_per_trigger, 1)
        _at_least("source.min_partitions", self.min_partitions, 1)


@dataclass(frozen=True)
class WindowSettings:
    """Event-time windows: kind, size, slide (hopping), gap (session), watermark, group keys.

    ``panes``: hopping windows whose size is a whole number of slides are added up from
    slide-sized panes in append mode (:func:`ridestream.windows.count_rides_by_pane`: half the
    state, but a ride later than the watermark is dropped from every window once its pane closed).
    """

    kind: str = "tumbling"
    size: str = "5 minutes"
    slide: str | None = None
    gap: str | None = None
    watermark: str = "10 minutes"
    group_by: tuple[str, ...] = ("PULocationID",)
    panes: bool = False

    def __post_init__(self) -> None:
        _one_of("window.kind", self.kind, WINDOW_KINDS)
        _duration("window.watermark", self.watermark, minimum=None)
        if self.kind == "session":
            if not self.gap:
                raise ConfigError(
                    "window.kind 'session' needs window.gap (for example '5 minutes')"
                )
            _duration("window.gap", self.gap)
            return
        size = _duration("window.size", self.size)
        if self.kind == "hopping":
            if not self.slide:
                raise ConfigError(
                    "window.kind 'hopping' needs window.slide (for example '1 minute')"
                )
            if _duration("window.slide", self.slide) > size:
                raise ConfigError(
                    f"window.slide {self.slide!r} must not be longer than window.size {self.size!r}"
                )

    def describe(self) -> str:
        """Return e.g. 'tumbling windows of 1 minute' or 'hopping windows of 10 minutes sliding 5 minutes'."""
        sliding = f" sliding {self.slide}" if self.kind == "hopping" else ""
        return f"{self.kind} windows of {self.gap or self.size}{sliding}"


@dataclass(frozen=True)
class SinkSettings:
    """Where a job's results go: console, a Kafka topic, or a Delta table."""

    kind: str = "console"
    output_mode: str = "append"
    topic: str = "ride_windows"
    path: Path | str = _path_field(Path("delta/ride_windows"))  # or a storage URI (s3a://...)
    console_rows: int = 20

    def __post_init__(self) -> None:
        _one_of("sink.kind", self.kind, SINK_KINDS)
        _one_of("sink.output_mode", self.output_mode, OUTPUT_MODES)
        _at_least("sink.console_rows", self.console_rows, 1)


@dataclass(frozen=True)
class DeadLetterSettings:
    """Where records that fail to parse go, with their reason."""

    kind: str = "kafka"
    topic: str = "rides_dead_letter"
    path: Path | str = _path_field(Path("delta/rides_dead_letter"))

    def __post_init__(self) -> None:
        _one_of("dead_letter.kind", self.kind, DEAD_LETTER_KINDS)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the sinks rejects go to: ('kafka', 'delta') for 'kafka+delta', () for 'none'."""
        return () if self.kind == "none" else tuple(self.kind.split("+"))


@dataclass(frozen=True)
class QuerySettings:
    """Trigger, checkpoints and progress, for every query a job starts.

    ``trigger``: 'available-now' (process what is there, then stop), 'once', an interval
    (micro-batches: '1 second', '0 seconds' for one right after another), or 'real-time' /
    'real-time 30 seconds' (Spark's real-time mode: each record passes through as it arrives, and
    progress is checkpointed at that interval, 5 s by default and at least; stateless jobs only,
    :meth:`ridestream.runner.Job.real_time_refusal`).
    """

    trigger: str = "10 seconds"
    checkpoint_dir: Path | str = _path_field(Path("checkpoints"))
    progress: bool = True  # a line per micro-batch on stderr
    metrics_file: Path | None = _path_field(None)  # every batch's progress JSON, one per line

    def __post_init__(self) -> None:
        if self.real_time_interval is not None:
            interval = self.real_time_interval
            try:
                duration = parse_duration(interval)
            except ConfigError:
                duration = None
            if duration is None or duration < REAL_TIME_MIN_INTERVAL:
                raise ConfigError(
                    f"query.trigger {self.trigger!r}: the real-time checkpoint interval must be "
                    "at least 5 seconds: write 'real-time' (5 s) or 'real-time 30 seconds'"
                )
        elif self.trigger not in ENDING_TRIGGERS:
            try:
                parse_duration(self.trigger)
            except ConfigError:
                raise ConfigError(
                    f"query.trigger {self.trigger!r}: write an interval ('10 seconds'), "
                    "'available-now' (process what is there, then stop), 'once', or "
                    "'real-time' (stateless jobs: records pass through as they arrive)"
                ) from None

    @property
    def ends(self) -> bool:
        """Return True when the trigger processes what is there and then stops."""
        return self.trigger in ENDING_TRIGGERS

    @property
    def real_time_interval(self) -> str | None:
        """Return the checkpoint interval of a real-time trigger ('5 seconds'), else None."""
        words = self.trigger.strip().split(None, 1)
        if not words or words[0] != REAL_TIME:
            return None
        return words[1] if len(words) > 1 else REAL_TIME_DEFAULT_INTERVAL

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

    def __post_init__(self) -> None:
        _at_least("spark.shuffle_partitions", self.shuffle_partitions, 1)
        _one_of("spark.log_level", self.log_level.upper(), LOG_LEVELS)


@dataclass(frozen=True)
class EmbeddedSettings:
    """What a job starts for this profile before it runs: a local broker, and generated rides."""

    kafka: bool = False
    topic_partitions: int = 2
    datagen: bool = False
    datagen_rate: float = 20.0
    datagen_backfill: str = "3 minutes"
    # Start the local schema registry at schema_registry.url (for --format avro), like the broker.
    registry: bool = False

    def __post_init__(self) -> None:
        _at_least("embedded.topic_partitions", self.topic_partitions, 1)
        if self.datagen_rate <= 0:
            raise ConfigError(f"embedded.datagen_rate {self.datagen_rate!r}: must be above 0")
        _duration("embedded.datagen_backfill", self.datagen_backfill, minimum=None)


@dataclass(frozen=True)
class SchemaRegistrySettings:
    """The Schema Registry that Avro values' schema ids refer to (Confluent's REST API).

    ``url`` is Confluent's registry, Confluent Cloud's, or the local one (``./rides registry
    start``). Confluent Cloud needs an API key and secret: the profile names the environment
    variables that hold them (``key_env``, ``secret_env``), never the secrets themselves.
    """

    url: str | None = None
    key_env: str | None = None
    secret_env: str | None = None

    def __post_init__(self) -> None:
        if self.url is not None and not re.match(r"https?://", self.url):
            raise ConfigError(
                f"schema_registry.url {self.url!r}: write it as http://HOST:PORT or https://HOST"
            )
        if (self.key_env is None) != (self.secret_env is None):
            raise ConfigError(
                "schema_registry: set both key_env and secret_env (the variables holding the "
                "API key and secret), or neither"
            )

    def client_config(self) -> dict[str, str]:
        """Return confluent-kafka's ``SchemaRegistryClient`` configuration (secrets from env)."""
        if self.url is None:
            raise ConfigError(
                "Avro values need a schema registry: set [schema_registry] url in the profile "
                "or pass --schema-registry-url (./rides registry start runs a local one)"
            )
        config = {"url": self.url}
        if self.key_env is not None and self.secret_env is not None:
            missing = [name for name in (self.key_env, self.secret_env) if not os.environ.get(name)]
            if missing:
                raise ConfigError(
                    f"schema_registry reads its API key and secret from ${self.key_env} and "
                    f"${self.secret_env}: export {missing[0]}"
                )
            key, secret = os.environ[self.key_env], os.environ[self.secret_env]
            config["basic.auth.user.info"] = f"{key}:{secret}"
        return config


@dataclass(frozen=True)
class Settings:
    """Everything a job or command needs, loaded once at the edge and passed down.

    ``source`` is the profile's shared ``[source]``: the rides topic the ``rides`` commands use.
    ``job`` holds the running job's own options (its dataclass), None for commands.
    """

    profile: str
    kafka: KafkaSettings
    source: SourceSettings = SourceSettings()
    query: QuerySettings = QuerySettings()
    spark: SparkSettings = SparkSettings()
    embedded: EmbeddedSettings = EmbeddedSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    # librdkafka settings: conf/clients.toml, then the profile's [producer] / [consumer]
    producer: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    consumer: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    job: Any = None


class JobOptions(Protocol):
    """What settings need to know of a job: its name and the dataclass of its options."""

    name: str
    options: type


def on_off(text: str) -> bool:
    """Parse 'on' or 'off' (a flag's value) into a bool."""
    values = {"on": True, "off": False, "true": True, "false": False}
    if text.lower() not in values:
        raise ValueError(f"{text!r}: say on or off")
    return values[text.lower()]


def group_keys(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of fields."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class Override:
    """A command-line flag that overrides one setting.

    ``key`` is the setting: ``section.name`` for a shared section (``query.trigger``), or
    ``job.section.name`` / ``job.name`` for the running job's options.
    """

    flag: str
    key: str
    help: str
    type: Any = str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    group: str = "job"

    @property
    def setting(self) -> str:
        """Return the setting's name as a profile writes it (``source.topic``, ``stages``)."""
        return self.key.removeprefix("job.")


SHARED_FLAGS: tuple[Override, ...] = (
    Override(
        "--bootstrap-servers",
        "kafka.bootstrap_servers",
        "Kafka brokers, host:port[,...]",
        group="Kafka",
    ),
    Override(
        "--schema-registry-url",
        "schema_registry.url",
        "Schema Registry of --format avro values, http://HOST:PORT",
        group="Kafka",
    ),
    Override(
        "--trigger",
        "query.trigger",
        "'available-now' (process what is there, then stop), 'once', an interval ('1 second'; "
        "'0 seconds': each batch right after the last), or 'real-time' / 'real-time 30 seconds' "
        "(records pass through as they arrive, progress checkpointed at that interval, 5 s at "
        "least; stateless jobs only: jobs/ride_clean.py)",
        group="queries",
    ),
    Override(
        "--checkpoint-dir",
        "query.checkpoint_dir",
        "directory of the queries' checkpoints",
        storage_path,
        "PATH",
        group="queries",
    ),
    Override(
        "--progress",
        "query.progress",
        "a progress line per micro-batch on stderr: on|off",
        on_off,
        "on|off",
        group="queries",
    ),
    Override(
        "--metrics-file",
        "query.metrics_file",
        "append every micro-batch's progress JSON to this file (one object per line)",
        Path,
        "PATH",
        group="queries",
    ),
    Override(
        "--master",
        "spark.master",
        "Spark master (default: spark-submit's, or local[*])",
        group="Spark",
    ),
    Override(
        "--shuffle-partitions",
        "spark.shuffle_partitions",
        "state partitions; frozen into the checkpoint",
        int,
        "N",
        group="Spark",
    ),
    Override(
        "--log-level",
        "spark.log_level",
        "Spark's log level (WARN keeps the console readable)",
        group="Spark",
    ),
)


def source_flags(
    section: str = "source", prefix: str = "", what: str = "rides"
) -> tuple[Override, ...]:
    """Return the flags of a job's Kafka source section (``--topic``, ``--format``, ...)."""
    key = f"job.{section}"
    return (
        Override(
            f"--{prefix}topic", f"{key}.topic", f"topic the {what} are read from", group="source"
        ),
        Override(
            f"--{prefix}format",
            f"{key}.format",
            f"json|csv|avro: how the {what}' values are written (csv: schema order, no "
            "header; avro: Confluent's wire format, schemas from [schema_registry])",
            choices=VALUE_FORMATS,
            group="source",
        ),
        Override(
            f"--{prefix}starting-offsets",
            f"{key}.starting_offsets",
            "earliest|latest; only for a new query (afterwards the checkpoint decides)",
            choices=STARTING_OFFSETS,
            group="source",
        ),
        Override(
            f"--{prefix}max-offsets-per-trigger",
            f"{key}.max_offsets_per_trigger",
            "cap on records per micro-batch",
            int,
            "N",
            group="source",
        ),
        Override(
            f"--{prefix}min-partitions",
            f"{key}.min_partitions",
            "Spark tasks to read each batch in, at least (default: one per topic partition)",
            int,
            "N",
            group="source",
        ),
    )


WINDOW_FLAGS: tuple[Override, ...] = (
    Override(
        "--window-kind",
        "job.window.kind",
        "tumbling|hopping|session",
        choices=WINDOW_KINDS,
        group="windows",
    ),
    Override(
        "--window",
        "job.window.size",
        "window length, e.g. '5 minutes'",
        metavar="DURATION",
        group="windows",
    ),
    Override(
        "--slide",
        "job.window.slide",
        "hopping windows: how far each window moves",
        metavar="DURATION",
        group="windows",
    ),
    Override(
        "--gap",
        "job.window.gap",
        "session windows: inactivity that closes a session",
        metavar="DURATION",
        group="windows",
    ),
    Override(
        "--watermark",
        "job.window.watermark",
        "how late a ride may arrive and still be counted",
        metavar="DURATION",
        group="windows",
    ),
    Override(
        "--group-by",
        "job.window.group_by",
        "comma-separated ride fields to group by",
        group_keys,
        "FIELDS",
        group="windows",
    ),
)

SINK_FLAGS: tuple[Override, ...] = (
    Override("--sink", "job.sink.kind", "console|kafka|delta", choices=SINK_KINDS, group="output"),
    Override(
        "--output-mode",
        "job.sink.output_mode",
        "append (each result once, when final) | update (changed results every batch)",
        choices=OUTPUT_MODES,
        group="output",
    ),
    Override(
        "--output-topic", "job.sink.topic", "Kafka sink: topic for the results", group="output"
    ),
    Override(
        "--delta-path",
        "job.sink.path",
        "Delta sink: table directory",
        storage_path,
        "PATH",
        group="output",
    ),
)

DEAD_LETTER_FLAGS: tuple[Override, ...] = (
    Override(
        "--dead-letter",
        "job.dead_letter.kind",
        "kafka|delta|kafka+delta|console|none",
        choices=DEAD_LETTER_KINDS,
        group="dead letter",
    ),
    Override(
        "--dead-letter-topic",
        "job.dead_letter.topic",
        "topic for rejected records",
        group="dead letter",
    ),
    Override(
        "--dead-letter-path",
        "job.dead_letter.path",
        "Delta table for rejected records",
        storage_path,
        "PATH",
        group="dead letter",
    ),
)

# Shared sections: name -> settings class. Tables of these names may also be a job's section
# defaults (source, dead_letter, window, sink).
_SHARED = {
    "kafka": KafkaSettings,
    "source": SourceSettings,
    "query": QuerySettings,
    "spark": SparkSettings,
    "embedded": EmbeddedSettings,
    "schema_registry": SchemaRegistrySettings,
}
_JOB_SECTION_DEFAULTS = ("source", "window", "sink", "dead_letter")
_CLIENT_SECTIONS = ("producer", "consumer")
CLIENTS_FILE = CONF_DIR / "clients.toml"
# Settings that moved into a job's own section: where they went.
_MOVED = {
    ("query", "stages"): "[jobs.ride_windows] stages",
    ("query", "parsed_path"): "[jobs.ride_windows] parsed_path",
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


def _resolved(value: Any) -> Any:
    """Return a path setting as a Path under $RIDESTREAM_HOME when relative, a URI unchanged."""
    if value is None:
        return None
    path = storage_path(value)
    if isinstance(path, Path) and not path.is_absolute():
        path = ridestream_home() / path
    return path


def _section(default: Any, values: Mapping[str, Any], where: str) -> Any:
    """Return ``default`` (a settings dataclass) with ``values`` applied, paths resolved."""
    known = {item.name: item for item in dataclasses.fields(default)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(known)})")
    changes = dict(values)
    for name, item in known.items():
        if item.metadata.get("path"):
            changes[name] = _resolved(changes.get(name, getattr(default, name)))
        if isinstance(changes.get(name), list):
            changes[name] = tuple(changes[name])
        if name in changes and isinstance(getattr(default, name), Mapping):
            changes[name] = _frozen({key: str(value) for key, value in changes[name].items()})
    return dataclasses.replace(default, **changes)


def _split(overrides: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Split dotted overrides into shared ones by section, and the job's (``job.`` removed)."""
    shared: dict[str, dict[str, Any]] = {}
    for_job: dict[str, Any] = {}
    for key, value in overrides.items():
        if key.startswith("job."):
            for_job[key.removeprefix("job.")] = value
        else:
            section, name = key.split(".", 1)
            shared.setdefault(section, {})[name] = value
    return shared, for_job


def _job_options(job: JobOptions, values: Mapping[str, Any], overrides: Mapping[str, Any]) -> Any:
    """Build a job's options: its defaults, shared section tables, [jobs.<name>], then flags."""
    table = dict((values.get("jobs") or {}).get(job.name) or {})
    options = job.options()
    changes: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for item in dataclasses.fields(options):
        default = getattr(options, item.name)
        if dataclasses.is_dataclass(default):
            layered = {
                **(values.get(item.name, {}) if item.name in _JOB_SECTION_DEFAULTS else {}),
                **table.pop(item.name, {}),
                **{
                    key.split(".", 1)[1]: value
                    for key, value in overrides.items()
                    if key.startswith(f"{item.name}.")
                },
            }
            changes[item.name] = _section(
                default, layered, f"profile section [jobs.{job.name}.{item.name}]"
            )
        else:
            if item.name in table:
                plain[item.name] = table.pop(item.name)
            if item.name in overrides:
                plain[item.name] = overrides[item.name]
    if table:
        raise ConfigError(
            f"profile section [jobs.{job.name}]: unknown setting {sorted(table)[0]!r} (known: "
            f"{', '.join(item.name for item in dataclasses.fields(options))})"
        )
    return _section(dataclasses.replace(options, **changes), plain, f"[jobs.{job.name}]")


def build_settings(
    profile: str,
    values: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    job: JobOptions | None = None,
) -> Settings:
    """Build frozen settings from a profile's values and dotted-key overrides.

    ``job`` (with ``name`` and ``options``) adds the running job's options as ``settings.job``.
    """
    shared_overrides, job_overrides = _split(overrides or {})
    for name, table in values.items():
        if name not in (*_SHARED, *_JOB_SECTION_DEFAULTS, *_CLIENT_SECTIONS, "jobs"):
            raise ConfigError(f"profile {profile!r}: unknown section [{name}]")
        for key in table if isinstance(table, Mapping) else ():
            if (name, key) in _MOVED:
                raise ConfigError(
                    f"profile {profile!r}: {name}.{key} is now {_MOVED[name, key]}: move it there"
                )
    with CLIENTS_FILE.open("rb") as handle:
        clients: dict[str, dict[str, Any]] = tomllib.load(handle)
    for name in _CLIENT_SECTIONS:
        clients[name] = {**clients.get(name, {}), **values.get(name, {})}

    kafka = dict(values.get("kafka", {}))
    # Environment between profile and flags: kafka.bootstrap_servers_env names a variable that,
    # when set, replaces kafka.bootstrap_servers, so one profile serves any cluster of its kind.
    variable = kafka.pop("bootstrap_servers_env", None)
    if variable and os.environ.get(variable):
        kafka["bootstrap_servers"] = os.environ[variable]
    kafka.update(shared_overrides.pop("kafka", {}))
    if "bootstrap_servers" not in kafka:
        if variable:
            raise ConfigError(
                f"profile {profile!r} reads kafka.bootstrap_servers from ${variable}, "
                f"which is not set: export {variable}=HOST:PORT, or pass --bootstrap-servers"
            )
        raise ConfigError(f"profile {profile!r} sets no kafka.bootstrap_servers")
    unknown = sorted(set(kafka) - {"bootstrap_servers", "options", "secrets"})
    if unknown:
        raise ConfigError(f"profile {profile!r}, section [kafka]: unknown setting {unknown[0]!r}")
    built: dict[str, Any] = {
        "kafka": KafkaSettings(
            bootstrap_servers=kafka["bootstrap_servers"],
            options=_frozen({k: str(v) for k, v in (kafka.get("options") or {}).items()}),
            secrets=_frozen({k: str(v) for k, v in (kafka.get("secrets") or {}).items()}),
        )
    }
    for name, cls in _SHARED.items():
        if name != "kafka":
            built[name] = _section(
                cls(),
                {**values.get(name, {}), **shared_overrides.get(name, {})},
                f"profile {profile!r}, section [{name}]",
            )
    return Settings(
        profile=profile,
        **built,
        **{name: _frozen(clients[name]) for name in _CLIENT_SECTIONS},
        job=_job_options(job, values, job_overrides) if job is not None else None,
    )


def load_settings(
    profile: str, overrides: Mapping[str, Any] | None = None, job: JobOptions | None = None
) -> Settings:
    """Load ``conf/<profile>.toml`` (or a path) and build settings with ``overrides`` applied."""
    return build_settings(profile, load_profile(profile), overrides, job)


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--profile`` (default ``$RIDESTREAM_PROFILE``, else ``local``)."""
    parser.add_argument(
        "--profile",
        default=os.environ.get("RIDESTREAM_PROFILE", DEFAULT_PROFILE),
        help="conf/<NAME>.toml or a path to a .toml file (env RIDESTREAM_PROFILE; "
        "default: %(default)s)",
    )


def current_value(settings: Settings | None, key: str) -> Any:
    """Return the value a setting has in ``settings`` (for --help), or None if unknown."""
    if settings is None:
        return None
    value: Any = settings
    parts = key.split(".")
    for part in parts:
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def add_flags(
    parser: argparse.ArgumentParser, flags: tuple[Override, ...], current: Settings | None = None
) -> None:
    """Add ``flags`` to a parser, grouped, each help naming its setting and current value."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    home = str(ridestream_home())
    for override in flags:
        if override.group not in groups:
            groups[override.group] = parser.add_argument_group(override.group)
        value = current_value(current, override.key)
        if isinstance(value, tuple):
            value = ",".join(value)
        shown = "" if value is None else f"; now {str(value).replace(home, '$RIDESTREAM_HOME')}"
        groups[override.group].add_argument(
            override.flag,
            dest=override.key,
            type=override.type,
            metavar=override.metavar or override.flag.lstrip("-").upper().replace("-", "_"),
            choices=override.choices,
            default=None,
            help=f"{override.help} [{override.setting}{shown}]",
        )


def overrides_from_args(args: argparse.Namespace, flags: tuple[Override, ...]) -> dict[str, Any]:
    """Return the settings the given flags override (flags not given are left out).

    A path typed on the command line means what the shell means: relative to where the user is
    (a profile's relative paths are under $RIDESTREAM_HOME).
    """
    overrides = {}
    for override in flags:
        value = getattr(args, override.key, None)
        if value is None:
            continue
        if override.type in (storage_path, Path):
            path = storage_path(value)
            value = path.absolute() if isinstance(path, Path) else path
        overrides[override.key] = value
    return overrides
