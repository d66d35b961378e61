"""``python -m ridestream.registry --port N --bootstrap-servers HOST:PORT``: run the registry.

Failures a user can fix (port taken, Kafka unreachable, a topic of the wrong shape) print one
line, ``ridestream-registry: <what happened>: <what to do>``, and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ridestream.registry.errors import PROG, RegistryError
from ridestream.registry.kafka_log import DEFAULT_TOPIC

EXIT_USER_ERROR = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m ridestream.registry",
        description=(
            "A local stand-in for Confluent Schema Registry: its REST API on 127.0.0.1, Avro "
            "schemas only, stored in a compacted Kafka topic."
        ),
    )
    parser.add_argument("--port", type=int, required=True, help="HTTP port on 127.0.0.1")
    parser.add_argument(
        "--bootstrap-servers",
        required=True,
        metavar="HOST:PORT",
        help="the Kafka cluster that holds the registry's topic",
    )
    parser.add_argument(
        "--topic",
        default=DEFAULT_TOPIC,
        help=f"compacted topic of the registry's records (default: {DEFAULT_TOPIC})",
    )
    parser.add_argument(
        "--kafka-timeout-s",
        type=float,
        default=10.0,
        help="how long to wait for Kafka at start (default: 10)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the registry until SIGTERM; return the exit code."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[%(asctime)s] %(levelname)s %(message)s (%(name)s)",
        stream=sys.stderr,
    )
    from ridestream.registry.server import serve

    try:
        serve(args.port, args.bootstrap_servers, args.topic, args.kafka_timeout_s)
    except RegistryError as error:
        print(f"{PROG}: {error}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
