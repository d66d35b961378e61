"""The one runner every job uses.

A job (:class:`Job`) says what it reads, which queries it starts and what must hold before they
start; the runner does the rest, the same way for every job::

    flags -> settings -> preflight -> embedded stack -> Kafka check -> session
          -> start the queries (stage by stage) -> progress -> await -> clean stop -> summary

``spark-submit.sh`` runs the steps up to the Kafka check once before it starts the JVM
(:func:`check_before_start`, ``python -m ridestream.precheck``), so a refusal comes at once.
``jobs/<name>.py`` is a few lines that hand the job to :func:`main`. Tests and notebooks call
:func:`settings_for` and :func:`execute` with their own session, and the job module's builders
directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pyspark.sql import SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from ridestream.config import (
    SHARED_FLAGS,
    Override,
    QuerySettings,
    Settings,
    add_flags,
    add_profile_argument,
    build_settings,
    load_profile,
    overrides_from_args,
    storage_path,
)
from ridestream.errors import EXIT_OK, EXIT_STOPPED, ConfigError, run_main
from ridestream.preflight import (
    CheckpointLock,
    check_checkpoint,
    check_checkpoint_files,
    check_topic_ids,
    check_writable,
    check_writable_file,
    describe_holder,
)
from ridestream.progress import KafkaWatch, ProgressReporter, wait_for_listener
from ridestream.stack import EmbeddedStack, Feed

# A stage builds its queries' unstarted writers, by query name, when it is its turn to start.
Stage = Callable[[], dict[str, DataStreamWriter]]


@dataclass(frozen=True)
class Output:
    """A local or remote location a job writes to, checked before anything starts."""

    path: Path | str
    what: str  # "Delta table", for messages
    flag: str  # the flag that changes it


class Job:
    """What a streaming job is to the runner: a name, its options, and its queries.

    Subclass it in a module of :mod:`ridestream.jobs` and override what differs; the defaults
    describe a job with no outputs to check and one query named like the job.

    Attributes
    ----------
    name
        The job's name: its main query's name, its profile section ``[jobs.<name>]``.
    description
        One paragraph for ``--help``.
    options
        The frozen dataclass of the job's options (see :mod:`ridestream.config`).
    flags
        The job's own flags; :data:`ridestream.config.SHARED_FLAGS` are added to them.
    resumable
        False when the checkpoint does not outlive the run (``rides sql``): a stop then says
        nothing about resuming.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[type]
    flags: ClassVar[tuple[Override, ...]] = ()
    resumable: bool = True

    def input_topics(self, settings: Settings) -> list[str]:
        """Return the topics the job reads (they must exist before it starts)."""
        return []

    def output_topics(self, settings: Settings) -> list[str]:
        """Return the topics the job writes to."""
        return []

    def outputs(self, settings: Settings) -> list[Output]:
        """Return the paths the job writes to (checked for writing before it starts)."""
        return []

    def query_shapes(self, settings: Settings) -> dict[str, Mapping[str, Any]]:
        """Return, per query name, what decides the query's state (recorded with its checkpoint)."""
        return {}

    def feeds(self, settings: Settings) -> list[Feed]:
        """Return the topics the embedded stack feeds with generated records for this job."""
        return []

    def describe(self, settings: Settings) -> str:
        """Return the line printed when the job starts (after ``<name>: ``)."""
        return self.description

    def checkpoint_scope(self, settings: Settings) -> str:
        """Return the job's checkpoint directory under the profile's ``query.checkpoint_dir``.

        Used when ``--checkpoint-dir`` is not given: it should name where the job writes, so
        that a run to another output gets a checkpoint of its own.
        """
        return self.name

    def results(self, settings: Settings) -> list[str]:
        """Return where the job's results can be seen, one line each (printed after the summary)."""
        return []

    def reported_queries(self, settings: Settings) -> list[str]:
        """Return the queries that get progress lines and a summary; the job's own comes last."""
        return [self.name]

    def stages(self, spark: SparkSession, settings: Settings) -> list[Stage]:
        """Return the job's stages in order (see :func:`execute`)."""
        raise NotImplementedError

    def real_time_refusal(self, settings: Settings) -> str | None:
        """Return why the job cannot run in real-time mode with ``settings``, or None if it can.

        Spark 4.2 runs only stateless queries in real-time mode, from Kafka, to Kafka, foreach or
        console sinks, in update mode. A job that can says so by overriding this; the default
        names the reason every job but ride_clean has: state kept across records.
        """
        return (
            f"{self.name} keeps state across records (windows, joins or aggregates), and Spark "
            "4.2 runs only stateless queries in real-time mode; use an interval (--trigger "
            "'1 second'), or jobs/ride_clean.py for the stateless real-time path"
        )


