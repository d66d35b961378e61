"""What the console gets for a failure: the one line, and the exit code."""

from __future__ import annotations

import pytest

import ridestream.kafka.avro  # noqa: F401 - WireFormatError must be importable by name
import ridestream.sinks  # noqa: F401 - as above, OutputTableRemoved
from ridestream.errors import EXIT_FAILURE, EXIT_USER_ERROR, explain, run_main

# The shape of Spark's error for a Python exception raised in a foreachBatch function.
WRAPPED = (
    "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: "
    "[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function in "
    "foreach batch sink. Reason: An exception was raised by the Python Proxy. Return Message: "
    "Traceback (most recent call last):\n"
    '  File "/x/ridestream/sinks.py", line 220, in merge\n'
    "    raise OutputTableRemoved(path, batch_id)\n"
    "{line}\n SQLSTATE: 39000"
)


def run(error: Exception, capsys) -> tuple[int, str]:
    def main() -> int:
        raise error

    with pytest.raises(SystemExit) as exited:
        run_main(main, "ride_windows")
    return exited.value.code, capsys.readouterr().err


def test_a_user_error_raised_inside_a_batch_reaches_the_console_as_its_own_line(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    line = "ridestream.sinks.OutputTableRemoved: the Delta table /t was removed: restore it"
    code, console = run(RuntimeError(WRAPPED.format(line=line)), capsys)
    assert (code, console) == (
        EXIT_USER_ERROR,
        "ride_windows: the Delta table /t was removed: restore it\n",
    )
    assert not (tmp_path / "logs").exists()


def test_another_error_raised_inside_a_batch_gets_its_first_line_and_the_trace_file(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("RIDESTREAM_HOME", str(tmp_path))
    line = "ridestream.kafka.avro.WireFormatError: not the Confluent wire format"
    code, console = run(RuntimeError(WRAPPED.format(line=line)), capsys)
    assert code == EXIT_FAILURE
    first, second = console.splitlines()
    assert first.startswith("ride_windows: [STREAM_FAILED] Query [id = 1, runId = 2]")
    assert second.startswith(f"ride_windows: full trace in {tmp_path / 'logs'}")


@pytest.mark.parametrize(
    "cause", ["java.io.IOException: File too large", "java.io.IOException: No space left on device"]
)
def test_a_full_disk_is_named_with_what_to_do(cause):
    line = explain(RuntimeError(f"[STREAM_FAILED] Query terminated with exception: {cause}"))
    assert line.startswith("the disk ran out of space, or a file reached the size limit")
    assert line.endswith("redoes the batch that did not commit")


def test_offsets_gone_backwards_are_named_as_a_lost_topic():
    # Spark 4.2's words for a topic created again with fewer records than the job had read.
    text = (
        "[STREAM_FAILED] Query terminated with exception: Some data may have been lost because "
        "they are not available in Kafka any more; either the data was aged out by Kafka or the "
        "topic may have been deleted before all the data in the topic was processed."
    )
    assert explain(RuntimeError(text)).startswith(
        "a topic the job reads was deleted, or lost records, while it ran"
    )
