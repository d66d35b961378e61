"""`rides balance`: a finished run's record accounting."""

from __future__ import annotations

import argparse
import sys

from ridestream.cli.common import AddCommand, command_session


def cmd_balance(args: argparse.Namespace) -> int:
    """Print a finished run's record accounting from its metrics file; exit 1 if it is off."""
    from ridestream.accounting import audit

    # Spark starts only for a table the log reader cannot read (remote, deletion vectors, ...).
    report = audit(
        args.metrics_file,
        args.query,
        windows=args.windows,
        spark=lambda: command_session(args, "rides balance"),
    )
    for line in report.lines:
        print(line)
    for problem in report.problems:
        print(f"NOT balanced: {problem}", file=sys.stderr)
    return 0 if report.balanced else 1


def add_commands(add: AddCommand) -> None:
    """Add `balance`."""
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
