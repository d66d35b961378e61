"""`rides show`: what a job wrote, in a Delta table or a Kafka topic, latest first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ridestream.cli.common import AddCommand, command_session, command_settings
from ridestream.delta_log import UnsupportedTable, read_table
from ridestream.errors import ConfigError
from ridestream.stack import EmbeddedStack

# Columns a result is ordered by when it has them: newest window first, busiest group first.
_ORDER = (("window_start", False), ("window_end", False), ("ride_count", False))


def is_delta_table(target: str) -> bool:
    """Return True when ``target`` names a Delta table directory (local, or a storage URI)."""
    if "://" in target:
        return True
    return (Path(target) / "_delta_log").is_dir()


def _ordered(frame):  # noqa: ANN001, ANN202 - a pandas DataFrame in and out
    keys = [(name, ascending) for name, ascending in _ORDER if name in frame.columns]
    if not keys:
        return frame
    return frame.sort_values([k for k, _ in keys], ascending=[a for _, a in keys], kind="stable")


def _tidy(frame):  # noqa: ANN001, ANN202
    """Round floats to 2 decimals, and show JSON timestamps ('...T08:05:00.000Z') as Spark does."""
    import pandas as pd

    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "f":
            frame[name] = column.round(2)
        elif column.dtype == object and column.map(lambda v: isinstance(v, str)).all():
            if column.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").all():
                frame[name] = pd.to_datetime(column, utc=True, format="ISO8601").dt.tz_localize(
                    None
                )
    return frame


def show_delta(args: argparse.Namespace) -> int:
    """Print a Delta table's rows, latest windows first.

    A plain local table is read from its log and files in this process (no JVM: a second
    instead of Spark's 15-40); anything else (remote storage, deletion vectors, ...) with Spark.
    """
    if "://" not in args.target:
        try:
            frame = read_table(args.target).to_pandas()
        except UnsupportedTable:
            pass
        else:
            for name in frame.columns:
                if getattr(frame[name].dtype, "tz", None) is not None:  # instants, shown in UTC
                    frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
            sample = _ordered(frame).head(args.limit)
            _print(f"{args.target}: {len(frame):,} rows (Delta table)", _tidy(sample), len(frame))
            return 0
    return _show_delta_with_spark(args)


def _show_delta_with_spark(args: argparse.Namespace) -> int:
    from pyspark.sql import functions as F

    spark = command_session(args, "rides show")
    # A local path means what it means here (Spark's JVM may run elsewhere, or from elsewhere).
    path = args.target if "://" in args.target else str(Path(args.target).resolve())
    table = spark.read.format("delta").load(path)
    rows = table.count()
    order = [
        F.col(name).asc() if ascending else F.col(name).desc()
        for name, ascending in _ORDER
        if name in table.columns
    ]
    sample = (table.orderBy(*order) if order else table).limit(args.limit).toPandas()
    _print(f"{args.target}: {rows:,} rows (Delta table)", _tidy(sample), rows)
    return 0


def _key(record) -> object:  # noqa: ANN001 - a consumer Record
    """Return what identifies a result: its key, or its offset when it has none.

    Results are at-least-once: the last record of a key is its latest value (as on a compacted
    topic).
    """
    return record.key if record.key is not None else ("offset", record.partition, record.offset)


def _value(record) -> dict:  # noqa: ANN001 - a consumer Record
    try:
        value = json.loads(record.text)
    except (TypeError, ValueError):
        return {"value": record.text}
    return value if isinstance(value, dict) else {"value": value}


def show_topic(args: argparse.Namespace) -> int:
    """Print a topic's records as a table, the latest value of each key, latest windows first."""
    import pandas as pd

    from ridestream.kafka.consumer import consume

    settings = command_settings(args)
    latest: dict[object, dict] = {}
    read = 0
    # The embedded broker stopped with the job that started it: start it for the read, and stop
    # it again (a broker that was running stays).
    with EmbeddedStack(settings, feeds=[]):
        records = consume(settings.kafka, dict(settings.consumer), args.target, start="earliest")
        try:
            for record in records:
                read += 1
                latest[_key(record)] = _value(record)
        finally:
            records.close()
    frame = _ordered(pd.DataFrame(list(latest.values())))
    keyed = f", {len(latest):,} keys" if len(latest) != read else ""
    _print(
        f"{args.target}: {read:,} records{keyed} (Kafka topic at {settings.kafka.bootstrap_servers})",
        _tidy(frame.head(args.limit)),
        len(latest),
    )
    return 0


def _print(title: str, frame, total: int) -> None:  # noqa: ANN001 - a pandas DataFrame
    print(title)
    if frame.empty:
        print("(nothing yet)")
        return
    print(frame.to_string(index=False))
    if total > len(frame):
        print(f"({total - len(frame):,} more; --limit N shows more)")


def cmd_show(args: argparse.Namespace) -> int:
    """Print what a job wrote: a Delta table path or a Kafka topic."""
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be at least 1")
    if is_delta_table(args.target):
        return show_delta(args)
    if "/" in args.target or Path(args.target).exists():
        raise ConfigError(
            f"{args.target} is not a Delta table (no _delta_log in it): give a table's directory "
            "or a Kafka topic"
        )
    return show_topic(args)


def add_commands(add: AddCommand) -> None:
    """Add `show`."""
    show = add(
        "show",
        "print what a job wrote: the rows of a Delta table, or the latest record per key of a "
        "Kafka topic, newest windows and busiest groups first",
        cmd_show,
    )
    show.add_argument("target", help="a Delta table's directory, or a Kafka topic")
    show.add_argument("--limit", type=int, default=20, help="rows to print (default: %(default)s)")
