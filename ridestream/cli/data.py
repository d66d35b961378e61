"""`rides produce`, `rides datagen` and `rides consume`: records into and out of topics."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path

from ridestream.cli.common import AddCommand, command_settings
from ridestream.config import VALUE_FORMATS, Settings, parse_duration
from ridestream.errors import ConfigError
from ridestream.kafka.admin import ensure_topic
from ridestream.stack import EmbeddedStack

KEY_CHOICES = ("PULocationID", "DOLocationID", "VendorID", "none")


def _key_column(key: str, schema_names: list[str]) -> str | None:
    """Return the schema's spelling of a key field (FHV files say PUlocationID), or None."""
    if key == "none":
        return None
    for name in schema_names:
        if name.lower() == key.lower():
            return name
    raise ConfigError(
        f"--key {key}: this kind of ride has no such field ({', '.join(schema_names)})"
    )


def _target_topic(settings: Settings, topic: str, create: bool) -> None:
    """Make sure ``topic`` exists: create it when asked, else fail with the fix."""
    from ridestream.kafka.admin import KafkaUnavailable, check_topics

    if create:
        check_topics(settings.kafka, [])
        ensure_topic(settings.kafka, topic, settings.embedded.topic_partitions)
        return
    try:
        check_topics(settings.kafka, [topic])
    except KafkaUnavailable as error:
        if "does not exist" not in str(error):
            raise
        raise KafkaUnavailable(
            f"topic {topic!r} does not exist on {settings.kafka.bootstrap_servers}: pass --create, "
            f"or create it with `./rides topics create {topic}`"
        ) from None


def _finish(label: str, report, topic: str) -> int:  # noqa: ANN001
    print(f"{label}: {report.summary(topic)}")
    for reason, count in report.errors.items():
        print(f"{label}: {count:,} records failed: {reason}", file=sys.stderr)
    if report.undelivered:
        print(
            f"{label}: {report.undelivered:,} records were still undelivered when the producer "
            "gave up waiting; they may or may not have been written",
            file=sys.stderr,
        )
    return 1 if report.failed or report.undelivered else 0


def cmd_produce(args: argparse.Namespace) -> int:
    """Produce TLC trip files (CSV, CSV.gz, Parquet) into a topic, paced and summarized."""
    from ridestream.kafka.producer import (
        DeliveryReport,
        ProduceJob,
        Progress,
        make_producer,
        produce_batches,
    )
    from ridestream.trips import KINDS, open_trips

    settings = command_settings(args)
    topic = args.topic or settings.source.topic
    opened = [open_trips(Path(path), args.kind) for path in args.files]
    _target_topic(settings, topic, args.create)
    report = DeliveryReport()
    producer = make_producer(settings.kafka, dict(settings.producer), report)
    for trip_file, batches in opened:
        if trip_file.ignored_columns:
            print(
                f"produce: {trip_file.path.name}: columns not in the {trip_file.kind} schema are "
                f"left out: {', '.join(trip_file.ignored_columns)}",
                file=sys.stderr,
            )
        avro = None
        if args.format == "avro":
            from ridestream.kafka.avro_values import AvroValues

            avro = AvroValues(settings.schema_registry, topic, KINDS[trip_file.kind])
        job = ProduceJob(
            topic=topic,
            key=_key_column(args.key, trip_file.schema.names),
            value_format=args.format,
            event_time=trip_file.event_time,
            dropoff_time=trip_file.dropoff_time,
            rate=args.rate,
            speedup=args.speedup,
            restamp=args.restamp,
            limit=None if args.limit is None else args.limit + report.produced,
            avro=avro,
        )
        total = trip_file.total_rows
        if args.limit is not None:
            total = min(total, args.limit) if total is not None else args.limit
        progress = Progress(f"produce {trip_file.path.name}", total)
        produce_batches(producer, job, batches, report, progress)
    return _finish("produce", report, topic)


