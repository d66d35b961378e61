"""`rides registry`: the local schema registry of the profile (``[schema_registry] url``)."""

from __future__ import annotations

import argparse

from ridestream.cli.common import AddCommand, command_settings, manage_service
from ridestream.stack import embedded_registry


def cmd_registry(args: argparse.Namespace) -> int:
    """Start, stop or report the local schema registry (it stores schemas on the profile's Kafka)."""
    settings = command_settings(args)
    registry = embedded_registry(settings)
    starting = (
        f"starting the schema registry on {registry.url} "
        f"(schemas in topic {registry.topic!r} on {registry.bootstrap_servers})"
    )
    return manage_service(registry, args.action, "registry", registry.url, starting)


def add_commands(add: AddCommand) -> None:
    """Add `registry`."""
    registry = add(
        "registry",
        "start, stop or check the local schema registry (Confluent's REST API, for Avro)",
        cmd_registry,
    )
    registry.add_argument("action", choices=("start", "stop", "status"))
