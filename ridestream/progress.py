"""A progress line per micro-batch, optional JSON-lines metrics, and a summary at the end.

:class:`ProgressReporter` is a ``StreamingQueryListener``: Spark calls it on the driver after
every micro-batch of every query in the session. For the queries it is asked to show it prints::

    ride_windows #12: 1,204 rows (120/s in, 3,950/s done) in 0.3 s | watermark 10:31:30 |
        state 412 rows | 0 dropped late | lag 0

and, with a metrics file, appends the batch's full progress JSON (Spark's own format, one object
per line) for other tools. It also keeps running totals for the one-line summary a job prints
when it stops.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pyspark.sql.streaming import StreamingQueryListener

from ridestream.parsing import ACCOUNTING


@dataclass
class QueryTotals:
    """What one query did since the reporter was attached."""

    batches: int = 0
    input_rows: int = 0
    output_rows: int = 0
    output_rows_known: bool = True
    dropped_late: int = 0
    watermark: str | None = None
    valid: int = 0
    rejected: int = 0
    counted: bool = False
    # Several inputs' counts one by one: {input: {"input": n, "valid": n, "rejected": n}}.
    by_input: dict[str, dict[str, int]] = field(default_factory=dict)
    stateful: bool = False  # it has a state operator (so rows can be dropped behind a watermark)


def offsets_behind(source: Any) -> int | None:
    """Return how many offsets the source's end offset is behind the latest (Kafka), if known."""
    try:
        end = json.loads(source.endOffset or "null")
        latest = json.loads(source.latestOffset or "null")
    except (TypeError, ValueError):
        return None
    if not isinstance(end, dict) or not isinstance(latest, dict):
        return None
    # Kafka's offsets are {topic: {partition: offset}}; another source's (Delta's version and
    # index, in two stages) are not offsets behind anything.
    if not all(isinstance(partitions, dict) for partitions in (*end.values(), *latest.values())):
        return None
    behind = 0
    for topic, partitions in latest.items():
        for partition, offset in partitions.items():
            behind += max(0, offset - end.get(topic, {}).get(partition, 0))
    return behind


def counts_by_input(progress: Any) -> dict[str, dict[str, int]]:
    """Return the batch's observed record counts (input, valid, rejected) by input.

    A job of one input observes them as ``records`` (its input is named ''); a job of several
    as ``records.<input>`` each (ride_pickups_join: ``records.rides``, ``records.pickups``).
    """
    counts = {}
    for name, observed in (progress.observedMetrics or {}).items():
        if name != ACCOUNTING and not name.startswith(f"{ACCOUNTING}."):
            continue
        values = observed.asDict() if hasattr(observed, "asDict") else dict(observed)
        counts[name.removeprefix(ACCOUNTING).removeprefix(".")] = {
            key: int(values.get(key) or 0) for key in ("input", "valid", "rejected")
        }
    return counts


def observed_counts(progress: Any) -> dict[str, int] | None:
    """Return the batch's observed record counts (input, valid, rejected), if it has them.

    Several inputs' counts are added up (:func:`counts_by_input` has them one by one).
    """
    by_input = counts_by_input(progress)
    if not by_input:
        return None
    return {
        key: sum(counts[key] for counts in by_input.values())
        for key in ("input", "valid", "rejected")
    }


def _watermark(progress: Any) -> str | None:
    """Return the batch's watermark, or None before any event time was seen.

    Spark reports the epoch (1970-01-01T00:00:00.000Z) until a stateful query has seen a row.
    """
    watermark = (progress.eventTime or {}).get("watermark")
    return None if not watermark or watermark.startswith("1970-01-01T00:00:00") else watermark