def cmd_datagen(args: argparse.Namespace) -> int:
    """Produce synthetic rides (a backfill, then live; or a fixed history) with a summary."""
    from datetime import UTC, datetime

    from ridestream.kafka.datagen import Mix, RideGenerator, run_datagen
    from ridestream.kafka.producer import DeliveryReport, Progress, make_producer

    # SIGTERM (from `rides stack down`) ends the generator like Ctrl-C: flush, then report.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = command_settings(args)
    topic = args.topic or (settings.source.topic if args.stream == "rides" else "pickup_locations")
    rate = args.rate or settings.embedded.datagen_rate
    mix = Mix(
        out_of_order=args.out_of_order,
        disorder=parse_duration(args.disorder),
        late=args.late,
        late_by=parse_duration(args.late_by),
        malformed=args.malformed,
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    if args.start:
        if args.count is None:
            raise ConfigError("--start makes a fixed history: say how many records with --count")
        start = datetime.fromisoformat(args.start)
        live_until = None
    else:
        start = now - parse_duration(args.backfill or settings.embedded.datagen_backfill)
        live_until = now + parse_duration(args.duration) if args.duration else None
    _target_topic(settings, topic, create=True)
    value_format = args.format or settings.source.format
    avro = None
    if value_format == "avro":
        from ridestream.kafka.avro_values import AvroValues
        from ridestream.kafka.datagen import STREAMS

        avro = AvroValues(settings.schema_registry, topic, STREAMS[args.stream])
    generator = RideGenerator(
        start,
        rate,
        seed=args.seed,
        mix=mix,
        stream=args.stream,
        value_format=value_format,
        key=None if args.key == "none" else args.key,
        avro=avro,
    )
    report = DeliveryReport()
    producer = make_producer(settings.kafka, dict(settings.producer), report)
    print(
        f"datagen: {args.stream} at {rate:g}/s of event time from {start:%Y-%m-%d %H:%M:%S} into "
        f"{topic!r}"
        + (
            ""
            if args.start
            else f", live {'until Ctrl-C' if live_until is None else 'for ' + args.duration}"
        ),
        file=sys.stderr,
        flush=True,
    )
    run_datagen(
        producer,
        topic,
        generator,
        report,
        live_until=live_until,
        count=args.count,
        progress=Progress("datagen", args.count),
    )
    print(f"datagen: generated {generator.tally.describe()}")
    return _finish("datagen", report, topic)


def cmd_consume(args: argparse.Namespace) -> int:
    """Print a topic's records decoded, from the earliest or latest offset, with a summary."""
    settings = command_settings(args)
    # The embedded broker stops with the job that started it: start it for the read (and stop
    # it after; a broker that was running stays).
    with EmbeddedStack(settings, feeds=[]):
        return _consume(args, settings)


def _consume(args: argparse.Namespace, settings: Settings) -> int:

    from ridestream.kafka.consumer import consume, record_filter

    matches = record_filter(args.where or [], args.grep)
    shown = read = 0
    records = consume(
        settings.kafka,
        dict(settings.consumer),
        args.topic,
        start=args.start,
        group=args.group,
        follow=args.follow or args.start == "latest",
    )
    avro = _avro_reader(settings)
    try:
        for record in records:
            read += 1
            avro_value = _avro_decoded(avro, record)
            if avro_value is not None:
                record = dataclasses.replace(record, value=avro_value)
            if not matches(record):
                continue
            shown += 1
            if args.json:
                print(json.dumps(record.as_dict(), default=str), flush=True)
            else:
                value = record.text if avro_value is None else json.dumps(avro_value, default=str)
                stamp = f"{record.timestamp:%Y-%m-%d %H:%M:%S.%f}"[:-3] if record.timestamp else "-"
                headers = " headers=" + json.dumps(record.headers) if record.headers else ""
                print(
                    f"p{record.partition} @{record.offset} {stamp} key={record.key}{headers} {value}",
                    flush=True,
                )
            if args.limit is not None and shown >= args.limit:
                break
    except KeyboardInterrupt:
        pass
    finally:
        records.close()
    filtered = f", {read - shown:,} filtered out" if read != shown else ""
    print(
        f"consume: {shown:,} records from {args.topic!r} ({read:,} read{filtered})", file=sys.stderr
    )
    return 0


def _avro_reader(settings: Settings):  # noqa: ANN202 - an AvroReader, or None
    """Return a decoder of Avro values when the profile names a schema registry."""
    if settings.schema_registry.url is None:
        return None
    from ridestream.kafka.avro_values import AvroReader

    return AvroReader(settings.schema_registry)


def _avro_decoded(avro, record) -> dict | None:  # noqa: ANN001
    """Return a wire-format Avro value decoded through the registry; None for anything else."""
    raw = record.raw_value
    if avro is None or raw is None or len(raw) < 5 or raw[0] != 0:
        return None
    try:
        return avro.decode(raw, record.topic)
    except Exception:  # noqa: BLE001 - an unknown id or corrupt bytes: shown raw, as written
        return None


def add_commands(add: AddCommand) -> None:
    """Add `produce`, `datagen` and `consume`."""
    produce = add(
        "produce",
        "produce NYC TLC trip files (yellow, green, FHV; .csv, .csv.gz, .parquet) into a topic",
        cmd_produce,
    )
    produce.add_argument("files", nargs="+", metavar="FILE", help="trip files, produced in order")
    produce.add_argument("--topic", help="target topic (default: the profile's source.topic)")
    produce.add_argument(
        "--create", action="store_true", help="create the topic if it does not exist"
    )
    produce.add_argument(
        "--kind",
        choices=("yellow", "green", "fhv"),
        help="kind of trips (default: from the file name, e.g. yellow_tripdata_2024-01.parquet)",
    )
    produce.add_argument(
        "--key",
        choices=KEY_CHOICES,
        default="PULocationID",
        help="record key (default: %(default)s)",
    )
    produce.add_argument(
        "--format",
        choices=VALUE_FORMATS,
        default="json",
        help="value format: JSON objects, comma-separated values in schema order like the "
        "course's rides_csv topic, or Avro through the profile's [schema_registry] "
        "(subject <topic>-value) (default: %(default)s)",
    )
    pacing = produce.add_mutually_exclusive_group()
    pacing.add_argument(
        "--rate", type=float, metavar="N", help="at most N records per second (default: max speed)"
    )
    pacing.add_argument(
        "--speedup",
        type=float,
        metavar="X",
        help="replay in event time, X times faster than the trips happened (e.g. 60)",
    )
    produce.add_argument(
        "--restamp",
        action="store_true",
        help="move event times to now (pickups start now; with --speedup they keep pace with "
        "the replay); trip durations are kept",
    )
    produce.add_argument("--limit", type=int, metavar="N", help="stop after N records in all")

    datagen = add(
        "datagen",
        "produce synthetic rides (or pickup locations): a backfill, then live; or a fixed "
        "history with --start/--count",
        cmd_datagen,
    )
    datagen.add_argument(
        "--topic",
        help="target topic (default: the profile's source.topic; pickup_locations for that stream)",
    )
    datagen.add_argument(
        "--stream",
        choices=("rides", "pickup-locations"),
        default="rides",
        help="what to generate (default: %(default)s); pickup-locations are paired with the "
        "rides of the same --seed, --start and --rate, some matching them (docs/joins.md)",
    )
    datagen.add_argument(
        "--rate", type=float, help="records per second of event time (default: profile)"
    )
    datagen.add_argument(
        "--backfill",
        help="first produce this much past time at once, "
        "e.g. '3 minutes'; '0' for none (default: profile)",
    )
    datagen.add_argument(
        "--duration", help="stop after this long, e.g. '1 minute' (default: run until Ctrl-C)"
    )
    datagen.add_argument(
        "--start",
        metavar="TIME",
        help="a fixed history instead: event times from TIME ('2024-01-01 00:00:00'), "
        "produced at full speed; needs --count",
    )
    datagen.add_argument("--count", type=int, metavar="N", help="stop after N records")
    datagen.add_argument(
        "--out-of-order",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of rides moved back by up to --disorder (default: %(default)s)",
    )
    datagen.add_argument(
        "--disorder", default="5 seconds", help="how far out of order (default: %(default)s)"
    )
    datagen.add_argument(
        "--late",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of rides older than --late-by, i.e. behind a watermark (default: %(default)s)",
    )
    datagen.add_argument(
        "--late-by", default="10 minutes", help="how late a late ride is (default: %(default)s)"
    )
    datagen.add_argument(
        "--malformed",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of malformed records: truncated, not UTF-8, missing or mistyped fields, "
        "empty (default: %(default)s)",
    )
    datagen.add_argument(
        "--format",
        choices=VALUE_FORMATS,
        help="value format (default: the profile's source.format, json in local)",
    )
    datagen.add_argument(
        "--key",
        choices=KEY_CHOICES,
        default="PULocationID",
        help="record key (default: %(default)s)",
    )
    datagen.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")

    consume = add(
        "consume", "print a topic's records decoded, with a count at the end", cmd_consume
    )
    consume.add_argument("topic", help="topic to read")
    consume.add_argument(
        "--from",
        dest="start",
        choices=("earliest", "latest"),
        default="earliest",
        help="where to start without committed offsets (default: %(default)s; latest follows)",
    )
    consume.add_argument("--limit", type=int, metavar="N", help="stop after printing N records")
    consume.add_argument(
        "--group", help="consumer group: resume from and commit its offsets (default: none)"
    )
    consume.add_argument(
        "--where",
        action="append",
        metavar="FIELD=VALUE",
        help="only records whose JSON FIELD (or key) equals VALUE; repeat to AND",
    )
    consume.add_argument("--grep", metavar="TEXT", help="only records whose value contains TEXT")
    consume.add_argument(
        "--follow", action="store_true", help="keep waiting for new records (Ctrl-C ends)"
    )
    consume.add_argument("--json", action="store_true", help="one JSON object per record")