def build_parser(job: Job, argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Return the job's argument parser; ``--help`` shows each setting's value in the profile.

    The profile is read from ``argv`` first (when it loads), so the help says what a flag would
    change, profile by profile.
    """
    probe = argparse.ArgumentParser(add_help=False)
    add_profile_argument(probe)
    known, _ = probe.parse_known_args(argv)
    try:
        current = build_settings(known.profile, load_profile(known.profile), job=job)
    except Exception:  # noqa: BLE001 - a broken profile is reported when the flags are applied
        current = None
    parser = argparse.ArgumentParser(
        prog=f"spark-submit.sh jobs/{job.name}.py",
        usage="%(prog)s [--profile NAME] [--FLAG VALUE ...]",
        description=job.description,
        epilog="Each flag overrides one setting of the profile, named in brackets with its value "
        "now. Stop a running job with Ctrl-C or SIGTERM: it finishes its current batch, prints a "
        f"summary and exits {EXIT_STOPPED}; run it again to resume from its checkpoint.",
    )
    add_profile_argument(parser)
    add_flags(parser, (*job.flags, *SHARED_FLAGS), current)
    return parser


def settings_for(job: Job, argv: list[str] | None = None) -> Settings:
    """Parse the job's flags and load its settings (profile, environment, flags).

    Without ``--checkpoint-dir`` the checkpoints go under the profile's ``query.checkpoint_dir``
    in a directory of their own per job and output (:meth:`Job.checkpoint_scope`), so that two
    runs writing to different places never share a checkpoint.
    """
    return settings_from_args(job, build_parser(job, argv).parse_args(argv))


def settings_from_args(job: Job, args: argparse.Namespace) -> Settings:
    """Return the settings of parsed job flags (:func:`settings_for` after the parse).

    ``args`` has ``profile`` and one attribute per flag of the job (named by its setting); a
    command that takes a job's flags (``rides parity``) parses them itself and comes here.
    """
    overrides = overrides_from_args(args, (*job.flags, *SHARED_FLAGS))
    settings = build_settings(args.profile, load_profile(args.profile), overrides, job=job)
    if "query.checkpoint_dir" in overrides:
        return settings
    root = str(settings.query.checkpoint_dir).rstrip("/")
    scoped = storage_path(f"{root}/{job.checkpoint_scope(settings)}")
    return dataclasses.replace(
        settings, query=dataclasses.replace(settings.query, checkpoint_dir=scoped)
    )


def preflight(job: Job, settings: Settings, claim: bool = True) -> None:
    """Check what can be checked before any broker or JVM starts: paths and checkpoints.

    With ``claim``, a new checkpoint records its query's shape (:func:`check_checkpoint`); the
    runner checks without claiming first, and claims once Kafka has answered.
    """
    check_trigger(job, settings)
    check_writable(settings.query.checkpoint_dir, "checkpoints", "--checkpoint-dir")
    for output in job.outputs(settings):
        check_writable(output.path, output.what, output.flag)
    if settings.query.metrics_file is not None:
        check_writable_file(settings.query.metrics_file, "metrics file", "--metrics-file")
    for query, shape in job.query_shapes(settings).items():
        check_checkpoint(settings.query.checkpoint_dir, query, shape, record=claim)
        check_checkpoint_files(settings.query.checkpoint_dir, query)


def check_trigger(job: Job, settings: Settings) -> None:
    """Refuse a real-time trigger for a job whose shape real-time mode cannot run, in one line.

    Checked with the settings, before any broker or JVM starts: Spark would refuse the query
    only once everything is up, with an internal error class.
    """
    trigger = settings.query.trigger
    if settings.query.real_time_interval is None:
        return
    reason = job.real_time_refusal(settings)
    if reason is not None:
        raise ConfigError(f"--trigger {trigger!r}: {reason}")


def check_before_start(job: Job, argv: list[str] | None = None) -> None:
    """Refuse what :func:`run` would refuse before its session starts, and start nothing.

    ``spark-submit.sh`` calls it (``python -m ridestream.precheck``) before it starts the JVM:
    a bad flag or path, a held checkpoint, an unreachable broker, wrong credentials or a missing
    topic is refused in a second instead of after the JVM's start. The broker is checked only
    when the job does not start its own (an embedded one creates the topics it feeds).
    """
    settings = settings_for(job, argv)
    preflight(job, settings, claim=False)
    CheckpointLock(settings.query.checkpoint_dir, job.name).check()
    if not settings.embedded.kafka:
        check_kafka(job, settings)


def check_kafka(job: Job, settings: Settings) -> None:
    """Refuse, with the fix, a cluster that does not answer or lacks the job's topics."""
    from ridestream.kafka.admin import check_topics

    check_topics(settings.kafka, job.input_topics(settings), outputs=job.output_topics(settings))


def run(job: Job, argv: list[str] | None = None) -> int:
    """Run ``job`` as ``spark-submit jobs/<name>.py`` does: everything from flags to summary."""
    from ridestream.session import build_session

    # Until the queries run, a stop request interrupts whatever is under way (a broker starting,
    # a backfill); from then on it lets the current batch finish.
    interrupt_on_signals()
    settings = settings_for(job, argv)
    preflight(job, settings, claim=False)
    with holding(job, settings) as lock, EmbeddedStack(settings, job.feeds(settings)) as stack:
        # Fail in seconds, with a message that names the fix, before Spark's session starts.
        check_kafka(job, settings)
        spark = build_session(settings.spark, app_name=job.name)
        stop = stop_on_signals(job.name, on_exit_now=stack.down)
        return execute(spark, job, settings, stop, lock=lock)


@contextmanager
def holding(
    job: Job, settings: Settings, lock: CheckpointLock | None = None
) -> Iterator[CheckpointLock]:
    """Hold the lock on the job's checkpoints for the block (``lock`` if already held)."""
    if lock is not None:
        yield lock
        return
    lock = CheckpointLock(settings.query.checkpoint_dir, job.name)
    lock.acquire()
    if lock.took_over is not None:
        _say(
            f"{job.name}: took over the lock on {settings.query.checkpoint_dir} left by a run "
            f"that did not stop cleanly ({describe_holder(lock.took_over)})"
        )
    try:
        yield lock
    finally:
        lock.release()


def main(job: Job) -> None:
    """Run ``job`` from the command line and exit with its code (``jobs/<name>.py``)."""
    run_main(lambda: run(job, sys.argv[1:]), job.name)


def execute(
    spark: SparkSession,
    job: Job,
    settings: Settings,
    stop: threading.Event | None = None,
    lock: CheckpointLock | None = None,
) -> int:
    """Start the job's queries in ``spark`` and run them until they end or ``stop`` is set.

    It holds the lock on the job's checkpoints (``lock``, if the caller took it already) and
    checks and claims them (:func:`preflight`) first. A trigger that ends (available-now, once)
    runs the stages one after the other, so a stage reading what an earlier one wrote sees all of
    it; otherwise every stage runs at once. Returns 0 when the queries finished,
    :data:`~ridestream.errors.EXIT_STOPPED` when stopped by request.
    """
    with holding(job, settings, lock):
        preflight(job, settings)
        return _execute(spark, job, settings, stop or threading.Event())


def _fail_on_data_loss(settings: Settings) -> bool:
    return getattr(getattr(settings.job, "source", None), "fail_on_data_loss", True)


def check_input_topics(job: Job, settings: Settings) -> dict[str, str]:
    """Refuse to resume on a topic deleted and created again; return the input topics' ids.

    See :func:`~ridestream.preflight.check_topic_ids`; with ``source.fail_on_data_loss = false``
    the job goes on from its old offsets and says so.
    """
    from ridestream.kafka.admin import topic_ids

    ids = topic_ids(settings.kafka, job.input_topics(settings))
    checkpoints = [settings.query.checkpoint(query) for query in job.query_shapes(settings)]
    changed = check_topic_ids(checkpoints, ids, go_on=not _fail_on_data_loss(settings))
    if changed:
        _say(
            f"{job.name}: topic {', '.join(changed)} was deleted and created again (its id "
            "changed); source.fail_on_data_loss = false: going on from the checkpoint's offsets, "
            "past the new topic's first records"
        )
    return ids


def _execute(spark: SparkSession, job: Job, settings: Settings, stop: threading.Event) -> int:
    reported = job.reported_queries(settings)
    reporter = ProgressReporter(
        show=set(reported) if settings.query.progress else set(),
        metrics_file=settings.query.metrics_file,
    )
    ids = check_input_topics(job, settings)
    spark.streams.addListener(reporter)
    watch = KafkaWatch(
        job.name,
        settings.kafka,
        topics=ids if _fail_on_data_loss(settings) else None,
        on_failure=stop.set,
    )
    try:
        _say(f"{job.name}: {job.describe(settings)}")
        with watch:
            stopped = _run_stages(spark, job, settings, stop, reporter, reported, watch)
    finally:
        spark.streams.removeListener(reporter)
    return EXIT_STOPPED if stopped else EXIT_OK


def _run_stages(
    spark: SparkSession,
    job: Job,
    settings: Settings,
    stop: threading.Event | None,
    reporter: ProgressReporter,
    reported: list[str],
    watch: KafkaWatch,
) -> bool:
    """Start the stages, await them, stop them, print the summary; return True if stopped.

    A failure the ``watch`` found (an input topic created again) stops the queries and is raised.
    """
    queries: list[StreamingQuery] = []
    stopped = False
    stages = job.stages(spark, settings)
    try:
        for index, build in enumerate(stages):
            started = [
                start_query(writer, name, settings.query) for name, writer in build().items()
            ]
            queries += started
            if settings.query.ends or index == len(stages) - 1:
                stopped = await_queries(started if settings.query.ends else queries, stop)
            if stopped:
                break
    finally:
        # A stage that failed to start must not leave the stages before it running.
        stop_queries(queries)
    if watch.failure is not None:
        raise watch.failure
    wait_for_listener(reporter, queries)
    for name in reported[:-1]:
        _say(f"{name}: {reporter.summary(name)}")
    _say(
        f"{reported[-1]}: {'stopped' if stopped else 'finished'} after "
        f"{reporter.summary(reported[-1])}"
        + ("; run again to resume from the checkpoint" if stopped and job.resumable else "")
    )
    for line in job.results(settings):
        _say(f"{job.name}: {line}")
    return stopped


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_query(writer: DataStreamWriter, name: str, query: QuerySettings) -> StreamingQuery:
    """Set trigger, checkpoint and name on an unstarted writer, and start it."""
    if query.real_time_interval is not None:
        writer = writer.trigger(realTime=query.real_time_interval)
    elif query.trigger == "available-now":
        writer = writer.trigger(availableNow=True)
    elif query.trigger == "once":
        writer = writer.trigger(once=True)
    else:
        writer = writer.trigger(processingTime=query.trigger)
    return writer.queryName(name).option("checkpointLocation", query.checkpoint(name)).start()


# Signals that ask a job to stop. SIGUSR1 is what spark-submit.sh passes on when it was signalled
# itself: a request to stop that never escalates to "stop now", since the same signal may also
# have reached the driver directly (a whole process group signalled).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


def _announce_driver() -> None:
    """Tell spark-submit.sh which process to pass signals on to (``$RIDESTREAM_DRIVER_PID_FILE``)."""
    pid_file = os.environ.get("RIDESTREAM_DRIVER_PID_FILE")
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))


