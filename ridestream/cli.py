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


def cmd_datagen(args: argparse.Namespace) -> int:
    """Produce synthetic rides (a backfill, then live) and print a delivery summary."""
    from ridestream.kafka.producer import run_datagen

    # SIGTERM (from `rides stack down`) ends the generator like Ctrl-C: flush, then report.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = _settings(args)
    topic = args.topic or settings.source.topic
    ensure_topic(settings.kafka, topic, settings.embedded.topic_partitions)
    report = run_datagen(
        settings.kafka,
        topic,
        rate=args.rate or settings.embedded.datagen_rate,
        backfill=parse_duration(args.backfill or settings.embedded.datagen_backfill),
        duration=parse_duration(args.duration) if args.duration else None,
        seed=args.seed,
    )
    print(f"datagen: sent {report.sent}, failed {report.failed}, {report.bytes} bytes to {topic!r}")
    for error in report.errors:
        print(f"datagen: delivery failed: {error}", file=sys.stderr)
    return 1 if report.failed else 0


def _stack_dir(settings: Settings) -> Path:
    return ridestream_home() / "stack" / Path(settings.profile).stem


def _feed_topic(args: argparse.Namespace, settings: Settings, state: Path) -> int:
    """Create the source topic if needed, backfill a new one, and start the live generator."""
    embedded = settings.embedded
    created = ensure_topic(settings.kafka, settings.source.topic, embedded.topic_partitions)
    if embedded.datagen:
        from ridestream.kafka.producer import run_datagen

        # A new topic gets the past few minutes at once, so the first windows close right
        # away; a topic that already has rides keeps them (no second copy of the past).
        if created:
            run_datagen(
                settings.kafka,
                settings.source.topic,
                rate=embedded.datagen_rate,
                backfill=parse_duration(embedded.datagen_backfill),
                duration=parse_duration("0"),
            )
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
        description="Taxi rides on Kafka: run the embedded broker, generate rides.",
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

    datagen = add("datagen", "produce synthetic rides (JSON) into a topic", cmd_datagen)
    datagen.add_argument("--topic", help="target topic (default: the profile's source.topic)")
    datagen.add_argument("--rate", type=float, help="live rides per second (default: profile)")
    datagen.add_argument(
        "--backfill",
        help="first produce this much past time at --rate, "
        "e.g. '3 minutes'; '0' for none (default: profile)",
    )
    datagen.add_argument(
        "--duration", help="stop after this long, e.g. '1 minute' (default: run until Ctrl-C)"
    )
    datagen.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")

    stack = add(
        "stack",
        "bring a profile's embedded broker and datagen up or down "
        "(spark-submit.sh does this around every job)",
        cmd_stack,
    )
    stack.add_argument("action", choices=("up", "down"))
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rides`` command."""
    args = build_parser().parse_args(argv)
    run_main(lambda: args.handler(args), "rides")


if __name__ == "__main__":
    main()
