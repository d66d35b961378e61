"""The ``rides`` command: the embedded broker, topics, rides into and out of Kafka, audits.

Run ``./rides --help`` (or ``rides --help`` inside the virtualenv) for the commands. One module
per group: :mod:`~ridestream.cli.broker` (``kafka``, ``topics``), :mod:`~ridestream.cli.data`
(``produce``, ``datagen``, ``consume``), :mod:`~ridestream.cli.show` (``show``),
:mod:`~ridestream.cli.audit` (``balance``), :mod:`~ridestream.cli.sql` (``sql``),
:mod:`~ridestream.cli.registry` (``registry``), :mod:`~ridestream.cli.lateness`
(``lateness``), :mod:`~ridestream.cli.connect` (``connect``), :mod:`~ridestream.cli.parity`
(``parity``), :mod:`~ridestream.cli.state` (``state``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ridestream.cli import (
    audit,
    broker,
    connect,
    data,
    lateness,
    parity,
    registry,
    show,
    sql,
    state,
)
from ridestream.cli.common import add_common_arguments
from ridestream.errors import run_main


def build_parser() -> argparse.ArgumentParser:
    """Return the ``rides`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="rides",
        description="Taxi rides on Kafka: run the embedded broker, produce trip files and synthetic "
        "rides, consume and manage topics, audit a job's run. Every command takes --profile and "
        "--help.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, help_text: str, handler: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_common_arguments(sub)
        sub.set_defaults(handler=handler)
        return sub

    broker.add_commands(add)
    registry.add_commands(add)
    data.add_commands(add)
    show.add_commands(add)
    audit.add_commands(add)
    sql.add_commands(add)
    lateness.add_commands(add)
    connect.add_commands(add)
    parity.add_commands(add)
    state.add_commands(add)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rides`` command."""
    args = build_parser().parse_args(argv)
    run_main(lambda: args.handler(args), "rides")
