"""`rides parity`: a finished ride_windows run's Delta output against the same windows in batch.

It takes the job's own flags, as the job ran (they name the topic, the windows, the table and the
checkpoint); :mod:`ridestream.parity` does the comparison.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ridestream.cli.common import AddCommand, command_session
from ridestream.config import SHARED_FLAGS, add_flags

# Exit code when some window differs and neither late rides nor an open window explain it.
EXIT_UNEXPLAINED = 1
_SHOWN = 20


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def report_lines(parity: Any) -> list[str]:
    """Return the one-line summary and the table of differing windows (at most 20 rows)."""
    from ridestream.parity import LATE, OPEN

    differences = parity.differences
    late = [d for d in differences if d.why == LATE]
    still_open = [d for d in differences if d.why == OPEN]
    read = parity.read
    if parity.equal:
        return [
            f"parity: equal: the {parity.stream_windows:,} windows of {parity.table} are the "
            f"batch recomputation's over {read}"
        ]
    parts = []
    if late:
        dropped = sum(d.late_rides for d in late)
        parts.append(
            f"{len(late):,} explained by late rides ({dropped:,} rides dropped behind the "
            "watermark in streaming, counted in batch)"
        )
    if still_open:
        parts.append(
            f"{len(still_open):,} still open (append mode: not written until the "
            "watermark passes their end)"
        )
    if parity.unexplained:
        parts.append(f"{len(parity.unexplained):,} UNEXPLAINED")
    lines = [
        f"parity: {len(differences):,} windows differ ({parity.stream_windows:,} in "
        f"{parity.table}, {parity.batch_windows:,} in batch over {read}): " + "; ".join(parts)
    ]
    header = [*parity.key_columns, "stream rides", "batch rides", "why"]
    table = [
        [
            *(_cell(part) for part in d.key),
            _cell(d.stream["ride_count"] if d.stream else None),
            _cell(d.batch["ride_count"] if d.batch else None),
            d.why
            + (f" ({d.late_rides} dropped)" if d.why == LATE else "")
            + (f" (written {d.copies} times)" if d.copies > 1 else ""),
        ]
        for d in differences[:_SHOWN]
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    if len(differences) > _SHOWN:
        lines.append(f"  ({len(differences) - _SHOWN:,} more)")
    return lines


def run_parity(args: argparse.Namespace, spark: Callable[[], Any]) -> int:
    """Compare the run the flags describe; print the summary and table; return the exit code."""
    from ridestream import runner
    from ridestream.jobs.ride_windows import JOB
    from ridestream.parity import stream_batch_parity

    settings = runner.settings_from_args(JOB, args)
    parity = stream_batch_parity(spark, settings)
    for line in report_lines(parity):
        print(line)
    if parity.unexplained:
        print(
            f"parity: {len(parity.unexplained):,} windows differ for no reason parity knows: "
            "the output lost or doubled rides",
            file=sys.stderr,
        )
        return EXIT_UNEXPLAINED
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    """`rides parity`: in a Spark session of its own."""
    return run_parity(args, lambda: command_session(args, "rides parity"))


def add_commands(add: AddCommand) -> None:
    """Add `parity`."""
    from ridestream.jobs.ride_windows import JOB

    parity = add(
        "parity",
        "compare a finished ride_windows run's Delta output with the same windows computed as a "
        "Spark batch query over the records it read; give the job's flags as it ran. Exit 0 "
        f"when equal or every difference comes from late rides, {EXIT_UNEXPLAINED} otherwise",
        cmd_parity,
    )
    shared = tuple(flag for flag in SHARED_FLAGS if flag.flag != "--bootstrap-servers")
    add_flags(parity, (*JOB.flags, *shared))