def format_progress(progress: Any) -> str:
    """Return the one-line summary of a ``StreamingQueryProgress``."""
    parts = [
        f"{progress.name or progress.id} #{progress.batchId}: {progress.numInputRows:,} rows "
        f"({progress.inputRowsPerSecond:,.0f}/s in, {progress.processedRowsPerSecond:,.0f}/s done) "
        f"in {progress.batchDuration / 1000:,.1f} s"
    ]
    counts = observed_counts(progress)
    if counts is not None:
        parts[0] += f" = {counts['valid']:,} valid + {counts['rejected']:,} rejected"
    by_input = {name: c for name, c in counts_by_input(progress).items() if name}
    if by_input:
        parts[0] += (
            " ("
            + "; ".join(
                f"{name} {c['input']:,} = {c['valid']:,} + {c['rejected']:,}"
                for name, c in by_input.items()
            )
            + ")"
        )
    watermark = _watermark(progress)
    if watermark:
        parts.append(f"watermark {watermark.replace('T', ' ').rstrip('Z')[:19]}")
    if progress.stateOperators:
        state = sum(op.numRowsTotal for op in progress.stateOperators)
        dropped = sum(op.numRowsDroppedByWatermark for op in progress.stateOperators)
        parts.append(f"state {state:,} rows")
        parts.append(f"{dropped:,} dropped late")
    lags = [offsets_behind(source) for source in progress.sources]
    if any(lag is not None for lag in lags):
        parts.append(f"lag {sum(lag or 0 for lag in lags):,}")
    return " | ".join(parts)


class ProgressReporter(StreamingQueryListener):
    """Print a progress line per micro-batch of the named queries; keep totals for all.

    Parameters
    ----------
    show
        Names of the queries to print a line for (None: every query).
    stream
        Where lines go (stderr by default, so stdout stays for results).
    metrics_file
        If given, every query's progress JSON is appended to it, one object per line.
    """

    def __init__(
        self,
        show: set[str] | None = None,
        stream: TextIO | None = None,
        metrics_file: Path | None = None,
    ) -> None:
        self.show = show
        self.stream = stream or sys.stderr
        self.metrics_file = Path(metrics_file) if metrics_file else None
        if self.metrics_file:
            self.metrics_file.parent.mkdir(parents=True, exist_ok=True)
        self.totals: dict[str, QueryTotals] = {}
        self.last_batch: dict[str, int] = {}
        self._lock = threading.Lock()

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's API name
        """Do nothing: the job prints its own start line."""

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        """Print the batch's line, append its JSON, add it to the totals."""
        progress = event.progress
        name = progress.name or str(progress.id)
        with self._lock:
            totals = self.totals.setdefault(name, QueryTotals())
            totals.batches += 1
            totals.input_rows += progress.numInputRows
            output = progress.sink.numOutputRows if progress.sink else -1
            if output >= 0:
                totals.output_rows += output
            else:
                totals.output_rows_known = False
            totals.stateful = totals.stateful or bool(progress.stateOperators)
            totals.dropped_late += sum(
                op.numRowsDroppedByWatermark for op in progress.stateOperators
            )
            totals.watermark = _watermark(progress) or totals.watermark
            counts = observed_counts(progress)
            if counts is not None:
                totals.counted = True
                totals.valid += counts["valid"]
                totals.rejected += counts["rejected"]
            for source, source_counts in counts_by_input(progress).items():
                if source:
                    kept = totals.by_input.setdefault(source, dict.fromkeys(source_counts, 0))
                    for key, value in source_counts.items():
                        kept[key] += value
            self.last_batch[name] = progress.batchId
            if self.show is None or name in self.show:
                print(format_progress(progress), file=self.stream, flush=True)
            if self.metrics_file:
                with self.metrics_file.open("a") as handle:
                    handle.write(json.dumps(json.loads(progress.json)) + "\n")

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        """Do nothing: idle triggers (no new data) are not worth a line."""

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        """Do nothing: the job reports termination itself."""

    def summary(self, name: str) -> str:
        """Return e.g. '14 batches, 28,000 rows read, 412 rows written, 3 dropped late'."""
        totals = self.totals.get(name, QueryTotals())
        written = f", {totals.output_rows:,} rows written" if totals.output_rows_known else ""
        counted = (
            f" ({totals.valid:,} valid, {totals.rejected:,} rejected)" if totals.counted else ""
        )
        if totals.by_input:
            counted = (
                counted.removesuffix(")")
                + "".join(
                    f"; {name} {c['input']:,}: {c['valid']:,} valid, {c['rejected']:,} rejected"
                    for name, c in totals.by_input.items()
                )
                + ")"
            )
        # A query without state (the parse stage) drops nothing behind a watermark; a stateful
        # one that has not run a batch yet still says so.
        dropped = (
            f", {totals.dropped_late:,} dropped late"
            if totals.stateful or not totals.batches
            else ""
        )
        batches = f"{totals.batches:,} batch{'' if totals.batches == 1 else 'es'}"
        return f"{batches}, {totals.input_rows:,} rows read{counted}{written}{dropped}"


