"""ride_windows: rides from Kafka -> event-time windows per pickup zone -> console, Kafka or Delta.

Every record of the topic ends in one place: a window aggregate, the dead-letter sink (with its
reason), or Spark's count of rows dropped behind the watermark.

Run it through the wrapper, which sets up Python, the connector jars and (for the ``local``
profile) an embedded Kafka broker with generated rides::

    ./spark-submit.sh jobs/ride_windows.py                       # console, runs until Ctrl-C
    ./spark-submit.sh jobs/ride_windows.py --sink delta --trigger available-now
    ./spark-submit.sh jobs/ride_windows.py --window-kind hopping --window '10 minutes' --slide '5 minutes'
    ./spark-submit.sh jobs/ride_windows.py --stages two        # parse each record once, via Delta
    ./spark-submit.sh jobs/ride_windows.py --help

From a notebook, build settings and a session yourself and call ``main(spark, settings)``, or use
``build_writers`` to get the unstarted writers (``build_outputs`` for the DataFrames behind them).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from ridestream.config import Settings, add_settings_arguments, settings_from_args
from ridestream.errors import run_main
from ridestream.kafka.admin import check_topics
from ridestream.parsing import for_parsed_table, parse_rides, rejected_records, valid_rides
from ridestream.preflight import check_checkpoint, check_writable
from ridestream.progress import ACCOUNTING, ProgressReporter, record_counts, wait_for_listener
from ridestream.runtime import (
    await_queries,
    start_query,
    stop_on_signals,
    stop_queries,
)
from ridestream.schemas import ride_schema
from ridestream.session import build_session
from ridestream.sinks import (
    claim_parsed_table,
    dead_letter_writer,
    parsed_table_writer,
    window_writer,
)
from ridestream.sources import read_delta_stream, read_kafka_stream
from ridestream.windows import ride_windows

JOB_NAME = "ride_windows"
PARSE_QUERY = f"{JOB_NAME}_parse"


def parse_records(rides_raw: DataFrame, settings: Settings) -> DataFrame:
    """Return raw Kafka records parsed against the declared schema (rides and reasoned rejects)."""
    return rides_raw.transform(parse_rides, ride_schema(), value_format=settings.source.format)


def build_outputs(
    records: DataFrame, settings: Settings, parsed: bool = False
) -> tuple[DataFrame, DataFrame]:
    """Return the job's two outputs: the windows, and the rejected records.

    ``records`` are raw Kafka records, or with ``parsed`` the rows of the parsed table (two
    stages), which are already what :func:`parse_rides` returns.
    """
    schema = ride_schema()
    if not parsed:
        records = parse_records(records, settings)
    # Every batch counts its records (input = valid + rejected) as it reads them; the counts
    # ride along in the query's progress (observedMetrics) to the progress line and metrics file.
    counted = records.observe(ACCOUNTING, *record_counts())
    windows = counted.transform(valid_rides, schema).transform(ride_windows, settings.window)
    return windows, rejected_records(records)


def build_writers(
    records: DataFrame, settings: Settings, parsed: bool = False
) -> dict[str, DataStreamWriter]:
    """Return the job's unstarted writers by query name: windows, and the dead-letter records."""
    windows, rejects = build_outputs(records, settings, parsed)
    writers = {
        JOB_NAME: window_writer(windows, settings.sink, settings.kafka, settings.window.group_by)
    }
    # Rejects are a query of their own: a bad record must never stop the windows, and the
    # windows' output mode (update, say) must not decide how rejects are written. The price, in
    # one stage: each query reads and parses every record (bench/README.md measures it).
    dead_letter = dead_letter_writer(rejects, settings.dead_letter, settings.kafka)
    if dead_letter is not None:
        writers[f"{JOB_NAME}_dead_letter"] = dead_letter
    return writers


def build_stages(
    spark: SparkSession, rides_raw: DataFrame, settings: Settings
) -> list[Callable[[], dict[str, DataStreamWriter]]]:
    """Return the job's stages in order, each a function that builds its unstarted writers.

    One stage: the windows and dead-letter queries read the topic. Two: a query parses every
    record once into the parsed table, and the other two read that table (it must exist before
    they are built, so the first stage's function creates it).
    """
    if settings.query.stages == "one":
        return [lambda: build_writers(rides_raw, settings)]
    path = str(settings.query.parsed_path)
    stored = parse_records(rides_raw, settings).transform(for_parsed_table)

    def parse_stage() -> dict[str, DataStreamWriter]:
        claim_parsed_table(spark, path, stored.schema, settings.query.checkpoint(PARSE_QUERY))
        return {PARSE_QUERY: parsed_table_writer(stored, path)}

    return [
        parse_stage,
        lambda: build_writers(read_delta_stream(spark, path), settings, parsed=True),
    ]


