"""`rides connect`: Apache Kafka's standalone Connect worker with connector configs from conf/.

The worker is :class:`ridestream.connect.EmbeddedConnect`: its own JVM, on 127.0.0.1 at
``--rest-port``, everything it keeps (its properties, the connector configs as it runs them, the
source offsets, the sink's default file, its log) in ``--dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ridestream.cli.common import AddCommand, command_settings, manage_service
from ridestream.errors import ConfigError
from ridestream.paths import ridestream_home


def connector_config_path(name: str) -> Path:
    """Return a connector config: a path, or the name of one in conf/connect/ (without .properties)."""
    from ridestream.connect import CONNECT_CONF_DIR

    path = Path(name)
    if path.suffix == ".properties" or path.parent != Path("."):
        return path
    named = CONNECT_CONF_DIR / f"{name}.properties"
    if not named.is_file():
        known = ", ".join(sorted(p.stem for p in CONNECT_CONF_DIR.glob("*.properties")))
        raise ConfigError(
            f"no connector config named {name!r}: give a .properties path, or one of {known}"
        )
    return named


def _variables(pairs: list[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise ConfigError(f"--var {pair!r}: write it as NAME=VALUE, e.g. trips_csv=trips.csv")
        variables[name.strip()] = value
    return variables


def worker_for(args: argparse.Namespace):  # noqa: ANN201 - an EmbeddedConnect
    """Return the worker the command's flags describe (not started)."""
    from ridestream.connect import EmbeddedConnect

    settings = command_settings(args)
    data_dir = Path(args.dir) if args.dir else ridestream_home() / "connect" / str(args.rest_port)
    # Relative paths in values stay relative: the worker runs in the directory it was started in.
    variables = _variables(args.var or [])
    return EmbeddedConnect(
        data_dir=data_dir,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        rest_port=args.rest_port,
        connectors=[connector_config_path(name) for name in args.config or []],
        variables=variables,
        how_to_pass="--var {name}=VALUE",
    )


def print_statuses(worker) -> None:  # noqa: ANN001 - an EmbeddedConnect
    """Print each connector's and task's state, one connector per line."""
    statuses = worker.statuses()
    if not statuses:
        print("  no connectors")
    for status in statuses.values():
        print(f"  {status.describe()}")
        for task in status.tasks:
            print(f"    task {task.id}: {task.state}")


def cmd_connect(args: argparse.Namespace) -> int:
    """Start, stop or report the Connect worker; start runs the given connector configs."""
    worker = worker_for(args)
    if args.action == "start" and worker.is_running() and args.config:
        running = set(worker.statuses())
        wanted = set(worker.connector_configs())
        if not wanted <= running:
            raise ConfigError(
                f"the Connect worker at {worker.rest_url} already runs "
                f"{', '.join(sorted(running)) or 'no connectors'}: stop it first "
                "(./rides connect stop) to start it with other connectors"
            )
    if args.action == "start":
        worker.connector_configs()  # a missing file or ${name} value: said before anything starts
    if args.action == "start" and not args.config and not worker.is_running():
        raise ConfigError(
            "say which connectors to run: --config trips-source --config trips-sink (names in "
            "conf/connect/, or .properties paths)"
        )
    starting = (
        f"starting the Kafka Connect worker on {worker.rest_url} with "
        f"{', '.join(str(path) for path in worker.connectors)} (files in {worker.data_dir})"
    )
    code = manage_service(worker, args.action, "connect", worker.rest_url, starting)
    if args.action != "stop" and worker.is_running():
        print_statuses(worker)
    return code


def add_commands(add: AddCommand) -> None:
    """Add `connect`."""
    from ridestream.connect import DEFAULT_REST_PORT

    command = add(
        "connect",
        "start, stop or check Apache Kafka's standalone Connect worker with connectors from "
        "conf/connect/ (file source: a trip CSV into a topic; file sink: a topic into a file)",
        cmd_connect,
    )
    command.epilog = (
        "status exits 3 when the worker is stopped. A connector that cannot run fails start "
        "with its reason, and the worker is stopped. Standalone mode keeps source offsets in "
        "--dir: a restarted worker resumes a file where it stopped."
    )
    command.add_argument("action", choices=("start", "stop", "status"))
    command.add_argument(
        "--config",
        action="append",
        metavar="NAME|PATH",
        help="start: a connector config, by name in conf/connect/ (trips-source, trips-sink) or "
        "as a .properties path; repeat for more",
    )
    command.add_argument(
        "--var",
        action="append",
        metavar="NAME=VALUE",
        help="start: the value of a ${NAME} in the configs (trips-source needs trips_csv=PATH); "
        "repeat for more",
    )
    command.add_argument(
        "--rest-port",
        type=int,
        default=DEFAULT_REST_PORT,
        help="the worker's REST API port on 127.0.0.1 (default: %(default)s)",
    )
    command.add_argument(
        "--dir",
        metavar="PATH",
        help="the worker's directory (default: $RIDESTREAM_HOME/connect/<rest port>)",
    )