def wait_for_listener(
    reporter: ProgressReporter, queries: list[Any], timeout_s: float = 60.0
) -> None:
    """Wait until ``reporter`` has seen the last progress of each query.

    Listener events are delivered asynchronously: a summary printed right after a stop could
    otherwise miss the last batch. Only a progress that ran a batch counts: a query idle for a
    while reports an idle trigger as its last progress (no ``addBatch``; the next batch's id),
    which no listener receives, and waiting for it held every stop of an idle job for a minute.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pending = [
            query
            for query in queries
            if (progress := query.lastProgress) is not None
            and "addBatch" in progress["durationMs"]
            and reporter.last_batch.get(query.name, -1) < progress["batchId"]
        ]
        if not pending:
            return
        time.sleep(0.1)


class KafkaWatch:
    """Say on the console when the job's Kafka cluster stops answering, and when it is back.

    A query waiting for an unreachable broker shows nothing but a batch that takes long; an
    operator cannot tell a stall from an outage. This thread asks the cluster for its metadata
    every ``interval_s`` (a light call) and prints a line when the answer stops, and one when it
    comes back, with how long it was away. Spark's Kafka clients keep retrying meanwhile; the
    job itself goes on (or fails, if an outage outlasts them, with its own one-line error).
    """

    # Seconds between probes, and how long one may take: an outage shows within ~15 s.
    INTERVAL_S = 10.0
    PROBE_S = 5.0

    def __init__(
        self,
        job_name: str,
        kafka: Any,
        stream: TextIO | None = None,
        topics: Mapping[str, str] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.job_name = job_name
        self.kafka = kafka
        # The input topics' ids at start: one that changes was deleted and created again, and
        # Spark would read the new topic from the old offsets. That is a failure (``failure``,
        # then ``on_failure`` is called, which stops the job).
        self.topics = dict(topics or {})
        self.on_failure = on_failure
        self.failure: Exception | None = None
        self.interval_s = self.INTERVAL_S
        self.probe_s = self.PROBE_S
        self.stream = stream or sys.stderr
        self.down_since: float | None = None
        self.outages: list[float] = []  # seconds each finished outage lasted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kafka-watch", daemon=True)

    def answers(self) -> bool:
        """Return True when the cluster answers a metadata request within ``probe_s``."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({**self.kafka.client_config(), "log_level": 0})
        try:
            admin.list_topics(timeout=self.probe_s)
        except KafkaException:
            return False
        return True

    def check(self) -> None:
        """Probe once and report a change (what the thread does every ``interval_s``)."""
        import time

        up = self.answers()
        now = time.monotonic()
        where = f"Kafka at {self.kafka.bootstrap_servers}"
        if not up and self.down_since is None:
            self.down_since = now
            self._say(
                f"{where} is not answering (since {time.strftime('%H:%M:%S')}): the job waits "
                "for it and goes on when it is back"
            )
        elif up and self.down_since is not None:
            away = now - self.down_since
            self.outages.append(away)
            self.down_since = None
            self._say(f"{where} answers again after {away:,.0f} s; the next batches catch up")
        if up and self.topics and self.failure is None:
            self._check_topics()

    def _check_topics(self) -> None:
        from ridestream.kafka.admin import topic_ids
        from ridestream.preflight import TopicRecreated, recreated

        changed = recreated(self.topics, topic_ids(self.kafka, list(self.topics), self.probe_s))
        if changed:
            self.failure = TopicRecreated(changed, "while the job ran")
            if self.on_failure is not None:
                self.on_failure()

    def _say(self, line: str) -> None:
        print(f"{self.job_name}: {line}", file=self.stream, flush=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()

    def __enter__(self) -> KafkaWatch:
        """Start watching."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(self.probe_s + 5)