def interrupt_on_signals() -> None:
    """Make a stop request raise KeyboardInterrupt (start-up: nothing to finish yet)."""
    for number in _STOP_SIGNALS:
        signal.signal(number, signal.default_int_handler)
    _announce_driver()


def stop_on_signals(
    job_name: str, on_exit_now: Callable[[], None] | None = None
) -> threading.Event:
    """Return an event set by Ctrl-C or SIGTERM, so the job can stop its queries cleanly.

    A second Ctrl-C or SIGTERM exits at once (after ``on_exit_now``, which stops what the job
    started). spark-submit.sh starts the JVM with SIGINT and SIGTERM ignored, so they reach only
    this handler and the queries finish their current batch.
    """
    requested = threading.Event()
    # Only a second signal sent to the driver itself means "stop now". A whole process group
    # signalled once reaches the driver twice (directly, and from spark-submit.sh as SIGUSR1),
    # and Python runs pending handlers in signal-number order, SIGUSR1 (10) first: counting it
    # would turn one Ctrl-C into "stop now".
    direct = 0

    def handle(signum: int, frame: object) -> None:
        nonlocal direct
        if signum != signal.SIGUSR1:
            direct += 1
        if direct >= 2:
            _say(f"\n{job_name}: stopping now")
            if on_exit_now is not None:
                on_exit_now()
            os._exit(EXIT_STOPPED)
        if requested.is_set():
            return
        requested.set()
        _say(f"\n{job_name}: stopping after the current batch (Ctrl-C again to stop now)...")

    for number in _STOP_SIGNALS:
        signal.signal(number, handle)
    _announce_driver()
    return requested