def main(spark: SparkSession, settings: Settings, stop: threading.Event | None = None) -> int:
    """Run ride_windows until its queries end (trigger 'available-now') or ``stop`` is set."""
    two_stages = settings.query.stages == "two"
    reporter = ProgressReporter(
        show=({JOB_NAME, PARSE_QUERY} if two_stages else {JOB_NAME})
        if settings.query.progress
        else set(),
        metrics_file=settings.query.metrics_file,
    )
    spark.streams.addListener(reporter)
    try:
        print(
            f"{JOB_NAME}: reading {settings.source.topic!r} from {settings.kafka.bootstrap_servers}"
            f"{f' into {settings.query.parsed_path} (two stages)' if two_stages else ''}; "
            f"{settings.window.kind} windows of {settings.window.gap or settings.window.size}"
            f"{f' sliding {settings.window.slide}' if settings.window.kind == 'hopping' else ''}"
            f" by {', '.join(settings.window.group_by)}, watermark {settings.window.watermark}; "
            f"{settings.sink.output_mode} to {settings.sink.kind}; rejects to {settings.dead_letter.kind}",
            file=sys.stderr,
            flush=True,
        )
        stages = build_stages(
            spark, read_kafka_stream(spark, settings.kafka, settings.source), settings
        )
        # A trigger that ends (available-now, once) runs the stages one after the other, so the
        # readers of the parsed table see all of it; otherwise every stage runs at once.
        in_turn = settings.query.trigger in ("available-now", "once")
        queries: list[StreamingQuery] = []
        stopped = False
        try:
            for index, build in enumerate(stages):
                started = [
                    start_query(writer, name, settings.query) for name, writer in build().items()
                ]
                queries += started
                if in_turn or index == len(stages) - 1:
                    stopped = await_queries(started if in_turn else queries, stop)
                if stopped:
                    break
        finally:
            # A stage that failed to start must not leave the stages before it running.
            stop_queries(queries)
        wait_for_listener(reporter, queries)
        if two_stages:
            print(
                f"{PARSE_QUERY}: {reporter.summary(PARSE_QUERY)}",
                file=sys.stderr,
                flush=True,
            )
        print(
            f"{JOB_NAME}: {'stopped' if stopped else 'finished'} after "
            f"{reporter.summary(JOB_NAME)}"
            + ("; run again to resume from the checkpoint" if stopped else ""),
            file=sys.stderr,
            flush=True,
        )
    finally:
        spark.streams.removeListener(reporter)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the job's flags (every one overrides a setting of the profile)."""
    parser = argparse.ArgumentParser(
        prog="spark-submit.sh jobs/ride_windows.py",
        description=(
            "Read rides from Kafka, parse them against schemas/ride.avsc, aggregate them over "
            "event-time windows with a watermark (count, sum of total_amount and tip_amount, "
            "mean trip_distance), and write the windows to the console, Kafka or Delta. "
            "Malformed records go to the dead-letter sink with a reason."
        ),
    )
    add_settings_arguments(parser)
    return parser.parse_args(argv)


def query_shape(settings: Settings) -> dict[str, object]:
    """Return what decides the windows query's state (recorded with its checkpoint)."""
    window = settings.window
    return {
        "topic": settings.source.topic,
        "window": f"{window.kind} {window.gap or window.size}"
        + (f" sliding {window.slide}" if window.kind == "hopping" else ""),
        "group_by": list(window.group_by),
        "watermark": window.watermark,
        "output_mode": settings.sink.output_mode,
        "shuffle_partitions": settings.spark.shuffle_partitions,
        # Two stages: the windows read the parsed table, not the topic (a key only then, so the
        # checkpoints of one-stage runs keep their recorded shape).
        **(
            {"parsed_table": str(settings.query.parsed_path)}
            if settings.query.stages == "two"
            else {}
        ),
    }


def parse_shape(settings: Settings) -> dict[str, object]:
    """Return what decides the parse query's output (two stages), recorded with its checkpoint."""
    return {
        "topic": settings.source.topic,
        "format": settings.source.format,
        "parsed_table": str(settings.query.parsed_path),
    }


def output_topics(settings: Settings) -> list[str]:
    """Return the Kafka topics the job writes to."""
    topics = [settings.sink.topic] if settings.sink.kind == "kafka" else []
    return topics + ([settings.dead_letter.topic] if "kafka" in settings.dead_letter.kinds else [])


def preflight(settings: Settings) -> None:
    """Check the output and checkpoint locations before Spark starts."""
    check_writable(settings.query.checkpoint_dir, "checkpoints", "--checkpoint-dir")
    if settings.sink.kind == "delta":
        check_writable(settings.sink.path, "Delta table", "--delta-path")
    if "delta" in settings.dead_letter.kinds:
        check_writable(settings.dead_letter.path, "dead-letter Delta table", "--dead-letter-path")
    if settings.query.stages == "two":
        check_writable(settings.query.parsed_path, "parsed table", "--parsed-path")
    check_checkpoint(settings.query.checkpoint_dir, JOB_NAME, query_shape(settings))
    if settings.query.stages == "two":
        check_checkpoint(settings.query.checkpoint_dir, PARSE_QUERY, parse_shape(settings))


def run(argv: list[str] | None = None) -> int:
    """Load settings, check Kafka, build the session and run :func:`main`."""
    settings = settings_from_args(parse_args(argv))
    # Fail in seconds, with a message that names the fix, before a JVM is started.
    check_topics(settings.kafka, [settings.source.topic], outputs=output_topics(settings))
    preflight(settings)
    spark = build_session(settings.spark, app_name=JOB_NAME)
    return main(spark, settings, stop_on_signals(JOB_NAME))


if __name__ == "__main__":
    run_main(run, JOB_NAME)
