"""`rides state`: what a job's checkpoint holds in state, through Spark's state readers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ridestream.cli.common import AddCommand, command_session


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if value is not None and hasattr(value, "start"):  # a window struct
        return f"{_time(value.start)} - {_time(value.end)[11:]}"
    return "-" if value is None else str(value)


def state_lines(state: Any) -> list[str]:
    """Return a query's summary line and a table of its stores."""
    from ridestream.parity import format_time

    rows = sum(store.rows for store in state.stores)
    operators = len({store.operator_id for store in state.stores})
    lines = [
        f"{state.checkpoint}: batch {state.batch_id}, watermark "
        f"{format_time(state.watermark_ms) if state.watermark_ms else 'none yet'}, "
        f"{operators} stateful operator{'s' if operators > 1 else ''}, {rows:,} state rows"
    ]
    header = ["operator", "store", "rows", "keys per partition", "held", "oldest", "newest"]
    table = [
        [
            f"{store.operator_id} {store.operator}",
            store.store,
            f"{store.rows:,}",
            " ".join(str(keys) for keys in store.keys_per_partition),
            store.held or "-",
            _time(store.oldest),
            _time(store.newest),
        ]
        for store in state.stores
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def run_state(args: argparse.Namespace, spark: Callable[[], Any]) -> int:
    """Print the state of every query checkpoint at or under the path; return the exit code."""
    from ridestream.config import ConfigError
    from ridestream.offset_log import CheckpointError
    from ridestream.state import query_checkpoints, query_state

    checkpoints = query_checkpoints(args.checkpoint)
    if not checkpoints:
        raise CheckpointError(
            f"{args.checkpoint} is not a checkpoint: no query checkpoint (a directory with "
            "metadata and offsets/) at or under it"
        )
    if args.batch_id is not None and len(checkpoints) > 1:
        raise ConfigError("--batch-id needs one query's checkpoint, not a directory of several")
    session = spark()
    shown = 0
    for checkpoint in checkpoints:
        try:
            state = query_state(session, checkpoint, args.batch_id)
        except CheckpointError:
            if len(checkpoints) == 1:
                raise
            continue  # a stateless query (the dead letter) beside stateful ones
        for line in state_lines(state):
            print(line)
        shown += 1
    if not shown:
        raise CheckpointError(
            f"{args.checkpoint}: none of its {len(checkpoints)} queries holds state"
        )
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    """`rides state`: in a Spark session of its own."""
    return run_state(args, lambda: command_session(args, "rides state"))


def add_commands(add: AddCommand) -> None:
    """Add `state`."""
    state = add(
        "state",
        "show what a streaming job's checkpoint holds in state: its stateful operators, state "
        "rows, keys per partition and the oldest/newest window held (Spark's state readers)",
        cmd_state,
    )
    state.add_argument(
        "checkpoint",
        help="a query's checkpoint directory, or a directory holding several (a job's "
        "--checkpoint-dir): each stateful query is shown",
    )
    state.add_argument(
        "--batch-id", type=int, help="the committed batch to read (default: the last)"
    )
