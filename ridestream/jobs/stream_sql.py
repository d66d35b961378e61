"""stream_sql: SQL over the rides stream (and other topics), results as they change.

The course's ksqlDB chapter in Spark SQL (docs/sql.md). The statements of a ``.sql`` file or of
``--query`` run against streams registered as views:

- ``rides``: the valid rides of the rides topic, parsed against ``schemas/ride.avsc`` as in
  ride_windows (rejects go to the dead-letter sink), with ``event_time`` (the pickup) and the
  watermark of ``window.watermark``;
- ``zones``: the TLC zone lookup (static: ``locationid``, ``borough``, ``zone``,
  ``service_zone``; :mod:`ridestream.zones`), to join rides with, e.g. ``JOIN zones ON
  rides.PULocationID = zones.locationid``;
- each ``CREATE STREAM`` of the profile's ``streams`` files, and of the statements themselves.

A plain ``SELECT`` prints its changes to the console (update mode when it aggregates, append when
it does not); ``CREATE TABLE name AS SELECT`` maintains a Delta table under ``tables_dir`` (MERGE,
exactly once) or, ``WITH (KAFKA_TOPIC='t')``, a topic keyed by the GROUP BY columns. Each is a
query of its own, all in one job::

    ./spark-submit.sh jobs/stream_sql.py --file sql/03_rides_per_vendor.sql
    ./spark-submit.sh jobs/stream_sql.py --query "SELECT PULocationID, count(*) FROM rides GROUP BY 1"
    ./rides sql "SELECT payment_type, count(*) FROM rides GROUP BY payment_type"
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import DataStreamWriter

from ridestream.config import (
    DEAD_LETTER_FLAGS,
    WINDOW_FLAGS,
    DeadLetterSettings,
    Override,
    Settings,
    SourceSettings,
    WindowSettings,
    group_keys,
    refuse_avro,
    source_flags,
)
from ridestream.errors import ConfigError
from ridestream.jobs.outputs import claim, dead_letter_target
from ridestream.jobs.ride_windows import parse_records
from ridestream.parsing import (
    ACCOUNTING,
    PICKUP_TIME,
    parse_rides,
    record_counts,
    rejected_records,
    valid_rides,
)
from ridestream.paths import PROJECT_ROOT, display_path
from ridestream.runner import Job, Output, Stage
from ridestream.schemas import ride_schema, struct_type
from ridestream.sinks import (
    dead_letter_writers,
    kafka_writer,
    merge_results,
    parsed_table_writer,
)
from ridestream.sources import read_kafka_stream
from ridestream.sql import (
    CreateStream,
    CreateTable,
    Parsed,
    Select,
    SqlError,
    explain_spark_error,
    parse_sql,
    read_sql_file,
)
from ridestream.stack import Feed
from ridestream.windows import EVENT_TIME, with_event_time
from ridestream.zones import zones_frame

NAME = "stream_sql"
DEAD_LETTER_QUERY = f"{NAME}_dead_letter"
RIDES_VIEW = "rides"
ZONES_VIEW = "zones"
OUTPUT_MODES = ("auto", "update", "append")


def _sql_path(path: Path | str) -> Path:
    """Return a .sql path as given, or under the checkout when it is not there (``sql/x.sql``)."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists() or not (PROJECT_ROOT / given).exists():
        return given
    return PROJECT_ROOT / given