def await_queries(queries: list[StreamingQuery], stop: threading.Event | None = None) -> bool:
    """Wait until every query ends or ``stop`` is set; return True when stopped by request.

    If one query fails, the others are stopped and its error is raised.
    """
    stop = stop or threading.Event()
    try:
        while any(query.isActive for query in queries) and not stop.is_set():
            for query in queries:
                if not query.isActive and query.exception() is not None:
                    raise query.exception()
            queries[0].awaitTermination(0.5)
        for query in queries:
            if not query.isActive and query.exception() is not None:
                raise query.exception()
    finally:
        stop_queries(queries)
    return stop.is_set()


def stop_queries(queries: list[StreamingQuery]) -> None:
    """Stop the active queries between batches, all at once (each waits for its own batch only)."""
    stoppers = [
        threading.Thread(target=stop_between_batches, args=(query,), daemon=True)
        for query in queries
        if query.isActive
    ]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


def _last_batch(query: StreamingQuery) -> int:
    progress = query.lastProgress
    return progress["batchId"] if progress else -1


def stop_between_batches(query: StreamingQuery, timeout_s: float = 60.0) -> None:
    """Stop a query once its current batch has finished (or after ``timeout_s``).

    Interrupting a batch mid-write is safe for the sinks (the batch is redone on restart) but
    makes Spark print a long internal stack trace; waiting for the trigger to go idle avoids both.
    A query that is behind its trigger interval starts the next batch at once and is never seen
    idle: it is stopped as soon as the batch that ran when the stop was asked for has finished.
    """
    running = _last_batch(query) + 1
    deadline = time.monotonic() + timeout_s
    while (
        query.isActive
        and query.status.get("isTriggerActive")
        and _last_batch(query) < running
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    query.stop()
