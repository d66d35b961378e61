"""`rides lateness`: how late a topic's rides arrive, and which watermark delay to choose.

The computation is :mod:`ridestream.lateness` (pure); this module reads the topic and decodes each
value's event time (``tpep_pickup_datetime``, the job's event time) as the jobs would: JSON, CSV
in the declared field order, or Avro through the profile's schema registry.
"""

from __future__ import annotations

import argparse
import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from ridestream.cli.common import AddCommand, command_settings
from ridestream.config import parse_duration
from ridestream.errors import ConfigError
from ridestream.parsing import PICKUP_TIME

FORMATS = ("json", "csv", "avro")

EPILOG = (
    "Lateness is measured as a Spark watermark sees it: against the largest event time that "
    "arrived before the ride over ALL partitions (Spark keeps one watermark per query: the max "
    "event time of earlier micro-batches minus the delay), partitions interleaved by their "
    "Kafka timestamps; per-partition figures are shown beside it. A ride is dropped when its "
    "window ended at least the delay before that max. Spark's watermark lags a little more (it "
    "moves between micro-batches), so the fractions are an upper bound. The cost of a delay: a "
    "window's final result (append mode: its only one) comes at window end + delay."
)


def event_time_reader(value_format: str, settings: Any) -> Any:
    """Return a function from a consumed record to its event time (None if it has none)."""
    from ridestream.schemas import ride_schema

    if value_format == "csv":
        index = ride_schema().fieldNames().index(PICKUP_TIME)

        def from_csv(record: Any) -> datetime | None:
            text = record.text
            fields = next(csv.reader([text]), [])
            return _timestamp(fields[index] if len(fields) > index else None)

        return from_csv
    if value_format == "avro":
        from ridestream.kafka.avro_values import AvroReader

        if settings.schema_registry.url is None:
            raise ConfigError(
                "--format avro needs the profile's [schema_registry] url to decode values"
            )
        reader = AvroReader(settings.schema_registry)

        def from_avro(record: Any) -> datetime | None:
            raw = record.raw_value
            if raw is None or len(raw) < 5 or raw[0] != 0:
                return None
            try:
                value = reader.decode(raw, record.topic)
            except Exception:  # noqa: BLE001 - corrupt bytes or unknown id: not a ride
                return None
            return _timestamp((value or {}).get(PICKUP_TIME))

        return from_avro

    def from_json(record: Any) -> datetime | None:
        value = record.value
        return _timestamp(value.get(PICKUP_TIME)) if isinstance(value, dict) else None

    return from_json


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give a UTC time like '2024-01-01 08:00:00'") from None


def read_arrivals(args: argparse.Namespace, settings: Any) -> tuple[list, int]:
    """Read the topic (or its --from/--to range) into arrivals; return them and the unreadable."""
    from ridestream.kafka.consumer import consume
    from ridestream.lateness import Arrival

    since, until = _when(args.since, "--from"), _when(args.until, "--to")
    if since and until and until <= since:
        raise ConfigError(f"--to {args.until!r} is not after --from {args.since!r}")
    event_time = event_time_reader(args.format or settings.source.format, settings)
    arrivals, unreadable = [], 0
    records = consume(
        settings.kafka, dict(settings.consumer), args.topic or settings.source.topic, since=since
    )
    try:
        for record in records:
            if until is not None and record.timestamp is not None and record.timestamp >= until:
                continue
            moment = event_time(record)
            if moment is None:
                unreadable += 1
                continue
            arrivals.append(Arrival(record.partition, record.offset, record.timestamp, moment))
    finally:
        records.close()
    return arrivals, unreadable


def cmd_lateness(args: argparse.Namespace) -> int:
    """Print how late the topic's rides arrive, and what each watermark delay would drop."""
    from ridestream.lateness import measure, report_lines

    settings = command_settings(args)
    size = parse_duration(args.window)
    if size.total_seconds() <= 0:
        raise ConfigError(f"--window {args.window!r}: must be above 0")
    topic = args.topic or settings.source.topic
    arrivals, unreadable = read_arrivals(args, settings)
    if not arrivals:
        raise ConfigError(
            f"no ride with an event time in {topic!r}"
            + (" in that time range" if args.since or args.until else "")
            + ": produce rides first (./rides datagen), or check --topic, --format, --from/--to"
        )
    result = measure(arrivals, size)
    print(f"{topic}: " + report_lines(result)[0])
    for line in report_lines(result)[1:]:
        print(line)
    if unreadable:
        print(f"({unreadable:,} records without a readable event time left out: malformed)")
    if args.plot:
        write_plot(result, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0


def write_plot(result: Any, path: Path) -> None:
    """Write the lateness histogram and the dropped fraction per delay as an image."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "--plot needs matplotlib: pip install matplotlib (it is in the test extras)"
        ) from None
    from ridestream.lateness import dropped_at, format_seconds

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    late = [value for value in result.overall if value > 0]
    left.hist(late or [0], bins=50, log=True)
    left.set_xlabel("lateness of out-of-order rides (s)")
    left.set_ylabel("rides")
    left.set_title(f"{len(late):,} of {result.rides:,} rides out of order")
    longest = max([a.delay_s for a in result.advice] + [1])
    delays = [longest * step / 100 for step in range(101)]
    right.plot(delays, [dropped_at(result.window_lateness, d) / result.rides for d in delays])
    right.set_xlabel("watermark delay (s)")
    right.set_ylabel("fraction of rides dropped")
    right.set_title(f"{format_seconds(result.window_size.total_seconds())} tumbling windows")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def add_commands(add: AddCommand) -> None:
    """Add `lateness`."""
    command = add(
        "lateness",
        "how late a topic's rides arrive, and which watermark delay to choose for a window size",
        cmd_lateness,
    )
    command.epilog = EPILOG
    command.add_argument("--topic", help="topic to read (default: the profile's source.topic)")
    command.add_argument(
        "--format", choices=FORMATS, help="value format (default: the profile's source.format)"
    )
    command.add_argument(
        "--from",
        dest="since",
        metavar="TIME",
        help="only records written at or after TIME (UTC, Kafka timestamps)",
    )
    command.add_argument(
        "--to", dest="until", metavar="TIME", help="only records written before TIME (UTC)"
    )
    command.add_argument(
        "--window",
        default="1 minute",
        help="tumbling window size to advise a delay for (default: %(default)s)",
    )
    command.add_argument("--plot", metavar="FILE", help="also write a PNG of the distribution")