@dataclass(frozen=True)
class StreamSqlOptions:
    """stream_sql's settings: ``[jobs.stream_sql]`` and its sections, over the shared ones.

    ``file`` or ``query`` holds the statements. ``streams``: .sql files of CREATE STREAM
    statements registered before them (relative paths: here, else in the checkout).
    ``output_mode`` 'auto': update when a query aggregates (except over session windows, which
    Spark writes once closed), append otherwise.
    ``window.watermark`` is the event-time watermark of ``rides`` and of every stream with an
    event time; the window's other settings are not used (windows are in the SQL).
    """

    source: SourceSettings = SourceSettings()
    window: WindowSettings = WindowSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    file: Path | None = None
    query: str | None = None
    streams: tuple[str, ...] = ()
    output_mode: str = "auto"
    tables_dir: Path | str = field(default=Path("delta/sql"), metadata={"path": True})
    console_rows: int = 20

    def __post_init__(self) -> None:
        refuse_avro("source.format", self.source.format, NAME)
        if self.output_mode not in OUTPUT_MODES:
            raise ConfigError(
                f"output_mode {self.output_mode!r}: choose one of {', '.join(OUTPUT_MODES)}"
            )
        if self.file is not None or self.query is not None:
            # Refuse SQL it cannot run when the settings load (the defaults come first, empty).
            self.statements()

    def stream_statements(self) -> list[Parsed]:
        """Return the CREATE STREAM statements of the ``streams`` files."""
        parsed: list[Parsed] = []
        for name in self.streams:
            path = _sql_path(name)
            for statement in parse_sql(read_sql_file(path), display_path(path)):
                if not isinstance(statement, CreateStream):
                    raise SqlError(
                        f"{statement.statement.where()}: a streams file holds only CREATE STREAM "
                        "statements"
                    )
                parsed.append(statement)
        return parsed

    def statements(self) -> list[Parsed]:
        """Return the streams' statements, then those of ``file`` or ``query``."""
        if (self.file is None) == (self.query is None):
            raise ConfigError("give the SQL to run: --file sql/x.sql or --query 'SELECT ...'")
        if self.file is not None:
            path = _sql_path(self.file)
            own = parse_sql(read_sql_file(path), display_path(path))
        else:
            own = parse_sql(str(self.query), "query")
        parsed = [*self.stream_statements(), *own]
        if not any(isinstance(s, Select | CreateTable) for s in parsed):
            raise SqlError(
                f"{own[0].statement.source}: nothing to run: add a SELECT or a CREATE TABLE ... "
                "AS SELECT (CREATE STREAM only names a topic)"
            )
        names = [s.name.lower() for s in parsed if isinstance(s, CreateTable)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SqlError(f"CREATE TABLE {twice[0]} twice: give each table a name of its own")
        return parsed

    def label(self) -> str:
        """Return what the SQL is called in paths and messages: the file's stem, or 'query'."""
        return Path(self.file).stem if self.file is not None else "query"


FLAGS: tuple[Override, ...] = (
    Override("--file", "job.file", "a .sql file of statements to run", Path, "PATH", group="SQL"),
    Override("--query", "job.query", "statements to run (instead of --file)", group="SQL"),
    Override(
        "--streams",
        "job.streams",
        "comma-separated .sql files of CREATE STREAM statements registered first",
        group_keys,
        "FILES",
        group="SQL",
    ),
    Override(
        "--output-mode",
        "job.output_mode",
        "auto (update when a query aggregates, else append) | update | append",
        choices=OUTPUT_MODES,
        group="SQL",
    ),
    Override(
        "--tables-dir",
        "job.tables_dir",
        "CREATE TABLE name: the Delta table <dir>/<name>",
        Path,
        "PATH",
        group="SQL",
    ),
    *source_flags(),
    *(flag for flag in WINDOW_FLAGS if flag.flag == "--watermark"),
    *DEAD_LETTER_FLAGS,
)


# --- The views ----------------------------------------------------------------------------


def rides_view(records: DataFrame, options: StreamSqlOptions) -> tuple[DataFrame, DataFrame]:
    """Return the ``rides`` view (valid rides, event time, watermark) and the rejected records.

    The parse is ride_windows' (:func:`ridestream.jobs.ride_windows.parse_records`), and so is the
    accounting: every batch counts its records as valid or rejected.
    """
    parsed = parse_records(records, options)
    rides = (
        parsed.observe(ACCOUNTING, *record_counts())
        .transform(valid_rides, ride_schema())
        .transform(with_event_time)
        # A query's windows and sessions close as this watermark passes them.
        .withWatermark(EVENT_TIME, options.window.watermark)
    )
    return rides, rejected_records(parsed)


def stream_schema(spark: SparkSession, stream: CreateStream) -> T.StructType:
    """Return the schema of a CREATE STREAM: its declared columns, or a schema of schemas/."""
    if stream.schema is not None:
        return struct_type(stream.schema)
    try:
        parsed = T.StructType.fromDDL(stream.columns)  # type: ignore[attr-defined]
    except AttributeError:
        parsed = T._parse_datatype_string(stream.columns)  # noqa: SLF001 - pyspark < 4.1
    except Exception as error:  # noqa: BLE001 - Spark's parse error, said in one line
        raise SqlError(
            f"{stream.statement.where()}: cannot read the columns of {stream.name}: "
            f"{str(error).splitlines()[0]}"
        ) from None
    return parsed


def stream_view(
    records: DataFrame, stream: CreateStream, schema: T.StructType, watermark: str
) -> tuple[DataFrame, DataFrame]:
    """Return a CREATE STREAM's view and its rejected records.

    Values are parsed against ``schema`` like rides (a record that does not parse is rejected with
    its reason). The event time is the column ``TIMESTAMP='column'`` names, else the pickup time
    when the schema has one, else the Kafka record's timestamp (ksqlDB's ROWTIME); the watermark
    is set on it.
    """
    parsed = records.transform(parse_rides, schema, value_format=stream.value_format)
    time_column = stream.timestamp or (PICKUP_TIME if PICKUP_TIME in schema.fieldNames() else None)
    if time_column is not None and time_column not in schema.fieldNames():
        raise SqlError(
            f"{stream.statement.where()}: TIMESTAMP={time_column!r} is not a column of "
            f"{stream.name} ({', '.join(schema.fieldNames())})"
        )
    event_time = F.col(f"ride.`{time_column}`") if time_column else F.col("timestamp")
    rows = (
        parsed.withColumn("ride", F.col("ride").withField(EVENT_TIME, event_time))
        .transform(valid_rides, _with_event_time(schema))
        .withWatermark(EVENT_TIME, watermark)
    )
    return rows, rejected_records(parsed)


def _with_event_time(schema: T.StructType) -> T.StructType:
    return T.StructType([*schema.fields, T.StructField(EVENT_TIME, T.TimestampType())])


# --- A statement's result -----------------------------------------------------------------


def _aggregate(frame: DataFrame) -> Any | None:
    """Return the analyzed plan's first Aggregate node (a JVM object), or None."""
    pending = [frame._jdf.queryExecution().analyzed()]  # noqa: SLF001
    while pending:
        node = pending.pop()
        if node.nodeName() == "Aggregate":
            return node
        children = node.children()
        pending.extend(children.apply(index) for index in range(children.size()))
    return None


def _grouping(frame: DataFrame) -> tuple[list[str], int] | None:
    """Return the output columns computed as GROUP BY expressions, and how many are not selected."""
    aggregate = _aggregate(frame)
    if aggregate is None:
        return None
    grouping = aggregate.groupingExpressions()
    groups = [grouping.apply(i) for i in range(grouping.size())]
    outputs = aggregate.aggregateExpressions()
    keys, selected = [], set()
    for index in range(outputs.size()):
        named = outputs.apply(index)
        expression = named.child() if named.nodeName() == "Alias" else named
        matched = [i for i, group in enumerate(groups) if expression.semanticEquals(group)]
        if matched:
            keys.append(named.name())
            selected.update(matched)
    return [name for name in frame.columns if name in keys], len(groups) - len(selected)


def grouping_columns(frame: DataFrame) -> list[str] | None:
    """Return the output columns a query groups by, in output order; None when it does not aggregate.

    A column is a key when the aggregate computes it as one of its GROUP BY expressions (by
    reference or alias), so ``SELECT payment_type AS type, count(*) ... GROUP BY payment_type``
    is keyed by ``type``.
    """
    grouping = _grouping(frame)
    return None if grouping is None else grouping[0]


def _is_window(data_type: T.DataType) -> bool:
    return isinstance(data_type, T.StructType) and [
        (f.name, type(f.dataType)) for f in data_type.fields
    ] == [("start", T.TimestampType), ("end", T.TimestampType)]


def flatten_windows(frame: DataFrame, keys: list[str]) -> tuple[DataFrame, list[str]]:
    """Return ``frame`` with each window struct as two columns, and the keys renamed to match.

    One window becomes ``window_start``, ``window_end`` (the names ride_windows' outputs and
    ``rides show`` use), several ``<name>_start``, ``<name>_end``. A Delta table and a JSON
    record then hold plain timestamps.
    """
    windows = [f.name for f in frame.schema.fields if _is_window(f.dataType)]
    if not windows:
        return frame, keys

    def names(column: str) -> tuple[str, str]:
        prefix = "window" if len(windows) == 1 else column
        return f"{prefix}_start", f"{prefix}_end"

    columns, renamed = [], []
    for name in frame.columns:
        if name in windows:
            start, end = names(name)
            columns += [F.col(f"`{name}`.start").alias(start), F.col(f"`{name}`.end").alias(end)]
        else:
            columns.append(F.col(f"`{name}`"))
    for key in keys:
        renamed += list(names(key)) if key in windows else [key]
    return frame.select(*columns), renamed


@dataclass(frozen=True)
class Result:
    """A statement's streaming result, as its writer needs it."""

    query_name: str
    statement: Select | CreateTable
    frame: DataFrame
    keys: list[str] | None  # None: the query does not aggregate
    output_mode: str


def output_mode(statement: Select | CreateTable, aggregates: bool, setting: str) -> str:
    """Return the output mode of a statement's query (``setting`` 'auto': see the options)."""
    if setting != "auto":
        return setting
    if not aggregates or statement.sessions:
        # Spark emits a session once, when it has closed: its bounds move while it grows, so a
        # row keyed by them is final only then (Spark refuses update mode for sessions).
        return "append"
    return "update"


def check_streaming(spark: SparkSession, frame: DataFrame, mode: str) -> None:
    """Run Spark's check of what a streaming query can do, before anything starts.

    Spark runs the same check when the query starts; here its reason can be said with the
    statement's place and what to change.
    """
    jvm = spark._jvm  # noqa: SLF001
    modes = jvm.org.apache.spark.sql.streaming.OutputMode
    checker = jvm.org.apache.spark.sql.catalyst.analysis.UnsupportedOperationChecker
    plan = frame._jdf.queryExecution().analyzed()  # noqa: SLF001
    checker.checkForStreaming(plan, modes.Update() if mode == "update" else modes.Append())


@contextmanager
def _quiet_query_errors() -> Iterator[None]:
    """Keep pyspark from logging a statement's error (as JSON, with its plan) before we say it."""
    from pyspark.logger import PySparkLogger

    logger = PySparkLogger.getLogger("SQLQueryContextLogger")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_result(
    spark: SparkSession,
    statement: Select | CreateTable,
    query_name: str,
    views: dict[str, list[str]],
    mode_setting: str,
) -> Result:
    """Return a statement's result: Spark SQL's DataFrame, its keys, its output mode.

    Spark's errors on the statement (syntax, an unknown column, what a stream cannot do) become
    one line with the statement's place (:func:`ridestream.sql.explain_spark_error`).
    """
    try:
        with _quiet_query_errors():
            frame = spark.sql(statement.query)
            keys = grouping_columns(frame)
            mode = output_mode(statement, keys is not None, mode_setting)
            check_streaming(spark, frame, mode)
    except Exception as error:
        explained = explain_spark_error(error, statement.statement, statement.query, views)
        if explained is None:
            raise
        raise explained from None
    if not frame.isStreaming:
        raise SqlError(f"{statement.statement.where()}: the query reads no stream ({views})")
    if isinstance(statement, CreateTable) and keys is not None:
        # A group left out of the SELECT would merge rows of different groups into one.
        _, unselected = _grouping(frame) or ([], 0)
        if unselected:
            raise SqlError(
                f"{statement.statement.where()}: CREATE TABLE {statement.name} is keyed by its "
                "GROUP BY columns: select each of them"
            )
    frame, flat_keys = flatten_windows(frame, keys or [])
    return Result(query_name, statement, frame, flat_keys if keys is not None else None, mode)


def show_changes(rows: int, keys: list[str] | None, title: str):  # noqa: ANN201
    """Return a foreachBatch function printing a batch's rows (changes, in update mode).

    Rows are ordered by the query's keys, so a group's line stays in its place batch after batch.
    """

    def show(batch: DataFrame, batch_id: int) -> None:
        batch = batch.persist()
        try:
            count = batch.count()
            if not count:
                return
            print(f"--- {title} batch {batch_id}: {count:,} row{'s' * (count != 1)}", flush=True)
            ordered = batch.orderBy(*keys) if keys else batch
            ordered.show(rows, truncate=False)
        finally:
            batch.unpersist()

    return show


def table_path(options: StreamSqlOptions, table: CreateTable) -> str:
    """Return the Delta table of a CREATE TABLE: ``<tables_dir>/<name>``."""
    return f"{str(options.tables_dir).rstrip('/')}/{table.name}"


def result_writer(result: Result, options: StreamSqlOptions, kafka: Any) -> DataStreamWriter:
    """Return the unstarted writer of a statement's result (console, Delta or Kafka)."""
    statement, frame, keys = result.statement, result.frame, result.keys
    if isinstance(statement, Select):
        writer = frame.writeStream.foreachBatch(
            show_changes(options.console_rows, keys, result.query_name)
        )
    elif statement.topic is not None:
        # At-least-once: the key names the group (and window), so consumers can dedupe and a
        # compacted topic keeps each group's latest value.
        key = F.to_json(F.struct(*keys)) if keys else F.lit(None).cast("string")
        records = frame.select(key.alias("key"), F.to_json(F.struct(*frame.columns)).alias("value"))
        writer = kafka_writer(records, kafka, statement.topic)
    elif result.output_mode == "update":
        path = table_path(options, statement)
        writer = frame.writeStream.foreachBatch(
            merge_results(path, tuple(keys or ()), app_id=f"{result.query_name}:{path}")
        )
    else:
        return parsed_table_writer(frame, table_path(options, statement))
    return writer.outputMode(result.output_mode)


# --- The job ------------------------------------------------------------------------------


def _mentions(statement: Select | CreateTable, view: str) -> bool:
    """Return True when a statement reads ``view`` (named after FROM or JOIN)."""
    pattern = rf"\b(?:FROM|JOIN)\s+{re.escape(view)}\b"
    return bool(re.search(pattern, statement.query, re.IGNORECASE))


def query_names(statements: list[Parsed]) -> dict[int, str]:
    """Return each query's name by statement index: the table's name, else stream_sql[_N]."""
    selects = [i for i, s in enumerate(statements) if isinstance(s, Select)]
    names = {}
    for index, statement in enumerate(statements):
        if isinstance(statement, CreateTable):
            names[index] = statement.name.lower()
        elif isinstance(statement, Select):
            position = selects.index(index)
            names[index] = NAME if len(selects) == 1 else f"{NAME}_{position + 1}"
    return names


class StreamSql(Job):
    """The stream_sql job as the runner sees it."""

    name = NAME
    description = (
        "Run SQL over streams: the statements of --file or --query, in Spark SQL, against the "
        "view 'rides' (valid rides of the rides topic, with event_time and a watermark) and the "
        "topics CREATE STREAM names. SELECT prints results as they change; CREATE TABLE name AS "
        "SELECT maintains a Delta table (or WITH (KAFKA_TOPIC='t') a topic) keyed by its GROUP "
        "BY columns. Malformed rides go to the dead-letter sink with a reason."
    )
    options = StreamSqlOptions
    flags = FLAGS

    def real_time_refusal(self, settings: Settings) -> str | None:
        """Return why stream_sql does not run in real-time mode (whatever its statements)."""
        return (
            "stream_sql prints and merges results per micro-batch (foreachBatch) and runs a "
            "query per statement beside its rejects' query, none of which real-time mode runs; "
            "use an interval (--trigger '1 second'), or jobs/ride_clean.py for the stateless "
            "real-time path"
        )

    def _queries(self, settings: Settings) -> list[Select | CreateTable]:
        return [s for s in settings.job.statements() if isinstance(s, Select | CreateTable)]

    def _streams(self, settings: Settings) -> dict[str, CreateStream]:
        streams = {}
        for statement in settings.job.statements():
            if isinstance(statement, CreateStream):
                streams[statement.name.lower()] = statement
        return streams

    def _read(self, settings: Settings) -> dict[str, str]:
        """Return the views the queries read, with their topics."""
        views = {RIDES_VIEW: settings.job.source.topic} | {
            name: stream.topic for name, stream in self._streams(settings).items()
        }
        queries = self._queries(settings)
        return {
            view: topic
            for view, topic in views.items()
            if any(_mentions(query, view) for query in queries)
        }

    def input_topics(self, settings: Settings) -> list[str]:
        """Return the topics of the views the queries read."""
        return sorted(set(self._read(settings).values()))

    def output_topics(self, settings: Settings) -> list[str]:
        """Return the CREATE TABLE topics and the dead-letter topic."""
        topics = [
            q.topic for q in self._queries(settings) if isinstance(q, CreateTable) and q.topic
        ]
        if "kafka" in settings.job.dead_letter.kinds and self._read(settings):
            topics.append(settings.job.dead_letter.topic)
        return topics

    def outputs(self, settings: Settings) -> list[Output]:
        """Return the Delta tables of the CREATE TABLE statements and of the rejects."""
        options: StreamSqlOptions = settings.job
        outputs = [
            Output(table_path(options, query), f"Delta table {query.name}", "--tables-dir")
            for query in self._queries(settings)
            if isinstance(query, CreateTable) and query.topic is None
        ]
        if "delta" in options.dead_letter.kinds:
            outputs.append(
                Output(options.dead_letter.path, "dead-letter Delta table", "--dead-letter-path")
            )
        return outputs

    def query_shapes(self, settings: Settings) -> dict[str, dict[str, Any]]:
        """Return what decides each query's state and output, recorded with its checkpoint."""
        options: StreamSqlOptions = settings.job
        statements = options.statements()
        names = query_names(statements)
        read = self._read(settings)
        shapes: dict[str, dict[str, Any]] = {}
        for index, statement in enumerate(statements):
            if index not in names:
                continue
            shapes[names[index]] = {
                "sql": " ".join(statement.query.split()),
                "streams": {view: read[view] for view in read if _mentions(statement, view)},
                "watermark": options.window.watermark,
                "output_mode": options.output_mode,
                "shuffle_partitions": settings.spark.shuffle_partitions,
            }
        if options.dead_letter.kinds and read:
            shapes[DEAD_LETTER_QUERY] = {
                "streams": read,
                "dead_letter": dead_letter_target(options.dead_letter),
            }
        return shapes

    def checkpoint_scope(self, settings: Settings) -> str:
        """Return e.g. ``stream_sql/03_rides_per_vendor-1a2b3c``: a digest of the statements.

        Edited SQL is another query: it starts from a checkpoint of its own.
        """
        options: StreamSqlOptions = settings.job
        text = "\n".join(" ".join(s.statement.text.split()) for s in options.statements())
        digest = hashlib.sha256(f"{text}\n{options.tables_dir}".encode()).hexdigest()[:6]
        return f"{NAME}/{options.label()}-{digest}"

    def feeds(self, settings: Settings) -> list[Feed]:
        """Return the rides topic, generated for the embedded demo."""
        source = settings.job.source
        return [Feed(source.topic, "rides", source.format)]

    def describe(self, settings: Settings) -> str:
        """Return the start line: what runs, what is read, where rejects go."""
        options: StreamSqlOptions = settings.job
        queries = self._queries(settings)
        read = ", ".join(f"{view} <- {topic!r}" for view, topic in self._read(settings).items())
        return (
            f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'} from {options.label()}; "
            f"streams {read} at {settings.kafka.bootstrap_servers}, watermark "
            f"{options.window.watermark}; rejects to {options.dead_letter.kind}"
        )

    def results(self, settings: Settings) -> list[str]:
        """Return where each CREATE TABLE went, with the command that shows it."""
        lines = []
        for query in self._queries(settings):
            if isinstance(query, CreateTable):
                target = query.topic or display_path(table_path(settings.job, query))
                lines.append(f"{query.name} in {target}: ./rides show {target}")
        return lines

    def reported_queries(self, settings: Settings) -> list[str]:
        """Return every statement's query."""
        return list(query_names(settings.job.statements()).values())

    def stages(self, spark: SparkSession, settings: Settings) -> list[Stage]:
        """Return one stage: the views registered, then a query per statement and the rejects."""
        options: StreamSqlOptions = settings.job
        statements = options.statements()
        read = self._read(settings)

        def build() -> dict[str, DataStreamWriter]:
            rejects = register_views(spark, settings, statements, read)
            views = {
                name: spark.table(name).columns
                for name in [RIDES_VIEW, ZONES_VIEW, *self._streams(settings)]
            }
            writers: dict[str, DataStreamWriter] = {}
            outputs = {str(output.path): output for output in self.outputs(settings)}
            for index, query_name in query_names(statements).items():
                statement = statements[index]
                result = build_result(spark, statement, query_name, views, options.output_mode)
                if isinstance(statement, CreateTable) and statement.topic is None:
                    path = table_path(options, statement)
                    claim(spark, settings, query_name, outputs[path], result.frame.schema)
                writers[query_name] = result_writer(result, options, settings.kafka)
            if rejects is not None:
                if "delta" in options.dead_letter.kinds:
                    claim(
                        spark,
                        settings,
                        DEAD_LETTER_QUERY,
                        outputs[str(options.dead_letter.path)],
                        rejects.schema,
                    )
                writers |= dead_letter_writers(
                    rejects, options.dead_letter, settings.kafka, DEAD_LETTER_QUERY
                )
            return writers

        return [build]


def register_zones(spark: SparkSession) -> None:
    """Register the TLC zone lookup as the static view ``zones`` (small: Spark broadcasts it)."""
    zones_frame(spark).createOrReplaceTempView(ZONES_VIEW)


def register_views(
    spark: SparkSession, settings: Settings, statements: list[Parsed], read: dict[str, str]
) -> DataFrame | None:
    """Register ``rides`` and each CREATE STREAM as a temporary view; return their rejects.

    Every view is registered (so an unknown column can name them all); only the ones the queries
    read start reading Kafka, and only their rejects go to the dead-letter sink.
    """
    options: StreamSqlOptions = settings.job
    rides, ride_rejects = rides_view(
        read_kafka_stream(spark, settings.kafka, options.source), options
    )
    rides.createOrReplaceTempView(RIDES_VIEW)
    register_zones(spark)
    rejects = [ride_rejects] if RIDES_VIEW in read else []
    for statement in statements:
        if not isinstance(statement, CreateStream):
            continue
        source = SourceSettings(
            topic=statement.topic,
            format=statement.value_format,
            starting_offsets=options.source.starting_offsets,
            max_offsets_per_trigger=options.source.max_offsets_per_trigger,
            fail_on_data_loss=options.source.fail_on_data_loss,
        )
        schema = stream_schema(spark, statement)
        rows, stream_rejects = stream_view(
            read_kafka_stream(spark, settings.kafka, source),
            statement,
            schema,
            options.window.watermark,
        )
        rows.createOrReplaceTempView(statement.name)
        if statement.name.lower() in read:
            rejects.append(stream_rejects)
    if not rejects:
        return None
    union = rejects[0]
    for more in rejects[1:]:
        union = union.unionByName(more)
    return union


JOB = StreamSql()
