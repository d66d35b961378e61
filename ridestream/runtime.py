"""Starting, awaiting and stopping streaming queries: the part of ``main`` every job shares."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from types import ModuleType

from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from ridestream.config import QuerySettings
from ridestream.paths import PROJECT_ROOT


def start_query(writer: DataStreamWriter, name: str, query: QuerySettings) -> StreamingQuery:
    """Set trigger, checkpoint and name on an unstarted writer, and start it."""
    if query.trigger == "available-now":
        writer = writer.trigger(availableNow=True)
    elif query.trigger == "once":
        writer = writer.trigger(once=True)
    else:
        writer = writer.trigger(processingTime=query.trigger)
    return writer.queryName(name).option("checkpointLocation", query.checkpoint(name)).start()


def stop_on_signals(job_name: str) -> threading.Event:
    """Return an event set by Ctrl-C or SIGTERM, so the job can stop its queries cleanly.

    A second Ctrl-C exits at once. (spark-submit.sh starts the JVM with SIGINT ignored, so the
    first Ctrl-C reaches only this handler and the queries finish their current batch.)
    """
    requested = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if requested.is_set():
            print(f"\n{job_name}: stopping now", file=sys.stderr, flush=True)
            os._exit(130)
        requested.set()
        print(
            f"\n{job_name}: stopping after the current batch (Ctrl-C again to stop now)...",
            file=sys.stderr,
            flush=True,
        )

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
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


def load_job(name: str) -> ModuleType:
    """Load ``jobs/<name>.py`` as a new module (a script, not a package module) to call into it."""
    module_spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "jobs" / f"{name}.py")
    job = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(job)
    return job
