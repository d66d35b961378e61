"""The ``rides`` command: the embedded broker, synthetic rides, and the demo stack.

Run ``./rides --help`` (or ``rides --help`` inside the virtualenv) for the commands.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from ridestream.config import (
    DEFAULT_PROFILE,
    VALUE_FORMATS,
    ConfigError,
    Settings,
    build_settings,
    load_profile,
    parse_duration,
)
from ridestream.errors import run_main
from ridestream.kafka.admin import ensure_topic
from ridestream.local import EmbeddedKafka, pid_alive
from ridestream.paths import ridestream_home


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "bootstrap_servers", None):
        overrides["kafka.bootstrap_servers"] = args.bootstrap_servers
    if getattr(args, "source_format", None):
        overrides["source.format"] = args.source_format
    return build_settings(args.profile, load_profile(args.profile), overrides)


def embedded_broker(settings: Settings) -> EmbeddedKafka:
    """Return the embedded broker a profile's ``kafka.bootstrap_servers`` points at."""
    host, _, port = settings.kafka.bootstrap_servers.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise ConfigError(
            f"profile {settings.profile!r} points at {settings.kafka.bootstrap_servers}: the embedded "
            "broker only runs on 127.0.0.1:<port>"
        )
    return EmbeddedKafka(data_dir=ridestream_home() / "kafka" / port, port=int(port))


