"""`rides registry`: the local schema registry of the profile (``[schema_registry] url``)."""

from __future__ import annotations

import argparse
import sys

from ridestream.cli.common import AddCommand, command_settings
from ridestream.stack import embedded_registry


def cmd_registry(args: argparse.Namespace) -> int:
    """Start, stop or report the local schema registry (it stores schemas on the profile's Kafka)."""
    settings = command_settings(args)
    registry = embedded_registry(settings)
    if args.action == "start":
        was_running = registry.is_running()
        if not was_running:
            print(
                f"rides: starting the schema registry on {registry.url} "
                f"(schemas in topic {registry.topic!r} on {registry.bootstrap_servers})...",
                file=sys.stderr,
                flush=True,
            )
        registry.start()
        state = "already running" if was_running else "started"
        print(f"registry {state} at {registry.url} (pid {registry.pid()})")
    elif args.action == "stop":
        if registry.is_running():
            registry.stop()
            print(f"registry at {registry.url} stopped")
        else:
            print(f"registry at {registry.url} is not running")
    else:
        pid = registry.pid()
        print(f"registry at {registry.url}: " + (f"running (pid {pid})" if pid else "stopped"))
        return 0 if pid else 3
    return 0


def add_commands(add: AddCommand) -> None:
    """Add `registry`."""
    registry = add(
        "registry",
        "start, stop or check the local schema registry (Confluent's REST API, for Avro)",
        cmd_registry,
    )
    registry.add_argument("action", choices=("start", "stop", "status"))
