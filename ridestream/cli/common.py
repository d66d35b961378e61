"""What every `rides` command shares: ``--profile``, ``--bootstrap-servers``, and its settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ridestream.config import SHARED_FLAGS, Settings, add_profile_argument, load_settings

# add(name, help, handler) -> the command's parser, with --profile and --bootstrap-servers.
AddCommand = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]
_BOOTSTRAP = next(flag for flag in SHARED_FLAGS if flag.flag == "--bootstrap-servers")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--profile`` and ``--bootstrap-servers`` (the same flags as the jobs')."""
    add_profile_argument(parser)
    parser.add_argument(
        _BOOTSTRAP.flag,
        dest=_BOOTSTRAP.key,
        metavar="HOST:PORT",
        help=f"{_BOOTSTRAP.help} [{_BOOTSTRAP.key}; default: the profile's]",
    )


def command_session(args: argparse.Namespace, app_name: str):  # noqa: ANN201 - a SparkSession
    """Return a Spark session for a command that reads tables (no UI: it is over in seconds)."""
    import dataclasses

    from ridestream.session import build_session

    spark = command_settings(args).spark
    conf = {"spark.ui.enabled": "false", **spark.conf}
    return build_session(dataclasses.replace(spark, conf=conf), app_name=app_name)


def command_settings(args: argparse.Namespace) -> Settings:
    """Return the settings of the profile a command was given, with ``--bootstrap-servers``."""
    bootstrap = getattr(args, _BOOTSTRAP.key, None)
    return load_settings(args.profile, {_BOOTSTRAP.key: bootstrap} if bootstrap else None)


def manage_service(service: Any, action: str, label: str, address: str, starting: str) -> int:
    """Start, stop or report a local service (the embedded broker, the registry); the exit code.

    ``label`` names it ("kafka"), ``address`` is where it answers, ``starting`` is the line
    printed when a start has to start it. ``status`` exits 3 when it is stopped.
    """
    if action == "start":
        was_running = service.is_running()
        if not was_running:
            print(f"rides: {starting}...", file=sys.stderr, flush=True)
        service.start()
        state = "already running" if was_running else "started"
        print(f"{label} {state} at {address} (pid {service.pid()})")
    elif action == "stop":
        if service.is_running():
            service.stop()
            print(f"{label} at {address} stopped")
        else:
            print(f"{label} at {address} is not running")
    else:
        pid = service.pid()
        print(f"{label} at {address}: " + (f"running (pid {pid})" if pid else "stopped"))
        return 0 if pid else 3
    return 0
