"""Turn failures a user can hit into one or two lines that say what to do, and an exit code.

:class:`UserError` is the base of every failure whose message already names the fix (a setting,
a missing topic, a broker that cannot start): the console gets that message and exit code 2. The
full Python and JVM trace of anything else goes to a log file under ``$RIDESTREAM_HOME/logs``; the
console gets its first line and the log's path, and exit code 1.

This module imports nothing else from ridestream but :mod:`ridestream.paths`, so every module can
define its errors on :class:`UserError`.
"""

from __future__ import annotations

import re
import sys
import time
import traceback
from collections.abc import Callable

from ridestream.paths import ridestream_home

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
# A job stopped on request (Ctrl-C, SIGTERM), however it was started: 128 + SIGINT, the shell's
# convention for "ended by an interrupt", so a supervisor can tell a stop from a finish.
EXIT_STOPPED = 130


class UserError(Exception):
    """A failure the user can fix; its message says what went wrong and what to do."""


class ConfigError(UserError, ValueError):
    """A setting is missing or invalid; the message names the setting and the fix."""


# (text found in a Spark error, what to tell the user)
_KNOWN_SPARK_FAILURES = (
    *(
        (
            marker,
            "the checkpoint was written by a query of another shape (window, grouping, "
            "shuffle partitions or state store): use a new --checkpoint-dir, or delete the old one "
            "to start over",
        )
        for marker in (
            "SCHEMA_NOT_COMPATIBLE",
            "NOT_MATCH_IN_STATE_METADATA",
            "StateSchemaNotCompatible",
            "STATE_STORE_INVALID_CONFIG_AFTER_RESTART",
        )
    ),
    (
        "INCOMPATIBLE_DATA_FOR_TABLE",
        "the Delta table holds another schema: write to a new --delta-path",
    ),
    (
        "DELTA_FAILED_TO_MERGE_FIELDS",
        "the Delta table holds another schema: write to a new --delta-path",
    ),
    *(
        (
            marker,
            "a topic the job reads was deleted, or lost records, while it ran (the job stops "
            "rather than skip rides): restore the topic and run again, or, to go on from what is "
            "there now, start over with a new --checkpoint-dir",
        )
        for marker in (
            "UnknownTopicOrPartition",
            "KAFKA_DATA_LOSS",
            "some data may have been missed",
            "Some data may have been lost",
            "are gone. Some data may have been missed",
        )
    ),
    *(
        (
            marker,
            "the checkpoint is damaged (a file in it was cut short or changed): restore it from a "
            "copy, or start over with a new --checkpoint-dir (and a new table for Delta output)",
        )
        for marker in ("Log file was malformed", "CHECKPOINT_FILE", "Malformed checkpoint")
    ),
    *(
        (
            marker,
            "the disk ran out of space, or a file reached the size limit (ulimit -f), while the "
            "job wrote its checkpoint or output: free space and run again; the job resumes from "
            "its checkpoint and redoes the batch that did not commit",
        )
        for marker in ("No space left on device", "File too large", "Disk quota exceeded")
    ),
    (
        "TimeoutException",
        "Kafka stopped answering for longer than the job's Kafka clients wait (a few minutes): "
        "once the broker is up (`./rides kafka status`), run the job again; it resumes from its "
        "checkpoint",
    ),
)


# The last line of a Python traceback that Spark carries in its own error: ``module.Class: text``.
_PYTHON_ERROR_LINE = re.compile(r"^\s*(ridestream(?:\.\w+)*)\.(\w+): (.+)$", re.MULTILINE)


def raised_inside(error: BaseException) -> str | None:
    """Return the message of a :class:`UserError` raised inside a query, or None.

    A job's own code that runs in a batch (a foreachBatch writer) raises :class:`UserError` like
    any other; Spark hands it back wrapped in a query error whose text holds the Python
    traceback. Its message says what to do, so it is the line for the console.
    """
    for module, name, message in _PYTHON_ERROR_LINE.findall(str(error)):
        raised = getattr(sys.modules.get(module), name, None)
        if isinstance(raised, type) and issubclass(raised, UserError):
            return message.strip()
    return None


def explain(error: BaseException) -> str:
    """Return a one-line explanation of ``error`` for the console."""
    inside = raised_inside(error)
    if inside is not None:
        return inside
    text = str(error)
    for marker, advice in _KNOWN_SPARK_FAILURES:
        if marker in text:
            return advice
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return first if len(first) <= 300 else first[:297] + "..."


def _write_trace(name: str) -> str:
    log_dir = ridestream_home() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    path.write_text(traceback.format_exc())
    return str(path)


def run_main(main: Callable[[], int], name: str) -> None:
    """Run a command's ``main`` and exit with its code, translating failures into short messages."""
    try:
        code = main()
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        code = EXIT_STOPPED
    except UserError as error:
        print(f"{name}: {error}", file=sys.stderr)
        code = EXIT_USER_ERROR
    except Exception as error:  # noqa: BLE001 - the last line of defence: no stack trace as message
        inside = raised_inside(error)
        if inside is not None:
            print(f"{name}: {inside}", file=sys.stderr)
            code = EXIT_USER_ERROR
        else:
            trace = _write_trace(name)
            print(f"{name}: {explain(error)}\n{name}: full trace in {trace}", file=sys.stderr)
            code = EXIT_FAILURE
    sys.exit(code)
