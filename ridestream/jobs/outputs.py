"""What the jobs with one result sink and a dead-letter sink share, written once.

ride_windows, ride_zones and ride_pickups_join each send their results to the console, a Kafka
topic or a Delta table (``options.sink``) and their rejects to the dead-letter sink
(``options.dead_letter``). :class:`SinkJob` tells the runner, from those two settings, which
topics and tables the job writes, where its checkpoint goes by default, and where a user can see
what it wrote; :func:`claim` makes each Delta table belong to the query that writes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from ridestream.config import DeadLetterSettings, Settings, SinkSettings
from ridestream.paths import display_path
from ridestream.preflight import checkpoint_id, has_history
from ridestream.runner import Job, Output
from ridestream.sinks import claim_table
from ridestream.stack import Feed

SINK_FLAG = "--delta-path"
DEAD_LETTER_FLAG = "--dead-letter-path"


def sink_target(sink: SinkSettings) -> str:
    """Return where the results go, e.g. 'console', 'kafka ride_windows', 'delta /path'."""
    target = {"console": "", "kafka": sink.topic, "delta": str(sink.path)}[sink.kind]
    return f"{sink.kind} {target}".strip()


def dead_letter_target(dead_letter: DeadLetterSettings) -> str:
    """Return where rejects go, e.g. 'kafka rides_dead_letter', 'kafka+delta topic /path'."""
    targets = {"kafka": dead_letter.topic, "delta": str(dead_letter.path), "console": ""}
    places = " ".join(targets[kind] for kind in dead_letter.kinds if targets[kind])
    return f"{dead_letter.kind} {places}".strip()


def claim(
    spark: SparkSession, settings: Settings, query: str, output: Output, schema: T.StructType
) -> None:
    """Create the Delta table ``query`` writes, or check that it is the query's own.

    A table belongs to the checkpoint of the query that writes it (:func:`sinks.claim_table`):
    a second query, or the same one started over, would put every row in twice.
    """
    claim_table(
        spark,
        str(output.path),
        schema,
        checkpoint=settings.query.checkpoint(query),
        checkpoint_id=checkpoint_id(settings.query.checkpoint_dir, query),
        history=has_history(settings.query.checkpoint_dir, query),
        what=output.what,
        flag=output.flag,
    )


class SinkJob(Job):
    """A job whose options have a ``sink`` (its results) and a ``dead_letter`` (its rejects).

    Attributes
    ----------
    results_are
        What the results are called in the lines printed after the summary ("windows").
    kafka_reader
        The ``rides`` command that shows the Kafka sink's topic: ``show`` for results keyed by
        window and group (it keeps each key's latest record), ``consume`` for a topic of rows.
    """

    results_are: ClassVar[str] = "windows"
    kafka_reader: ClassVar[str] = "show"

    def input_topics(self, settings: Settings) -> list[str]:
        """Return the rides topic."""
        return [settings.job.source.topic]

    def output_topics(self, settings: Settings) -> list[str]:
        """Return the Kafka topics the job writes to."""
        options: Any = settings.job
        topics = [options.sink.topic] if options.sink.kind == "kafka" else []
        if "kafka" in options.dead_letter.kinds:
            topics.append(options.dead_letter.topic)
        return topics

    def outputs(self, settings: Settings) -> list[Output]:
        """Return the Delta tables the job writes to."""
        options: Any = settings.job
        outputs = []
        if options.sink.kind == "delta":
            outputs.append(Output(options.sink.path, "Delta table", SINK_FLAG))
        if "delta" in options.dead_letter.kinds:
            outputs.append(
                Output(options.dead_letter.path, "dead-letter Delta table", DEAD_LETTER_FLAG)
            )
        return outputs

    def checkpoint_scope(self, settings: Settings) -> str:
        """Return e.g. ``<job>/console``, ``<job>/kafka-<topic>`` or ``<job>/delta-<table>-1a2b3c``."""
        sink = settings.job.sink
        if sink.kind == "console":
            return f"{self.name}/console"
        if sink.kind == "kafka":
            return f"{self.name}/kafka-{sink.topic}"
        # A table's directory name, and a digest of its whole path: two tables of one name in
        # different places get different checkpoints.
        digest = hashlib.sha256(str(sink.path).encode()).hexdigest()[:6]
        return f"{self.name}/delta-{Path(str(sink.path)).name}-{digest}"

    def feeds(self, settings: Settings) -> list[Feed]:
        """Return the rides topic, generated in the format the job parses."""
        source = settings.job.source
        return [Feed(source.topic, "rides", source.format)]

    def results(self, settings: Settings) -> list[str]:
        """Return where the results and rejects went, with the command that shows them."""
        options: Any = settings.job
        lines = []
        if options.sink.kind == "kafka":
            topic = options.sink.topic
            lines.append(f"{self.results_are} in {topic}: ./rides {self.kafka_reader} {topic}")
        if options.sink.kind == "delta":
            target = display_path(options.sink.path)
            lines.append(f"{self.results_are} in {target}: ./rides show {target}")
        if "delta" in options.dead_letter.kinds:
            target = display_path(options.dead_letter.path)
            lines.append(f"rejects in {target}: ./rides show {target}")
        if "kafka" in options.dead_letter.kinds:
            topic = options.dead_letter.topic
            lines.append(f"rejects in {topic}: ./rides consume {topic}")
        return lines

    def claim_tables(
        self,
        spark: SparkSession,
        settings: Settings,
        results: T.StructType,
        rejects: T.StructType,
    ) -> None:
        """Create (or check) the Delta tables of the results and the rejects, if the job has them.

        ``results`` and ``rejects`` are the schemas of what the two queries write; the queries
        are named ``<job>`` and ``<job>_dead_letter``.
        """
        for output in SinkJob.outputs(self, settings):
            if output.flag == SINK_FLAG:
                claim(spark, settings, self.name, output, results)
            elif output.flag == DEAD_LETTER_FLAG:
                claim(spark, settings, f"{self.name}_dead_letter", output, rejects)
