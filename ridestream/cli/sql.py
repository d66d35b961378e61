"""`rides sql`: run SQL over the streams from the shell, results printed as they change.

It is the stream_sql job on the one runner (the same flags, preflight, progress, clean stop), run
in this process with a checkpoint of its own that is deleted afterwards: each run starts from the
profile's starting offsets, as a fresh query.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile

from ridestream.cli.common import AddCommand


def job_arguments(args: argparse.Namespace, checkpoint_dir: str) -> list[str]:
    """Return the stream_sql flags that ``rides sql`` stands for."""
    argv = ["--profile", args.profile, "--checkpoint-dir", checkpoint_dir]
    bootstrap = getattr(args, "kafka.bootstrap_servers", None)
    if bootstrap:
        argv += ["--bootstrap-servers", bootstrap]
    if args.file:
        argv += ["--file", args.file]
    else:
        argv += ["--query", args.query]
    for flag, value in (
        ("--trigger", args.trigger),
        ("--output-mode", args.output_mode),
        ("--starting-offsets", args.starting_offsets),
        ("--tables-dir", args.tables_dir),
    ):
        if value is not None:
            argv += [flag, value]
    return argv


def cmd_sql(args: argparse.Namespace) -> int:
    """Run the statements through the stream_sql job until Ctrl-C (or the end of the topic)."""
    from ridestream import runner
    from ridestream.errors import ConfigError
    from ridestream.jobs.stream_sql import JOB

    if (args.query is None) == (args.file is None):
        raise ConfigError('give a query (rides sql "SELECT ...") or --file sql/x.sql')
    job = copy.copy(JOB)
    job.resumable = False  # its checkpoint is deleted below
    checkpoints = tempfile.mkdtemp(prefix="rides-sql-")
    try:
        return runner.run(job, job_arguments(args, checkpoints))
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)


def add_commands(add: AddCommand) -> None:
    """Add `sql`."""
    sql = add(
        "sql",
        "run SQL over the streams (the view 'rides', and CREATE STREAM topics): a SELECT prints "
        "its results as they change until Ctrl-C; CREATE TABLE name AS SELECT maintains a Delta "
        "table. The stream_sql job, run from a fresh checkpoint (docs/sql.md)",
        cmd_sql,
    )
    sql.add_argument("query", nargs="?", help='statements, e.g. "SELECT * FROM rides"')
    sql.add_argument("--file", help="a .sql file instead of the query")
    sql.add_argument(
        "--trigger", help="'available-now' prints what is there and stops (default: the profile's)"
    )
    sql.add_argument("--output-mode", choices=("auto", "update", "append"))
    sql.add_argument("--starting-offsets", choices=("earliest", "latest"))
    sql.add_argument("--tables-dir", help="where CREATE TABLE writes its Delta tables")