def cmd_kafka(args: argparse.Namespace) -> int:
    """Start, stop or report the embedded broker of the profile."""
    broker = embedded_broker(_settings(args))
    if args.action == "start":
        was_running = broker.is_running()
        if not was_running:
            print(
                f"rides: starting Kafka on {broker.bootstrap_servers} (data in {broker.data_dir})...",
                file=sys.stderr,
                flush=True,
            )
        broker.start()
        state = "already running" if was_running else "started"
        print(f"kafka {state} at {broker.bootstrap_servers} (pid {broker.pid()})")
    elif args.action == "stop":
        if broker.is_running():
            broker.stop()
            print(f"kafka at {broker.bootstrap_servers} stopped")
        else:
            print(f"kafka at {broker.bootstrap_servers} is not running")
    else:
        pid = broker.pid()
        print(
            f"kafka at {broker.bootstrap_servers}: "
            + (f"running (pid {pid})" if pid else "stopped")
        )
        return 0 if pid else 3
    return 0


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
    from ridestream.trips import open_trips

    settings = _settings(args)
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
    settings = _settings(args)
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
    generator = RideGenerator(
        start,
        rate,
        seed=args.seed,
        mix=mix,
        stream=args.stream,
        value_format=args.format or settings.source.format,
        key=None if args.key == "none" else args.key,
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
    import json

    from ridestream.kafka.consumer import consume, record_filter

    settings = _settings(args)
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
    try:
        for record in records:
            read += 1
            if not matches(record):
                continue
            shown += 1
            if args.json:
                print(json.dumps(record.as_dict(), default=str), flush=True)
            else:
                value = record.text
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


def cmd_balance(args: argparse.Namespace) -> int:
    """Print a finished run's record accounting from its metrics file; exit 1 if it is off."""
    from ridestream.progress import balance_from_metrics

    path = Path(args.metrics_file)
    if not path.exists():
        raise ConfigError(
            f"{path} does not exist: run the job with --metrics-file {path} to record its batches"
        )
    balance = balance_from_metrics(path.read_text().splitlines(), args.query)
    if not balance.batches:
        raise ConfigError(f"{path} has no batch of a query named {args.query!r} (see --query)")
    print(f"{args.query}: {balance.batches:,} batches")
    print(f"  read from Kafka      {balance.read:>12,}")
    print(f"  parsed               {balance.input:>12,}")
    print(f"    valid              {balance.valid:>12,}")
    print(f"    rejected           {balance.rejected:>12,}  (to the dead-letter sink)")
    problems = []
    if balance.unbalanced_batches:
        problems.append(
            f"batches {balance.unbalanced_batches} do not balance (read, parsed and valid + "
            "rejected differ)"
        )
    if balance.missing_batches:
        problems.append(
            f"batches {balance.missing_batches[:10]} ran but are not in {path} (was the job "
            "killed before recording them, or started without --metrics-file?): their rows are "
            "not counted"
        )
    if args.windows:
        problems += _balance_windows(args, balance)
    else:
        print(
            f"  dropped late         {balance.dropped_late:>12,}  (Spark's count of partial window "
            "groups dropped behind the watermark; --windows TABLE counts the rides)"
        )
    if problems:
        for problem in problems:
            print(f"NOT balanced: {problem}", file=sys.stderr)
        return 1
    print(
        "balanced: read = parsed = valid + rejected in every batch"
        + ("; valid = in windows + dropped late" if args.windows else "")
    )
    return 0


def _balance_windows(args: argparse.Namespace, balance) -> list[str]:  # noqa: ANN001
    """Print the windows side of the balance (valid = in windows + dropped); return problems."""
    from ridestream.progress import late_drops_agree, window_rides
    from ridestream.session import build_session

    settings = _settings(args)
    table = str(Path(args.windows).resolve())
    spark = build_session(settings.spark, app_name="rides balance")
    try:
        windows = window_rides(spark, table)
    except Exception as error:  # noqa: BLE001 - a missing or foreign table: one line
        raise ConfigError(
            f"{args.windows} is not a readable windows Delta table ({error})"
        ) from None
    each = windows.windows_per_ride
    unit = "ride-windows" if each > 1 else "rides"
    expected = balance.valid * each
    rest = expected - windows.ride_windows
    if each > 1:
        print(f"    x {each} windows each  {expected:>12,}  {unit} (hopping windows)")
    print(
        f"    in windows         {windows.ride_windows:>12,}  (ride_count over the "
        f"{windows.windows:,} windows of {args.windows})"
    )
    spark_dropped = balance.dropped_late
    if windows.all_windows:
        print(
            f"    dropped late       {rest:>12,}  (the rest; Spark dropped {spark_dropped:,} late "
            "partial window groups)"
        )
        if rest < 0:
            return [f"the table holds {-rest:,} more {unit} than were valid (counted twice?)"]
        if not late_drops_agree(rest, spark_dropped):
            return [
                f"{rest:,} {unit} are not in the table, but Spark dropped {spark_dropped:,} late "
                "partial window groups (lost or counted twice?)"
            ]
        # The same, batch by batch: what each batch's merge added against what it parsed.
        off = [
            batch
            for batch, (valid, groups) in sorted(balance.per_batch.items())
            if not late_drops_agree(valid * each - windows.added_per_batch.get(batch, 0), groups)
        ]
        if off:
            return [
                f"batches {off[:10]}: valid rides, the rides their merges added and Spark's late "
                "groups do not agree (lost or counted twice?)"
            ]
        print(
            f"  in each of the {len(balance.per_batch):,} batches: valid = added to the table + "
            "dropped late"
        )
        return []
    print(
        f"    not in the table   {rest:>12,}  (dropped late, or in windows still open: append mode "
        f"writes a window once it is final; Spark dropped {spark_dropped:,} late partial groups)"
    )
    if rest < spark_dropped:
        return [f"the table holds {unit} that Spark dropped as late ({rest:,} < {spark_dropped:,})"]
    return []


def cmd_topics(args: argparse.Namespace) -> int:
    """Create, describe, list or delete topics."""
    from ridestream.kafka.topics import create_topic, delete_topic, describe_topics

    settings = _settings(args)
    if args.action == "create":
        create_topic(
            settings.kafka,
            args.name,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            retention=parse_duration(args.retention) if args.retention else None,
            cleanup_policy=args.cleanup_policy,
        )
        replication = "default" if args.replication_factor < 0 else args.replication_factor
        print(
            f"created topic {args.name!r}: {args.partitions} partitions, replication "
            f"{replication}, cleanup {args.cleanup_policy}"
            + (f", retention {args.retention}" if args.retention else "")
        )
    elif args.action == "delete":
        delete_topic(settings.kafka, args.name)
        print(f"deleted topic {args.name!r}")
    elif args.action == "list":
        topics = describe_topics(settings.kafka, with_config=False)
        width = max([len(t.name) for t in topics] + [5])
        print(f"{'topic':<{width}}  partitions  records")
        for topic in topics:
            print(f"{topic.name:<{width}}  {len(topic.partitions):>10}  {topic.messages:>7,}")
    else:
        for topic in describe_topics(settings.kafka, [args.name]):
            print(
                f"topic {topic.name}: {len(topic.partitions)} partitions, {topic.messages:,} records"
            )
            for key, value in topic.config.items():
                print(f"  {key} = {value}")
            for p in topic.partitions:
                print(
                    f"  partition {p.partition}: leader {p.leader}, replicas {list(p.replicas)}, "
                    f"in sync {list(p.isrs)}, offsets {p.low:,}..{p.high:,} ({p.messages:,} records)"
                )
    return 0


def _stack_dir(settings: Settings) -> Path:
    return ridestream_home() / "stack" / Path(settings.profile).stem


# Demo rides arrive a little out of order (as real ones do), well within the demo's watermark.
DEMO_MIX_FLAGS = ("--out-of-order", "0.3", "--disorder", "5 seconds")


def _backfill(settings: Settings) -> None:
    """Produce the profile's datagen backfill (rides up to now) into the source topic."""
    from datetime import UTC, datetime

    from ridestream.kafka.datagen import Mix, RideGenerator, run_datagen
    from ridestream.kafka.producer import DeliveryReport, make_producer

    embedded = settings.embedded
    now = datetime.now(UTC).replace(tzinfo=None)
    generator = RideGenerator(
        now - parse_duration(embedded.datagen_backfill),
        embedded.datagen_rate,
        mix=Mix(out_of_order=float(DEMO_MIX_FLAGS[1]), disorder=parse_duration(DEMO_MIX_FLAGS[3])),
        value_format=settings.source.format,
    )
    report = DeliveryReport()
    producer = make_producer(settings.kafka, dict(settings.producer), report)
    run_datagen(producer, settings.source.topic, generator, report, live_until=now)
    print(
        f"ridestream: backfilled {report.sent:,} rides covering the last "
        f"{embedded.datagen_backfill} into {settings.source.topic!r}",
        file=sys.stderr,
    )


def _feed_topic(args: argparse.Namespace, settings: Settings, state: Path) -> int:
    """Create the source topic if needed, backfill a new one, and start the live generator."""
    embedded = settings.embedded
    created = ensure_topic(settings.kafka, settings.source.topic, embedded.topic_partitions)
    if embedded.datagen:
        # A new topic gets the past few minutes at once, so the first windows close right
        # away; a topic that already has rides keeps them (no second copy of the past).
        if created:
            _backfill(settings)
        log = (ridestream_home() / "logs" / "datagen.log").open("ab")
        live = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ridestream.cli",
                "datagen",
                "--profile",
                args.profile,
                "--backfill",
                "0",
                # The job parses what its profile (or --format) says: generate exactly that.
                "--format",
                settings.source.format,
                *DEMO_MIX_FLAGS,
                *(
                    ["--bootstrap-servers", args.bootstrap_servers]
                    if args.bootstrap_servers
                    else []
                ),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        (state / "datagen.pid").write_text(str(live.pid))
        print(
            f"ridestream: generating {embedded.datagen_rate:g} rides/s into "
            f"{settings.source.topic!r} (log: {log.name})",
            file=sys.stderr,
        )
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    """Bring the profile's embedded parts up before a job, and down after it (spark-submit.sh)."""
    settings = _settings(args)
    state = _stack_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    if args.action == "down":
        _stack_down(settings, state)
        return 0
    if not settings.embedded.kafka:
        return 0
    broker = embedded_broker(settings)
    if not broker.is_running():
        print(
            f"ridestream: starting the embedded Kafka broker on {broker.bootstrap_servers}...",
            file=sys.stderr,
            flush=True,
        )
        broker.start()
        (state / "broker-started").write_text(str(broker.pid()))
    try:
        return _feed_topic(args, settings, state)
    except BaseException:
        _stack_down(settings, state)  # leave nothing half-started behind
        raise


def _stack_down(settings: Settings, state: Path) -> None:
    """Stop the generator and the broker that `stack up` started, and nothing else."""
    datagen_pid = state / "datagen.pid"
    if datagen_pid.exists():
        pid = int(datagen_pid.read_text())
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
        datagen_pid.unlink()
    started = state / "broker-started"
    if started.exists():
        broker = embedded_broker(settings)
        if broker.pid() == int(started.read_text() or 0):
            broker.stop()
            print("ridestream: stopped the embedded Kafka broker", file=sys.stderr)
        started.unlink()


def build_parser() -> argparse.ArgumentParser:
    """Return the ``rides`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="rides",
        description="Taxi rides on Kafka: run the embedded broker, produce trip files and synthetic "
        "rides, consume and manage topics. Every command takes --profile and --help.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:  # noqa: ANN001
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--profile",
            default=os.environ.get("RIDESTREAM_PROFILE", DEFAULT_PROFILE),
            help="conf/<NAME>.toml or a .toml path (default: %(default)s)",
        )
        sub.add_argument("--bootstrap-servers", help="override kafka.bootstrap_servers")
        sub.set_defaults(handler=handler)
        return sub

    kafka = add("kafka", "start, stop or check the embedded Kafka broker", cmd_kafka)
    kafka.add_argument("action", choices=("start", "stop", "status"))

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
        choices=("json", "csv"),
        default="json",
        help="value format: JSON objects, or comma-separated values in schema order like the "
        "course's rides_csv topic (default: %(default)s)",
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
        help="what to generate (default: %(default)s)",
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

    balance = add(
        "balance",
        "print a finished run's record accounting (read = valid + rejected) from its metrics file",
        cmd_balance,
    )
    balance.add_argument("metrics_file", help="the job's --metrics-file")
    balance.add_argument(
        "--query", default="ride_windows", help="query name in the file (default: %(default)s)"
    )
    balance.add_argument(
        "--windows",
        metavar="DELTA_PATH",
        help="the run's windows Delta table: also check valid = in windows + dropped late "
        "(exact for update mode, where every window is merged in)",
    )

    topics = add("topics", "create, describe, list or delete topics", cmd_topics)
    topic_actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    topics_list = topic_actions.add_parser("list", help="topics with partition and record counts")
    topics_describe = topic_actions.add_parser(
        "describe", help="partitions, replicas, offsets and non-default settings of a topic"
    )
    topics_describe.add_argument("name")
    topics_create = topic_actions.add_parser(
        "create",
        help="create a topic (the course's tutorial_topic: --partitions 2 --retention '1 day')",
    )
    topics_create.add_argument("name")
    topics_create.add_argument("--partitions", type=int, default=2, help="(default: %(default)s)")
    topics_create.add_argument(
        "--replication-factor",
        type=int,
        default=-1,
        help="copies of each partition (default: the cluster's default, 1 on the embedded broker)",
    )
    topics_create.add_argument("--retention", help="e.g. '1 day' (default: the broker's)")
    topics_create.add_argument(
        "--cleanup-policy",
        choices=("delete", "compact", "compact,delete"),
        default="delete",
        help="(default: %(default)s)",
    )
    topics_delete = topic_actions.add_parser("delete", help="delete a topic and its records")
    topics_delete.add_argument("name")
    for sub in (topics_list, topics_describe, topics_create, topics_delete):
        sub.add_argument("--profile", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument("--bootstrap-servers", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    stack = add(
        "stack",
        "bring a profile's embedded broker and datagen up or down "
        "(spark-submit.sh does this around every job)",
        cmd_stack,
    )
    stack.add_argument("action", choices=("up", "down"))
    stack.add_argument(
        "--format",
        dest="source_format",
        choices=VALUE_FORMATS,
        help="value format the generated rides are written in (default: the profile's "
        "source.format; spark-submit.sh passes the job's --format)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rides`` command."""
    args = build_parser().parse_args(argv)
    run_main(lambda: args.handler(args), "rides")


if __name__ == "__main__":
    main()
